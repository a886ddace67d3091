"""IRVE: the error kinds the national consolidation reports, injected one by one into SYNTHETIC rows
built from the schema's own valid example, are each found at load with their rule named; error-level
lines never reach the raw table (so no mart carries them); the shipped real sample's report counts."""

from __future__ import annotations

import csv
import dataclasses

import psycopg
import pytest
from rules_helpers import SAMPLES, SCHEMAS, by_rule, catalog_resource, quarantine, report_json, write_csv

from territoire.ingest.loader import Loader

pytestmark = pytest.mark.integration

EXAMPLE = SCHEMAS / "etalab_schema-irve" / "statique_exemple-valide-statique.csv"


def _base() -> tuple[list[str], dict]:
    with open(EXAMPLE, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        row = next(reader)
    # The example itself carries defects our rules find (9-digit phone, a postal code as INSEE code, a
    # point in Alsace for Paris): the baseline fixes them so that each injected defect stands alone.
    row.update(telephone_operateur="01 23 45 67 89", code_insee_commune="75056", coordonneesXY="[2.3522,48.8566]",
               nbre_pdc="1", num_pdl="12345678912345")
    return list(row), row


def _station(n: int, points: int = 1, **changes) -> list[dict]:
    header, base = _base()
    rows = []
    for k in range(points):
        rows.append({**base, "id_station_itinerance": f"FRA68P{n:08d}", "id_pdc_itinerance": f"FRA68E{n:06d}{k:02d}",
                     "nbre_pdc": str(points), **changes})
    return rows


def synthetic_irve() -> tuple[list[str], list[dict], dict[str, int]]:
    """Rows (SYNTHETIC) and, for each injected defect, the file line that carries it."""
    header, _ = _base()
    rows: list[dict] = _station(1, points=2)             # lines 2-3: clean
    lines: dict[str, int] = {}

    def add(name: str, new_rows: list[dict]) -> None:
        lines[name] = len(rows) + 2
        rows.extend(new_rows)

    add("afirev_station", _station(2, id_station_itinerance="FRA68E00000002"))
    add("group_count", _station(3, points=2, nbre_pdc="3"))
    add("phone_fr", _station(4, telephone_operateur="111111111"))
    station5 = _station(5, points=2)
    station5[1].update(gratuit="true", paiement_acte="false", accessibilite_pmr="Réservé PMR", horaires="24/7",
                       reservation="false", station_deux_roues="true")
    add("constant_in_group", station5)
    duplicate = _station(6)
    add("unique_key", duplicate + [dict(duplicate[0])])
    add("at_least_one", _station(7, prise_type_ef="false", prise_type_2="false", prise_type_combo_ccs="false",
                                 prise_type_chademo="false", prise_type_autre="false"))
    add("lon_equals_lat", _station(8, coordonneesXY="[48.1,48.1]"))
    add("coordinates_swapped", _station(9, coordonneesXY="[48.8566,2.3522]"))
    add("outside_france", _station(10, coordonneesXY="[13.4,52.5]"))
    add("commune_obsolete", _station(11, code_insee_commune="69152", coordonneesXY="[4.83,45.70]"))
    add("commune_postal_code", _station(12, code_insee_commune="75008"))
    add("commune_unknown", _station(13, code_insee_commune="99999"))
    add("far_from_commune", _station(14, coordonneesXY="[5.37,43.30]"))      # Marseille, for Paris
    add("siren", _station(15, siren_amenageur="130025266"))
    add("email", _station(16, contact_operateur="contact@@operateur.fr"))
    add("not_future", _station(17, date_mise_en_service="2099-01-14"))
    add("required_if", _station(18, num_pdl=""))
    return header, rows, lines


ERROR_KINDS = {"afirev_station", "unique_key", "at_least_one", "commune_postal_code", "commune_unknown", "not_future"}


@pytest.fixture
def irve_load(cog_warehouse, tmp_path):
    header, rows, lines = synthetic_irve()
    path = write_csv(tmp_path / "irve_synthetique.csv", header, rows)
    resource = dataclasses.replace(catalog_resource("irve", "statique"), source_id="irve_test")
    result = Loader(cog_warehouse, progress=lambda m: None).load(resource, path, quarantine_threshold=1.0, force=True)
    return result, lines, len(rows)


def test_each_consolidation_error_kind_is_found_with_its_rule(irve_load, cog_warehouse):
    result, lines, _ = irve_load
    found = by_rule(quarantine(cog_warehouse, result.batch_id))
    # The schema's own `format: email` catches the e-mail first (IRVE declares it): either names the problem.
    found.setdefault("email", found.get("format:email", []))
    for rule, line in lines.items():
        # A group defect is reported on the row that departs from the group: the second of the two.
        expected = line + 1 if rule in ("unique_key", "constant_in_group") else line
        assert any(r[0] == expected for r in found.get(rule, [])), f"{rule} not on line {expected}: {found.get(rule)}"
    # Each example carries its own message, naming what is wrong on that line.
    assert "69152 → 69149 depuis le 2024-01-01" in found["commune_obsolete"][0][4]
    assert "déjà ligne" in found["unique_key"][0][4] and str(lines["unique_key"]) in found["unique_key"][0][4]
    assert "compte 2 ligne(s)" in found["group_count"][0][4]
    assert "km du" in found["far_from_commune"][0][4]
    assert {r[1] for r in found["constant_in_group"]} == {"gratuit", "paiement_acte", "accessibilite_pmr",
                                                           "horaires", "reservation", "station_deux_roues"}
    assert "code postal" in found["commune_postal_code"][0][4]
    # Levels: the row-breaking kinds are errors, the others warnings.
    assert {r[2] for rows in found.values() for r in rows if r[3] == "error"} == ERROR_KINDS | {"format:email"}
    # The clean station is never mentioned.
    assert not [r for rows in found.values() for r in rows if r[0] in (2, 3)]


def test_error_lines_never_reach_the_raw_table(irve_load, cog_warehouse):
    result, lines, total = irve_load
    error_lines = {line for line, _, _, level, _ in quarantine(cog_warehouse, result.batch_id) if level == "error"}
    with psycopg.connect(cog_warehouse) as conn:
        kept = {n for n, in conn.execute(f"select _line_number from raw.{result.raw_table}")}
        runs = conn.execute("select count(*) filter (where status = 'applied'), count(*) filter (where status = "
                            "'not_run') from ingest.rule_runs where batch_id = %s", (result.batch_id,)).fetchone()
    assert kept and not kept & error_lines
    assert kept | error_lines == set(range(2, total + 2))
    assert result.rows_rejected == len(error_lines) and result.rows_loaded == total - len(error_lines)
    # The consolidated columns are absent from a producer's file: those two coordinate rules say so.
    assert runs[1] == 3 and runs[0] > 30


def test_batch_report_lists_rules_fixes_and_counts(irve_load):
    result, _, _ = irve_load
    report = report_json(result.report["json"])
    task = report["tasks"][0]
    assert report["valid"] is False and task["stats"]["rows"] == result.rows_read
    assert {e["rule"] for e in task["errors"]} == ERROR_KINDS | {"format:email"}
    first = next(e for e in task["errors"] if e["rule"] == "commune_unknown")
    assert first["fieldName"] == "code_insee_commune" and first["cell"] == "99999"
    assert first["type"] == "constraint-error" and "99999" in first["note"]
    assert "code INSEE" in first["fix"] and first["fix"] != next(
        e for e in task["errors"] if e["rule"] == "unique_key")["fix"]
    assert {r["label"].split("(")[0] for r in report["rules"]["not_run"]} == {
        "lon_equals_lat", "coordinates_swapped", "outside_france"}
    assert {w["rule"] for w in task["rule_warnings"]} >= {"lon_equals_lat", "coordinates_swapped", "outside_france",
                                                          "far_from_commune", "group_count", "commune_obsolete"}
    html = open(result.report["html"], encoding="utf-8").read()
    assert "Synthèse par règle et par colonne" in html and "Règles non exécutées" in html


def test_shipped_irve_sample_report_counts(cog_warehouse, tmp_path):
    resource = catalog_resource("irve", "statique")
    result = Loader(cog_warehouse, progress=lambda m: None).load(
        resource, SAMPLES / "irve" / "consolidated_extract_tesla_2024-12.csv", force=True)
    report = report_json(result.report["json"])
    counts = {(s["rule"], s["column"], s["level"]): s["count"] for s in report["summary"]}
    assert counts == {
        ("lon_equals_lat", "consolidated_longitude", "warning"): 74,
        ("lon_equals_lat", "coordonneesXY", "warning"): 74,
        ("group_count", "nbre_pdc", "warning"): 95,
        ("commune_obsolete", "code_insee_commune", "warning"): 49,
        ("required_if", "num_pdl", "warning"): 47,
        ("far_from_commune", "coordonneesXY", "warning"): 32,
        ("constant_in_group", "adresse_station", "warning"): 6,
        ("constant_in_group", "coordonneesXY", "warning"): 6,
        ("constant_in_group", "nbre_pdc", "warning"): 6,
    }
    # Nothing at error level in the real extract: all 3057 points reach the warehouse, 389 flags reported.
    assert (result.rows_read, result.rows_rejected, result.rows_loaded) == (3057, 0, 3057)
    assert report["stats"] == {"errors": 0, "warnings": 389, "tasks": 1} and report["valid"] is True
    assert len(report["rules"]["applied"]) == 37 and report["rules"]["not_run"] == []


def test_batch_report_reads_on_a_phone(irve_load):
    from support.browser import axe_violations, open_page, scrolls_sideways

    result, _, _ = irve_load
    with open_page(f"file://{result.report['html']}", width=375, height=800, javascript=True) as page:
        assert page.locator("h2").first.inner_text() == "Synthèse par règle et par colonne"
        assert not scrolls_sideways(page)
        assert axe_violations(page) == []
