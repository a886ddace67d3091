"""Bounded resources: every rejected row is counted, but the quarantine keeps the content of the first N
rows of each (column, rule) only (TERRITOIRE_QUARANTINE_ROWS_KEPT, default 1,000); a load stops as soon
as the quarantine threshold can no longer be met, and the ledger says where, with the rows read and
rejected then. Files are SYNTHETIC."""

from __future__ import annotations

import pytest
from ingest_helpers import fetch_all, make_resource, write_schema

from territoire.ingest.loader import QuarantineThresholdExceeded

pytestmark = pytest.mark.integration


def _ledger(url, batch_id):
    return fetch_all(url, "select status, rows_read, rows_rejected, details from ingest.load_batches "
                          "where batch_id = %s", (batch_id,))[0]


def _last_batch(url, resource):
    return fetch_all(url, "select max(batch_id) from ingest.load_batches where resource = %s", (resource,))[0][0]


def test_every_rejected_row_is_counted_and_the_first_n_kept(loader, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", "5")
    path = tmp_path / "synthetique.csv"
    rows = [f"{i};{'x' if i % 2 else i};{'y' if i % 3 == 0 else 'ok'}" for i in range(1, 61)]
    path.write_text("id;valeur;etat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": "id", "type": "integer"}, {"name": "valeur", "type": "integer"},
                                     {"name": "etat", "type": "string", "constraints": {"enum": ["ok"]}}])
    r = make_resource(path, schema=schema)
    result = loader.load(r, path, quarantine_threshold=1.0)
    bad_lines = {i for i in range(1, 61) if i % 2 or i % 3 == 0}
    assert result.rows_rejected == len(bad_lines) and result.rows_loaded == 60 - len(bad_lines)
    kept = fetch_all(warehouse_url, "select column_name, rule, count(*), min(line_number) from ingest.rejected_rows "
                                    "where batch_id = %s group by 1, 2 order by 1", (result.batch_id,))
    assert kept == [("etat", "enum", 5, 4), ("valeur", "type:integer", 5, 2)]
    counts = {(s["column"], s["rule"]): s["count"] for s in _ledger(warehouse_url, result.batch_id)[3]["rejections"]}
    assert counts == {("valeur", "type:integer"): 30, ("etat", "enum"): 20}


def test_a_load_stops_reading_once_the_threshold_is_lost(loader, warehouse_url, tmp_path, monkeypatch):
    """Row by row (ragged records): the reader stops as soon as more records were refused than the
    threshold allows of the most records the file can hold."""
    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", "10")
    path = tmp_path / "synthetique.csv"
    path.write_text("a;b\n" + "1;2;3\n" * 5000, encoding="utf-8")
    r = make_resource(path)
    with pytest.raises(QuarantineThresholdExceeded, match="stopped at the read stage|above the threshold"):
        loader.load(r, path, quarantine_threshold=0.05)
    status, read, rejected, details = _ledger(warehouse_url, _last_batch(warehouse_url, r.name))
    assert status == "failed" and details["stopped"]["stage"] == "read"
    assert read == rejected == details["stopped"]["rows_rejected"] and 100 < read < 5000
    assert fetch_all(warehouse_url, "select count(*) from ingest.rejected_rows where batch_id = %s",
                     (_last_batch(warehouse_url, r.name),)) == [(10,)]


def test_a_load_over_the_threshold_stops_after_the_check(loader, warehouse_url, tmp_path):
    path = tmp_path / "synthetique.csv"
    path.write_text("id;valeur\n" + "".join(f"{i};x\n" for i in range(200)), encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": "id", "type": "integer", "constraints": {"unique": True}},
                                     {"name": "valeur", "type": "integer"}])
    r = make_resource(path, schema=schema)
    with pytest.raises(QuarantineThresholdExceeded, match="200 of 200 rows"):
        loader.load(r, path, quarantine_threshold=0.1)
    status, read, rejected, details = _ledger(warehouse_url, _last_batch(warehouse_url, r.name))
    assert (status, read, rejected) == ("failed", 200, 200)
    assert details["stopped"] == {"stage": "check", "rows_read": 200, "rows_rejected": 200}
    assert "keys" not in details["timings"]  # the key check did not run


def test_a_large_file_of_bad_rows_stops_after_the_first_slice(loader, warehouse_url, tmp_path, monkeypatch):
    """PostgreSQL checks the first slice of records; when it alone breaks the threshold of the whole
    file, the rest is not checked, and the ledger says how many rows were checked."""
    from territoire.ingest import checking

    monkeypatch.setattr(checking, "FIRST_SLICE", 1_000)
    path = tmp_path / "synthetique.csv"
    path.write_text("id;valeur\n" + "".join(f"{i};x\n" for i in range(5_000)), encoding="utf-8")
    r = make_resource(path, schema=write_schema(tmp_path, [{"name": "id", "type": "integer"},
                                                           {"name": "valeur", "type": "integer"}]))
    with pytest.raises(QuarantineThresholdExceeded, match="1000 of 5000 rows"):
        loader.load(r, path, quarantine_threshold=0.1)
    status, read, rejected, details = _ledger(warehouse_url, _last_batch(warehouse_url, r.name))
    assert (status, read, rejected) == ("failed", 5000, 1000)
    assert details["stopped"] == {"stage": "check", "rows_checked": 1000, "rows_read": 5000, "rows_rejected": 1000}


def test_a_large_file_under_the_threshold_is_checked_whole(loader, warehouse_url, tmp_path, monkeypatch):
    from territoire.ingest import checking

    monkeypatch.setattr(checking, "FIRST_SLICE", 1_000)
    path = tmp_path / "synthetique.csv"
    path.write_text("id;valeur\n" + "".join(f"{i};{'x' if i in (10, 4321) else i}\n" for i in range(5_000)),
                    encoding="utf-8")
    r = make_resource(path, schema=write_schema(tmp_path, [{"name": "id", "type": "integer"},
                                                           {"name": "valeur", "type": "integer"}]))
    result = loader.load(r, path, quarantine_threshold=0.1)
    assert (result.rows_loaded, result.rows_rejected) == (4998, 2)
    assert fetch_all(warehouse_url, f'select count(*), min(_line_number), max(_line_number) from raw."{r.raw_table}"'
                     ) == [(4998, 2, 5001)]
    assert fetch_all(warehouse_url, "select line_number from ingest.rejected_rows where batch_id = %s order by 1",
                     (result.batch_id,)) == [(12,), (4323,)]


def test_business_rules_quarantine_the_first_n_and_count_every_row(loader, warehouse_url, tmp_path, monkeypatch):
    """The business rules follow the schema checks' model: N rows per (rule, column) stored, every
    violation counted in `details.rejections`, every error-level line out of the raw table."""
    import dataclasses

    from territoire.ingest.rules import identifiers

    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", "3")
    sirets = [f"732829320{i:05d}" for i in range(80)]   # SYNTHETIC: one SIREN, 8 of 80 SIRET keys pass Luhn
    bad = [i + 2 for i, s in enumerate(sirets) if identifiers.siret_verdict(s)]
    path = tmp_path / "synthetique.csv"
    path.write_text("siret\n" + "\n".join(sirets) + "\n", encoding="utf-8")
    r = dataclasses.replace(make_resource(path), rules={"siret": "siret"})
    result = loader.load(r, path, quarantine_threshold=1.0)
    assert 3 < len(bad) < 80 and result.rows_rejected == len(bad) and result.rows_loaded == 80 - len(bad)
    assert fetch_all(warehouse_url, "select line_number from ingest.rejected_rows where batch_id = %s "
                                    "order by 1", (result.batch_id,)) == [(n,) for n in bad[:3]]
    assert fetch_all(warehouse_url, f'select count(*) from raw."{r.raw_table}" where _line_number = any(%s)',
                     (bad,)) == [(0,)]
    (entry,) = _ledger(warehouse_url, result.batch_id)[3]["rejections"]
    assert (entry["rule"], entry["column"], entry["level"], entry["count"], entry["example_line"]) == (
        "siret", "siret", "error", len(bad), bad[0])
