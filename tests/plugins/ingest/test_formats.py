"""Formats read from the content, spreadsheets, JSON shapes, encodings, and the reader's own checks
(NUL bytes in text, GeoJSON coordinates). Real files where the project has them (data/samples,
../shared/data); the others are small SYNTHETIC files written by the tests themselves."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from ingest_helpers import (
    MALFORMED,
    PROJECT,
    SAMPLES,
    SHARED,
    fetch_all,
    make_resource,
    rejections,
    write_schema,
)
from sheet_writers import write_ods, write_xlsx

from territoire.ingest import detect, parsing
from territoire.ingest.inputs import InputError, open_input
from territoire.ingest.loader import LoadError

# -- detection ------------------------------------------------------------------------------------

REAL = [
    ("territorial/insee_cog_2026/communes.csv", "csv"),
    ("territorial/etalab_decoupage_administratif/epci.json", "json"),
    ("territorial/ign_adminexpress_cog2018/departements-version-simplifiee.geojson", "geojson"),
    ("bike_counters/montpellier_ecocompteur/Celleneuve.json", "ndjson"),
    ("transport/synthetic_gtfs.zip", "gtfs"),
    ("transport/synthetic_gtfs", "gtfs"),  # a folder of GTFS .txt files
]


@pytest.mark.parametrize(("name", "fmt"), REAL)
def test_real_files_are_recognised_from_their_content(name, fmt, tmp_path):
    # Under a misleading name, too: detection reads bytes, not extensions.
    original = SAMPLES / name
    disguised = tmp_path / "download.csv"
    if original.is_dir():
        disguised = original
    else:
        shutil.copy(original, disguised)
    assert detect.detect_format(disguised).format == fmt


def test_the_reference_gtfs_feed_is_recognised():
    feed = SHARED / "transport" / "gtfs_frioul_if_express_marseille.zip"
    if not feed.exists():
        pytest.skip("../shared/data is not available")
    assert detect.detect_format(feed).format == "gtfs"


def test_synthetic_shapes_are_recognised(tmp_path):
    cases = {
        b'{"a": 1}{"a": 2}\n{"a": 3}\n': "ndjson",
        b'\xef\xbb\xbf[{"a": 1}]': "json",
        b'<!DOCTYPE html><html><body>503</body></html>': "html",
        b"code;[libelle]\n1;2\n": "csv",
        b"[x];y\n1;2\n": "csv",  # starts like JSON, is not
        b"": "empty",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504): "xls",  # the OLE2 signature of .xls
        b"\x1f\x8b\x08\x00": "gzip",
        b"\x00\x01\x02\x03binary": "binary",
    }
    for i, (content, fmt) in enumerate(cases.items()):
        p = tmp_path / f"f{i}"
        p.write_bytes(content)
        assert detect.detect_format(p).format == fmt, content


def test_a_file_of_another_format_than_declared_is_refused_naming_both(loader, tmp_path):
    path = tmp_path / "communes.csv"
    shutil.copy(SAMPLES / "territorial" / "etalab_decoupage_administratif" / "epci.json", path)
    r = make_resource(path, fmt="csv", source_id="epci")
    with pytest.raises(LoadError) as exc:
        loader.load(r, path)
    message = str(exc.value)
    assert "epci/" in message and "communes.csv" in message
    assert "the file is a JSON array of records, a JSON file; the catalog declares CSV" in message
    assert "format: json" in message  # what to do
    # and the other way round
    csv_path = tmp_path / "data.json"
    shutil.copy(SAMPLES / "territorial" / "insee_cog_2026" / "regions.csv", csv_path)
    with pytest.raises(InputError, match=r"the file is not JSON \(it reads as delimited text: CSV\); "
                                         r"the catalog declares JSON"):
        open_input(csv_path, make_resource(csv_path, fmt="json"))


def test_a_zip_given_to_the_table_loader_says_how_to_load_it(tmp_path):
    path = SAMPLES / "transport" / "synthetic_gtfs.zip"
    with pytest.raises(InputError, match=r"the file is a GTFS feed \(ZIP\), a ZIP archive; the catalog declares CSV"):
        open_input(path, make_resource(path))
    with pytest.raises(InputError, match=r"a GTFS feed is loaded through a source whose format is `gtfs`"):
        open_input(path, make_resource(path, fmt="gtfs"))


def test_a_resource_declared_tsv_is_read_with_tabs(tmp_path):
    path = tmp_path / "t.tsv"  # SYNTHETIC: one comma per line splits it as evenly as the tab does
    path.write_text("nom, prénom\tville\nDupont, Jean\tLyon\nMartin, Léa\tNice\n", encoding="utf-8")
    assert parsing.sniff_csv(path).delimiter == ","  # what the content alone suggests
    staged = open_input(path, make_resource(path, fmt="tsv"))
    assert staged.headers == ["nom, prénom", "ville"] and staged.description["format"] == "tsv"
    assert list(staged.rows()) == [(2, ["Dupont, Jean", "Lyon"]), (3, ["Martin, Léa", "Nice"])]


# -- spreadsheets (SYNTHETIC workbooks written by tests/plugins/ingest/sheet_writers.py) --------------

TITLE_AND_TABLE = [
    ["Subventions versées en 2024 (SYNTHÉTIQUE)"],
    ["Export du 02/01/2025", None, None],
    [],
    ["code_commune", "nom", "montant", "date_decision", "reconduite"],
    ["01001", "L'Abergement-Clémenciat", 0.1 + 0.2, dt.date(2024, 3, 1), True],
    ["2A004", "Ajaccio", 1234.5, dt.date(2024, 12, 31), False],
    [None, None, None, None, None],
    ["69381", "Lyon 1er", "beaucoup", dt.date(2024, 6, 15), True],
    ["97411", "Saint-Denis", 4.5032466e13, dt.datetime(2024, 7, 14, 10, 30), False],
]


def _schema(tmp_path: Path) -> Path:
    return write_schema(tmp_path, [
        {"name": "code_commune", "type": "string", "constraints": {"required": True}},
        {"name": "nom", "type": "string"},
        {"name": "montant", "type": "number"},
        {"name": "date_decision", "type": "date"},
        {"name": "reconduite", "type": "boolean"},
    ])


def _xls_fixture(path: Path, sheets: dict) -> Path:
    """The .xls of the same sheets, written once (tests/fixtures/spreadsheets/README.md)."""
    assert sheets == {"Lisez-moi": [["Notes"]], "Données": TITLE_AND_TABLE}
    shutil.copyfile(PROJECT / "tests" / "fixtures" / "spreadsheets" / "subventions.xls", path)
    return path


@pytest.mark.parametrize("writer,suffix", [(write_xlsx, ".xlsx"), (write_ods, ".ods"), (_xls_fixture, ".xls")])
def test_a_spreadsheet_loads_like_a_csv_with_the_producers_row_numbers(writer, suffix, loader, warehouse_url, tmp_path):
    path = writer(tmp_path / f"subventions{suffix}", {"Lisez-moi": [["Notes"]], "Données": TITLE_AND_TABLE})
    r = make_resource(path, fmt=suffix[1:], schema=_schema(tmp_path), options={"sheet": "Données"})
    result = loader.load(r, path, quarantine_threshold=0.5)
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    rows = fetch_all(warehouse_url, f'select code_commune, nom, montant, date_decision, reconduite, _line_number '
                                    f'from raw."{r.raw_table}" order by _line_number')
    assert rows == [
        ("01001", "L'Abergement-Clémenciat", "0.3", "2024-03-01", "true", 5),  # no float noise
        ("2A004", "Ajaccio", "1234.5", "2024-12-31", "false", 6),
        ("97411", "Saint-Denis", "45032466000000", "2024-07-14", "false", 9),  # not 4.5032466E+13
    ]
    # The bad value is named at the row the producer sees in the spreadsheet (row 8).
    assert rejections(warehouse_url, result.batch_id) == {(8, "montant", "type:number")}
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert details["sheet"] == "Données" and details["header_row"] == 4


def test_the_first_visible_sheet_by_default_and_a_missing_sheet_is_named(tmp_path):
    path = write_xlsx(tmp_path / "t.xlsx", {"Feuil1": [["a", "b"], [1, 2]], "Feuil2": [["c"], [3]]})
    staged = open_input(path, make_resource(path, fmt="xlsx"))
    try:
        assert staged.headers == ["a", "b"] and list(staged.rows()) == [(2, ["1", "2"])]
    finally:
        staged.close()
    with pytest.raises(InputError, match=r"no sheet 'Budget' \(the workbook has: 'Feuil1', 'Feuil2'\).*option `sheet`"):
        open_input(path, make_resource(path, fmt="xlsx", options={"sheet": "Budget"}))
    staged = open_input(path, make_resource(path, fmt="xlsx", options={"sheet": 2}))
    assert staged.headers == ["c"]
    temporary = list(staged.temporary)
    staged.close()
    assert temporary and not any(p.exists() for p in temporary)


def test_the_schema_finds_the_header_below_rows_that_look_like_one(tmp_path):
    sheet = [["Région", "Année"], ["Occitanie", "2024"], [], ["code_commune", "nom", "montant"], ["31555", "Toulouse", 3]]
    path = write_ods(tmp_path / "t.ods", {"S": sheet})
    schema = write_schema(tmp_path, [{"name": "code_commune"}, {"name": "nom"}, {"name": "montant"}])
    staged = open_input(path, make_resource(path, fmt="ods", schema=schema))
    assert staged.headers == ["code_commune", "nom", "montant"]
    assert list(staged.rows()) == [(5, ["31555", "Toulouse", "3"])]


def test_a_header_of_years_and_a_header_row_given_by_the_catalog(tmp_path):
    sheet = [["Population (SYNTHÉTIQUE)"], ["code", "nom", 2019, 2020], ["01001", "Ain", 812, 815],
             ["01002", "Aix", 240, 244]]
    path = write_xlsx(tmp_path / "t.xlsx", {"S": sheet})
    staged = open_input(path, make_resource(path, fmt="xlsx"))
    assert staged.headers == ["code", "nom", "2019", "2020"] and [line for line, _ in staged.rows()] == [3, 4]
    staged = open_input(path, make_resource(path, fmt="xlsx", options={"header_row": 3}))
    assert staged.headers == ["01001", "Ain", "812", "815"] and [line for line, _ in staged.rows()] == [4]
    with pytest.raises(InputError, match=r"`header_row: 9` names an empty row or a row outside rows 1-4"):
        open_input(path, make_resource(path, fmt="xlsx", options={"header_row": 9}))


def test_a_sheet_too_large_to_hold_in_memory_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "t.xlsx", {"S": [["code", "nom"]] + [[f"{i:05d}", "x" * 50] for i in range(2000)]})
    monkeypatch.setenv("TERRITOIRE_SPREADSHEET_MAX_XML_BYTES", str(64 << 10))
    with pytest.raises(InputError, match=r"holds 0\.[0-9] MiB of XML, above the 0\.1 MiB .*export the sheet as CSV"):
        open_input(path, make_resource(path, fmt="xlsx"))
    monkeypatch.setenv("TERRITOIRE_SPREADSHEET_MAX_XML_BYTES", str(64 << 20))
    assert len(list(open_input(path, make_resource(path, fmt="xlsx")).rows())) == 2000


# -- JSON shapes --------------------------------------------------------------------------------------


def _rows(path: Path, fmt: str = "json") -> tuple[list[str], list]:
    staged = open_input(path, make_resource(path, fmt=fmt))
    return staged.columns, list(staged.rows())


def test_opendatasoft_v1_records_export_is_flattened(tmp_path):
    # SYNTHETIC, in the shape of an Opendatasoft `/explore/dataset/<id>/download?format=json` export.
    path = tmp_path / "ods.json"
    path.write_text(json.dumps([
        {"datasetid": "bornes", "recordid": "a1", "record_timestamp": "2024-01-01T00:00:00+00:00",
         "fields": {"id_station": "FR*001", "puissance": 22.0, "geo_point_2d": [45.75, 4.85]},
         "geometry": {"type": "Point", "coordinates": [4.85, 45.75]}},
        {"datasetid": "bornes", "recordid": "a2", "fields": {"id_station": "FR*002"}},
    ]), encoding="utf-8")
    assert "Opendatasoft export" in detect.detect_format(path).what
    columns, rows = _rows(path)
    assert columns == ["id_station", "puissance", "geo_point_2d", "geometry", "recordid", "record_timestamp"]
    assert rows[0] == (1, ["FR*001", "22.0", "[45.75,4.85]", '{"type":"Point","coordinates":[4.85,45.75]}', "a1",
                           "2024-01-01T00:00:00+00:00"])
    assert rows[1] == (2, ["FR*002", None, None, None, "a2", None])


def test_opendatasoft_explore_v21_answer_is_read_from_results(tmp_path):
    # SYNTHETIC, in the shape of an Explore API v2.1 `/records` answer.
    path = tmp_path / "v21.json"
    path.write_text(json.dumps({"total_count": 2, "results": [
        {"code_insee": "01001", "geo_point_2d": {"lon": 4.9, "lat": 46.1}},
        {"code_insee": "01002", "geo_point_2d": None}]}), encoding="utf-8")
    assert "Explore v2.1" in detect.detect_format(path).what
    assert _rows(path) == (["code_insee", "geo_point_2d"], [(1, ["01001", '{"lon":4.9,"lat":46.1}']),
                                                            (2, ["01002", None])])


def test_json_values_one_after_another_each_become_a_record(tmp_path):
    path = tmp_path / "seq.json"  # SYNTHETIC
    path.write_text('{"a": 1}{"a": 2} {"a": 3}\n\n\x1e{"a":\n 4}\n{"a": 5,,}\n{"a": 6}\n', encoding="utf-8")
    columns, rows = _rows(path)
    assert columns == ["a"]
    good = [(line, values) for line, values in rows if not isinstance(values, parsing.BadRecord)]
    bad = [(line, values.rule) for line, values in rows if isinstance(values, parsing.BadRecord)]
    assert good == [(1, ["1"]), (1, ["2"]), (1, ["3"]), (3, ["4"]), (6, ["6"])]
    assert bad == [(5, "json")]


def test_an_array_of_arrays_with_a_header_row_is_a_table(tmp_path):
    path = tmp_path / "rows.json"  # SYNTHETIC, the "array of arrays" form frictionless reads too
    path.write_text('[["code", "nom", "pop"], ["01001", "Ain", 812], ["01002", "Aix", null, "extra"], {"code": 1}]',
                    encoding="utf-8")
    columns, rows = _rows(path)
    assert columns == ["code", "nom", "pop"]
    assert rows[:2] == [(2, ["01001", "Ain", "812"]), (3, ["01002", "Aix", None, "extra"])]  # the loader counts fields
    assert rows[2][0] == 4 and rows[2][1].rule == "json"


# -- the reader's own checks: GeoJSON coordinates, NUL bytes --------------------------------------------


def _feature(coordinates, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": coordinates}}


def test_geojson_coordinates_must_be_finite_and_in_range(loader, warehouse_url, tmp_path):
    path = tmp_path / "points.geojson"  # SYNTHETIC; NaN/Infinity written as Python's json writes them
    features = [_feature([4.85, 45.75], nom="ok"), _feature([float("nan"), 45.0], nom="nan"),
                _feature([652469.0, 6862035.0], nom="lambert"), _feature([4.8, float("inf")], nom="inf"),
                _feature(["4.8", 45.0], nom="texte"),
                {"type": "Feature", "properties": {"nom": "poly"}, "geometry": {"type": "Polygon", "coordinates": [
                    [[0, 0], [1, 0], [1, 1], [0, 0]]]}}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    r = make_resource(path, fmt="geojson")
    result = loader.load(r, path, quarantine_threshold=1.0)
    assert (result.rows_loaded, result.rows_rejected) == (2, 4)
    assert {(line, rule) for line, _, rule in rejections(warehouse_url, result.batch_id)} == {
        (2, "geometry"), (3, "geometry"), (4, "geometry"), (5, "geometry")}
    # What is stored is valid JSON (PostgreSQL parses every geometry).
    assert fetch_all(warehouse_url, f"select nom, (geometry::jsonb)->>'type' from raw.\"{r.raw_table}\" "
                                    "order by _line_number") == [("ok", "Point"), ("poly", "Polygon")]
    (message,), = fetch_all(warehouse_url, "select message from ingest.rejected_rows where batch_id = %s "
                                           "and line_number = 3", (result.batch_id,))
    assert "Lambert 93" in message and "colonne 'geometry'" in message


def test_a_projected_crs_is_not_range_checked(tmp_path):
    path = tmp_path / "l93.geojson"  # SYNTHETIC, GeoJSON 2008 with a legacy crs member (as ogr2ogr writes)
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
                                "features": [_feature([652469.0, 6862035.0], nom="Paris")]}), encoding="utf-8")
    assert not detect.detect_format(path).lon_lat
    _, rows = _rows(path, "geojson")
    assert rows == [(1, ["Paris", '{"type":"Point","coordinates":[652469.0,6862035.0]}'])]


def test_the_real_geojson_samples_pass_the_coordinate_check():
    for path in sorted((SAMPLES / "territorial" / "ign_adminexpress_cog2018").glob("*.geojson")):
        _, rows = _rows(path, "geojson")
        assert rows and not [line for line, v in rows if isinstance(v, parsing.BadRecord)], path


def test_nul_bytes_in_text_fields_are_quarantined_by_name(loader, warehouse_url, tmp_path):
    path = tmp_path / "nul.csv"  # SYNTHETIC
    path.write_bytes(b"code;nom;pop\n01001;Ain;10\n01002;Ab\x00ergement;20\n01003;Aix;3\x000\n")
    schema = write_schema(tmp_path, [{"name": "code"}, {"name": "nom"}, {"name": "pop", "type": "integer"}])
    r = make_resource(path, schema=schema)
    result = loader.load(r, path, quarantine_threshold=1.0)
    got = fetch_all(warehouse_url, "select line_number, rule, message from ingest.rejected_rows where batch_id = %s "
                                   "order by 1", (result.batch_id,))
    assert [(line, rule) for line, rule, _ in got][0] == (3, "nul-byte")
    assert "colonne 'nom'" in got[0][2] and "Ab\\0ergement" in got[0][2]
    assert got[1][0] == 4 and got[1][1].startswith("type")  # in a typed column the type check says it
    assert fetch_all(warehouse_url, f'select code from raw."{r.raw_table}"') == [("01001",)]


# -- encodings ----------------------------------------------------------------------------------------


def test_a_bom_followed_by_cp1252_reads_a_clean_header(loader, warehouse_url, tmp_path):
    path = tmp_path / "bom_cp1252.csv"  # SYNTHETIC: a UTF-8 BOM, then CP1252 text (tools that prepend one)
    path.write_bytes(b"\xef\xbb\xbfcommune;libell\xe9\n01001;Cr\xe9py\n01002;B\x9cuf\n")
    info = parsing.inspect_encoding(path)
    assert (info.encoding, info.bom, info.bad_lines) == ("cp1252", True, ())
    r = make_resource(path)
    result = loader.load(r, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    assert fetch_all(warehouse_url, f'select commune, libelle from raw."{r.raw_table}" order by 1') == [
        ("01001", "Crépy"), ("01002", "Bœuf")]


def test_a_header_in_the_minority_encoding_is_never_a_data_row(loader, warehouse_url, tmp_path):
    path = tmp_path / "mixed.csv"  # SYNTHETIC: header in CP1252, data in UTF-8 except lines 5-6 and 8
    lines = ["libellé;ville".encode("cp1252")] + [f"{n};Orléans".encode() for n in ("a", "b", "c")] \
        + [f"{n};Besançon".encode("cp1252") for n in ("d", "e")] + ["f;Sète".encode()] \
        + ["g;Nîmes".encode("cp1252")] + ["h;Cœur".encode(), "i;Été".encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = make_resource(path)
    result = loader.load(r, path, quarantine_threshold=0.5)
    got = fetch_all(warehouse_url, "select line_number, rule, level, message from ingest.rejected_rows "
                                   "where batch_id = %s order by 1", (result.batch_id,))
    assert [(line, rule, level) for line, rule, level, _ in got] == [
        (5, "encoding", "warning"), (6, "encoding", "warning"), (8, "encoding", "warning")]
    assert "lignes en cp1252 : 5-6, 8" in got[0][3]
    assert (result.rows_loaded, result.rows_rejected) == (9, 0)
    assert fetch_all(warehouse_url, f'select ville from raw."{r.raw_table}" where _line_number in (5, 8) order by 1') \
        == [("Besançon",), ("Nîmes",)]
    assert fetch_all(warehouse_url, f'select column_name from information_schema.columns where table_name = '
                                    f"'{r.raw_table}' and column_name not like '\\_%%' order by ordinal_position") \
        == [("libelle",), ("ville",)]


def test_the_mixed_encoding_fixture_names_its_line_ranges():
    dialect = parsing.sniff_csv(MALFORMED / "mixed_encoding.csv")
    assert dialect.bad_lines == (4, 6) and parsing.line_ranges(dialect.bad_lines) == "4, 6"
    assert parsing.line_ranges([12, 3, 4, 5, 40, 13]) == "3-5, 12-13, 40"
    assert parsing.line_ranges(range(2, 100, 2), limit=3) == "2, 4, 6, … (+46)"
