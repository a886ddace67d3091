"""Switch an audited table into the `published` schema, in one transaction.

Readers of `published.<id>` (analysts, exports) see either the previous version or the new one,
never a half-built table: the new copy is built under a temporary name, then the old table is
dropped and the new one renamed, and the grants re-applied, before a single commit.

Nothing an analyst does can hold a publication up for long: the publication lock is a platform lock
analysts cannot take (`territoire.ingest.locks`), and the swap asks for the table's exclusive lock
with a bounded wait (an analyst's open transaction that read the table holds a lock that conflicts):
while it waits, new readers queue behind it, so it gives up after `lock_timeout` and tries again a
few times, then fails naming the session in the way. Analysts' sessions idle in a transaction are
ended after 2 minutes anyway (roles.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from territoire import warehouse
from territoire.datasets import Dataset
from territoire.naming import quote_ident
from territoire.publication import consistency

ANALYST_ROLE = "territoire_analyst"

log = logging.getLogger(__name__)


def lock_name(dataset_id: str) -> str:
    """The platform lock of a dataset's publication (a row of ingest.locks; see the dbt macro
    `publication_lock()`, which takes the same one)."""
    return f"published.{dataset_id}"


@contextmanager
def dataset_lock(dataset_id: str, url: str | None = None) -> Iterator[None]:
    """Hold the publication lock of a dataset from its audit to its export.

    The dbt macro `publication_lock()` takes the same lock in every mart build's transaction: dbt
    cannot rebuild `audit.<id>` between the moment GX validates it and the moment it is copied to
    `published`, and two publications of one dataset run one after the other. The wait is bounded
    (`locks.LockBusy` names the holder).
    """
    from territoire.ingest import locks

    with warehouse.connect(url, autocommit=True) as conn, \
            locks.table_lock(conn, lock_name(dataset_id), what=f"publishing {dataset_id}"):
        yield


def take_swap_lock(conn, dataset_id: str) -> None:
    """The exclusive lock on `published.<id>` the swap needs, waited for a bounded time (see above)."""
    from territoire.ingest import locks

    table = f"published.{quote_ident(dataset_id)}"
    if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
        return
    locks.wait_bounded(conn, f"lock table {table} in access exclusive mode", (), what=f"publishing {dataset_id}",
                       name=table, relation=True)


def publish_table(dataset: Dataset, run_id: str, url: str | None = None, *, override_by: str | None = None,
                  override_reason: str | None = None) -> int:
    """Copy `audit.<id>` to `published.<id>` atomically; returns the published row count."""
    from territoire.quality.gate import ensure_history_tables, mark_published

    name = quote_ident(dataset.id)
    nxt = quote_ident(dataset.id + "__next")
    order = ", ".join(quote_ident(c) for c in dataset.sort_columns)
    with warehouse.transaction(url) as conn:
        ensure_history_tables(conn)
        conn.execute("create schema if not exists published")
        conn.execute(f"drop table if exists published.{nxt}")
        conn.execute(f"create table published.{nxt} as select * from audit.{name} order by {order}")
        take_swap_lock(conn, dataset.id)
        conn.execute(f"drop table if exists published.{name}")
        conn.execute(f"alter table published.{nxt} rename to {name}")
        if dataset.primary_key:
            pk = ", ".join(quote_ident(c) for c in dataset.primary_key)
            conn.execute(f"alter table published.{name} add primary key ({pk})")
        # the French descriptions dbt wrote on audit.<id> (persist_docs), for analysts' tools
        from territoire.publication.analysts import copy_comments

        copy_comments(conn, f"audit.{name}", f"published.{name}",
                      table_comment=f"{dataset.title}. {dataset.description} (publié après le contrôle qualité {run_id})")
        role_exists = conn.execute("select 1 from pg_roles where rolname = %s", (ANALYST_ROLE,)).fetchone()
        if role_exists:
            conn.execute(f"grant select on published.{name} to {quote_ident(ANALYST_ROLE)}")
        mark_published(run_id, conn, override_by, override_reason)
        # With the swap: the files are now behind the table until `consistency.finished`.
        consistency.started(conn, dataset.id, run_id)
        return conn.execute(f"select count(*) from published.{name}").fetchone()[0]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
