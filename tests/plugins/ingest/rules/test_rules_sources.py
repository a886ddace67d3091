"""Point 5: the rules shipped for every real source. For each, SYNTHETIC rows built from the real
sample's header and first rows inject each error kind; each is found at load with its rule named.
The shipped subsidies and air-quality samples' report counts are asserted."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import psycopg
import pytest
from rules_helpers import (
    SAMPLES,
    by_rule,
    catalog_resource,
    new_batch,
    quarantine,
    report_json,
    stage,
    write_csv,
)

from territoire.ingest import rules
from territoire.ingest.loader import Loader

pytestmark = pytest.mark.integration


def real_rows(path: Path, delimiter: str, n: int = 1) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        return list(reader.fieldnames), [next(reader) for _ in range(n)]


def load_synthetic(url: str, tmp_path: Path, source_id: str, name: str, header: list[str], rows: list[dict],
                   delimiter: str):
    path = write_csv(tmp_path / f"{source_id}_{name}_synthetique.csv", header, rows, delimiter)
    resource = dataclasses.replace(catalog_resource(source_id, name), source_id=f"{source_id}_test")
    return Loader(url, progress=lambda m: None).load(resource, path, quarantine_threshold=1.0, force=True)


def assert_found(url: str, batch_id: int, expected: dict[str, tuple[int, str]]) -> dict:
    """Each `rule: (line, level)` is reported on that line at that level."""
    found = by_rule(quarantine(url, batch_id))
    for rule, (line, level) in expected.items():
        assert (line, level) in {(r[0], r[3]) for r in found.get(rule, [])}, f"{rule} line {line}: {found.get(rule)}"
    return found


def test_subsidies_scdl(cog_warehouse, tmp_path):
    header, (base,) = real_rows(SAMPLES / "subsidies/raw_csv/SCDL_DEP_Haute_Garonne_datalocale-subvention.csv", ";")
    injected = [
        {"idBeneficiaire": "35600000049837"},                   # line 2: La Poste's SIRET, valid
        {"idBeneficiaire": "4.4137080600016E+13"},              # 3: a spreadsheet turned it into a float
        {"idBeneficiaire": "4413708060001"},                    # 4: leading zero lost
        {"idAttribuant": "21310458100012"},                     # 5: wrong check digit
        {"montant": "-2400.0"},                                 # 6
        {"dateConvention": "2099-04-13"},                       # 7
        {"dateConvention": "1899-04-13"},                       # 8
        {"datesPeriodeVersement": "2017-12-31_2017-01-01"},     # 9
        {"nature": "Prêt"},                                     # 10
        {"notificationUE": "peut-être"},                        # 11
        {"pourcentageSubvention": "1.5"},                       # 12
    ]
    result = load_synthetic(cog_warehouse, tmp_path, "subventions", "haute_garonne", header,
                            [{**base, "nature": "aide en numéraire", **change} for change in injected], ";")
    found = assert_found(cog_warehouse, result.batch_id, {
        "siret": (3, "error"), "range": (6, "error"), "not_future": (7, "error"), "year_within": (8, "error"),
        "period": (9, "error"), "one_of": (10, "warning")})
    messages = {r[0]: r[4] for r in found["siret"]}
    assert set(messages) == {3, 4, 5} and "notation scientifique" in messages[3] and "zéro initial" in messages[4]
    assert "Luhn" in messages[5]
    assert {(r[0], r[1], r[3]) for r in found["one_of"]} == {(10, "nature", "warning"),
                                                              (11, "notificationue", "error")}
    assert {(r[0], r[1]) for r in found["range"]} == {(6, "montant"), (12, "pourcentagesubvention")}
    assert 2 not in {r[0] for rows in found.values() for r in rows}


def test_air_quality(cog_warehouse, tmp_path):
    header, rows = real_rows(SAMPLES / "air_quality/atmo_occitanie_mesures_annuelles.csv", ",", 3)
    a, b, c = rows
    injected = [
        {**a, "valeur": "-3.5"},                                 # line 2: negative concentration
        {**b, "statut_valid": "f"},                              # 3: not validated (kept, flagged)
        {**c, "X": c["Y"], "Y": c["X"]},                         # 4: longitude and latitude swapped
        {**c, "ObjectId": "999"},                                # 5: same station, pollutant, period as 4
    ]
    result = load_synthetic(cog_warehouse, tmp_path, "atmo_occitanie", "mesures_annuelles", header, injected, ",")
    assert_found(cog_warehouse, result.batch_id, {
        "range": (2, "error"), "validated": (3, "warning"), "coordinates_swapped": (4, "error"),
        "unique_key": (5, "error")})


def test_bike_counters(cog_warehouse, tmp_path):
    header, rows = real_rows(SAMPLES / "bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv", ";", 3)
    a, b, c = rows
    injected = [
        {**a, "Comptage horaire": "-1.0"},                                       # 2
        {**b},                                                                   # 3
        {**b, "Comptage horaire": "7.0"},                                        # 4: same counter and hour as 3
        {**c, "Coordonnées géographiques": "2.33314,48.83504"},                  # 5: lon,lat for lat,lon
        {**c, "Date et heure de comptage": "2099-09-01T03:00:00+02:00"},         # 6
    ]
    result = load_synthetic(cog_warehouse, tmp_path, "velo_paris", "comptages", header, injected, ";")
    # Negative counts: the schema's own `minimum: 0` (the catalog does not declare it twice).
    assert_found(cog_warehouse, result.batch_id, {
        "minimum": (2, "error"), "unique_key": (4, "error"), "coordinates_swapped": (5, "error"),
        "not_future": (6, "error")})


def test_budgets_sign_rules_per_aggregate(cog_warehouse, tmp_path):
    header, (base,) = real_rows(SAMPLES / "budgets/ofgl_base_communes_agregats_guadeloupe_2024.csv", ";")
    injected = [
        {"Agrégat": "Dépenses de fonctionnement", "Montant": "-5"},   # 2: spending may not be negative
        {"Agrégat": "Epargne nette", "Montant": "-5"},                # 3: net savings may
        {"Agrégat": "Encours de dette", "Montant": "-1"},             # 4: warning
        {"Exercice": "1999"},                                         # 5
        {"Siret Budget": "2.19711017E+13"},                           # 6
        {"Code Insee 2024 Commune": "97199"},                         # 7
    ]
    result = load_synthetic(cog_warehouse, tmp_path, "ofgl", "communes_agregats", header,
                            [{**base, **change} for change in injected], ";")
    found = assert_found(cog_warehouse, result.batch_id, {
        "range": (2, "error"), "year_within": (5, "error"), "siret": (6, "error"), "commune_unknown": (7, "error")})
    assert {(r[0], r[3]) for r in found["range"]} == {(2, "error"), (4, "warning")}


def test_energy(cog_warehouse, tmp_path):
    header, (base,) = real_rows(SAMPLES / "energy/enedis_conso_residentielle_par_adresse_lyon8_2018-2023.csv", ";")
    injected = [
        {"nombre_de_logements": "0"},                                         # 2
        {"consommation_annuelle_totale_de_l_adresse_mwh": "-1.0"},            # 3
        {"code_iris": "69388xxxx"},                                           # 4: masked IRIS
        {"annee": "2031"},                                                    # 5
        {"code_epci": "200046978.0"},                                         # 6: no such EPCI
        {"annee": "2019"}, {"annee": "2019"},                                 # 7, 8: same address twice
    ]
    result = load_synthetic(cog_warehouse, tmp_path, "enedis", "consommation_residentielle_adresse", header,
                            [{**base, **change} for change in injected], ";")
    assert_found(cog_warehouse, result.batch_id, {
        "range": (2, "error"), "iris_code": (4, "warning"), "year_within": (5, "error"),
        "epci_siren": (6, "error"), "unique_key": (8, "error")})
    found = by_rule(quarantine(cog_warehouse, result.batch_id))
    assert (3, "consommation_annuelle_totale_de_l_adresse_mwh") in {(r[0], r[1]) for r in found["range"]}


def test_transport_gtfs_references_between_files(cog_warehouse):
    resource = catalog_resource("transport", "gtfs")
    with psycopg.connect(cog_warehouse, autocommit=True) as conn:
        stage(conn, "raw.transport__stops", [
            {"stop_id": "S1", "stop_name": "Vieux-Port", "stop_lat": "43.2951", "stop_lon": "5.3745"},
            {"stop_id": "S2", "stop_name": "Frioul", "stop_lat": "5.2979", "stop_lon": "43.2795"},   # swapped
        ])
        columns = stage(conn, 'raw."transport__stop_times__new"', [
            {"trip_id": "T1", "stop_id": "S1", "stop_sequence": "1"},
            {"trip_id": "T1", "stop_id": "S9", "stop_sequence": "2"},      # no such stop
            {"trip_id": "T1", "stop_id": "S1", "stop_sequence": "2"},      # same trip and sequence
        ])
        stops_batch = new_batch(conn, "transport", "gtfs")
        stops = rules.apply(conn, batch_id=stops_batch, resource=resource, table="raw.transport__stops",
                            columns=["stop_id", "stop_name", "stop_lat", "stop_lon"])
        times_batch = new_batch(conn, "transport", "gtfs")
        times = rules.apply(conn, batch_id=times_batch, resource=resource,
                            table='raw."transport__stop_times__new"', columns=columns)
    assert stops.errors == 1 and [r[:3] for r in quarantine(cog_warehouse, stops_batch)] == [
        (3, "stop_lon", "coordinates_swapped")]
    got = {r[:3] for r in quarantine(cog_warehouse, times_batch)}
    assert (3, "stop_id", "references") in got and (4, "trip_id, stop_sequence", "unique_key") in got
    # The trips file is not loaded: its reference says so instead of passing.
    assert [label for label, _ in times.not_run] == ["references(trip_id)"]
    assert "raw.transport__trips" in times.not_run[0][1]


@pytest.mark.parametrize(("name", "rows", "loaded", "warnings", "drifted"), [
    ("haute_garonne", 69, 69, 69, set()),
    # The Lot file writes `NomAttribuant` and `datesperiodeVersement`: matched, reported as header drift.
    ("lot", 13, 13, 0, {("nomAttribuant", "NomAttribuant"), ("datesPeriodeVersement", "datesperiodeVersement")})])
def test_shipped_subsidies_samples_report_counts(cog_warehouse, name, rows, loaded, warnings, drifted):
    resource = catalog_resource("subventions", name)
    result = Loader(cog_warehouse, progress=lambda m: None).load(resource, resource.location("demo").resolved_path(),
                                                                 force=True)
    report = report_json(result.report["json"])
    assert (result.rows_read, result.rows_loaded) == (rows, loaded)
    assert report["valid"] is True and report["stats"] == {"errors": 0, "warnings": warnings + len(drifted), "tasks": 1}
    assert {(h["field"], h["header"]) for h in report["tasks"][0]["header_warnings"]} == drifted
    assert len(report["rules"]["applied"]) == 9 and not report["rules"]["not_run"]
    if warnings:
        assert {(s["rule"], s["column"]) for s in report["summary"]} == {("one_of", "nature")}


@pytest.mark.parametrize(("name", "rows", "warnings"), [("mesures_annuelles", 259, 0), ("mesures_mensuelles", 1621, 11)])
def test_shipped_air_quality_samples_report_counts(cog_warehouse, name, rows, warnings):
    resource = catalog_resource("atmo_occitanie", name)
    result = Loader(cog_warehouse, progress=lambda m: None).load(resource, resource.location("demo").resolved_path(),
                                                                 force=True)
    report = report_json(result.report["json"])
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (rows, rows, 0)
    assert report["stats"] == {"errors": 0, "warnings": warnings, "tasks": 1}
    assert {r["label"] for r in report["rules"]["applied"]} >= {"range(valeur)", "validated(statut_valid)",
                                                                 "commune_unknown(insee_com)",
                                                                 "far_from_commune(insee_com, x, y)"}
