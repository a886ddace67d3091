"""Each parsing quirk, loaded for real into PostgreSQL (synthetic fixtures in tests/fixtures/malformed)."""

from __future__ import annotations

import pytest
from ingest_helpers import MALFORMED, SAMPLES, fetch_all, make_resource, rejections, write_schema

pytestmark = pytest.mark.integration


def test_quoted_newlines_keep_exact_line_numbers_and_bad_rows_are_quarantined(loader, warehouse_url, tmp_path):
    schema = write_schema(tmp_path, [
        {"name": "code", "type": "string", "constraints": {"required": True, "pattern": "[0-9]{5}"}},
        {"name": "libelle", "type": "string"},
        {"name": "population", "type": "integer"},
        {"name": "date_maj", "type": "date"},
        {"name": "statut", "type": "string", "constraints": {"enum": ["actif", "inactif"]}},
    ], primaryKey=["code"])
    r = make_resource(MALFORMED / "quoted_newlines_bad_rows.csv", schema=schema)
    result = loader.load(r, MALFORMED / "quoted_newlines_bad_rows.csv", quarantine_threshold=1.0)
    assert result.rows_read == 8
    assert rejections(warehouse_url, result.batch_id) == {
        (5, "population", "type:integer"),
        (8, "date_maj", "type:date"),
        (9, "code", "required"),
        (10, "population", "type:integer"),
        (10, "statut", "enum"),
        (12, "code", "unique"),
    }
    values = dict(fetch_all(warehouse_url, "select line_number, value from ingest.rejected_rows "
                                           "where batch_id = %s and rule <> 'required'", (result.batch_id,)))
    assert values[5] == "abc" and values[8] == "2024-13-01" and values[12] == "01001"
    rows = fetch_all(warehouse_url, f'select _line_number, code, libelle, population, date_maj from raw."{r.raw_table}" '
                                    "order by _line_number")
    assert rows == [
        (2, "01001", "Abergement-\nClémenciat", "832", "2024-01-01"),
        (4, "01002", "Ambérieu", "14250", "2024-02-01"),
        (11, "01007", "Artemare", "1200", "2024-02-29"),
    ]
    assert result.rows_loaded == 3 and result.rows_rejected == 5


def test_french_numbers_dates_booleans_are_normalised(loader, warehouse_url, tmp_path):
    schema = write_schema(tmp_path, [
        {"name": "libellé", "type": "string"}, {"name": "montant", "type": "number"},
        {"name": "quantite", "type": "integer"}, {"name": "date", "type": "date"},
        {"name": "datetime", "type": "datetime"}, {"name": "actif", "type": "boolean"},
    ])
    r = make_resource(MALFORMED / "french_numbers_dates.csv", schema=schema)
    result = loader.load(r, MALFORMED / "french_numbers_dates.csv", quarantine_threshold=1.0)
    rows = fetch_all(warehouse_url, f'select libelle, montant, quantite, date, datetime, actif from raw."{r.raw_table}" '
                                    "order by _line_number")
    assert rows == [
        ("a", "1234.56", "1000", "2024-03-01", "2024-03-01T10:05:00", "true"),
        ("b", "-12.5", "42", "2024-03-01", "2024-03-01T10:00:00+02:00", "false"),
        ("c", "1234.5", "7", "2023-07-14", "2024-03-01T08:00", "true"),
        ("d", "3.14", "0", "2024-02-29", "2024-03-01", "false"),
    ]
    # Line 6: 29/02/2023 does not exist, "x" is no datetime, "peut-être" no boolean.
    assert rejections(warehouse_url, result.batch_id) == {
        (6, "date", "type:date"), (6, "datetime", "type:datetime"), (6, "actif", "type:boolean")}


def test_header_quirks_bom_crlf_index_duplicates(loader, warehouse_url):
    r = make_resource(MALFORMED / "header_quirks.csv")
    result = loader.load(r, MALFORMED / "header_quirks.csv")
    assert result.rows_loaded == 2
    cols = [c for (c,) in fetch_all(warehouse_url, "select column_name from information_schema.columns where "
                                                   "table_schema = 'raw' and table_name = %s order by ordinal_position",
                                    (r.raw_table,))]
    assert cols == ["column_1", "code_insee", "libelle_de_la_commune", "population_2021", "population_2021_2",
                    "c_2024_evolution", "column_7", "_batch_id", "_line_number", "_loaded_at"]
    rows = fetch_all(warehouse_url, f'select column_1, code_insee, libelle_de_la_commune, c_2024_evolution, '
                                    f'column_7, _line_number from raw."{r.raw_table}" order by 1')
    assert rows == [("0", "01001", "L'Abergement-Clémenciat", "1,2", "x", 2),
                    ("1", "01002", "L'Abergement-de-Varey", "-0,5", "y", 3)]


@pytest.mark.parametrize("name, expected", [
    ("tab_delimited.tsv", [("75056", "Paris"), ("69123", "Lyon")]),
    ("pipe_delimited.csv", [("13055", "Marseille"), ("31555", "Toulouse")]),
])
def test_tab_and_pipe(loader, warehouse_url, name, expected):
    r = make_resource(MALFORMED / name)
    loader.load(r, MALFORMED / name)
    assert fetch_all(warehouse_url, f'select code, nom from raw."{r.raw_table}" order by _line_number') == expected


def test_cp1252_is_converted_to_utf8(loader, warehouse_url, messages):
    r = make_resource(MALFORMED / "cp1252_short.csv")
    loader.load(r, MALFORMED / "cp1252_short.csv")
    assert fetch_all(warehouse_url, f'select nom, prix from raw."{r.raw_table}" order by _line_number') == [
        ("Bœuf bourguignon", "12 €"), ("Crème brûlée", "6 €")]
    assert not any("row by row" in m for m in messages)  # PostgreSQL converted it on the fast path


def test_ragged_rows_go_to_quarantine_with_their_line(loader, warehouse_url, messages):
    r = make_resource(MALFORMED / "ragged_rows.csv")
    result = loader.load(r, MALFORMED / "ragged_rows.csv", quarantine_threshold=1.0)
    assert any("row by row" in m for m in messages)
    assert rejections(warehouse_url, result.batch_id) == {(3, None, "field-count"), (4, None, "field-count")}
    raw = fetch_all(warehouse_url, "select line_number, raw_line from ingest.rejected_rows where batch_id = %s "
                                   "order by 1", (result.batch_id,))
    assert raw == [(3, "4|5"), (4, "6|7|8|9")]
    assert fetch_all(warehouse_url, f'select a, b, c, _line_number from raw."{r.raw_table}" order by _line_number') == [
        ("1", "2", "3", 2), ("10", "11", "12", 5), ("x,y", "13", "14", 6)]


def test_mixed_encoding_lines_are_read_in_their_own_encoding_and_named(loader, warehouse_url):
    """A UTF-8 file whose lines 4 and 6 are CP1252: every row is loaded, each line decoded in its own
    encoding, and those lines are reported (level warning) with the ranges, for the producer."""
    r = make_resource(MALFORMED / "mixed_encoding.csv")
    result = loader.load(r, MALFORMED / "mixed_encoding.csv", quarantine_threshold=0.0)
    assert (result.rows_loaded, result.rows_rejected) == (6, 0)
    got = fetch_all(warehouse_url, "select line_number, rule, level, raw_line, message from ingest.rejected_rows "
                                   "where batch_id = %s order by 1", (result.batch_id,))
    assert [g[:4] for g in got] == [(4, "encoding", "warning", "Théâtre;Besançon"),
                                    (6, "encoding", "warning", "Bœuf;Pézenas")]
    assert "ligne 4" in got[0][4] and "cp1252" in got[0][4] and "4, 6" in got[0][4]
    assert fetch_all(warehouse_url, f'select nom, ville, _line_number from raw."{r.raw_table}" order by 3') == [
        ("École", "Lyon", 2), ("Café", "Nîmes", 3), ("Théâtre", "Besançon", 4), ("Musée", "Orléans", 5),
        ("Bœuf", "Pézenas", 6), ("Gare", "Sète", 7)]


def test_a_line_in_no_encoding_of_the_file_is_quarantined(loader, warehouse_url, tmp_path):
    path = tmp_path / "melange.csv"  # SYNTHETIC: UTF-8, line 3 in CP1252, line 4 holds 0x81 (undefined in CP1252)
    path.write_bytes("nom;ville\nÉcole;Lyon\n".encode() + "Café;Nîmes\n".encode("cp1252") + b"Gare\x81;S\xe8te\n"
                     + "Musée;Orléans\n".encode())
    r = make_resource(path)
    result = loader.load(r, path, quarantine_threshold=0.5)
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    got = fetch_all(warehouse_url, "select line_number, rule, level from ingest.rejected_rows where batch_id = %s "
                                   "order by 1", (result.batch_id,))
    assert got == [(3, "encoding", "warning"), (4, "encoding", "error")]


def test_ndjson_like_file_with_blank_lines(loader, warehouse_url):
    path = SAMPLES / "bike_counters" / "montpellier_ecocompteur" / "Celleneuve.json"
    r = make_resource(path, fmt="json")
    result = loader.load(r, path)
    records = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert result.rows_loaded == records and result.rows_rejected == 0
    (loc, intensity), = fetch_all(warehouse_url, f'select location, intensity from raw."{r.raw_table}" '
                                                 "where _line_number = 2")
    assert loc.startswith('{"coordinates":[') and intensity.isdigit()


def test_trailing_blank_lines_stay_on_the_fast_path(loader, warehouse_url, tmp_path, messages):
    path = tmp_path / "blank_end.csv"
    path.write_bytes(b"a;b\r\n1;2\r\n3;4\r\n\r\n\r\n")
    r = make_resource(path)
    result = loader.load(r, path)
    assert result.rows_loaded == 2 and not any("row by row" in m for m in messages)


def test_nul_byte_in_a_value_is_quarantined_not_deleted(loader, warehouse_url, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"code;valeur\nA;1\nB;2\x007\nC;3\n")
    schema = write_schema(tmp_path, [{"name": "code"}, {"name": "valeur", "type": "integer"}])
    r = make_resource(path, schema=schema)
    result = loader.load(r, path, quarantine_threshold=1.0)
    assert rejections(warehouse_url, result.batch_id) == {(3, "valeur", "type:integer")}
    assert fetch_all(warehouse_url, "select value from ingest.rejected_rows where batch_id = %s",
                     (result.batch_id,)) == [("2\ufffd7",)]
    assert fetch_all(warehouse_url, f'select valeur from raw."{r.raw_table}" order by 1') == [("1",), ("3",)]
