"""Nothing an analyst does blocks a load; a held lock fails in bounded time naming its holder; a batch
left `running` by a dead process is recovered by the next load, also when the file is unchanged; a row
count falling past the tolerance blocks the swap unless forced; a lost connection is one clear error."""

from __future__ import annotations

import hashlib
import threading
import time

import psycopg
import pytest
from hardening_helpers import analyst_url, csv_file, drop_login, resource, rows

from territoire.ingest import guards, locks, recovery
from territoire.ingest.loader import Loader, LoadError


@pytest.fixture(autouse=True)
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_LANDING_DIR", str(tmp_path / "landing"))


@pytest.fixture
def loader(warehouse_url):
    return Loader(warehouse_url, progress=lambda m: None, reports=False)


@pytest.fixture
def analyst(warehouse_url):
    login, url = analyst_url(warehouse_url)
    yield url
    drop_login(warehouse_url, login)


def _old_advisory_key(table: str) -> int:
    # The key the loader used to lock a table with: computable by anyone from the public code.
    return int.from_bytes(hashlib.sha256(f"territoire.load:{table}".encode()).digest()[:8], "big", signed=True)


def test_an_analyst_can_neither_take_nor_hold_the_load_lock(warehouse_url, loader, analyst, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_LOCK_TIMEOUT", "1")
    r = resource(csv_file(tmp_path / "a.csv", 10))
    loader.load(r, tmp_path / "a.csv")
    with psycopg.connect(analyst, autocommit=True) as conn:
        # What froze loads before: an advisory lock on the key of the table (and on the DDL key).
        conn.execute("select pg_advisory_lock(%s)", (_old_advisory_key(r.raw_table),))
        conn.execute("select pg_advisory_lock(%s)", (_old_advisory_key("territoire.ingest.ddl"),))
        for attempt in ("select * from ingest.locks for update", "lock table ingest.locks",
                        "select pg_advisory_lock(hashtext('territoire.publication'), hashtext('x'))"):
            try:
                with conn.transaction():
                    conn.execute(attempt)
            except psycopg.errors.InsufficientPrivilege:
                continue
            assert attempt.startswith("select pg_advisory"), f"an analyst could run {attempt!r}"
        started = time.monotonic()
        csv_file(tmp_path / "a.csv", 12)
        result = Loader(warehouse_url, progress=lambda m: None, reports=False).load(r, tmp_path / "a.csv")
        assert result.status == "succeeded" and result.rows_loaded == 12
        assert time.monotonic() - started < 10


def test_a_held_lock_fails_in_bounded_time_naming_its_holder(warehouse_url, loader, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_LOCK_TIMEOUT", "0.5")
    monkeypatch.setenv("TERRITOIRE_LOCK_ATTEMPTS", "2")
    r = resource(csv_file(tmp_path / "b.csv", 5))
    with psycopg.connect(warehouse_url, autocommit=True) as conn, \
            locks.table_lock(conn, f"raw.{r.raw_table}", what="a stuck load of the test"):
        holder = rows(warehouse_url, "select pid from pg_stat_activity where application_name = %s",
                      (f"territoire lock raw.{r.raw_table}",))
        assert len(holder) == 1
        assert "a stuck load of the test" in str(rows(warehouse_url, "select what from ingest.lock_holders"))
        started = time.monotonic()
        with pytest.raises(locks.LockBusy) as busy:
            loader.load(r, tmp_path / "b.csv")
        waited = time.monotonic() - started
    message = str(busy.value)
    assert f"pid {holder[0][0]}" in message and "a stuck load of the test" in message
    assert "pg_terminate_backend" in message and "waited 2 x 0.5 s" in message
    assert locks.longest_wait(0.5, 2) - 0.2 <= waited < locks.longest_wait(0.5, 2) + 3
    # Nothing was started: no batch, and the lock is free again once its holder is gone.
    assert rows(warehouse_url, "select count(*) from ingest.load_batches where raw_table = %s", (r.raw_table,)) == [(0,)]
    assert loader.load(r, tmp_path / "b.csv").status == "succeeded"


def test_the_default_wait_is_documented():
    assert locks.longest_wait(5, 3) == 17  # docs/operations.md: 3 attempts of 5 s, 1 s apart


def _dead_running_batch(url: str, table: str) -> int:
    """A batch `running` whose backend is gone (inserted by a session that then disconnects), with the
    parts table a killed parallel COPY leaves."""
    with psycopg.connect(url, autocommit=True) as conn:
        batch_id = conn.execute(
            "insert into ingest.load_batches (source_id, resource, raw_table, status) "
            "values ('hard', 'x', %s, 'running') returning batch_id", (table,)).fetchone()[0]
        conn.execute(f'create table ingest."_load_{batch_id}" (x int)')
    return batch_id


def test_an_unchanged_source_still_recovers_a_dead_running_batch(warehouse_url, loader, tmp_path):
    path = csv_file(tmp_path / "c.csv", 20)
    r = resource(path)
    loader.load(r, path)
    dead = _dead_running_batch(warehouse_url, r.raw_table)
    assert loader.load(r, path).status == "skipped_unchanged"
    status, error = rows(warehouse_url, "select status, error from ingest.load_batches where batch_id = %s",
                         (dead,))[0]
    assert status == "interrupted" and error.startswith("interrupted")
    assert rows(warehouse_url, "select to_regclass(%s)", (f'ingest."_load_{dead}"',)) == [(None,)]


def test_the_periodic_recovery_leaves_a_live_load_alone(warehouse_url, loader, tmp_path):
    path = csv_file(tmp_path / "d.csv", 3)
    loader.load(resource(path), path)  # the ledger exists
    dead = _dead_running_batch(warehouse_url, "hard__gone")
    with psycopg.connect(warehouse_url, autocommit=True) as live:
        alive = live.execute("insert into ingest.load_batches (source_id, resource, raw_table, status) "
                             "values ('hard', 'y', 'hard__alive', 'running') returning batch_id").fetchone()[0]
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            recovered = recovery.recover_all(conn)
        assert dead in recovered and alive not in recovered
        assert rows(warehouse_url, "select status from ingest.load_batches where batch_id = %s", (alive,)) == [
            ("running",)]


def test_a_row_count_drop_blocks_the_swap_unless_forced(warehouse_url, loader, tmp_path):
    path = csv_file(tmp_path / "e.csv", 100)
    r = resource(path)
    loader.load(r, path)
    csv_file(path, 40)  # 60 % fewer rows: past the default tolerance of 50 %
    with pytest.raises(LoadError) as refused:
        loader.load(r, path)
    message = str(refused.value)
    assert "40 rows" in message and "100" in message and "60% fewer" in message and "--force" in message
    assert rows(warehouse_url, f'select count(*) from raw."{r.raw_table}"') == [(100,)]
    assert rows(warehouse_url, "select status from ingest.load_batches where raw_table = %s order by batch_id desc "
                               "limit 1", (r.raw_table,)) == [("failed",)]
    assert loader.load(r, path, force=True).rows_loaded == 40
    csv_file(path, 25)  # 37.5 % fewer than the 40 now loaded: within the tolerance
    assert loader.load(r, path).rows_loaded == 25
    with psycopg.connect(warehouse_url) as conn:
        guards.check_row_count(conn, r.raw_table, 1, tolerance=1.0)  # a tolerance of 1 accepts anything
        with pytest.raises(guards.RowCountDrop):
            guards.check_row_count(conn, r.raw_table, 10, tolerance=0.5)


@pytest.mark.slow
def test_losing_the_warehouse_mid_load_is_one_error_and_a_failed_batch(warehouse_url, loader, tmp_path):
    path = csv_file(tmp_path / "big.csv", 1_500_000)
    r = resource(path)
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = loader.load(r, path)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    pid = None
    while pid is None and time.monotonic() < deadline:
        found = rows(warehouse_url, "select backend_pid from ingest.load_batches where raw_table = %s and "
                                    "status = 'running'", (r.raw_table,))
        pid = found[0][0] if found else None
        time.sleep(0.05)
    assert pid, "the load never started"
    rows(warehouse_url, "select pg_terminate_backend(%s)", (pid,))
    worker.join(timeout=120)
    error = outcome.get("error")
    assert isinstance(error, LoadError), outcome
    message = str(error)
    assert "lost the connection to the warehouse" in message and "recorded as failed" in message
    assert "\n" not in message and error.__suppress_context__
    assert rows(warehouse_url, "select status from ingest.load_batches where raw_table = %s", (r.raw_table,)) == [
        ("failed",)]


def test_the_maintenance_task_recovers_what_crashes_left(warehouse_url, admin_url, loader, tmp_path, monkeypatch):
    import uuid

    from territoire import maintenance, warehouse
    from territoire.publication import consistency

    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(tmp_path / "publication"))
    path = csv_file(tmp_path / "m.csv", 3)
    loader.load(resource(path), path)
    dead = _dead_running_batch(warehouse_url, "hard__maintenance")
    scratch = f"{warehouse.SCRATCH_PREFIX}999999999_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{scratch}"')
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        consistency.started(conn, "hard_not_declared", "run-x")
    try:
        outcome = maintenance.recover_everything(warehouse_url)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{scratch}"')
        with psycopg.connect(warehouse_url, autocommit=True) as conn:  # the session's database is shared
            conn.execute("delete from quality.publication_journal where dataset_id = 'hard_not_declared'")
    assert dead in outcome["interrupted_batches"]
    assert scratch in outcome["scratch_databases_dropped"]
    assert outcome["publications"]["hard_not_declared"] == "unknown dataset: left as is"
