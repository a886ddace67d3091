"""Recovery of loads a crash left half-done: a batch `running` whose backend is gone.

A load runs in one transaction, so a killed load leaves nothing in its raw table, but it does leave
its ledger row `running` and, for a parallel COPY, the parts table it had committed
(`ingest._load_<batch>`). `recover_interrupted` marks such batches `interrupted` and drops what they
left; the loader calls it at the start of every load of a table (also when the file is unchanged and
nothing else happens), and the `cleanup` DAG calls `recover_all` periodically, so a source that is
never loaded again is cleaned up too.

A batch belongs to a dead process when no backend has its pid and start time any more: each batch
records them when it is inserted (column defaults, see recovery.sql), so a load still running in
another worker is never touched, whoever calls this.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from territoire.naming import quote_ident

log = logging.getLogger(__name__)

RECOVERY_SQL = Path(__file__).with_name("recovery.sql").read_text(encoding="utf-8")
INTERRUPTED = ("interrupted: the process running this load stopped (killed, crashed or lost its connection) "
               "before it finished; nothing of it was kept, and the raw table holds the previous load")

_DEAD_BATCHES = """
update ingest.load_batches b set status = 'interrupted', finished_at = clock_timestamp(),
       error = coalesce(b.error, %(error)s)
 where b.status = 'running' and (%(table)s::text is null or b.raw_table = %(table)s)
   and not exists (select 1 from pg_stat_activity a
                    where a.pid = b.backend_pid
                      and (a.backend_start is null or b.backend_start is null
                           or a.backend_start = b.backend_start))
returning b.batch_id, b.raw_table
"""


def ensure(conn: psycopg.Connection) -> None:
    """The ledger's recovery columns and the `interrupted` status (idempotent; run by
    `ensure_ingest_tables` after the ledger is created)."""
    conn.execute(RECOVERY_SQL)


def staging_tables(batch_id: int) -> list[str]:
    """What a batch may leave behind when killed: the committed parts of a parallel COPY (and the
    staging table, should a future loader commit it)."""
    name = quote_ident(f"_load_{int(batch_id)}")
    return [f"ingest.{name}", f"raw.{name}"]


def _recover(conn: psycopg.Connection, table: str | None) -> list[int]:
    with conn.transaction():
        dead = conn.execute(_DEAD_BATCHES, {"table": table, "error": INTERRUPTED}).fetchall()
        for batch_id, raw_table in dead:
            for staged in staging_tables(batch_id):
                conn.execute(f"drop table if exists {staged}")
            log.warning("batch %s (raw.%s) was left running by a process that is gone: marked interrupted",
                        batch_id, raw_table)
    return [batch_id for batch_id, _ in dead]


def recover_interrupted(conn: psycopg.Connection, raw_table: str) -> list[int]:
    """Mark the dead `running` batches of `raw.<raw_table>` interrupted, drop their staging tables;
    returns their ids. Called at the start of every load of that table."""
    return _recover(conn, raw_table)


def recover_all(conn: psycopg.Connection) -> list[int]:
    """The same for every table (the periodic clean-up)."""
    return _recover(conn, None)


class ConnectionLost(RuntimeError):
    """The warehouse connection broke during a load; the batch is recorded `failed`."""


def connection_lost(url: str, batch_id: int | None, what: str, path, exc: BaseException) -> Exception:
    """The one error a load raises when its warehouse connection broke mid-way (server restarted,
    network cut, backend terminated): the batch is marked `failed` through a new connection when the
    warehouse answers again (otherwise the next load marks it `interrupted`), and the message is one
    line, without the driver's traceback."""
    from territoire import warehouse
    from territoire.ingest.loader import LoadError

    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    error = (f"lost the connection to the warehouse during the load ({reason}); nothing of this load was "
             "kept, the raw table holds the previous load")
    recorded = ""
    if batch_id is not None:
        try:
            with warehouse.connect(url, autocommit=True, connect_timeout=5) as conn:
                conn.execute("""update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
                                       error = %s where batch_id = %s and status = 'running'""", (error, batch_id))
            recorded = f" Batch {batch_id} is recorded as failed."
        except psycopg.Error:
            recorded = f" Batch {batch_id} will be marked interrupted by the next load."
    return LoadError(f"{what}: loading {path} failed: {error}.{recorded} What to do: check that the warehouse "
                     f"is up ({warehouse.describe(url)}), then run the load again")
