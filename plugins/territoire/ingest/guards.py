"""Guards a new snapshot must pass before it replaces a raw table.

`check_row_count`: a snapshot that lost more than a tolerance of the rows of the last good batch is
refused unless the load is forced. A producer's export cut short (a timeout on their side, a filter
left on, the first page of a paginated API) is a well-formed file, so the other checks let it
through; replacing a 35,000-row table by 1,200 rows silently is worse than keeping the previous one.
The tolerance is the catalog field `max_row_drop` of the source (default 0.5: half the rows may go).
"""

from __future__ import annotations

import psycopg

DEFAULT_MAX_ROW_DROP = 0.5


class RowCountDrop(RuntimeError):
    """The new snapshot has too few rows compared to the last good batch; the raw table is unchanged."""


def last_good_rows(conn: psycopg.Connection, raw_table: str) -> tuple[int, int] | None:
    """(batch id, rows loaded) of the last succeeded batch of `raw.<raw_table>`, if any."""
    return conn.execute(
        """select batch_id, rows_loaded from ingest.load_batches
           where raw_table = %s and status = 'succeeded' and rows_loaded is not null
           order by batch_id desc limit 1""", (raw_table,)).fetchone()


def check_row_count(conn: psycopg.Connection, raw_table: str, new_rows: int, *, tolerance: float | None = None,
                    resource=None, force: bool = False) -> None:
    """Raise `RowCountDrop` when `new_rows` is below `(1 - tolerance)` of the last good batch's rows.
    Without `tolerance`, `resource`'s (`max_row_drop`), read only when there is a last good batch:
    reading the catalog costs a fresh process 0.3 s."""
    if force:
        return
    last = last_good_rows(conn, raw_table)
    if last is None or not last[1]:
        return
    batch_id, old_rows = last
    if tolerance is None:
        tolerance = max_row_drop(resource) if resource is not None else DEFAULT_MAX_ROW_DROP
    if new_rows >= old_rows * (1 - tolerance):
        return
    drop = 1 - new_rows / old_rows
    raise RowCountDrop(
        f"raw.{raw_table}: the new file has {new_rows:,} rows where the last good load (batch {batch_id}) had "
        f"{old_rows:,}: {drop:.0%} fewer, more than the tolerance of {tolerance:.0%} (catalog field "
        f"`max_row_drop`). The file may be cut or filtered at the producer's; raw.{raw_table} keeps its "
        f"previous rows. What to do: check the file; if the drop is real, load it with --force (or raise "
        f"max_row_drop for this source)")


def max_row_drop(resource) -> float:
    """The tolerance of `resource`'s source (catalog field `max_row_drop`), default 0.5."""
    from territoire.catalog import CatalogError, load_catalog

    try:
        return load_catalog().get(resource.source_id).max_row_drop
    except (KeyError, CatalogError, FileNotFoundError):
        return DEFAULT_MAX_ROW_DROP
