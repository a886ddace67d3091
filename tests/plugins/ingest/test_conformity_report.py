"""The conformity report counts every problem, not only those the bounded quarantine keeps, says when the
examples shown are the first N only, and shows the header's drift as warnings, in its three forms (HTML,
CSV, Validata-shaped JSON), for a batch and for `territoire validate`. Files are SYNTHETIC."""

from __future__ import annotations

import csv
import json

import pytest
from ingest_helpers import make_resource, write_schema

from territoire.ingest import validation

pytestmark = pytest.mark.integration

KEPT = 3


@pytest.fixture
def drifted(tmp_path, monkeypatch):
    """A SYNTHETIC file: 40 rows, 25 with a non-integer `valeur`, 10 with an `etat` outside the enum; its
    header writes `Valeur` (case) and `État` (accent) for the schema's `valeur` and `etat`."""
    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", str(KEPT))
    path = tmp_path / "synthetique_entete_derive.csv"
    rows = [f"{i};{'x' if i <= 25 else i};{'ko' if i > 30 else 'ok'}" for i in range(1, 41)]
    path.write_text("id;Valeur;État\n" + "\n".join(rows) + "\n", encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": "id", "type": "integer"}, {"name": "valeur", "type": "integer"},
                                     {"name": "etat", "type": "string", "constraints": {"enum": ["ok"]}}])
    return path, schema


def _check_json(report: dict) -> None:
    counts = {(s["column"], s["rule"]): (s["count"], s["kept"], s["truncated"]) for s in report["summary"]}
    assert counts == {("Valeur", "type:integer"): (25, KEPT, True), ("État", "enum"): (10, KEPT, True)}
    task = report["tasks"][0]
    assert report["stats"]["errors"] == task["stats"]["errors"] == 35
    assert len(task["errors"]) == 2 * KEPT   # the examples: the first N of each rule and column
    assert report["stats"]["warnings"] == 2 and {h["kind"] for h in task["header_warnings"]} == {"header-drift"}
    assert any("« Valeur »" in w and "« valeur »" in w for w in task["warnings"])
    assert any("25 cas au total" in w and f"seuls les {KEPT} premiers" in w for w in task["warnings"])
    import frictionless

    assert frictionless.Report.from_descriptor(report).valid is False   # still readable as a Validata report


def _check_csv(path) -> None:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    header = [r for r in rows if r["regle"] == "header-drift"]
    assert [(r["niveau"], r["ligne"], r["colonne"]) for r in header] == [("avertissement", "1", "Valeur"),
                                                                         ("avertissement", "1", "État")]
    detailed = [r for r in rows if r["ligne"] not in ("", "1")]
    assert len(detailed) == 2 * KEPT
    notes = {r["colonne"]: r["message"] for r in rows if r["ligne"] == ""}
    assert notes["Valeur"].startswith(f"25 cas au total : seuls les {KEPT} premiers")
    assert notes["État"].startswith(f"10 cas au total : seuls les {KEPT} premiers")


def test_batch_report_counts_every_row_and_shows_header_drift(loader, tmp_path, landing_dir, drifted):
    path, schema = drifted
    result = loader.load(make_resource(path, schema=schema), path, quarantine_threshold=1.0)
    assert result.rows_rejected == 35
    html = open(result.report["html"], encoding="utf-8").read()
    assert "35 ligne(s) sur 40" in html and "<td>25<br><small>3 premiers détaillés</small></td>" in html
    assert "Avertissements sur l'en-tête</h2>" in html and "la colonne « État » est lue comme le champ « etat »" in html
    assert "10 cas au total : seuls les 3 premiers sont détaillés" in html
    _check_csv(result.report["csv"])
    _check_json(json.loads(open(result.report["json"], encoding="utf-8").read()))


def test_validate_reports_the_same(warehouse_url, tmp_path, drifted):
    path, schema = drifted
    outputs = {kind: tmp_path / f"rapport.{kind}" for kind in ("html", "csv", "json")}
    checked = validation.validate_file(path, schema, "csv", strict=False, outputs=outputs)
    assert checked.data.errors == 35 and checked.data.rows_rejected == 35
    text = validation.conformity.render_text(checked.data)
    assert "Avertissements sur l'en-tête" in text and "25 cas au total : seuls les 3 premiers" in text
    _check_csv(outputs["csv"])
    _check_json(json.loads(outputs["json"].read_text(encoding="utf-8")))


def test_each_rule_is_explained_where_it_is_defined():
    """The report asks each rule's definition for its title, explanation and fix: the Table Schema types
    and constraints, the reader's rules, the business rules; it keeps no table of its own."""
    from territoire.ingest import conformity, parsing
    from territoire.ingest.rules import RULES
    from territoire.ingest.schema import Field, Schema, build_plan, explain_rule, types

    assert not hasattr(conformity, "SCHEMA_RULES")
    fields = [Field(name=f"f{i}", column=f"f{i}", **spec) for i, spec in enumerate([
        {"type": "integer", "required": True, "minimum": 0, "maximum": 9},
        {"type": "date"}, {"type": "boolean"}, {"type": "geopoint"},
        {"type": "string", "pattern": "^[0-9]{5}$", "enum": ("01001",), "min_length": 5, "max_length": 5},
        {"type": "string", "format": "email"}])]
    emitted = {v.rule for v in build_plan(Schema(path=None, fields=tuple(fields)), [f.column for f in fields]).rules}
    assert {"required", "minimum", "maximum", "pattern", "code-as-number", "enum", "minLength", "maxLength",
            "format:email", "type:integer", "type:date", "type:boolean", "type:geopoint"} <= emitted
    fixes = {}
    for rule in [*emitted, "unique", *parsing.READER_RULES]:
        told = conformity.explain(rule)
        assert told["title"] != rule and told["explanation"] and told["fix"], rule
        defined = explain_rule(rule) or parsing.READER_RULES[rule]
        assert (told["title"], told["explanation"], told["fix"]) == tuple(defined)
        fixes[rule] = told["fix"]
    # Each type gives its own advice (a date is not told how to write a number).
    assert fixes["type:date"] == types.TYPES["date"].explained().fix and "2024-03-01" in fixes["type:date"]
    assert len({fixes[r] for r in fixes if r.startswith("type:")}) == len([r for r in fixes if r.startswith("type:")])
    assert conformity.explain("siret")["fix"] == RULES["siret"].fix
