"""The rules engine: declarations checked with useful messages, a rule that cannot run says why in the
ledger and the report (never passes silently), a bounded quarantine, the COG vintage diagnosis, and
`territoire validate` applying the catalog's rules with Validata-shaped JSON and formula-safe CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import psycopg
import pytest
from rules_helpers import (
    PROJECT,
    SAMPLES,
    SHARED,
    by_rule,
    catalog_resource,
    new_batch,
    quarantine,
    report_json,
    stage,
    write_csv,
)

from territoire.catalog import load_catalog
from territoire.ingest import conformity, rules


def test_every_catalog_rule_parses_and_names_known_rules():
    total = 0
    for source in load_catalog():
        for resource in source.resources:
            for decl in rules.resource_rules(resource):
                assert decl.rule in rules.RULES
                total += 1
    assert total > 100


@pytest.mark.parametrize(("declared", "says"), [
    ({"x": "sirett"}, "did you mean 'siret'"),
    ({"x": {"rule": "range", "minimum": 0}}, "has no parameter 'minimum'"),
    ({"x": {"rule": "siret", "level": "fatal"}}, "level 'fatal'"),
    ({"checks": [{"rule": "group_count", "column": "n"}]}, "needs group"),
    ({"checks": {"rule": "unique_key"}}, "must be a list"),
])
def test_bad_declarations_say_where_and_what(declared, says):
    with pytest.raises(rules.RuleDeclarationError) as err:
        rules.parse_rules(declared, "catalog/sources.yml: source x")
    assert says in str(err.value) and "source x" in str(err.value)


def test_every_rule_has_its_own_fix_and_is_documented():
    docs = (PROJECT / "docs" / "ingestion.md").read_text(encoding="utf-8")
    fixes = [r.fix for r in rules.RULES.values()]
    assert len(set(fixes)) >= len(fixes) - 1   # SIREN and SIRET share the annuaire advice
    declared_by: dict[str, set[str]] = {}
    for source in load_catalog():
        for resource in source.resources:
            for decl in rules.resource_rules(resource):
                declared_by.setdefault(decl.rule, set()).add(source.id)
    for rule in rules.RULES.values():
        assert rule.title and rule.explanation and rule.fix and rule.origin
        # The docs' table row: rule, default level, what it checks, where it comes from, who declares it.
        row = (f"| `{rule.id}` | {rule.level} | {rule.title} | {rule.origin} | "
               f"{', '.join(sorted(declared_by.get(rule.id, []))) or '—'} |")
        assert row in docs, f"docs/ingestion.md, business rules table: expected {row}"


@pytest.mark.integration
def test_territorial_rules_without_the_cog_say_not_run(fresh_database):
    resource = catalog_resource("irve", "statique")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        columns = stage(conn, "raw.irve_staged", [{"code_insee_commune": "99999", "id_pdc_itinerance": "FRA68E1"}])
        batch = new_batch(conn, "irve", "statique")
        outcome = rules.apply(conn, batch_id=batch, resource=resource, table="raw.irve_staged", columns=columns)
        ledger = dict(conn.execute("select label, reason from ingest.rule_runs where batch_id = %s "
                                   "and status = 'not_run'", (batch,)).fetchall())
        data = conformity.from_batch(conn, batch)
    assert ledger["commune_unknown(code_insee_commune)"].startswith("le COG (communes) (raw.cog__communes) n'est pas")
    assert "territoire load cog" in ledger["commune_unknown(code_insee_commune)"]
    assert "colonne(s) absente(s) du fichier : siren_amenageur" in ledger["siren(siren_amenageur)"]
    assert dict(outcome.not_run) == ledger and "afirev_pdc(id_pdc_itinerance)" in outcome.applied
    assert outcome.errors == 0 and quarantine(fresh_database, batch) == []
    text = conformity.render_text(data)
    assert "Règles NON exécutées" in text and "commune_unknown(code_insee_commune) : le COG" in text
    html = conformity.render_html(data)
    assert "Règles non exécutées" in html and "l'absence d'erreur ne vaut pas conformité" in html


@pytest.mark.integration
def test_quarantine_keeps_the_first_n_and_counts_every_violation(cog_warehouse, monkeypatch):
    """The schema checks' model: at most N rows per (rule, column) stored, each with its value and own
    message; every violation counted in the outcome; every error line deleted, not only the first N."""
    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", "2")
    decls = rules.parse_rules({"siret": "siret", "telephone": {"rule": "phone_fr", "level": "warning"}}, "test")
    rows = [{"siret": f"1234567890123{k}", "telephone": f"12{k}"} for k in range(5)]   # SYNTHETIC
    with psycopg.connect(cog_warehouse, autocommit=True) as conn:
        columns = stage(conn, "raw.sirets_staged", rows)
        batch = new_batch(conn, "test", "sirets")
        outcome = rules.apply(conn, batch_id=batch, resource=catalog_resource("subventions", "lot"),
                              table="raw.sirets_staged", columns=columns, declarations=decls)
        kept = conn.execute("select column_name, line_number, value, message from ingest.rejected_rows "
                            "where batch_id = %s order by column_name, line_number", (batch,)).fetchall()
        deleted = sorted(n for n, in conn.execute(outcome.error_lines_sql).fetchall())
    bad = [k for k in range(5) if rules.identifiers.siret_verdict(f"1234567890123{k}")]
    assert len(bad) > 2 and outcome.errors == len(bad) and outcome.warnings == 5
    assert deleted == [k + 2 for k in bad]                       # every error line, past the first N too
    sirets = [k for k in kept if k[0] == "siret"]
    assert [line for _, line, _, _ in sirets] == [k + 2 for k in bad[:2]]
    assert all(value and message for _, _, value, message in kept) and len(kept) == 4
    counts = {(c["rule"], c["column"]): (c["level"], c["count"], c["example_line"]) for c in outcome.counts}
    assert counts == {("siret", "siret"): ("error", len(bad), bad[0] + 2), ("phone_fr", "telephone"): ("warning", 5, 2)}


@pytest.mark.integration
def test_cog_vintage_of_the_2018_contours(cog_warehouse):
    from rules_helpers import load_references  # noqa: F401 - the COG is loaded by the fixture

    from territoire.ingest.loader import Loader

    r = catalog_resource("ign_adminexpress", "communes_belfort")
    result = Loader(cog_warehouse, progress=lambda m: None, reports=False).load(
        r, r.location("demo").resolved_path(), force=True)
    (line, column, rule, level, message), = quarantine(cog_warehouse, result.batch_id)
    assert (line, column, rule, level) == (None, "code", "cog_vintage", "warning")
    assert message.startswith("fichier COG 2018 : 1 commune(s) fusionnée(s) ou supprimée(s) depuis")
    assert result.rows_loaded == result.rows_read   # a warning keeps every row


def _validate(*args, env):
    return subprocess.run([sys.executable, "-m", "territoire.cli", "validate", *args], capture_output=True,
                          text=True, cwd=PROJECT, env={**os.environ, **env}, timeout=600)


@pytest.mark.integration
def test_validate_applies_the_catalog_rules_before_sending(cog_warehouse, tmp_path):
    header, base = None, None
    with open(SAMPLES / "subsidies/raw_csv/SCDL_DEP_Haute_Garonne_datalocale-subvention.csv", encoding="utf-8",
              newline="") as f:
        reader = csv.DictReader(f, delimiter=";")
        header, base = list(reader.fieldnames), next(reader)
    rows = [{**base, "nature": "aide en numéraire"},
            {**base, "nature": "aide en numéraire", "idBeneficiaire": "4.4137080600016E+13"},      # SYNTHETIC
            {**base, "nature": "aide en numéraire", "objet": "=HYPERLINK(\"http://x\")", "montant": "-1"}]
    path = write_csv(tmp_path / "subventions_synthetique.csv", header, rows, ";")
    out = {kind: tmp_path / f"r.{kind}" for kind in ("html", "csv", "json")}
    done = _validate(str(path), "--schema", "subventions/scdl_subventions_v1.json", "--lenient",
                     *(x for kind, p in out.items() for x in (f"--{kind}", str(p))), env={"WAREHOUSE_URL": cog_warehouse})
    assert done.returncode == 1, done.stderr
    assert "celles de subventions/haute_garonne (catalogue)" in done.stdout
    assert "ligne 3, idBeneficiaire [siret] : '4.4137080600016E+13' - 4.4137080600016E+13 : nombre en notation" in done.stdout
    assert "ligne 4, montant [range]" in done.stdout and done.stdout.rstrip().endswith("NON VALIDE")
    report = report_json(out["json"])
    errors = report["tasks"][0]["errors"]
    assert report["valid"] is False and {(e["rowNumber"], e["fieldName"], e["rule"]) for e in errors} == {
        (3, "idBeneficiaire", "siret"), (4, "montant", "range")}
    assert all(e["message"] and e["note"] and e["description"] and e["fix"] for e in errors)
    # A tool reading frictionless / Validata reports reads it: frictionless itself does.
    frictionless = pytest.importorskip("frictionless")
    read = frictionless.Report.from_descriptor(report)
    assert read.valid is False and read.stats["errors"] == 2
    assert sorted(read.flatten(["rowNumber", "fieldName", "type"])) == [
        [3, "idBeneficiaire", "constraint-error"], [4, "montant", "constraint-error"]]
    with open(out["csv"], encoding="utf-8-sig", newline="") as f:
        cells = list(csv.reader(f, delimiter=";"))
    assert cells[0][:5] == ["niveau", "ligne", "colonne", "valeur", "regle"]
    assert ["erreur", "4", "montant", "'-1", "range"] == cells[-1][:5]
    assert "Règles métier appliquées" in out["html"].read_text(encoding="utf-8")


@pytest.mark.integration
def test_validate_without_the_cog_reports_territorial_rules_not_run(fresh_database, tmp_path):
    # The file as published (shared data when present, else the shipped copy).
    path = SHARED / "air_quality" / "atmo_occitanie_mesures_annuelles.csv"
    path = path if path.is_file() else SAMPLES / "air_quality" / "atmo_occitanie_mesures_annuelles.csv"
    done = _validate(str(path), "--schema", "air/atmo_mesures_annuelles.json", "--lenient",
                     env={"WAREHOUSE_URL": fresh_database})
    assert done.returncode == 0, done.stderr   # valid for what was checked...
    assert "Règles NON exécutées" in done.stdout   # ...and it says what was not
    assert "commune_unknown(insee_com) : le COG (communes) (raw.cog__communes) n'est pas chargé" in done.stdout


@pytest.mark.integration
def test_rules_declared_in_the_schema_apply_too(cog_warehouse, tmp_path):
    import json

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"fields": [{"name": "SIRET", "rules": "siret"}, {"name": "Tel"}],
                                  "rules": {"tel": {"rule": "phone_fr", "level": "warning"}}}), encoding="utf-8")
    from territoire.catalog import Location, Resource

    resource = Resource(source_id="test", name="schema_rules", format="csv", schema=str(schema),
                        locations={"demo": Location("local", path=str(tmp_path / "x.csv"))})
    with psycopg.connect(cog_warehouse, autocommit=True) as conn:
        columns = stage(conn, "raw.schema_rules_staged", [{"SIRET": "44137080600017", "Tel": "12"}])
        batch = new_batch(conn, "test", "schema_rules")
        outcome = rules.apply(conn, batch_id=batch, resource=resource, table="raw.schema_rules_staged",
                              columns=columns)
    assert (outcome.errors, outcome.warnings) == (1, 1)
    assert {r[1:4] for r in quarantine(cog_warehouse, batch)} == {("siret", "siret", "error"),
                                                                   ("tel", "phone_fr", "warning")}


@pytest.mark.integration
def test_longitude_equal_latitude_in_every_row_of_the_real_file(cog_warehouse):
    """The real IRVE file whose longitude equals its latitude on every row (shared data, or its shipped copy)."""
    from territoire.catalog import Location, Resource
    from territoire.ingest.loader import Loader

    path = SHARED / "irve" / "coordonnees_pdc_2024-12-04.csv"
    path = path if path.is_file() else SAMPLES / "irve" / "coordonnees_pdc_2024-12-04.csv"
    declared = rules.parse_rules({"id_station_itinerance": "afirev_station", "id_pdc_itinerance": "afirev_pdc",
                                  "checks": [{"rule": "coordinates", "longitude": "longitude",
                                              "latitude": "latitude"}]}, "test")
    resource = Resource(source_id="test", name="coordonnees_pdc", format="csv",
                        locations={"demo": Location("local", path=str(path))})
    result = Loader(cog_warehouse, progress=lambda m: None, reports=False).load(resource, path, force=True)
    with psycopg.connect(cog_warehouse, autocommit=True) as conn:
        columns = [c for c, in conn.execute("select column_name from information_schema.columns where "
                                            "table_schema = 'raw' and table_name = %s", (result.raw_table,))]
        outcome = rules.apply(conn, batch_id=result.batch_id, resource=resource, table=f"raw.{result.raw_table}",
                              columns=columns, declarations=declared)
    found = by_rule(quarantine(cog_warehouse, result.batch_id))
    assert result.rows_loaded == 2927 and outcome.errors == 2927
    # Every row counted; the quarantine keeps the first N (1,000 by default) of the rule and column.
    assert [(c["rule"], c["count"]) for c in outcome.counts] == [("lon_equals_lat", 2927)]
    assert len(found["lon_equals_lat"]) == rules.examples_kept() == 1000
    assert set(found) == {"lon_equals_lat"}   # the ids are well formed; swapped/outside are not claimed twice


def test_validate_names_an_unknown_rules_resource(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["a"], [{"a": "1"}])
    done = _validate(str(path), "--schema", "subventions/scdl_subventions_v1.json", "--rules", "irve/nope", env={})
    assert done.returncode == 2 and "--rules irve/nope" in done.stderr and "has no resource 'nope'" in done.stderr


@pytest.mark.integration
def test_missing_columns_report_is_frictionless_readable(warehouse_url, tmp_path):
    frictionless = pytest.importorskip("frictionless")
    example = PROJECT / "catalog/schemas/scdl_subventions/exemple_invalide_erreurs_colonnes.csv"
    out = tmp_path / "r.json"
    done = _validate(str(example), "--schema", "scdl_subventions", "--json", str(out),
                     env={"WAREHOUSE_URL": warehouse_url})
    assert done.returncode == 1, done.stderr
    read = frictionless.Report.from_descriptor(report_json(out))
    labels = [e for e in read.tasks[0].errors if e.type == "missing-label"]
    assert labels and read.valid is False


@pytest.mark.integration
def test_validata_custom_checks_of_published_schemas(cog_warehouse):
    scdl = rules.schema_rules(PROJECT / "catalog/schemas/scdl_subventions/schema.json")
    assert [d.label() for d in scdl] == ["siret(idattribuant)", "siret(idbeneficiaire)",
                                         "at_least_one(idbeneficiaire, rnabeneficiaire)"]
    covoiturage = rules.schema_rules(
        PROJECT / "catalog/schemas/schema.data.gouv.fr/etalab_schema-lieux-covoiturage/schema.json")
    with psycopg.connect(cog_warehouse, autocommit=True) as conn:
        columns = stage(conn, "raw.scdl_staged", [
            {"idAttribuant": "21060004500392", "idBeneficiaire": "", "rnaBeneficiaire": "W333216789"},
            {"idAttribuant": "21860194600000", "idBeneficiaire": "", "rnaBeneficiaire": ""}])   # SYNTHETIC
        batch = new_batch(conn, "test", "scdl")
        outcome = rules.apply(conn, batch_id=batch, resource=catalog_resource("subventions", "lot"),
                              table="raw.scdl_staged", columns=columns, declarations=scdl + covoiturage[-1:])
    got = {(r[0], r[2]): r[4] for r in quarantine(cog_warehouse, batch)}
    assert set(got) == {(3, "siret"), (3, "at_least_one")} and "arrondi" in got[(3, "siret")]
    assert "toutes vides" in got[(3, "at_least_one")]
    assert outcome.not_run == [("unsupported_check(opening-hours-value)", outcome.not_run[0][1])]
    assert "opening-hours-value" in outcome.not_run[0][1] and "validata.fr" in outcome.not_run[0][1]
