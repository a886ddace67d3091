"""What the API may read: the datasets of `catalog/datasets.yml` that have a table in `published`.

This is the allow-list every identifier a client sends is checked against (dataset ids and column
names): nothing a client types reaches SQL as an identifier unless it is in here. It also holds the
version of each published table (ETag, Last-Modified), checked again with one cheap query at most
every `ttl` seconds, so that a conditional request answered 304 costs no query at all.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from territoire.api.db import Pool
from territoire.api.problems import unknown_dataset
from territoire.datasets import Dataset

SQL_DIR = Path(__file__).with_name("sql")
# Bumped when the API's representation of rows changes, so that cached copies are not reused.
# 2: rows written by orjson (the same values, some other bytes; numbers and times inside arrays
# written as in a column of their own).
REPRESENTATION = "2"

INTEGER_TYPES = ("smallint", "integer", "bigint")
NUMBER_TYPES = ("numeric", "real", "double precision")


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def type_family(pg_type: str) -> str:
    """integer, number, boolean, date, timestamp, text or other (what a filter value is parsed as)."""
    t = pg_type.lower()
    if t in INTEGER_TYPES:
        return "integer"
    if t.startswith(NUMBER_TYPES):
        return "number"
    if t == "boolean":
        return "boolean"
    if t == "date":
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t.startswith(("text", "character")):
        return "text"
    return "other"


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    not_null: bool

    @property
    def family(self) -> str:
        return type_family(self.pg_type)


@dataclass(frozen=True)
class Version:
    table_oid: int
    run_id: str | None
    published_at: datetime  # the last published quality run, else when the API first saw this table

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{REPRESENTATION}:{self.table_oid}:{self.run_id}".encode()).hexdigest()[:24]
        return f'"{digest}"'


@dataclass(frozen=True)
class Table:
    dataset: Dataset
    columns: dict[str, Column]  # exposed columns in table order (no personal or technical column)
    version: Version

    @property
    def id(self) -> str:
        return self.dataset.id

    @property
    def key(self) -> tuple[str, ...]:
        """The unique key keyset pagination ends on: the primary key when it is exposed."""
        pk = tuple(c for c in self.dataset.primary_key if c in self.columns)
        return pk if len(pk) == len(self.dataset.primary_key) else tuple(self.columns)

    @property
    def geographic(self) -> bool:
        return bool(self.dataset.geometry)


class PublishedCatalog:
    def __init__(self, pool: Pool, datasets: dict[str, Dataset], ttl: float = 5.0):
        self.pool = pool
        self.datasets = datasets
        self.ttl = ttl
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._tables: dict[str, Table] = {}
        self._marker: dict[str, int] = {}
        self._first_seen: dict[int, datetime] = {}
        self.quality_readable = False

    def tables(self) -> dict[str, Table]:
        if time.monotonic() - self._checked_at > self.ttl:
            with self._lock:
                if time.monotonic() - self._checked_at > self.ttl:
                    self._refresh()
        return self._tables

    def table(self, dataset_id: str) -> Table:
        tables = self.tables()
        try:
            return tables[dataset_id]
        except KeyError:
            raise unknown_dataset(dataset_id, sorted(tables)) from None

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    def _refresh(self) -> None:
        with self.pool.connection() as conn:
            marker = dict(conn.execute(read_sql("published_versions.sql")).fetchall())
            self.quality_readable = conn.execute(read_sql("quality_readable.sql")).fetchone()[0]
            runs = {}
            if self.quality_readable:
                runs = {d: (r, f) for d, r, f in conn.execute(read_sql("last_publications.sql")).fetchall()}
            if marker != self._marker or any(self._tables[t].version.run_id != runs.get(t, (None,))[0]
                                             for t in self._tables):
                columns = conn.execute(read_sql("published_columns.sql")).fetchall()
                self._tables = self._build(marker, runs, columns)
                self._marker = marker
        self._checked_at = time.monotonic()

    def _build(self, marker: dict[str, int], runs: dict, rows: list) -> dict[str, Table]:
        by_table: dict[str, dict[str, Column]] = {}
        for table, name, pg_type, not_null in rows:
            by_table.setdefault(table, {})[name] = Column(name, pg_type, not_null)
        tables = {}
        for dataset_id, dataset in self.datasets.items():
            if dataset_id not in marker or dataset_id not in by_table:
                continue
            exposed = {n: c for n, c in by_table[dataset_id].items()
                       if n not in dataset.personal_columns and not n.startswith("_")}
            oid = marker[dataset_id]
            run_id, finished = runs.get(dataset_id, (None, None))
            seen = self._first_seen.setdefault(oid, datetime.now(UTC).replace(microsecond=0))
            tables[dataset_id] = Table(dataset, exposed, Version(oid, run_id, (finished or seen).astimezone(UTC).replace(microsecond=0)))
        return tables
