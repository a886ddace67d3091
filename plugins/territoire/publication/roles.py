"""Read-only access for analysts: the `territoire_analyst` group role and a login role in it.

- `territoire_analyst` (NOLOGIN) may connect to the warehouse database, use the schema `published`
  and select from its tables. Nothing else: no usage on raw, ingest, staging, intermediate, audit
  or quality, no insert/update/delete/truncate, no create in any schema.
- A login role (name `TERRITOIRE_ANALYST_USER`, default `analyste`; password
  `TERRITOIRE_ANALYST_PASSWORD`, read from the environment and never stored in git) is a member
  of the group. Its sessions are read-only by default and limited (`LIMITS`): statement time, time
  idle in a transaction, work_mem, temporary files, connections. The time limits are enforced by
  `enforce_limits` (run every few seconds by the `platform_maintenance` DAG), not only set as
  defaults an analyst could change in their session; temp_file_limit only a superuser can change.
- Grants survive table rebuilds: `publish_table` re-grants in its swap transaction, and default
  privileges of the warehouse owner give SELECT on every table later created in `published`.

Everything is idempotent (run it at each deployment). Roles are cluster-wide in PostgreSQL; the
grants are made in the warehouse database only.

The platform's role needs no superuser: the warehouse owner with CREATEROLE (what
deploy/postgres/init-databases.sh creates) is enough. Role attributes are only narrowed when someone
widened them (changing SUPERUSER, REPLICATION or BYPASSRLS needs a superuser, even to the same value).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from territoire import warehouse
from territoire.publication.publish import ANALYST_ROLE

log = logging.getLogger(__name__)

READABLE_SCHEMAS = ("published",)
# Schemas analysts must never read: raw data, quarantine, ledger, work in progress, audit, history.
PRIVATE_SCHEMAS = ("raw", "ingest", "staging", "intermediate", "audit", "quality")
DEFAULT_LOGIN = "analyste"
STATEMENT_TIMEOUT = "5min"
IDLE_IN_TRANSACTION_TIMEOUT = "2min"
WORK_MEM = "64MB"
TEMP_FILE_LIMIT = "5GB"
CONNECTION_LIMIT = 5
# Role defaults of every analyst login (docs/analysts.md). temp_file_limit can be set only by a
# superuser (or with GRANT SET ON PARAMETER): an analyst cannot raise it in a session.
LIMITS = {
    "default_transaction_read_only": "on",
    "statement_timeout": STATEMENT_TIMEOUT,
    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
    "work_mem": WORK_MEM,
    "temp_file_limit": TEMP_FILE_LIMIT,
}
LIMITS_SQL = Path(__file__).with_name("analyst_limits.sql").read_text(encoding="utf-8")


@dataclass
class AnalystAccess:
    group_role: str
    login_role: str | None
    database: str
    limits_not_set: list[str] = field(default_factory=list)  # settings this role could not set (no superuser)


def _role_exists(conn, name: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None


# Attributes an analyst role must not have, and the clause that removes each.
_NARROWED = (("rolsuper", "nosuperuser"), ("rolcreatedb", "nocreatedb"), ("rolcreaterole", "nocreaterole"),
             ("rolreplication", "noreplication"), ("rolbypassrls", "nobypassrls"))


def _narrow_role(conn, name: str, *, login: bool) -> None:
    """Remove the attributes the role must not have (a role someone widened by hand)."""
    columns = ", ".join(c for c, _ in _NARROWED)
    row = conn.execute(f"select {columns}, rolcanlogin, rolinherit from pg_roles where rolname = %s",
                       (name,)).fetchone()
    clauses = [clause for (_, clause), value in zip(_NARROWED, row[:len(_NARROWED)], strict=True) if value]
    if row[-2] != login:
        clauses.append("login" if login else "nologin")
    if login and not row[-1]:
        clauses.append("inherit")
    if clauses:
        log.warning("analyst role %s had %s: narrowed", name, ", ".join(c[2:] if c.startswith("no") else c
                                                                        for c in clauses))
        conn.execute(sql.SQL("alter role {} " + " ".join(clauses)).format(sql.Identifier(name)))


def _create_role(conn, statement) -> None:
    # Roles are cluster-wide: another database's deployment may create it at the same moment.
    try:
        with conn.transaction():
            conn.execute(statement)
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        pass


def ensure_analyst_roles(url: str | None = None, *, login: str | None = None, password: str | None = None
                         ) -> AnalystAccess:
    """Create or repair the analyst roles and their grants in the warehouse database.

    The login role is created (or its password updated) only when a password is given or set in
    `TERRITOIRE_ANALYST_PASSWORD`; otherwise only the group role and its grants are managed.
    """
    login = login or os.environ.get("TERRITOIRE_ANALYST_USER") or DEFAULT_LOGIN
    password = password if password is not None else os.environ.get("TERRITOIRE_ANALYST_PASSWORD")
    group = sql.Identifier(ANALYST_ROLE)
    with warehouse.transaction(url) as conn:
        database = conn.execute("select current_database()").fetchone()[0]
        if not _role_exists(conn, ANALYST_ROLE):
            _create_role(conn, sql.SQL("create role {} nologin").format(group))
        _narrow_role(conn, ANALYST_ROLE, login=False)
        db = sql.Identifier(database)
        conn.execute(sql.SQL("grant connect on database {} to {}").format(db, group))
        # PUBLIC may create temporary tables in a new database: an analyst could write there. The owner
        # (the platform, dbt's temporary relations) keeps the right: it holds every privilege anyway.
        owner, superuser = conn.execute(
            "select pg_get_userbyid(datdba) = current_user, (select rolsuper from pg_roles where rolname = current_user)"
            " from pg_database where datname = current_database()").fetchone()
        if owner or superuser:
            conn.execute(sql.SQL("revoke temporary on database {} from public").format(db))
            conn.execute(sql.SQL("revoke temporary on database {} from {}").format(db, group))
        else:
            log.warning("not the owner of database %s: cannot revoke TEMPORARY from PUBLIC (analysts may "
                        "create temporary tables)", database)
        for schema in (*READABLE_SCHEMAS, *PRIVATE_SCHEMAS):
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for schema in PRIVATE_SCHEMAS:
            # PUBLIC included: a grant to PUBLIC would reach analysts through it.
            for grantee in (group, sql.SQL("public")):
                conn.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), grantee))
                conn.execute(sql.SQL("revoke all on all tables in schema {} from {}")
                             .format(sql.Identifier(schema), grantee))
        conn.execute(sql.SQL("revoke create on schema public from public"))
        conn.execute(sql.SQL("revoke create on schema public from {}").format(group))
        for schema in READABLE_SCHEMAS:
            ident = sql.Identifier(schema)
            conn.execute(sql.SQL("revoke create on schema {} from public").format(ident))
            conn.execute(sql.SQL("revoke create on schema {} from {}").format(ident, group))
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(ident, group))
            conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(ident, group))
            conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(ident, group))
            # Tables the warehouse owner creates later (each publication's swap) are readable at once.
            conn.execute(sql.SQL("alter default privileges in schema {} grant select on tables to {}")
                         .format(ident, group))
        login_role = None
        if password:
            user = sql.Identifier(login)
            if not _role_exists(conn, login):
                _create_role(conn, sql.SQL("create role {} login").format(user))
            _narrow_role(conn, login, login=True)
            conn.execute(sql.SQL("alter role {} password {}").format(user, sql.Literal(password)))
            conn.execute(sql.SQL("grant {} to {}").format(group, user))
            limits_not_set = _set_limits(conn, login)
            login_role = login
        else:
            limits_not_set = []
            log.info("TERRITOIRE_ANALYST_PASSWORD is not set: login role %r not created or updated "
                     "(group role %s and its grants are in place)", login, ANALYST_ROLE)
        conn.execute("create schema if not exists quality")
        conn.execute(LIMITS_SQL)
    return AnalystAccess(ANALYST_ROLE, login_role, database, limits_not_set)


def _set_limits(conn, login: str) -> list[str]:
    """The login's role defaults (`LIMITS`) and its connection limit; returns the settings refused
    (temp_file_limit needs a superuser: then the deployment must set it, docs/analysts.md)."""
    user = sql.Identifier(login)
    conn.execute(sql.SQL("alter role {} connection limit {}").format(user, sql.Literal(CONNECTION_LIMIT)))
    refused = []
    for name, value in LIMITS.items():
        try:
            with conn.transaction():
                conn.execute(sql.SQL("alter role {} set {} = {}").format(user, sql.Identifier(name), sql.Literal(value)))
        except psycopg.errors.InsufficientPrivilege:
            refused.append(name)
            log.warning("could not set %s = %s for analyst %s (needs a superuser): set it with `alter role %s "
                        "set %s = '%s'` as a superuser", name, value, login, login, name, value)
    return refused


@dataclass(frozen=True)
class Stopped:
    pid: int
    user: str
    action: str  # 'cancelled' (a query past the statement limit) or 'terminated' (idle in transaction)
    running: str
    query: str


def enforce_limits(url: str | None = None, *, statement: str = STATEMENT_TIMEOUT,
                   idle: str = IDLE_IN_TRANSACTION_TIMEOUT) -> list[Stopped]:
    """Cancel analysts' queries running longer than `statement` and end their sessions idle in a
    transaction longer than `idle`, whatever they set in their session. Returns what was stopped."""
    with warehouse.connect(url, autocommit=True) as conn:
        rows = conn.execute("select * from quality.enforce_analyst_limits(%s, %s::interval, %s::interval)",
                            (ANALYST_ROLE, statement, idle)).fetchall()
    stopped = [Stopped(pid, user, action, str(running), query) for pid, user, action, running, query in rows]
    for s in stopped:
        log.warning("analyst %s (pid %s): %s after %s: %s", s.user, s.pid, s.action, s.running, s.query)
    return stopped


def watch_analysts(url: str | None = None, *, for_seconds: float, every: float = 10.0) -> list[Stopped]:
    """Run `enforce_limits` every `every` seconds for `for_seconds` (one maintenance task's run)."""
    deadline = time.monotonic() + for_seconds
    stopped: list[Stopped] = []
    while True:
        stopped += enforce_limits(url)
        if time.monotonic() + every > deadline:
            return stopped
        time.sleep(every)


def drop_login_role(login: str, url: str | None = None) -> None:
    """Remove an analyst login role (its privileges in this database first)."""
    with warehouse.transaction(url) as conn:
        if _role_exists(conn, login):
            # `drop owned by` needs the role's privileges (a superuser, or a member of it); without
            # them, there is nothing to drop anyway: an analyst can create nothing, and its rights come
            # from the group role, not from grants of its own.
            if conn.execute("select pg_has_role(current_user, %s, 'member') or rolsuper from pg_roles "
                            "where rolname = current_user", (login,)).fetchone()[0]:
                conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))
