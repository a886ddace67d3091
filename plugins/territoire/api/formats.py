"""The whole filtered result of a dataset, streamed: CSV, JSON, GeoJSON or Parquet.

Every format reads through one server-side stream in the export's own read-only transaction, and
yields chunks of about `CHUNK_BYTES`, so memory stays flat whatever the table's size.
- CSV: PostgreSQL's own `COPY ... TO STDOUT (format csv, header)`; text cells are made spreadsheet
  safe in the query with the rule of `territoire.csvsafe` (a leading `'` before =, +, -, @, tab, CR),
  in the columns of the published version that hold such a cell (`FormulaColumns`).
- JSON: an array of objects, each built by PostgreSQL (`to_json`), joined here.
- GeoJSON: a FeatureCollection, geometries built by the publication's rule (publication.geojson).
- Parquet: pyarrow, one row group per batch of rows.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator

import psycopg
from psycopg import sql

from territoire.api import query
from territoire.api.catalog import Table
from territoire.api.db import Pool
from territoire.api.values import to_json
from territoire.csvsafe import FORMULA_STARTS

CHUNK_BYTES = 256 * 1024
BATCH_ROWS = 20_000
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "geojson": "application/geo+json",
    "parquet": "application/vnd.apache.parquet",
}


def formats_of(table: Table) -> list[str]:
    return [f for f in MEDIA_TYPES if f != "geojson" or table.geographic]


def _formula_start(name: str) -> sql.Composable:
    """True when the cell starts as a formula would (the rule of territoire.csvsafe)."""
    starts = sql.SQL(", ").join(sql.Literal(s) for s in FORMULA_STARTS)
    return sql.SQL("left({}, 1) in ({})").format(sql.Identifier(name), starts)


class FormulaColumns:
    """The text columns of each published version holding at least one cell a spreadsheet would
    evaluate. Guarding a column costs PostgreSQL half its COPY speed; one scan per publication tells
    which columns need it (all of them when the scan cannot finish within the role's timeout)."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self._known: dict[tuple[str, int], frozenset[str]] = {}
        self._lock = threading.Lock()

    def of(self, table: Table) -> frozenset[str]:
        key = (table.id, table.version.table_oid)
        if key not in self._known:
            found = self._scan(table)
            with self._lock:
                for old in [k for k in self._known if k[0] == table.id]:  # an earlier publication's
                    del self._known[old]
                self._known[key] = found
        return self._known[key]

    def _scan(self, table: Table) -> frozenset[str]:
        text = [c.name for c in table.columns.values() if c.family == "text"]
        if not text:
            return frozenset()
        checks = sql.SQL(", ").join(sql.SQL("coalesce(bool_or({}), false)").format(_formula_start(n)) for n in text)
        try:
            with self.pool.connection() as conn:
                row = conn.execute(sql.SQL("select {} from {}").format(checks, query.relation(table))).fetchone()
        except psycopg.errors.QueryCanceled:
            return frozenset(text)
        return frozenset(n for n, risky in zip(text, row, strict=True) if risky)


def _spreadsheet_safe(name: str) -> sql.Composable:
    col = sql.Identifier(name)
    return sql.SQL("case when {t} then '''' || {c} else {c} end as {c}").format(c=col, t=_formula_start(name))


def _boolean_text(name: str) -> sql.Composable:
    """true/false, as the published CSV files write booleans (COPY would write t/f)."""
    return sql.SQL("case when {c} then 'true' when not {c} then 'false' end as {c}").format(c=sql.Identifier(name))


class Export:
    def __init__(self, pool: Pool, table: Table, columns, sort, filters, timeout_ms: int,
                 formula_columns: frozenset[str] | None = None):
        self.pool, self.table, self.columns, self.sort, self.filters = pool, table, columns, sort, filters
        self.timeout_ms = timeout_ms
        # Text columns whose CSV cells must be guarded (None: every text column).
        self.formula_columns = formula_columns

    def _query(self, expressions=None):
        return query.export_query(self.table, self.columns, self.sort, self.filters, expressions)

    def csv_statement(self) -> tuple[sql.Composable, list]:
        """The COPY statement of the CSV download (its values bound client-side by psycopg)."""
        guarded = [c.name for c in self.columns
                   if c.family == "text" and (self.formula_columns is None or c.name in self.formula_columns)]
        text = {name: _spreadsheet_safe(name) for name in guarded}
        text |= {c.name: _boolean_text(c.name) for c in self.columns if c.family == "boolean"}
        select, params = self._query(text)
        return sql.SQL("copy ({}) to stdout with (format csv, header)").format(select), params

    def csv(self) -> Iterator[bytes]:
        statement, params = self.csv_statement()
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(sql.SQL("set local statement_timeout = {}").format(sql.Literal(self.timeout_ms)))
            with conn.cursor().copy(statement, params) as copy:
                buffer = bytearray()
                for data in copy:
                    buffer += data
                    if len(buffer) >= CHUNK_BYTES:
                        yield bytes(buffer)
                        buffer.clear()
                if buffer:
                    yield bytes(buffer)

    def _rows(self, select, params) -> Iterator[list]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(sql.SQL("set local statement_timeout = {}").format(sql.Literal(self.timeout_ms)))
            with conn.cursor(name="territoire_api_export") as cur:
                cur.itersize = BATCH_ROWS
                cur.execute(select, params)
                while rows := cur.fetchmany(BATCH_ROWS):
                    yield rows

    def json(self) -> Iterator[bytes]:
        select, params = self._query()
        wrapped = sql.SQL("select to_json(t)::text from ({}) t").format(select)
        yield b"["
        first = True
        for rows in self._rows(wrapped, params):
            text = ",\n".join(r[0] for r in rows)
            yield (("\n" if first else ",\n") + text).encode("utf-8")
            first = False
        yield b"\n]\n"

    def geojson(self) -> Iterator[bytes]:
        from territoire.publication.geojson import _geometry, geometry_columns

        dataset = self.table.dataset
        names = [c.name for c in self.columns]
        geo = geometry_columns(dataset, list(self.table.columns))
        point = "longitude" in dataset.geometry
        props = [n for n in names if point or n != geo[0]]
        columns = [self.table.columns[n] for n in props + geo]
        select, params = query.export_query(self.table, columns, self.sort, self.filters)
        yield ('{"type":"FeatureCollection","name":' + json.dumps(dataset.id) + ',"features":[').encode()
        n = 0
        for rows in self._rows(select, params):
            parts = []
            for row in rows:
                n += 1
                feature = {"type": "Feature", "geometry": _geometry(dataset, row[len(props):], point, n),
                           "properties": {k: to_json(v) for k, v in zip(props, row, strict=False)}}
                parts.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
            yield (("\n" if n == len(rows) else ",\n") + ",\n".join(parts)).encode("utf-8")
        yield b"\n]}\n"

    def parquet(self) -> Iterator[bytes]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from territoire.publication.export import _arrow_type

        schema = pa.schema([(c.name, _arrow_type(c.pg_type)) for c in self.columns])
        doubles = {c.name: sql.SQL("{c}::double precision as {c}").format(c=sql.Identifier(c.name))
                   for c in self.columns if c.family == "number"}
        select, params = self._query(doubles)
        sink = _Sink()
        with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
            for rows in self._rows(select, params):
                arrays = list(zip(*rows, strict=True))
                writer.write_table(pa.Table.from_arrays(
                    [pa.array(list(col), type=schema.field(i).type) for i, col in enumerate(arrays)], schema=schema))
                yield sink.drain()
        yield sink.drain()


class _Sink(io.RawIOBase):
    """A write-only file pyarrow writes into; what it wrote is taken out after each row group."""

    def __init__(self):
        self._parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out
