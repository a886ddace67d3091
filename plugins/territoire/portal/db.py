"""The portal's only way into the warehouse: read-only connections to the `published` schema.

Every identifier in a query comes from `catalog/datasets.yml` and the table's own columns
(`published_columns`), never from the request; every value a visitor types is a bound parameter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from territoire import warehouse

SQL = Path(__file__).resolve().parent / "sql"
# A page must answer quickly even on a big table; a slower query is cut and the page says so.
STATEMENT_TIMEOUT_MS = int(os.environ.get("TERRITOIRE_PORTAL_STATEMENT_TIMEOUT_MS", "5000"))


def read_sql(name: str) -> str:
    return (SQL / f"{name}.sql").read_text(encoding="utf-8")


def database_url() -> str:
    """`TERRITOIRE_PORTAL_DATABASE_URL` (a login that can only read `published`), else the open API's
    (`TERRITOIRE_API_DATABASE_URL`, the same kind of login), else the warehouse."""
    return (os.environ.get("TERRITOIRE_PORTAL_DATABASE_URL") or os.environ.get("TERRITOIRE_API_DATABASE_URL")
            or warehouse.get_url())


@contextmanager
def read_only() -> Iterator[psycopg.Connection]:
    """A connection in read-only transactions, with a statement timeout, searching `published` only."""
    options = (f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} "
               f"-c search_path=published")
    with psycopg.connect(database_url(), options=options, application_name="territoire-portal") as conn:
        conn.read_only = True
        yield conn


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str

    @property
    def family(self) -> str:
        t = self.pg_type
        if t in ("smallint", "integer", "bigint"):
            return "entier"
        if t.startswith(("numeric", "real", "double")):
            return "nombre"
        if t == "boolean":
            return "booleen"
        if t == "date":
            return "date"
        if t.startswith("timestamp"):
            return "horodatage"
        return "texte"


def published_columns(conn) -> dict[str, list[Column]]:
    """{table: [columns in order]} of every table of `published`."""
    out: dict[str, list[Column]] = {}
    for table, name, pg_type in conn.execute(read_sql("published_columns")).fetchall():
        out.setdefault(table, []).append(Column(name, pg_type))
    return out


def ident(name: str) -> str:
    """A checked identifier, quoted (callers pass only names read from the catalog or the table)."""
    return '"' + name.replace('"', '""') + '"'
