"""Any width: files of 150, 500 and 1,500 columns validate and load (no SQL construct with PostgreSQL's
100-argument limit); above PostgreSQL's 1,600 columns, a clear error naming the file; headers that
become equal after normalisation or truncation to 63 bytes get distinct names. Files are SYNTHETIC."""

from __future__ import annotations

import pytest
from ingest_helpers import fetch_all, make_resource, rejections, write_schema

from territoire.ingest.loader import LoadError
from territoire.naming import IDENTIFIER_MAX, normalise_columns

pytestmark = pytest.mark.integration


def _wide(tmp_path, width: int, rows: int = 3, bad: tuple[int, int] | None = None):
    """A synthetic `;` file of `width` integer columns (`mesure_1`...), with a schema typing them all;
    `bad` = (row, column) holds a value that is not an integer."""
    header = ";".join(f"mesure_{c}" for c in range(1, width + 1))
    lines = [header]
    for r in range(rows):
        lines.append(";".join("x" if bad == (r, c) else str(r * width + c) for c in range(1, width + 1)))
    path = tmp_path / f"synthetique_{width}_colonnes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": f"mesure_{c}", "type": "integer",
                                      "constraints": {"required": c == 1}} for c in range(1, width + 1)])
    return path, schema


@pytest.mark.parametrize("width", [150, 500, 1500])
def test_wide_files_validate_and_load(loader, warehouse_url, tmp_path, width):
    path, schema = _wide(tmp_path, width, bad=(1, width))
    r = make_resource(path, schema=schema)
    result = loader.load(r, path, quarantine_threshold=0.5)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert rejections(warehouse_url, result.batch_id) == {(3, f"mesure_{width}", "type:integer")}
    last = fetch_all(warehouse_url, f'select "mesure_{width}" from raw."{r.raw_table}" order by _line_number')
    assert last == [(str(width),), (str(2 * width + width),)]


def test_a_clean_wide_file_takes_the_one_scan_check(loader, warehouse_url, tmp_path):
    path, schema = _wide(tmp_path, 1500)
    result = loader.load(make_resource(path, schema=schema), path)
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert result.rows_loaded == 3 and details["checked_by"] == "one aggregate scan (clean file)"


def test_more_columns_than_postgresql_holds_is_a_clear_error(loader, tmp_path):
    path = tmp_path / "synthetique_1700_colonnes.csv"
    path.write_text(";".join(f"c{c}" for c in range(1700)) + "\n" + ";".join("1" * 1700) + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"synthetique_1700_colonnes.csv\): line 1: 1700 columns, more than the 1597"):
        loader.load(make_resource(path), path)


def test_headers_equal_after_truncation_get_distinct_names(loader, warehouse_url, tmp_path):
    long = "Consommation annuelle moyenne par site de l'adresse en mégawattheures"  # > 63 bytes normalised
    headers = [long + " (2022)", long + " (2023)", "Code", "code", "CODE"]
    names = normalise_columns(headers)
    assert len(set(names)) == 5 and all(len(n.encode()) <= IDENTIFIER_MAX for n in names)
    path = tmp_path / "synthetique.csv"
    path.write_text(";".join(headers) + "\n1;2;a;b;c\n", encoding="utf-8")
    r = make_resource(path)
    loader.load(r, path)
    assert fetch_all(warehouse_url, f'select {", ".join(chr(34) + n + chr(34) for n in names)} '
                                    f'from raw."{r.raw_table}"') == [("1", "2", "a", "b", "c")]


def test_a_repeated_label_is_reported_with_its_positions(loader, warehouse_url, tmp_path, messages):
    path = tmp_path / "synthetique.csv"
    path.write_text("code;valeur;code;valeur\n1;2;3;4\n", encoding="utf-8")
    result = loader.load(make_resource(path), path)
    (warnings,), = fetch_all(warehouse_url, "select details -> 'header_warnings' from ingest.load_batches "
                                            "where batch_id = %s", (result.batch_id,))
    repeated = {w["label"]: w["positions"] for w in warnings if w["kind"] == "repeated-label"}
    assert repeated == {"code": [1, 3], "valeur": [2, 4]}
    assert any("'code' repeated at columns 1, 3" in m for m in messages)
