"""The last stage of a load: the new table takes the place of `raw.<table>`, inside the load's transaction."""

from __future__ import annotations

import logging

import psycopg

from territoire.naming import quote_ident

log = logging.getLogger(__name__)


def _dependent_views(conn, table: str) -> list[tuple[str, str, list[str] | None]]:
    """(name, relkind, reloptions) of the views (dbt staging models) that read `raw.<table>`."""
    return conn.execute(
        """select distinct format('%%I.%%I', n.nspname, v.relname), v.relkind::text, v.reloptions from pg_depend d
               join pg_rewrite w on w.oid = d.objid
               join pg_class v on v.oid = w.ev_class
               join pg_namespace n on n.oid = v.relnamespace
           where d.refobjid = to_regclass(%s) and v.oid <> d.refobjid""",
        (f"raw.{quote_ident(table)}",)).fetchall()


def _columns(conn, qualified: str) -> list[tuple[str, str]]:
    return conn.execute(
        """select attname, format_type(atttypid, atttypmod) from pg_attribute
           where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum""",
        (qualified,)).fetchall()


def _repoint_views(conn, new: str, table: str, dependents: list[tuple[str, str, list[str] | None]]) -> bool:
    """Put `new` in the place of `raw.<table>` under the views that read it, without copying a row:
    their definitions are read (fully qualified), the old table is renamed away and the new one takes
    its name, and `CREATE OR REPLACE VIEW` with the same definition makes each view read the new table.
    The views keep their identity, owner, grants, comments and the views built on them. False (nothing
    changed) when a dependent is not a plain view (a materialized view) or the old table cannot be
    dropped for another dependent."""
    if any(kind != "v" for _, kind, _ in dependents):
        return False
    try:
        with conn.transaction():  # a savepoint: on failure, nothing of this stays
            path = conn.execute("select current_setting('search_path')").fetchone()[0]
            conn.execute("select set_config('search_path', 'pg_catalog', true)")  # every name qualified
            views = [(name, options, conn.execute("select pg_get_viewdef(%s::regclass)", (name,)).fetchone()[0])
                     for name, _, options in dependents]
            old = f"{table}__replaced"
            conn.execute(f"drop table if exists raw.{quote_ident(old)}")
            conn.execute(f"alter table raw.{quote_ident(table)} rename to {quote_ident(old)}")
            conn.execute(f"alter table {new} rename to {quote_ident(table)}")
            for name, options, definition in views:
                with_options = f" with ({', '.join(options)})" if options else ""
                conn.execute(f"create or replace view {name}{with_options} as {definition.rstrip().rstrip(';')}")
            conn.execute(f"drop table raw.{quote_ident(old)}")
            conn.execute("select set_config('search_path', %s, true)", (path,))
        return True
    except psycopg.errors.DependentObjectsStillExist as exc:
        log.warning("raw.%s: the new rows are copied into the table instead (%s)", table, exc)
        return False


def swap_into_place(conn, new: str, table: str) -> None:
    """Replace `raw.<table>` by the freshly built `new`, inside the load's transaction.

    The fast way is drop + rename. But once dbt has built its staging views on the raw table,
    PostgreSQL refuses to drop it: then, when the columns are unchanged, the views are pointed at the
    new table (`_repoint_views`; readers see old or new rows, never a mix), or, failing that, the rows
    are copied into the table; when the publisher changed the columns, the table is dropped with its
    dependent views, which the next dbt run recreates from the new columns (a staging model that no
    longer matches fails there, loudly).
    """
    target = f"raw.{quote_ident(table)}"
    views = _dependent_views(conn, table)
    if not views:
        conn.execute(f"drop table if exists {target}")
        conn.execute(f"alter table {new} rename to {quote_ident(table)}")
        return
    if _columns(conn, target) == _columns(conn, new):
        if _repoint_views(conn, new, table, views):
            return
        conn.execute(f"truncate {target}")
        conn.execute(f"insert into {target} select * from {new}")
        conn.execute(f"drop table {new}")
        return
    log.warning("raw.%s changed columns: dropping it with the views that read it (%s); the next dbt run "
                "recreates them", table, ", ".join(name for name, _, _ in views))
    conn.execute(f"drop table {target} cascade")
    conn.execute(f"alter table {new} rename to {quote_ident(table)}")

