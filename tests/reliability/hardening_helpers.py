"""Helpers of the hardening tests: analyst logins, small generated files, sessions to watch."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg

from territoire import warehouse
from territoire.catalog import Location, Resource


def analyst_url(url: str) -> tuple[str, str]:
    """A fresh analyst login (unique name: roles are cluster-wide) and its URL on the same database."""
    from territoire.publication.roles import ensure_analyst_roles

    login = f"analyst_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    ensure_analyst_roles(url, login=login, password=password)
    p = warehouse.parse_url(url)
    return login, warehouse.ConnectionParts(p.host, p.port, login, password, p.dbname).url()


def drop_login(url: str, login: str) -> None:
    from territoire.publication.roles import drop_login_role

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (login,))
    drop_login_role(login, url)


def csv_file(path: Path, rows: int, *, start: int = 0) -> Path:
    """A SYNTHETIC two-column CSV (`code;valeur`) of `rows` data rows."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("code;valeur\n")
        for i in range(start, start + rows):
            f.write(f"c{i};{i}\n")
    return path


def resource(path: Path, name: str | None = None, source_id: str = "hard") -> Resource:
    return Resource(source_id=source_id, name=name or f"r{uuid.uuid4().hex[:8]}", format="csv",
                    locations={"demo": Location("local", path=str(path))})


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def env_with(**values: str) -> dict[str, str]:
    return {**os.environ, **values}


AUDIT_SQL = """
drop table if exists audit.{name};
create table audit.{name} (code text primary key, nom text, valeur integer);
insert into audit.{name} select lpad(i::text, 5, '0'), 'commune ' || i, i * {factor} from generate_series(1, {rows}) i;
"""


def synthetic_dataset(name: str):
    """A dataset declaration for a SYNTHETIC audit table (see `make_audit_table`)."""
    from territoire.datasets import Dataset

    return Dataset(id=name, title="Communes de test (synthétique)", description="Jeu synthétique pour les tests.",
                   licence="etalab-2.0", sources=("cog",), primary_key=("code",), keywords=("test",))


def make_audit_table(url: str, name: str, *, rows: int = 50, factor: int = 1) -> None:
    """`audit.<name>`: `rows` SYNTHETIC rows; `factor` changes the values (another version)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists audit")
        conn.execute("create schema if not exists published")
        conn.execute(AUDIT_SQL.format(name=name, rows=rows, factor=factor))
