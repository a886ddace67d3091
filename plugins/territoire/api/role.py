"""The API's dedicated read-only role (see role.sql), created or repaired by the warehouse owner.

`territoire api-role` (and `territoire serve`, on the embedded warehouse) run `ensure_api_role`.
In production the API then logs in with `TERRITOIRE_API_DATABASE_URL`, a URL of this role: it never
holds the owner's credentials.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from territoire import warehouse

DEFAULT_ROLE = "territoire_api"
ATTEMPTS = 3
SQL_FILE = Path(__file__).with_name("role.sql")


@dataclass(frozen=True)
class RoleLimits:
    statement_timeout: str = "15s"
    work_mem: str = "32MB"
    connection_limit: int = 20


def role_name() -> str:
    return os.environ.get("TERRITOIRE_API_ROLE") or DEFAULT_ROLE


def ensure_api_role(url: str | None = None, *, role: str | None = None, password: str | None = None,
                    limits: RoleLimits = RoleLimits()) -> str:
    """Create or repair the role and its grants; returns the role's name."""
    from territoire.publication.roles import ensure_analyst_roles

    role = role or role_name()
    url = url or warehouse.get_url()
    ensure_analyst_roles(url, password="")  # the group role and its grants on `published` only
    for attempt in range(ATTEMPTS):
        try:
            _ensure(url, role, password, limits)
            return role
        except psycopg.errors.InternalError_:
            # "tuple concurrently updated": another deployment (or test run) altered the cluster-wide
            # role at the same moment; the statements are idempotent, so run them again.
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    return role


def _ensure(url: str, role: str, password: str | None, limits: RoleLimits) -> None:
    from territoire.publication.publish import ANALYST_ROLE
    from territoire.quality.gate import ensure_history_tables

    with warehouse.transaction(url) as conn:
        ensure_history_tables(conn)
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                pass  # another deployment created it at the same moment (roles are cluster-wide)
        if password:
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(password)))
        statements = sql.SQL(SQL_FILE.read_text(encoding="utf-8")).format(
            role=sql.Identifier(role), group=sql.Identifier(ANALYST_ROLE),
            connection_limit=sql.Literal(limits.connection_limit),
            statement_timeout=sql.Literal(limits.statement_timeout), work_mem=sql.Literal(limits.work_mem))
        conn.execute(statements)


def role_url(owner_url: str, role: str, password: str | None = None) -> str:
    """The owner's URL with the role as user (same server and database)."""
    p = warehouse.parse_url(owner_url)
    return warehouse.ConnectionParts(p.host, p.port, role, password or "", p.dbname).url()


def drop_api_role(url: str, role: str) -> None:
    with warehouse.transaction(url) as conn:
        if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
