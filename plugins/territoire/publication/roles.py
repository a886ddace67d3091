"""Read-only access for analysts: the `territoire_analyst` group role and a login role in it.

- `territoire_analyst` (NOLOGIN) may connect to the warehouse database, use the schema `published`
  and select from its tables. Nothing else: no usage on raw, ingest, staging, intermediate, audit
  or quality, no insert/update/delete/truncate, no create in any schema.
- A login role (name `TERRITOIRE_ANALYST_USER`, default `analyste`; password
  `TERRITOIRE_ANALYST_PASSWORD`, read from the environment and never stored in git) is a member
  of the group. Its sessions are read-only by default and have a statement timeout, so a heavy
  query cannot hold the warehouse for long.
- Grants survive table rebuilds: `publish_table` re-grants in its swap transaction, and default
  privileges of the warehouse owner give SELECT on every table later created in `published`.

Everything is idempotent (run it at each deployment). Roles are cluster-wide in PostgreSQL; the
grants are made in the warehouse database only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

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


@dataclass
class AnalystAccess:
    group_role: str
    login_role: str | None
    database: str


def _role_exists(conn, name: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None


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
        # Repair a role someone widened by hand.
        conn.execute(sql.SQL("alter role {} nologin nosuperuser nocreatedb nocreaterole noreplication nobypassrls")
                     .format(group))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), group))
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
            conn.execute(sql.SQL("alter role {} login password {} nosuperuser nocreatedb nocreaterole "
                                 "noreplication nobypassrls inherit").format(user, sql.Literal(password)))
            conn.execute(sql.SQL("grant {} to {}").format(group, user))
            conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(user))
            conn.execute(sql.SQL("alter role {} set statement_timeout = {}")
                         .format(user, sql.Literal(STATEMENT_TIMEOUT)))
            login_role = login
        else:
            log.info("TERRITOIRE_ANALYST_PASSWORD is not set: login role %r not created or updated "
                     "(group role %s and its grants are in place)", login, ANALYST_ROLE)
    return AnalystAccess(ANALYST_ROLE, login_role, database)


def drop_login_role(login: str, url: str | None = None) -> None:
    """Remove an analyst login role (its privileges in this database first)."""
    with warehouse.transaction(url) as conn:
        if _role_exists(conn, login):
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))
