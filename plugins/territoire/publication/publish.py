"""Switch an audited table into the `published` schema, in one transaction.

Readers of `published.<id>` (analysts, exports) see either the previous version or the new one,
never a half-built table: the new copy is built under a temporary name, then the old table is
dropped and the new one renamed, and the grants re-applied, before a single commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from territoire import warehouse
from territoire.datasets import Dataset
from territoire.naming import quote_ident

ANALYST_ROLE = "territoire_analyst"
LOCK_NAMESPACE = "territoire.publication"

log = logging.getLogger(__name__)


@contextmanager
def dataset_lock(dataset_id: str, url: str | None = None) -> Iterator[None]:
    """Hold the publication lock of a dataset from its audit to its export.

    The same advisory lock as the dbt macro `publication_lock()`, which every mart build takes in its
    transaction: dbt cannot rebuild `audit.<id>` between the moment GX validates it and the moment it
    is copied to `published`, and two publications of one dataset run one after the other.
    """
    with warehouse.connect(url, autocommit=True) as conn:
        key = (LOCK_NAMESPACE, dataset_id)
        if not conn.execute("select pg_try_advisory_lock(hashtext(%s), hashtext(%s))", key).fetchone()[0]:
            log.info("%s: a dbt build or another publication of it is in progress: waiting", dataset_id)
            conn.execute("select pg_advisory_lock(hashtext(%s), hashtext(%s))", key)
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s), hashtext(%s))", key)


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
        return conn.execute(f"select count(*) from published.{name}").fetchone()[0]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
