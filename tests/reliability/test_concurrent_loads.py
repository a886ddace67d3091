"""Two loads of the same raw table never interleave: the second waits for the first (the platform lock of
the table, a row of `ingest.locks`).

Two real processes load two different versions of the same resource at the same time. Each process
records when its load started waiting and when it finished; the ledger records when each batch
really started (`started_at`, written once the lock is held) and finished. The batches must not
overlap, and the table must end holding exactly one of the two versions, whole.
(The ingestion DAGs also set max_active_runs=1: tests/dags checks the DAG arguments.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from reliability_helpers import PROJECT

from territoire import warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = r"""
import json, sys, time
from territoire.catalog import Location, Resource
from territoire.ingest.loader import Loader

url, path, out = sys.argv[1:4]
resource = Resource(source_id="concurrence", name="donnees", format="csv",
                    locations={"demo": Location("local", path=path)})
loader = Loader(url, progress=lambda m: None, reports=False)
print("ready", flush=True)
sys.stdin.readline()  # both processes start loading on the same signal
asked = time.time()
result = loader.load(resource, path)
json.dump({"asked": asked, "done": time.time(), "batch_id": result.batch_id, "status": result.status,
           "rows": result.rows_loaded}, open(out, "w"))
"""


def _version(path, tag: str, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("code;version;valeur\n")
        for i in range(rows):
            f.write(f"c{i};{tag};{i}\n")


def test_two_loads_of_the_same_table_serialise(fresh_database, tmp_path):
    url = fresh_database
    rows = 300_000  # a few seconds of COPY each: long enough for the two to overlap if nothing stopped them
    files = {tag: tmp_path / f"{tag}.csv" for tag in ("a", "b")}
    for tag, path in files.items():
        _version(path, tag, rows)
    env = {**os.environ, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    procs = {tag: subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(path), str(tmp_path / f"{tag}.json")],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT, env=env)
             for tag, path in files.items()}
    try:
        for p in procs.values():
            assert p.stdout.readline().strip() == "ready"
        for p in procs.values():  # release both at once
            p.stdin.write("go\n")
            p.stdin.flush()
        # While they run: at most one batch of this table is ever `running` at a time.
        seen_running = 0
        deadline = time.monotonic() + 300
        with warehouse.connect(url, autocommit=True) as conn:
            while any(p.poll() is None for p in procs.values()):
                running = conn.execute("select count(*) from ingest.load_batches where raw_table = "
                                       "'concurrence__donnees' and status = 'running'").fetchone()[0]
                assert running <= 1, "two batches of the same table were running at once"
                seen_running = max(seen_running, running)
                assert time.monotonic() < deadline, "the loads did not finish in 5 minutes"
                time.sleep(0.05)
        for p in procs.values():
            assert p.wait(timeout=30) == 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    results = {tag: json.loads((tmp_path / f"{tag}.json").read_text()) for tag in files}
    assert {r["status"] for r in results.values()} == {"succeeded"}
    with warehouse.connect(url) as conn:
        batches = conn.execute(
            """select batch_id, status, started_at, finished_at, rows_loaded from ingest.load_batches
               where raw_table = 'concurrence__donnees' order by started_at""").fetchall()
        content = conn.execute("select version, count(*), count(distinct code), count(distinct _batch_id) "
                               "from raw.concurrence__donnees group by version").fetchall()
        leftovers = conn.execute("select tablename from pg_tables where schemaname = 'raw' "
                                 "and tablename <> 'concurrence__donnees'").fetchall()
    assert [b[1] for b in batches] == ["succeeded", "succeeded"]
    first, second = batches
    # Serialised: the second batch started (got the lock) only after the first had committed.
    assert second[2] >= first[3], f"batches overlap: {batches}"
    # Both processes asked at about the same moment, so the second one waited for the first.
    later = max(results.values(), key=lambda r: r["done"])
    earlier = min(results.values(), key=lambda r: r["done"])
    assert later["asked"] < earlier["done"], "the loads did not actually compete"
    # The table holds the last committed version, whole, from one batch; nothing half-built remains.
    last_tag = next(tag for tag, r in results.items() if r["batch_id"] == second[0])
    assert content == [(last_tag, rows, rows, 1)]
    assert leftovers == []
    assert all(b[4] == rows for b in batches)
