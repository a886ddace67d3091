"""Locks no analyst can take or hold, with a bounded wait and a message naming the holder.

    with locks.table_lock(conn, "raw.cog__communes", what="loading cog/communes"):
        ...   # no other load of raw.cog__communes runs meanwhile

A lock is a row of `ingest.locks` locked with `SELECT ... FOR UPDATE` by a connection of its own
(the *holder*), opened with the parameters of `conn` and closed when the block ends: the lock is
released when the block ends, when the holder's transaction ends, and when its process dies (the
server closes the connection). Analysts have no privilege on the `ingest` schema, so, unlike an
advisory lock whose key is computable from the public code, they can neither take nor hold it.

The wait is bounded: each attempt waits `lock_timeout` (TERRITOIRE_LOCK_TIMEOUT seconds, default 5),
`attempts` attempts (TERRITOIRE_LOCK_ATTEMPTS, default 3) with a short pause between them; then
`LockBusy` names what holds the lock (pid, user, application, since when, query).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from territoire.settings import env_number

log = logging.getLogger(__name__)

LOCKS_SQL = (Path(__file__).with_name("locks.sql")).read_text(encoding="utf-8")
DEFAULT_TIMEOUT = 5.0
DEFAULT_ATTEMPTS = 3
EXPECTED = "a number of seconds or attempts"  # what a bad TERRITOIRE_LOCK_* value is told
PAUSE = 1.0  # between attempts: a holder about to finish gets the time to commit


class LockBusy(RuntimeError):
    """The lock stayed held by another session for every attempt; the message names the holder."""

    def __init__(self, message: str, holders: list[Holder]):
        super().__init__(message)
        self.holders = holders


@dataclass(frozen=True)
class Holder:
    pid: int
    user: str | None
    label: str | None  # what it does (a platform lock's holder), or its application name
    since: str | None
    state: str | None
    query: str | None

    def describe(self) -> str:
        query = " ".join((self.query or "").split())[:200]
        return (f"pid {self.pid} (user {self.user or '?'}, {self.label or 'application -'}, "
                f"{self.state or '?'} since {self.since or '?'}, last query {query!r})")


def lock_timeout() -> float:
    """Seconds one attempt waits for a lock (TERRITOIRE_LOCK_TIMEOUT, default 5)."""
    return max(0.1, env_number("TERRITOIRE_LOCK_TIMEOUT", DEFAULT_TIMEOUT, float, EXPECTED))


def lock_attempts() -> int:
    """Attempts before giving up on a lock (TERRITOIRE_LOCK_ATTEMPTS, default 3)."""
    return max(1, int(env_number("TERRITOIRE_LOCK_ATTEMPTS", DEFAULT_ATTEMPTS, float, EXPECTED)))


def longest_wait(timeout: float | None = None, attempts: int | None = None) -> float:
    """How long a lock request waits at most before `LockBusy` (documented in docs/operations.md)."""
    timeout = lock_timeout() if timeout is None else timeout
    attempts = lock_attempts() if attempts is None else attempts
    return attempts * timeout + (attempts - 1) * PAUSE


def ensure(conn: psycopg.Connection) -> None:
    """Create `ingest.locks` (idempotent; safe when several workers start at once)."""
    for _ in range(3):
        try:
            with conn.transaction():
                conn.execute(LOCKS_SQL)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
            continue  # two sessions created it at once: the other one won, it exists now


_ACTIVITY = """select a.pid, a.usename, 'application ' || quote_literal(a.application_name),
                  to_char(coalesce(a.xact_start, a.backend_start), 'YYYY-MM-DD"T"HH24:MI:SSOF'),
                  a.state, a.query
           from pg_stat_activity a where a.pid <> pg_backend_pid() and """


def relation_holders(conn: psycopg.Connection, relation: str) -> list[Holder]:
    """Sessions holding a granted lock on `relation` (e.g. an analyst's open transaction that read it)."""
    rows = conn.execute(
        _ACTIVITY + "a.pid in (select l.pid from pg_locks l where l.granted and l.relation = to_regclass(%s)) "
        "order by a.xact_start nulls last, a.pid", (relation,)).fetchall()
    return [Holder(*row) for row in rows]


def named_lock_holders(conn: psycopg.Connection, name: str) -> list[Holder]:
    """Live sessions that registered for the platform lock `name` (see `table_lock`), with what they do."""
    rows = conn.execute(
        """select a.pid, a.usename, 'holding it for: ' || h.what, to_char(h.since, 'YYYY-MM-DD"T"HH24:MI:SSOF'), a.state, a.query
           from ingest.lock_holders h join pg_stat_activity a on a.pid = h.pid
           where h.name = %s and a.pid <> pg_backend_pid()
             and a.wait_event_type is distinct from 'Lock'  -- those waiting for it do not hold it
           order by h.since""", (name,)).fetchall()
    return [Holder(*row) for row in rows]


def wait_bounded(conn: psycopg.Connection, statement: str, params: tuple, *, what: str, name: str,
                 relation: bool = False, timeout: float | None = None, attempts: int | None = None) -> None:
    """Run `statement` (a lock request) inside `conn`'s open transaction, each attempt in a savepoint
    with `lock_timeout`; raise `LockBusy` naming the holders after the last attempt. `relation`: `name`
    is a table whose lock holders pg_locks shows (else a platform lock, see `table_lock`)."""
    timeout = lock_timeout() if timeout is None else timeout
    attempts = lock_attempts() if attempts is None else attempts
    seen: list[Holder] = []
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute("select set_config('lock_timeout', %s, true)", (f"{int(timeout * 1000)}ms",))
                conn.execute(statement, params)
            conn.execute("select set_config('lock_timeout', '0', true)")
            return
        except psycopg.errors.LockNotAvailable:
            seen = _describe(conn, name, relation) or seen
            log.warning("%s: %s is locked (attempt %d/%d)%s", what, name, attempt, attempts,
                        "".join(f"; held by {h.describe()}" for h in seen[:1]))
            if attempt < attempts:
                time.sleep(PAUSE)
    raise LockBusy(_busy_message(what, name, seen, timeout, attempts), seen)


def _describe(conn, name: str, relation: bool) -> list[Holder]:
    try:
        with conn.transaction():
            return relation_holders(conn, name) if relation else named_lock_holders(conn, name)
    except psycopg.Error as exc:  # describing the holder must never hide the lock error itself
        log.warning("could not describe the holder of %s: %s", name, exc)
        return []


def _busy_message(what: str, name: str, seen: list[Holder], timeout: float, attempts: int) -> str:
    who = "; ".join(h.describe() for h in seen) or "a session that ended or that this role cannot see"
    pids = ", ".join(str(h.pid) for h in seen) or "<pid>"
    return (f"{what}: {name} is locked by {who}; waited {attempts} x {timeout:g} s. What to do: let it "
            f"finish and run again; if it is stuck, end it with `select pg_terminate_backend({pids})`")


def _open_holder(conn: psycopg.Connection, name: str) -> psycopg.Connection:
    params = conn.info.get_parameters()
    params.pop("application_name", None)
    password = conn.info.password
    if password:
        params["password"] = password
    # The application name shows the lock in pg_stat_activity; ingest.lock_holders says what for.
    app = f"territoire lock {name}"[:63]
    params.setdefault("connect_timeout", "10")
    return psycopg.connect(**params, application_name=app)


@contextmanager
def table_lock(conn: psycopg.Connection, table: str, *, what: str, timeout: float | None = None,
               attempts: int | None = None) -> Iterator[None]:
    """Hold the platform's lock on `table` (any name: `raw.x`, `published.y`) for the block.

    `what` says who asks (`loading cog/communes`): it is registered in `ingest.lock_holders` and appears
    in the `LockBusy` message of whoever waits for it.
    """
    holder = _open_holder(conn, table)
    try:
        ensure(holder)
        with holder.transaction():
            holder.execute("insert into ingest.locks (name) values (%s) on conflict do nothing", (table,))
            holder.execute("delete from ingest.lock_holders h where not exists "  # rows of dead processes
                           "(select 1 from pg_stat_activity a where a.pid = h.pid)")
            holder.execute("""insert into ingest.lock_holders (name, pid, what) values (%s, pg_backend_pid(), %s)
                              on conflict (name, pid) do update set what = excluded.what, since = now()""",
                           (table, f"{what} (process {os.getpid()})"))
        holder.execute("select 1")  # opens the transaction that will hold the row lock
        wait_bounded(holder, "select name from ingest.locks where name = %s for update", (table,),
                     what=what, name=table, timeout=timeout, attempts=attempts)
        yield
    finally:
        _let_go(holder, table)


def _let_go(holder: psycopg.Connection, name: str) -> None:
    try:
        if not holder.closed:
            holder.rollback()  # ends the transaction: the row lock is released
            with holder.transaction():
                holder.execute("delete from ingest.lock_holders where name = %s and pid = pg_backend_pid()", (name,))
    except psycopg.Error as exc:  # the row of a gone backend is ignored anyway
        log.debug("lock %s: could not unregister: %s", name, exc)
    finally:
        holder.close()


def transaction_lock(conn: psycopg.Connection, name: str, *, what: str, timeout: float | None = None,
                     attempts: int | None = None) -> None:
    """Take the platform lock `name` inside `conn`'s open transaction, until it commits or rolls back
    (for work that must hold it until its own commit, such as DDL). Bounded wait, as `table_lock`."""
    with conn.transaction():
        conn.execute("""do $lock$ begin
                            create schema if not exists ingest;
                            create table if not exists ingest.locks (name text primary key);
                        exception when unique_violation or duplicate_table or duplicate_object then null;
                        end $lock$""")
        conn.execute("insert into ingest.locks (name) values (%s) on conflict do nothing", (name,))
    wait_bounded(conn, "select name from ingest.locks where name = %s for update", (name,), what=what, name=name,
                 timeout=timeout, attempts=attempts)
