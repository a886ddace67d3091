"""The loader's contract: atomic swap, idempotency, quarantine, threshold, kill, progress, reports."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from ingest_helpers import (
    MALFORMED,
    fetch_all,
    kill_at,
    make_resource,
    rejections,
    start_loader,
    wait_for_dead_sessions,
    write_schema,
)

from territoire.ingest.loader import Loader, LoadError, QuarantineThresholdExceeded

pytestmark = pytest.mark.integration


def _csv(path: Path, rows: list[str], header: str = "code;valeur") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _schema(tmp_path):
    return write_schema(tmp_path, [{"name": "code", "type": "string", "constraints": {"required": True}},
                                   {"name": "valeur", "type": "integer"}])


def test_same_content_twice_is_one_batch_and_one_skip(loader, warehouse_url, tmp_path):
    path = _csv(tmp_path / "a.csv", ["a;1", "b;2"])
    r = make_resource(path, schema=_schema(tmp_path))
    first = loader.load(r, path)
    copy = tmp_path / "same_bytes_other_name.csv"
    copy.write_bytes(path.read_bytes())
    second = loader.load(r, copy)
    assert (first.status, second.status) == ("succeeded", "skipped_unchanged")
    ledger = fetch_all(warehouse_url, "select status, rows_loaded from ingest.load_batches where raw_table = %s "
                                      "order by batch_id", (r.raw_table,))
    assert ledger == [("succeeded", 2), ("skipped_unchanged", 0)]
    assert fetch_all(warehouse_url, f'select distinct _batch_id from raw."{r.raw_table}"') == [(first.batch_id,)]
    forced = loader.load(r, path, force=True)
    assert forced.status == "succeeded" and forced.rows_loaded == 2



def test_same_size_other_bytes_loads_and_every_batch_records_its_digest(loader, warehouse_url, tmp_path):
    """The digest is computed beside the load; a file of the last batch's size waits for it to decide."""
    import hashlib

    path = _csv(tmp_path / "a.csv", ["a;1", "b;2"])
    r = make_resource(path, schema=_schema(tmp_path))
    first = loader.load(r, path)
    other = _csv(tmp_path / "b.csv", ["a;1", "b;3"])  # same size, other content
    second = loader.load(r, other)
    bigger = _csv(tmp_path / "c.csv", ["a;1", "b;2", "c;3"])
    third = loader.load(r, bigger)
    assert (first.status, second.status, third.status) == ("succeeded",) * 3
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"code;valeur\nc;3\nd\x81;4\n")
    with pytest.raises(LoadError):
        loader.load(r, bad)
    ledger = fetch_all(warehouse_url, "select status, file_sha256 from ingest.load_batches where raw_table = %s "
                                      "order by batch_id", (r.raw_table,))
    assert ledger == [(status, hashlib.sha256(f.read_bytes()).hexdigest()) for status, f in
                      [("succeeded", path), ("succeeded", other), ("succeeded", bigger), ("failed", bad)]]
    assert [first.file_sha256, second.file_sha256, third.file_sha256] == [sha for _, sha in ledger[:3]]
    assert fetch_all(warehouse_url, f'select valeur from raw."{r.raw_table}" order by 1') == [("1",), ("2",), ("3",)]

def test_failing_load_leaves_previous_rows_and_no_partial_table(loader, warehouse_url, tmp_path):
    good = _csv(tmp_path / "good.csv", ["a;1", "b;2"])
    r = make_resource(good, schema=_schema(tmp_path))
    loader.load(r, good)
    # Bytes that are neither UTF-8 nor CP1252 (0x81 is undefined in CP1252): the load fails half-way.
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"code;valeur\n" + b"c;3\n" * 1000 + b"d\x81;4\n")
    with pytest.raises(LoadError, match=r"test/r\d+.*bad.csv"):
        loader.load(r, bad)
    assert fetch_all(warehouse_url, f'select code, valeur from raw."{r.raw_table}" order by 1') == [("a", "1"),
                                                                                                 ("b", "2")]
    assert fetch_all(warehouse_url, "select status from ingest.load_batches where raw_table = %s order by batch_id",
                     (r.raw_table,)) == [("succeeded",), ("failed",)]
    leftovers = fetch_all(warehouse_url, "select tablename from pg_tables where schemaname = 'raw' and "
                                         "(tablename like '\\_load\\_%%' or tablename like %s)", (r.raw_table + "__%",))
    assert leftovers == []


def test_missing_required_column_names_line_1_and_the_column(loader, tmp_path):
    path = _csv(tmp_path / "h.csv", ["1"], header="valeur")
    r = make_resource(path, schema=_schema(tmp_path))
    with pytest.raises(LoadError, match="line 1: the header lacks required column.*code"):
        loader.load(r, path)


def test_threshold_exceeded_keeps_quarantine_and_raw_table(loader, warehouse_url, tmp_path):
    good = _csv(tmp_path / "good.csv", ["a;1", "b;2", "c;3"])
    r = make_resource(good, schema=_schema(tmp_path))
    first = loader.load(r, good)
    bad = _csv(tmp_path / "bad.csv", ["a;1", "b;deux", "c;trois", ";4"])
    with pytest.raises(QuarantineThresholdExceeded) as info:
        loader.load(r, bad, quarantine_threshold=0.25)
    message = str(info.value)
    assert "3 of 4 rows" in message and "valeur/type:integer: 2 rows (e.g. line 3: 'deux')" in message
    assert fetch_all(warehouse_url, f'select distinct _batch_id, count(*) from raw."{r.raw_table}" group by 1') == [
        (first.batch_id, 3)]
    (batch_id, status, rejected, error), = fetch_all(
        warehouse_url, "select batch_id, status, rows_rejected, error from ingest.load_batches where raw_table = %s "
                       "and batch_id > %s", (r.raw_table, first.batch_id))
    assert status == "failed" and rejected == 3 and "threshold" in error
    assert rejections(warehouse_url, batch_id) == {(3, "valeur", "type:integer"), (4, "valeur", "type:integer"),
                                                   (5, "code", "required")}


def test_quarantine_row_contents(loader, warehouse_url, tmp_path):
    path = _csv(tmp_path / "q.csv", ["a;1", "b;x1"])
    r = make_resource(path, schema=_schema(tmp_path))
    result = loader.load(r, path, quarantine_threshold=1.0)
    row, = fetch_all(warehouse_url, "select batch_id, source_id, resource, line_number, column_name, rule, value, "
                                    "message from ingest.rejected_rows where batch_id = %s", (result.batch_id,))
    assert row[:7] == (result.batch_id, "test", r.name, 3, "valeur", "type:integer", "x1")
    assert "« valeur »" in row[7] and "entier" in row[7]


def test_conformity_report_beside_the_batch(loader, warehouse_url, tmp_path, landing_dir):
    schema = write_schema(tmp_path, [{"name": "code", "type": "string", "constraints": {"pattern": "[0-9]{5}"}},
                                     {"name": "valeur", "type": "number", "constraints": {"minimum": 0}}])
    path = _csv(tmp_path / "r.csv", ["75056;1,5", "75O56;2", "69123;-3", "13055;4"])
    r = make_resource(path, schema=schema)
    result = loader.load(r, path, quarantine_threshold=1.0)
    folder = landing_dir / "test" / r.name / "reports"
    assert result.report == {kind: str(folder / f"batch-{result.batch_id}.{kind}") for kind in ("html", "csv", "json")}
    html = (folder / f"batch-{result.batch_id}.html").read_text(encoding="utf-8")
    assert "Rapport de conformité" in html and "2 ligne(s) sur 4" in html
    assert "<td>3</td><td>code</td><td><code>75O56</code></td>" in html
    assert "<td>4</td><td>valeur</td><td><code>-3</code></td>" in html
    lines = (folder / f"batch-{result.batch_id}.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "niveau;ligne;colonne;valeur;regle;probleme;message;que_faire;ligne_brute"
    assert [line.split(";")[:5] for line in lines[1:]] == [["erreur", "3", "code", "75O56", "pattern"],
                                                           ["erreur", "4", "valeur", "'-3", "minimum"]]
    (details,), = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                            (result.batch_id,))
    assert details["report"] == result.report


def test_unique_fields_and_resource_primary_key(loader, warehouse_url, tmp_path):
    schema = write_schema(tmp_path, [{"name": "code", "type": "string"},
                                     {"name": "valeur", "type": "integer", "constraints": {"unique": True}}])
    path = _csv(tmp_path / "u.csv", ["a;1", "b;2", "a;3", "c;1", "d;", "e;"])
    r = make_resource(path, schema=schema, primary_key=("code",))
    result = loader.load(r, path, quarantine_threshold=1.0)
    got = fetch_all(warehouse_url, "select line_number, column_name, rule, message from ingest.rejected_rows "
                                   "where batch_id = %s order by 1", (result.batch_id,))
    assert [g[:3] for g in got] == [(4, "code", "unique"), (5, "valeur", "unique")]
    assert "ligne 2" in got[0][3]
    # Empty values are not duplicates of each other.
    assert result.rows_loaded == 4


def test_progress_is_reported_as_the_stream_goes(warehouse_url, tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("code;valeur\n")
        for i in range(300_000):
            f.write(f"c{i};{i}\n")
    messages: list[str] = []
    loader = Loader(warehouse_url, progress=messages.append, progress_interval=0.0)
    r = make_resource(path)
    loader.load(r, path)
    streamed = [m for m in messages if "MB streamed" in m]
    assert len(streamed) >= 2, messages
    assert streamed[0] != streamed[-1]
    assert any("300,000 rows copied" in m for m in messages)
    assert messages[-1].endswith(f"succeeded, 300000 rows loaded, 0 rejected (batch {messages[-1].split()[-1]}")


@pytest.mark.slow
def test_killed_mid_copy_leaves_nothing_and_reruns_cleanly(fresh_database, tmp_path):
    url = fresh_database
    small = _csv(tmp_path / "small.csv", ["a;1", "b;2"])
    r = make_resource(small)
    Loader(url, progress=lambda m: None).load(r, small)
    big = tmp_path / "big.csv"
    with open(big, "w", encoding="utf-8") as f:
        f.write("code;valeur\n")
        for i in range(1_500_000):
            f.write(f"code-{i};{i}\n")
    proc = start_loader(url, big, r.name, tmp_path / "landing")
    kill_at(proc, "MB streamed")  # the COPY is running
    wait_for_dead_sessions(url)
    assert fetch_all(url, f'select code, valeur from raw."{r.raw_table}" order by 1') == [("a", "1"), ("b", "2")]
    assert fetch_all(url, "select status from ingest.load_batches where raw_table = %s order by batch_id",
                     (r.raw_table,)) == [("succeeded",), ("running",)]
    assert fetch_all(url, "select tablename from pg_tables where schemaname = 'raw' and tablename <> %s",
                     (r.raw_table,)) == []
    rerun = Loader(url, progress=lambda m: None).load(r, big)
    assert rerun.status == "succeeded" and rerun.rows_loaded == 1_500_000
    ledger = fetch_all(url, "select status, error from ingest.load_batches where raw_table = %s order by batch_id",
                       (r.raw_table,))
    assert [s for s, _ in ledger] == ["succeeded", "interrupted", "succeeded"]
    assert ledger[1][1].startswith("interrupted")
    assert fetch_all(url, f'select count(*), min(_line_number), max(_line_number) from raw."{r.raw_table}"') == [
        (1_500_000, 2, 1_500_001)]


def test_malformed_fixture_report_is_french_and_names_lines(loader, tmp_path, landing_dir):
    r = make_resource(MALFORMED / "ragged_rows.csv")
    result = loader.load(r, MALFORMED / "ragged_rows.csv", quarantine_threshold=1.0)
    html = Path(result.report["html"]).read_text(encoding="utf-8")
    assert "Nombre de champs incorrect" in html and "<td>3</td>" in html and "<td>4</td>" in html


def test_a_new_load_takes_the_place_of_the_table_under_its_views(fresh_database, tmp_path):
    """Once dbt has built views on a raw table, a new load puts its table in the old one's place without
    copying the rows: the views (and a view on a view) read the new rows and keep their identity, options,
    grants and comments. A materialized view cannot be pointed elsewhere: then the rows are copied."""
    url = fresh_database
    loader = Loader(url, progress=lambda m: None)
    first = _csv(tmp_path / "first.csv", ["a;1", "b;2"])
    r = make_resource(first, schema=_schema(tmp_path))
    loader.load(r, first)
    table = f'raw."{r.raw_table}"'
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema vues")
        conn.execute(f"create view vues.v1 with (security_barrier) as select code, valeur::int as valeur from {table}")
        conn.execute("create view vues.v2 as select sum(valeur) as total from vues.v1")
        conn.execute("comment on view vues.v1 is 'vue de test'")
        conn.execute("grant select on vues.v1 to public")
    identity = "select oid, reloptions, relacl::text, obj_description(oid) from pg_class where oid = 'vues.v1'::regclass"
    before = fetch_all(url, identity)
    (table_before,), = fetch_all(url, f"select '{table}'::regclass::oid")
    second = _csv(tmp_path / "second.csv", ["a;5", "c;7"])
    assert loader.load(r, second).status == "succeeded"
    assert fetch_all(url, "select code, valeur from vues.v1 order by 1") == [("a", 5), ("c", 7)]
    assert fetch_all(url, "select total from vues.v2") == [(12,)]
    assert fetch_all(url, identity) == before and before[0][1] == ["security_barrier=true"]
    (table_after,), = fetch_all(url, f"select '{table}'::regclass::oid")
    assert table_after != table_before  # the new table itself, not a copy of its rows
    assert fetch_all(url, "select relname from pg_class where relname like %s", (f"{r.raw_table}\\_\\_%",)) == []

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create materialized view vues.m as select count(*) as n from {table}")
    third = _csv(tmp_path / "third.csv", ["d;1", "e;2", "f;3"])
    assert loader.load(r, third).status == "succeeded"
    assert fetch_all(url, "select code from vues.v1 order by 1") == [("d",), ("e",), ("f",)]
    assert fetch_all(url, f"select '{table}'::regclass::oid") == [(table_after,)]  # rows copied into it
    assert fetch_all(url, "select n from vues.m") == [(2,)]  # a materialized view keeps its snapshot
