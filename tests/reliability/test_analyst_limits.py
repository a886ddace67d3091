"""Nothing an analyst does blocks the platform, and their limits are enforced, not defaults: a query past
the statement limit is cancelled even after `SET statement_timeout = 0`; a session idle in a transaction is
ended even after `SET idle_in_transaction_session_timeout = 0`; temp_file_limit cannot be raised; work_mem
and the connection limit are set; the publication swap waits a bounded time for an analyst's open
transaction, naming it, and readers are not held behind it for longer."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from hardening_helpers import analyst_url, drop_login, make_audit_table, rows, synthetic_dataset

from territoire.ingest.locks import LockBusy
from territoire.publication import publish, roles


@pytest.fixture
def analyst(warehouse_url):
    login, url = analyst_url(warehouse_url)
    yield login, url
    drop_login(warehouse_url, login)


def test_role_defaults_and_hard_caps(warehouse_url, analyst):
    login, url = analyst
    assert rows(warehouse_url, "select rolconnlimit from pg_roles where rolname = %s", (login,)) == [
        (roles.CONNECTION_LIMIT,)]
    with psycopg.connect(url, autocommit=True) as conn:
        shown = {name: conn.execute(f"show {name}").fetchone()[0] for name in roles.LIMITS}
        assert shown == {"default_transaction_read_only": "on", "statement_timeout": "5min",
                         "idle_in_transaction_session_timeout": "2min", "work_mem": "64MB", "temp_file_limit": "5GB"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # only a superuser may change it
            conn.execute("set temp_file_limit = '100GB'")
        # The watchdog is not the analysts' to call.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from quality.enforce_analyst_limits('x', '1s', '1s')")


def test_a_long_query_is_cancelled_even_when_the_analyst_lifts_the_timeout(warehouse_url, analyst):
    _, url = analyst
    outcome: dict = {}

    def long_query():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set statement_timeout = 0")
            try:
                conn.execute("select pg_sleep(30)")
                outcome["finished"] = True
            except psycopg.errors.QueryCanceled as exc:
                outcome["cancelled"] = str(exc)

    worker = threading.Thread(target=long_query)
    worker.start()
    time.sleep(1.5)
    stopped = roles.enforce_limits(warehouse_url, statement="1 second", idle="1 hour")
    worker.join(timeout=20)
    assert "cancelled" in outcome and [s.action for s in stopped] == ["cancelled"]
    assert "pg_sleep" in stopped[0].query


def test_an_open_transaction_is_ended_even_when_the_analyst_lifts_the_timeout(warehouse_url, analyst):
    _, url = analyst
    with psycopg.connect(url) as conn:
        conn.execute("set idle_in_transaction_session_timeout = 0")
        conn.execute("select 1")  # a transaction is open, then nothing happens
        time.sleep(1.5)
        stopped = roles.enforce_limits(warehouse_url, statement="1 hour", idle="1 second")
        assert [s.action for s in stopped] == ["terminated"]
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")


def test_the_swap_waits_a_bounded_time_for_an_analyst_transaction(warehouse_url, analyst, monkeypatch):
    login, url = analyst
    monkeypatch.setenv("TERRITOIRE_LOCK_TIMEOUT", "0.5")
    monkeypatch.setenv("TERRITOIRE_LOCK_ATTEMPTS", "2")
    name = "hard_swap_points"
    dataset = synthetic_dataset(name)
    make_audit_table(warehouse_url, name)
    publish.publish_table(dataset, "run-1", warehouse_url)
    make_audit_table(warehouse_url, name, factor=2)
    with psycopg.connect(url) as reader:
        reader.execute(f"select count(*) from published.{name}")  # and the analyst goes for a coffee
        pid = reader.info.backend_pid
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            publish.publish_table(dataset, "run-2", warehouse_url)
        assert time.monotonic() - started < 6
        # Readers were never held behind the waiting swap for longer than one lock_timeout.
        with psycopg.connect(url, autocommit=True) as other:
            assert other.execute(f"select max(valeur) from published.{name}").fetchone()[0] == 50
    message = str(busy.value)
    assert f"pid {pid}" in message and f"user {login}" in message and f"published.{name}" in message
    assert "idle in transaction" in message
    # Once the analyst's transaction is over, the publication goes through.
    publish.publish_table(dataset, "run-2", warehouse_url)
    assert rows(warehouse_url, f"select max(valeur) from published.{name}") == [(100,)]
    from territoire.publication import consistency

    consistency.finished(name, None, warehouse_url)  # no files here: the session's journal stays clean


def test_an_analyst_cannot_hold_the_publication_lock(warehouse_url, analyst, monkeypatch):
    _, url = analyst
    monkeypatch.setenv("TERRITOIRE_LOCK_TIMEOUT", "0.5")
    with psycopg.connect(url, autocommit=True) as conn:
        # The advisory key the publication used to take, computable from the public code.
        conn.execute("select pg_advisory_lock(hashtext('territoire.publication'), hashtext('hard_lock_points'))")
        started = time.monotonic()
        with publish.dataset_lock("hard_lock_points", warehouse_url):
            pass
        assert time.monotonic() - started < 3
