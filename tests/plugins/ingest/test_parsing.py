"""Parsing quirks of French open data, without a database."""

from __future__ import annotations

import pytest
from ingest_helpers import MALFORMED, SAMPLES

from territoire.ingest import parsing
from territoire.naming import normalise_columns


def test_short_cp1252_sample_is_cp1252_not_cp1250(tmp_path):
    info = parsing.inspect_encoding(MALFORMED / "cp1252_short.csv")
    assert info.encoding == "cp1252" and not info.bad_lines
    text = (MALFORMED / "cp1252_short.csv").read_bytes().decode(info.encoding)
    assert "Bœuf" in text and "€" in text and "Crème brûlée" in text


def test_utf8_and_bom(tmp_path):
    plain = tmp_path / "a.csv"
    plain.write_text("nom;ville\nÉcole;Lyon\n", encoding="utf-8")
    assert parsing.inspect_encoding(plain).encoding == "utf-8"
    assert parsing.inspect_encoding(MALFORMED / "header_quirks.csv").encoding == "utf-8-sig"
    d = parsing.sniff_csv(MALFORMED / "header_quirks.csv")
    assert d.header[1] == "Code Insee"  # the BOM is not part of the first header


def test_real_cp1252_file_keeps_oe():
    path = SAMPLES / "subsidies" / "raw_csv" / "DEP_Lot_Subventions_2017_DONNEES.xlsx_pour_exemple.csv"
    info = parsing.inspect_encoding(path)
    assert info.encoding == "cp1252"
    assert "Mise en œuvre" in path.read_bytes().decode(info.encoding)


def test_mixed_encodings_name_the_minority_lines():
    info = parsing.inspect_encoding(MALFORMED / "mixed_encoding.csv")
    assert info.encoding == "utf-8"
    assert info.bad_lines == (4, 6)
    assert info.other_encoding == "cp1252"


@pytest.mark.parametrize("name, delimiter", [
    ("quoted_newlines_bad_rows.csv", ";"), ("ragged_rows.csv", ","), ("tab_delimited.tsv", "\t"),
    ("pipe_delimited.csv", "|"),
])
def test_delimiter(name, delimiter):
    assert parsing.sniff_csv(MALFORMED / name).delimiter == delimiter


def test_waste_file_comma_delimiter_with_quoted_decimal_commas():
    assert parsing.sniff_csv(SAMPLES / "waste" / "sinoe_tonnage_decheteries_par_type_dechet_par_dept.csv"
                             ).delimiter == ","


def test_empty_and_blank_files_are_named(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(parsing.ParseError, match="empty"):
        parsing.sniff_csv(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n  \n")
    with pytest.raises(parsing.ParseError, match="blank"):
        parsing.sniff_csv(blank)


def test_json_lines_with_blank_lines_and_trailing_spaces():
    path = SAMPLES / "bike_counters" / "montpellier_ecocompteur" / "Celleneuve.json"
    records = list(parsing.iter_json_lines(path, "utf-8"))
    assert records and all(isinstance(r, dict) for _, r in records)
    raw_lines = path.read_text(encoding="utf-8").splitlines()
    expected = [i for i, line in enumerate(raw_lines, start=1) if line.strip()]
    assert [line for line, _ in records] == expected  # physical line numbers, blank lines skipped
    assert records[0][1]["type"] == "TrafficFlowObserved"


def test_json_lines_bad_line_is_a_bad_record(tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_text('{"a": 1}\n\n{"a": oops}\n{"a": 3}   \n', encoding="utf-8")
    records = list(parsing.iter_json_lines(path, "utf-8"))
    assert [(line, type(r).__name__) for line, r in records] == [(1, "dict"), (3, "BadRecord"), (4, "dict")]


def test_header_spanning_lines(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('a;"b\nsuite";c\n1;2;3\n', encoding="utf-8")
    assert parsing.header_line_count(path) == 2
    assert b"".join(parsing.iter_byte_chunks(path, parsing.sniff_csv(path))) == b"1;2;3\n"


def test_trailing_blank_lines_dropped_keeping_the_terminator(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a;b\r\n1;2\r\n3;4\r\n\r\n\r\n")
    assert b"".join(parsing.iter_byte_chunks(path, parsing.sniff_csv(path))) == b"1;2\r\n3;4\r\n"


def test_normalised_headers():
    headers = ["", "Code Insee", "Libellé de la commune", "Population 2021", "Population 2021",
               "2024 Évolution (%)", "", "_id", "Région"]
    assert normalise_columns(headers) == [
        "column_1", "code_insee", "libelle_de_la_commune", "population_2021", "population_2021_2",
        "c_2024_evolution", "column_7", "id", "region"]


def test_utf16_and_binary_files_are_named_not_misread(tmp_path):
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes("code;valeur\nA;1\n".encode("utf-16"))
    with pytest.raises(parsing.ParseError, match="UTF-16"):
        parsing.sniff_csv(utf16)
    xls = tmp_path / "x.csv"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00;a\n1;2\n")
    with pytest.raises(parsing.ParseError, match="binary data.*not a CSV"):
        parsing.sniff_csv(xls)
    stray = tmp_path / "n.csv"
    stray.write_bytes(b"code;valeur\nA;2\x007\n")
    assert parsing.sniff_csv(stray).delimiter == ";"  # one damaged cell: the loader quarantines its row


def test_a_field_above_128_kib_does_not_hide_the_delimiter(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("code;valeur\nA;" + "x" * 300_000 + "\nB;2\n", encoding="utf-8")
    d = parsing.sniff_csv(path)
    assert d.delimiter == ";" and d.header == ["code", "valeur"]
    assert [len(r[1]) for _, r in parsing.iter_csv_rows(path, d)] == [300_000, 1]


def _rewritten(tmp_path, text: bytes, columns: list[int], width: int, encoding: str = "cp1252") -> bytes:
    path = tmp_path / "f.csv"
    path.write_bytes(text)
    return b"".join(parsing.iter_decimal_point_chunks(path, parsing.sniff_csv(path, encoding=encoding),
                                                      columns, width))


def test_decimal_points_rewritten_in_the_given_fields_only(tmp_path):
    """Synthetic rows: `,` becomes `.` in the number fields, not in the text field; CRLF and a last record
    without a line end are kept as they are."""
    text = "nom;valeur;adresse;total\r\nA;1,5;2, rue Haute;3,25\r\nÉ;;rue, basse;-0,5".encode("cp1252")
    assert _rewritten(tmp_path, text, [1, 3], 4) == \
        "A;1.5;2, rue Haute;3.25\r\nÉ;;rue, basse;-0.5".encode("cp1252")


def test_decimal_points_without_commas_pass_through_even_quoted(tmp_path):
    text = b'nom;valeur\n"a;b";1\n"c\nd";2\n'
    assert _rewritten(tmp_path, text, [1], 2) == b'"a;b";1\n"c\nd";2\n'


@pytest.mark.parametrize("text", [
    b'nom;valeur\n"a;b";1,5\n',          # a quoted field: its delimiters are not field ends
    b'nom;valeur\n"a\nb";1\nc;1,5\n',    # a quote seen earlier: the fields after it are uncertain
    b"nom;valeur\na;1,5;x\n",            # a ragged line
    b"nom;valeur\na;1,5\n\nb;2,5\n",     # a blank line inside the file
])
def test_decimal_points_not_rewritten_when_fields_are_uncertain(tmp_path, text):
    with pytest.raises(parsing.NotRewritable):
        _rewritten(tmp_path, text, [1], 2)


def test_json_documents_are_streamed_not_held_in_memory(tmp_path):
    """A 30 MB GeoJSON (SYNTHETIC features) is read record by record: the peak memory of reading it
    stays a small fraction of the file, and every feature comes out in order, properties + geometry."""
    import json
    import tracemalloc

    path = tmp_path / "points.geojson"
    n = 120_000
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"type": "FeatureCollection", "name": "synthétique",\n "features": [\n')
        for i in range(n):
            feature = {"type": "Feature", "properties": {"id": f"P{i}", "nom": "Borne synthétique " + "x" * 150,
                                                         "puissance_kw": 22.0 + i % 7},
                       "geometry": {"type": "Point", "coordinates": [2.35 + i / 1e6, 48.85]}}
            f.write(("" if i == 0 else ",\n") + json.dumps(feature, ensure_ascii=False))
        f.write("\n]}\n")
    size = path.stat().st_size
    assert size > 30_000_000
    tracemalloc.start()
    count, last = 0, None
    for number, record in parsing.iter_json_document(path, "utf-8"):
        count += 1
        last = (number, record)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == n and last[0] == n and last[1]["id"] == f"P{n - 1}"
    assert last[1]["geometry"]["type"] == "Point" and "properties" not in last[1]
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB reading a {size / 1e6:.0f} MB file"


@pytest.mark.parametrize("text, message", [
    ('[{"a": 1},\n{"a": tru}]', r"line 2: not valid JSON: Expecting value"),
    ('{"results": [{"a": 1},\n{"a": "abc', r"line 2: .*truncated\?"),
    ("42", r"line 1: expected a JSON array of records or an object"),
    ('[{"a": 1}\n{"a": 2}]', r"line 2: not valid JSON: expected ',' or ']'"),
])
def test_broken_json_names_the_line(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(parsing.ParseError, match=message):
        list(parsing.iter_json_document(path, "utf-8"))


def test_bare_cr_line_ends_are_refused_with_the_file_and_line(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"code;nom\r01001;Ain\r01002;Aisne\r")
    with pytest.raises(parsing.ParseError, match=r"mac\.csv: line 1: the header cannot be read as CSV"):
        parsing.sniff_csv(path)
