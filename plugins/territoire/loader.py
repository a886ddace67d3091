"""Load a landed file into its raw table: streamed, validated, audited, idempotent.

Every load is a batch in the ledger `ingest.load_batches`. The file is streamed with COPY into a
staging table created inside one transaction; the rows that break the resource's Table Schema are
moved to `ingest.rejected_rows` with their line, column, rule and value; the remaining rows replace
the raw table's content; the ledger row is marked succeeded - all in that one transaction. A load
killed half-way therefore leaves nothing visible but a ledger row still marked `running`, which the
next load of the same table marks `failed` (interrupted) before starting again.

Two loads of the same table never interleave: each holds a PostgreSQL advisory lock on the table.
Loading a file whose checksum equals the one already in the raw table is a no-op (`skipped_unchanged`).

CSV takes a fast path (PostgreSQL parses the stream, as `psql \\copy` does); a file PostgreSQL
refuses (ragged rows, stray quotes) takes the careful path (Python's csv module, row by row) so
that bad rows are quarantined instead of failing the whole load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from territoire import parsing, tableschema, warehouse
from territoire.catalog import Resource
from territoire.naming import normalise_columns, quote_ident

log = logging.getLogger(__name__)

LEDGER_SQL = """
create schema if not exists ingest;
create schema if not exists raw;
create table if not exists ingest.load_batches (
    batch_id       bigserial primary key,
    source_id      text not null,
    resource       text not null,
    raw_table      text not null,
    location       text,
    landing_path   text,
    file_sha256    text,
    file_size      bigint,
    rows_read      bigint,
    rows_loaded    bigint,
    rows_rejected  bigint,
    status         text not null check (status in ('running', 'succeeded', 'failed', 'skipped_unchanged')),
    started_at     timestamptz not null default clock_timestamp(),
    finished_at    timestamptz,
    error          text,
    details        jsonb
);
create index if not exists load_batches_table_idx on ingest.load_batches (raw_table, batch_id desc);
create table if not exists ingest.rejected_rows (
    batch_id     bigint not null references ingest.load_batches (batch_id),
    source_id    text not null,
    resource     text not null,
    line_number  bigint,
    column_name  text,
    rule         text not null,
    value        text,
    message      text not null,
    raw_line     text
);
create index if not exists rejected_rows_batch_idx on ingest.rejected_rows (batch_id);
"""


class LoadError(RuntimeError):
    """A load failed; the message names the source, file and reason. The raw table is untouched."""


class QuarantineThresholdExceeded(LoadError):
    """Too many rows broke the schema; they are kept in quarantine and the raw table is untouched."""


@dataclass
class BatchResult:
    batch_id: int
    source_id: str
    resource: str
    raw_table: str
    status: str
    file_sha256: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    message: str = ""

    def summary(self) -> str:
        return (f"{self.source_id}/{self.resource} -> raw.{self.raw_table}: {self.status}, "
                f"{self.rows_loaded} rows loaded, {self.rows_rejected} rejected (batch {self.batch_id})")


def ensure_ingest_tables(conn: psycopg.Connection) -> None:
    conn.execute(LEDGER_SQL)
    conn.execute(tableschema.FUNCTIONS_SQL)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _lock_key(table: str) -> int:
    return int.from_bytes(hashlib.sha256(f"territoire.load:{table}".encode()).digest()[:8], "big", signed=True)


def _table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{quote_ident(schema)}.{quote_ident(table)}",)
                        ).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# Readers: what each format gives the loader.


@dataclass
class StagedInput:
    columns: list[str]          # normalised column names
    headers: list[str]          # as published
    fast_chunks: Callable[[], Iterator[bytes]] | None  # CSV bytes for server-side parsing, if possible
    copy_options: str           # COPY options for the fast path
    rows: Callable[[], Iterator[tuple[int, list[str | None]]]]  # (line, values), the careful path
    description: dict


def _csv_input(path: Path, resource: Resource) -> StagedInput:
    opts = resource.options
    dialect = parsing.sniff_csv(path, delimiter=opts.get("delimiter"), encoding=opts.get("encoding"))
    columns = normalise_columns(dialect.header)
    delim = dialect.delimiter.replace("'", "''")
    return StagedInput(
        columns=columns, headers=dialect.header,
        fast_chunks=lambda: parsing.iter_text_chunks(path, dialect),
        copy_options=f"format csv, delimiter E'{delim if delim != chr(9) else chr(92) + 't'}', null ''",
        rows=lambda: parsing.iter_csv_rows(path, dialect),
        description={"encoding": dialect.encoding, "delimiter": dialect.delimiter, "format": "csv"},
    )


def _json_records(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    text_encoding = parsing.detect_encoding(path)
    if fmt == "ndjson":
        with open(path, encoding=text_encoding) as f:
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield line_number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise parsing.ParseError(f"{path}: line {line_number}: not valid JSON: {exc.msg}") from exc
        return
    with open(path, encoding=text_encoding) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise parsing.ParseError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if fmt == "geojson" or (isinstance(data, dict) and data.get("type") == "FeatureCollection"):
        for i, feature in enumerate(data.get("features", []), start=1):
            record = dict(feature.get("properties") or {})
            record["geometry"] = feature.get("geometry")
            yield i, record
        return
    if isinstance(data, dict):
        for key in ("results", "records", "data", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise parsing.ParseError(f"{path}: line 1: expected a JSON array of records")
    for i, record in enumerate(data, start=1):
        yield i, record if isinstance(record, dict) else {"value": record}


def _json_input(path: Path, resource: Resource) -> StagedInput:
    keys: dict[str, None] = {}
    for _, record in _json_records(path, resource.format):
        for k in record:
            keys.setdefault(str(k), None)
    headers = list(keys)
    if not headers:
        raise parsing.ParseError(f"{path}: no records found")
    columns = normalise_columns(headers)

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        for line, record in _json_records(path, resource.format):
            values = []
            for k in headers:
                v = record.get(k)
                if v is None:
                    values.append(None)
                elif isinstance(v, (dict, list)):
                    values.append(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
                elif isinstance(v, bool):
                    values.append("true" if v else "false")
                else:
                    values.append(str(v))
            yield line, values

    return StagedInput(columns=columns, headers=headers, fast_chunks=None, copy_options="", rows=rows,
                       description={"format": resource.format})


def open_input(path: Path, resource: Resource, fmt: str | None = None) -> StagedInput:
    fmt = fmt or resource.format
    if fmt == "csv":
        return _csv_input(path, resource)
    if fmt in ("json", "ndjson", "geojson"):
        return _json_input(path, resource)
    raise LoadError(f"{resource.source_id}/{resource.name}: the loader cannot read format {fmt!r} ({path})")


# ---------------------------------------------------------------------------------------------


class Loader:
    """Loads files into raw tables of one warehouse."""

    def __init__(self, url: str | None = None, progress: Callable[[str], None] | None = None):
        self.url = url or warehouse.get_url()
        self.progress = progress or (lambda msg: log.info(msg))
        with warehouse.connect(self.url, autocommit=True) as conn:
            ensure_ingest_tables(conn)

    # -- ledger ---------------------------------------------------------------------------
    def _ledger_start(self, conn, resource: Resource, table: str, location: str, path: Path, sha: str) -> int:
        conn.execute(
            """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
                   error = 'interrupted: the process stopped before the load finished; nothing of it was kept'
               where raw_table = %s and status = 'running'""",
            (table,),
        )
        return conn.execute(
            """insert into ingest.load_batches
                   (source_id, resource, raw_table, location, landing_path, file_sha256, file_size, status)
               values (%s, %s, %s, %s, %s, %s, %s, 'running') returning batch_id""",
            (resource.source_id, resource.name, table, location, str(path), sha, path.stat().st_size),
        ).fetchone()[0]

    def _unchanged(self, conn, resource: Resource, table: str, sha: str) -> int | None:
        row = conn.execute(
            """select batch_id, file_sha256 from ingest.load_batches
               where raw_table = %s and status = 'succeeded' order by batch_id desc limit 1""",
            (table,),
        ).fetchone()
        if not row or row[1] != sha or not _table_exists(conn, "raw", table):
            return None
        current = conn.execute(
            sql.SQL("select max(_batch_id) from raw.{}").format(sql.Identifier(table))).fetchone()[0]
        return row[0] if current == row[0] else None

    # -- public ---------------------------------------------------------------------------
    def load(self, resource: Resource, path: Path, *, location: str | None = None, force: bool = False,
             table: str | None = None, fmt: str | None = None, quarantine_threshold: float | None = None,
             sha256: str | None = None) -> BatchResult:
        """Load `path` into `raw.<table>` (default: the resource's raw table)."""
        path = Path(path)
        table = table or resource.raw_table
        location = location or str(path)
        if not path.is_file():
            raise LoadError(f"{resource.source_id}/{resource.name}: file not found: {path}")
        sha = sha256 or file_sha256(path)
        started = time.monotonic()
        with warehouse.connect(self.url, autocommit=True) as conn:
            conn.execute("select pg_advisory_lock(%s)", (_lock_key(table),))
            try:
                if not force:
                    previous = self._unchanged(conn, resource, table, sha)
                    if previous is not None:
                        batch_id = conn.execute(
                            """insert into ingest.load_batches (source_id, resource, raw_table, location,
                                   landing_path, file_sha256, file_size, rows_read, rows_loaded, rows_rejected,
                                   status, finished_at, details)
                               values (%s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 'skipped_unchanged',
                                       clock_timestamp(), %s)
                               returning batch_id""",
                            (resource.source_id, resource.name, table, location, str(path), sha,
                             path.stat().st_size, json.dumps({"same_as_batch": previous})),
                        ).fetchone()[0]
                        self.progress(f"{resource.source_id}/{resource.name}: unchanged since batch {previous}, skipped")
                        return BatchResult(batch_id, resource.source_id, resource.name, table, "skipped_unchanged",
                                           sha, message=f"same content as batch {previous}")
                batch_id = self._ledger_start(conn, resource, table, location, path, sha)
                try:
                    result = self._load_batch(conn, batch_id, resource, path, table, fmt, sha,
                                              resource_threshold(resource, quarantine_threshold))
                except Exception as exc:
                    conn.execute(
                        """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
                               error = %s where batch_id = %s""",
                        (str(exc)[:4000], batch_id),
                    )
                    if isinstance(exc, LoadError):
                        raise
                    raise LoadError(f"{resource.source_id}/{resource.name}: loading {path} failed: {exc}") from exc
            finally:
                conn.execute("select pg_advisory_unlock(%s)", (_lock_key(table),))
        result.seconds = time.monotonic() - started
        self.progress(result.summary())
        return result

    # -- the batch itself -----------------------------------------------------------------
    def _load_batch(self, conn, batch_id: int, resource: Resource, path: Path, table: str, fmt: str | None,
                    sha: str, threshold: float) -> BatchResult:
        try:
            staged = open_input(path, resource, fmt)
        except parsing.ParseError as exc:
            raise LoadError(f"{resource.source_id}/{resource.name}: {exc}") from exc
        schema = tableschema.load_schema(resource.schema_path()) if resource.schema else None
        where = f"{resource.source_id}/{resource.name} ({path})"
        if schema:
            _, missing = tableschema.rules_for(schema, staged.columns)
            if missing:
                raise LoadError(
                    f"{where}: line 1: the header lacks required column(s) {', '.join(missing)} of schema "
                    f"{resource.schema}; found: {', '.join(staged.headers)}")
        stage = f"_load_{batch_id}"
        stage_q = f"raw.{quote_ident(stage)}"
        cols_sql = ", ".join(f"{quote_ident(c)} text" for c in staged.columns)
        cols_list = ", ".join(quote_ident(c) for c in staged.columns)
        rejected = 0
        with conn.transaction():
            # On the fast path the identity numbers the records from line 2 (line 1 is the header);
            # the careful path gives each row's physical line explicitly.
            conn.execute(f"create table {stage_q} ({cols_sql}, "
                         f"_line_number bigint generated by default as identity (start with 2))")
            path_used = self._copy_fast(conn, stage_q, cols_list, staged) if staged.fast_chunks else False
            if not path_used:
                rejected += self._copy_careful(conn, stage_q, cols_list, staged, batch_id, resource, path)
            rows_read = conn.execute(f"select count(*) from {stage_q}").fetchone()[0] + rejected
            if rows_read == 0:
                raise LoadError(f"{where}: the file has a header but no data rows")
            if schema:
                rejected += self._validate(conn, stage_q, staged.columns, schema, batch_id, resource)
            share = rejected / rows_read if rows_read else 0.0
            if share > threshold:
                summary = self._rejection_summary(conn, batch_id)
                conn.execute(f"drop table {stage_q}")
                conn.execute(
                    """update ingest.load_batches set rows_read = %s, rows_loaded = 0, rows_rejected = %s,
                           status = 'failed', finished_at = clock_timestamp(), error = %s, details = %s
                       where batch_id = %s""",
                    (rows_read, rejected,
                     f"{rejected} of {rows_read} rows ({share:.1%}) broke the schema, above the threshold "
                     f"{threshold:.1%} of source {resource.source_id}; raw.{table} left unchanged",
                     json.dumps({**staged.description, "rejections": summary}), batch_id),
                )
                failed = True
            else:
                failed = False
                select_list = []
                for c in staged.columns:
                    f = schema.field_for_column(c) if schema else None
                    missing_values = schema.missing_values if schema else ("",)
                    select_list.append(f"{tableschema.normalised_expression(c, f, missing_values)} as {quote_ident(c)}")
                new = f"raw.{quote_ident(table + '__new')}"
                conn.execute(f"drop table if exists {new}")
                conn.execute(
                    f"create table {new} as select {', '.join(select_list)}, "
                    f"{int(batch_id)}::bigint as _batch_id, _line_number, "
                    f"clock_timestamp() as _loaded_at from {stage_q} "
                    f"where not exists (select 1 from ingest.rejected_rows r where r.batch_id = {int(batch_id)} "
                    f"and r.line_number = {stage_q}._line_number) order by _line_number"
                )
                conn.execute(f"drop table {stage_q}")
                conn.execute(f"drop table if exists raw.{quote_ident(table)}")
                conn.execute(f"alter table {new} rename to {quote_ident(table)}")
                loaded = conn.execute(f"select count(*) from raw.{quote_ident(table)}").fetchone()[0]
                conn.execute(
                    """update ingest.load_batches set rows_read = %s, rows_loaded = %s, rows_rejected = %s,
                           status = 'succeeded', finished_at = clock_timestamp(), details = %s
                       where batch_id = %s""",
                    (rows_read, loaded, rejected, json.dumps(staged.description), batch_id),
                )
        if failed:
            raise QuarantineThresholdExceeded(
                f"{where}: {rejected} of {rows_read} rows ({share:.1%}) broke schema {resource.schema}, above the "
                f"threshold of {threshold:.1%}. They are in ingest.rejected_rows (batch {batch_id}); raw.{table} "
                f"is unchanged. Main problems: " + "; ".join(
                    f"{s['column']}/{s['rule']}: {s['count']} rows (e.g. line {s['example_line']}: {s['example_value']!r})"
                    for s in self._rejection_summary_from_db(batch_id)[:5]))
        return BatchResult(batch_id, resource.source_id, resource.name, table, "succeeded", sha,
                           rows_read=rows_read, rows_loaded=loaded, rows_rejected=rejected)

    def _copy_fast(self, conn, stage_q: str, cols_list: str, staged: StagedInput) -> bool:
        """Let PostgreSQL parse the CSV stream. False when it refuses the file (the careful path follows)."""
        try:
            with conn.transaction():  # a savepoint: a refused file leaves the staging table empty
                with conn.cursor().copy(f"copy {stage_q} ({cols_list}) from stdin with ({staged.copy_options})") as cp:
                    for chunk in staged.fast_chunks():
                        cp.write(chunk)
                # Line numbers: the record's ordinal + 1 (header), shifted by the newlines quoted inside
                # the fields of the records before it (only computed when some field holds one).
                conn.execute(f"analyze {stage_q}")
                any_newline = " or ".join(f"strpos({c}, E'\\n') > 0" for c in cols_list.split(", "))
                if not conn.execute(f"select exists (select 1 from {stage_q} where {any_newline})").fetchone()[0]:
                    return True
                nl = " + ".join(f"coalesce(length({c}) - length(replace({c}, E'\\n', '')), 0)"
                                for c in cols_list.split(", "))
                conn.execute(
                    f"update {stage_q} s set _line_number = s._line_number + x.before "
                    f"from (select _line_number, sum({nl}) over (order by _line_number rows between unbounded "
                    f"preceding and 1 preceding) as before from {stage_q}) x "
                    f"where x._line_number = s._line_number and x.before > 0"
                )
            return True
        except (psycopg.errors.DataError, psycopg.errors.BadCopyFileFormat, UnicodeDecodeError) as exc:
            self.progress(f"fast COPY refused the file ({str(exc).splitlines()[0]}); reading it row by row")
            return False

    def _copy_careful(self, conn, stage_q: str, cols_list: str, staged: StagedInput, batch_id: int,
                      resource: Resource, path: Path) -> int:
        """Row by row: rows with the wrong number of fields go to quarantine. Returns how many."""
        width = len(staged.columns)
        rejected: list[tuple] = []
        with conn.cursor().copy(f"copy {stage_q} ({cols_list}, _line_number) from stdin") as cp:
            try:
                for line, values in staged.rows():
                    if len(values) != width:
                        rejected.append((batch_id, resource.source_id, resource.name, line, None, "field-count",
                                         None, f"expected {width} fields as in the header, found {len(values)}",
                                         _clip(staged, values)))
                        continue
                    cp.write_row([*(v.replace("\x00", "") if isinstance(v, str) else v for v in values), line])
            except UnicodeDecodeError as exc:
                raise LoadError(f"{resource.source_id}/{resource.name} ({path}): bytes that are not "
                                f"{staged.description.get('encoding')}: {exc}") from exc
            except parsing.ParseError as exc:
                raise LoadError(f"{resource.source_id}/{resource.name}: {exc}") from exc
        _insert_rejections(conn, rejected)
        return len(rejected)

    def _validate(self, conn, stage_q: str, columns: list[str], schema: tableschema.Schema, batch_id: int,
                  resource: Resource) -> int:
        rules, _ = tableschema.rules_for(schema, columns)
        usable = []
        for r in rules:
            if r.rule == "pattern":
                pattern = schema.field_for_column(r.column).pattern
                if not conn.execute("select ingest.regex_ok(%s)", (pattern,)).fetchone()[0]:
                    self.progress(f"pattern of {r.column} cannot be checked by PostgreSQL, skipped: {pattern}")
                    continue
            usable.append(r)
        if usable:
            # One scan of the staging table evaluates every rule on every row.
            checks = ", ".join(
                f"({_sqlstr(r.column)}, {_sqlstr(r.rule)}, {quote_ident(r.column)}, {_sqlstr(r.message)}, {r.condition})"
                for r in usable
            )
            conn.execute(
                f"insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, "
                f"value, message) select %s, %s, %s, s._line_number, v.col, v.rule, left(v.value, 1000), v.message "
                f"from {stage_q} s cross join lateral (values {checks}) v(col, rule, value, message, bad) where v.bad",
                (batch_id, resource.source_id, resource.name),
            )
        keys = [list(resource.primary_key) or list(schema.primary_key)]
        keys += [[f.column] for f in schema.fields if f.unique]
        for key in keys:
            if not key or not all(k in columns for k in key):
                continue
            key_sql = ", ".join(quote_ident(k) for k in key)
            conn.execute(
                f"insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, "
                f"value, message) select %s, %s, %s, _line_number, %s, 'unique', concat_ws('|', {key_sql}), "
                f"'duplicate key (' || %s || '): first seen on line ' || first_line "
                f"from (select _line_number, {key_sql}, first_value(_line_number) over w as first_line, "
                f"row_number() over w as n from {stage_q} window w as (partition by {key_sql} order by _line_number)) d "
                f"where n > 1",
                (batch_id, resource.source_id, resource.name, ",".join(key), ",".join(key)),
            )
        after = conn.execute(
            "select count(distinct line_number) from ingest.rejected_rows where batch_id = %s and rule <> 'field-count'",
            (batch_id,)).fetchone()[0]
        return after

    def _rejection_summary(self, conn, batch_id: int) -> list[dict]:
        rows = conn.execute(
            """select column_name, rule, count(*), min(line_number),
                      (array_agg(value order by line_number))[1]
               from ingest.rejected_rows where batch_id = %s group by 1, 2 order by 3 desc""",
            (batch_id,)).fetchall()
        return [{"column": c, "rule": r, "count": n, "example_line": line, "example_value": v}
                for c, r, n, line, v in rows]

    def _rejection_summary_from_db(self, batch_id: int) -> list[dict]:
        with warehouse.connect(self.url) as conn:
            return self._rejection_summary(conn, batch_id)


def resource_threshold(resource: Resource, override: float | None) -> float:
    if override is not None:
        return override
    from territoire.catalog import load_catalog

    try:
        return load_catalog().get(resource.source_id).quarantine_threshold
    except KeyError:
        return 0.05


def _sqlstr(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _clip(staged: StagedInput, values: list) -> str:
    text = "|".join("" if v is None else str(v) for v in values)
    return text[:2000]


def _insert_rejections(conn, rows: Iterable[tuple]) -> None:
    rows = list(rows)
    if not rows:
        return
    with conn.cursor().copy(
        "copy ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, value, message, "
        "raw_line) from stdin"
    ) as cp:
        for r in rows:
            cp.write_row(r)
