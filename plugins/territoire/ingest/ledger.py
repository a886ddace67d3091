"""The ledger `ingest.load_batches` (one row per load) and the quarantine `ingest.rejected_rows`.

A batch starts `running`, and ends `succeeded`, `failed` or `skipped_unchanged`; a batch still `running`
when the next load of its table starts belongs to a process that died (the table's lock is held).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from psycopg import sql

from territoire.catalog import Resource
from territoire.ingest import recovery
from territoire.ingest.schema import FUNCTIONS_SQL
from territoire.naming import quote_ident

LEDGER_SQL = (Path(__file__).parent / "ledger.sql").read_text(encoding="utf-8")


def ensure_ingest_tables(conn) -> None:
    conn.execute(LEDGER_SQL)
    recovery.ensure(conn)  # the ledger's `interrupted` status and backend columns
    conn.execute(FUNCTIONS_SQL)


def parts_table(batch_id: int) -> str:
    """Where a parallel COPY writes (committed, outside raw) before the load moves it into raw."""
    return f"ingest.{quote_ident(f'_load_{int(batch_id)}')}"


def start(conn, resource: Resource, table: str, location: str, path: Path) -> int:
    """Mark the table's batches left `running` by a dead process, then open this one."""
    interrupted = conn.execute(
        """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
               error = 'interrupted: the process stopped before the load finished; nothing of it was kept'
           where raw_table = %s and status = 'running' returning batch_id""",
        (table,),
    ).fetchall()
    for (dead,) in interrupted:  # the parts a parallel COPY had committed (never visible in raw)
        conn.execute(f"drop table if exists {parts_table(dead)}")
    return conn.execute(
        """insert into ingest.load_batches
               (source_id, resource, raw_table, location, landing_path, file_size, status)
           values (%s, %s, %s, %s, %s, %s, 'running') returning batch_id""",
        (resource.source_id, resource.name, table, location, str(path), path.stat().st_size),
    ).fetchone()[0]


def unchanged_since(conn, table: str, digest, size: int) -> int | None:
    """The last succeeded batch of `table` when it loaded these very bytes and is still in raw."""
    row = conn.execute(
        """select batch_id, file_sha256, file_size from ingest.load_batches
           where raw_table = %s and status = 'succeeded' order by batch_id desc limit 1""",
        (table,),
    ).fetchone()
    # Another size is another content: no need to wait for the digest.
    if not row or row[2] != size or row[1] != digest.result() or not table_exists(conn, "raw", table):
        return None
    # Every row of a raw table carries the batch that wrote it: one row tells.
    current = conn.execute(sql.SQL("select _batch_id from raw.{} limit 1").format(sql.Identifier(table))).fetchone()
    return row[0] if current and current[0] == row[0] else None


def record_skip(conn, resource: Resource, table: str, location: str, path: Path, sha256: str, previous: int) -> int:
    return conn.execute(
        """insert into ingest.load_batches (source_id, resource, raw_table, location, landing_path, file_sha256,
               file_size, rows_read, rows_loaded, rows_rejected, status, finished_at, details)
           values (%s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 'skipped_unchanged', clock_timestamp(), %s)
           returning batch_id""",
        (resource.source_id, resource.name, table, location, str(path), sha256, path.stat().st_size,
         json.dumps({"same_as_batch": previous})),
    ).fetchone()[0]


def record_error(conn, batch_id: int, error: str, sha256: str | None) -> None:
    conn.execute(
        """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(), error = %s,
               file_sha256 = coalesce(%s, file_sha256) where batch_id = %s""",
        (error[:4000], sha256, batch_id),
    )


def record_outcome(conn, batch_id: int, *, status: str, rows_read: int, rows_loaded: int, rows_rejected: int,
                   details: dict, sha256: str, error: str | None = None) -> None:
    conn.execute(
        """update ingest.load_batches set rows_read = %s, rows_loaded = %s, rows_rejected = %s, status = %s,
               finished_at = clock_timestamp(), error = %s, details = %s, file_sha256 = %s
           where batch_id = %s""",
        (rows_read, rows_loaded, rows_rejected, status, error, json.dumps(details, default=str), sha256, batch_id),
    )


def insert_rejections(conn, rows: Iterable[tuple], level: str = "error") -> None:
    """(batch_id, source_id, resource, line, column, rule, value, message, raw_line) rows into quarantine;
    level `warning`: the rows are loaded, and reported."""
    rows = list(rows)
    if not rows:
        return
    with conn.cursor().copy(
        "copy ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, value, message, "
        "raw_line, level) from stdin"
    ) as cp:
        for r in rows:
            cp.write_row((*r, level))


def rejection_summary(conn, batch_id: int) -> list[dict]:
    """Rejections of a batch by column and rule, most frequent first, with a first example. The counts
    are those the load recorded in the ledger (`details.rejections`: every rejected row counted, even
    beyond the rows whose content the quarantine keeps); older batches are counted in the quarantine."""
    details = conn.execute("select details -> 'rejections' from ingest.load_batches where batch_id = %s",
                           (batch_id,)).fetchone()
    if details and details[0] is not None:
        return details[0]
    return quarantine_summary(conn, batch_id)


def quarantine_summary(conn, batch_id: int) -> list[dict]:
    rows = conn.execute(
        """select column_name, rule, count(*), min(line_number),
                  (array_agg(value order by line_number))[1], (array_agg(message order by line_number))[1]
           from ingest.rejected_rows where batch_id = %s group by 1, 2 order by 3 desc, 1, 2""",
        (batch_id,)).fetchall()
    return [{"column": c, "rule": r, "count": n, "example_line": line, "example_value": v, "message": m}
            for c, r, n, line, v, m in rows]


def table_exists(conn, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{quote_ident(schema)}.{quote_ident(table)}",)
                        ).fetchone()[0]
