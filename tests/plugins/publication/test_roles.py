"""The analyst roles, tested with real connections as the analyst (the local server trusts 127.0.0.1)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors

from territoire import warehouse
from territoire.datasets import Dataset
from territoire.publication.publish import ANALYST_ROLE, publish_table
from territoire.publication.roles import PRIVATE_SCHEMAS, drop_login_role, ensure_analyst_roles

pytestmark = pytest.mark.integration


def _as(url: str, user: str) -> str:
    p = warehouse.parse_url(url)
    return warehouse.ConnectionParts(p.host, p.port, user, "", p.dbname).url()


@pytest.fixture
def analyst(fresh_database, monkeypatch):
    login = f"analyste_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TERRITOIRE_ANALYST_PASSWORD", "synthetic-test-password")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for schema in ("published", *PRIVATE_SCHEMAS):
            conn.execute(f"create table {schema}.t (code text primary key, valeur integer)")
            conn.execute(f"insert into {schema}.t values ('a', 1), ('b', 2)")
    yield login
    drop_login_role(login, fresh_database)


def _denied(conn, statement: str) -> None:
    with pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
        with conn.transaction():
            conn.execute(statement)


def test_analyst_reads_published_and_nothing_else(fresh_database, analyst):
    access = ensure_analyst_roles(fresh_database, login=analyst)
    again = ensure_analyst_roles(fresh_database, login=analyst)  # idempotent
    assert access == again and access.login_role == analyst
    with psycopg.connect(_as(fresh_database, analyst), autocommit=True) as conn:
        assert conn.execute("select count(*) from published.t").fetchone()[0] == 2
        assert conn.execute("show default_transaction_read_only").fetchone()[0] == "on"
        for schema in PRIVATE_SCHEMAS:
            _denied(conn, f"select * from {schema}.t")
        # Writes are refused even outside the read-only default (a session may switch it off).
        conn.execute("set default_transaction_read_only = off")
        for statement in ("insert into published.t values ('c', 3)", "update published.t set valeur = 0",
                          "delete from published.t", "truncate published.t",
                          "create table published.mine (x int)", "create table public.mine (x int)",
                          "drop table published.t", "alter table published.t add column y int",
                          "create schema analyste_perso", "insert into raw.t values ('c', 3)",
                          "create temporary table probe (x int)"):
            _denied(conn, statement)
        assert conn.execute("select count(*) from published.t").fetchone()[0] == 2
    with psycopg.connect(fresh_database) as conn:
        member = conn.execute("select pg_has_role(%s, %s, 'member')", (analyst, ANALYST_ROLE)).fetchone()[0]
        assert member


def test_grants_survive_table_rebuilds(fresh_database, analyst):
    ensure_analyst_roles(fresh_database, login=analyst)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        # a table created later in `published` (default privileges) ...
        conn.execute("create table published.nouvelle as select 1 as x")
        # ... and a publication swap, which drops and recreates the table
        conn.execute("create table audit.swapped as select 'a' as code, 1 as valeur")
    ds = Dataset(id="swapped", title="t", description="d", licence="etalab-2.0", sources=("cog",),
                 primary_key=("code",))
    publish_table(ds, "run-roles-test", fresh_database)
    with psycopg.connect(_as(fresh_database, analyst)) as conn:
        assert conn.execute("select x from published.nouvelle").fetchone() == (1,)
        assert conn.execute("select code, valeur from published.swapped").fetchall() == [("a", 1)]


def test_no_password_no_login_role(fresh_database, monkeypatch):
    monkeypatch.delenv("TERRITOIRE_ANALYST_PASSWORD", raising=False)
    login = f"analyste_test_{uuid.uuid4().hex[:8]}"
    access = ensure_analyst_roles(fresh_database, login=login)
    assert access.login_role is None
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone() is None
        assert conn.execute("select rolcanlogin from pg_roles where rolname = %s", (ANALYST_ROLE,)).fetchone() == (
            False,)


def test_the_platform_manages_the_roles_without_superuser(admin_url):
    """As in the compose stack (deploy/postgres/init-databases.sh): the warehouse belongs to a login role
    with CREATEROLE, not to a superuser, and the platform creates the analyst roles from it. An analyst
    cannot create a temporary table either; the owner (dbt's temporary relations) still can."""
    tag = uuid.uuid4().hex[:8]
    owner, name, login = f"entrepot_test_{tag}", f"territoire_t_{tag}", f"analyste_test_{tag}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create role "{owner}" login createrole')
        conn.execute(f'create database "{name}" owner "{owner}"')
        if conn.execute("select 1 from pg_roles where rolname = %s", (ANALYST_ROLE,)).fetchone():
            # The group role is cluster-wide and another test created it as superuser: give the owner
            # what it would have had, had it created the role itself (ADMIN on it).
            conn.execute(f'grant "{ANALYST_ROLE}" to "{owner}" with admin option')
    p = warehouse.parse_url(admin_url)
    url = warehouse.ConnectionParts(p.host, p.port, owner, "", name).url()
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
        warehouse.ensure_schemas(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table published.t (code text primary key)")
            conn.execute("insert into published.t values ('a')")
        first = ensure_analyst_roles(url, login=login, password="synthetic-test-password")
        assert ensure_analyst_roles(url, login=login, password="synthetic-test-password") == first
        assert first.login_role == login
        with psycopg.connect(_as(url, login), autocommit=True) as conn:
            assert conn.execute("select count(*) from published.t").fetchone()[0] == 1
            conn.execute("set default_transaction_read_only = off")
            _denied(conn, "create temporary table probe (x int)")
            _denied(conn, "create table published.mine (x int)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create temporary table dbt_like_tmp (x int)")
    finally:
        drop_login_role(login, url)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
            conn.execute(f'drop role if exists "{owner}"')
