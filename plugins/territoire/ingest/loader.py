"""Load a landed file into its raw table: streamed, validated, audited, idempotent.

Every load is a batch in the ledger `ingest.load_batches`. The file is streamed with COPY into a
staging table created inside one transaction; the rows that break the resource's Table Schema are
moved to `ingest.rejected_rows` with their line, column, rule and value; the remaining rows replace
the raw table's content; the ledger row is marked succeeded - all in that one transaction. A load
killed half-way therefore leaves nothing visible but a ledger row still marked `running`, which the
next load of the same table marks `failed` (interrupted) before starting again.

Two loads of the same table never interleave: each holds the table's platform lock (`ingest.locks`).
Loading a file whose checksum equals the one already in the raw table is a no-op (`skipped_unchanged`).

CSV takes a fast path (PostgreSQL parses the stream, as `psql \\copy` does); a file PostgreSQL
refuses (ragged rows, stray quotes) takes the careful path (Python's csv module, row by row) so
that bad rows are quarantined instead of failing the whole load.

The staging table has the raw table's final shape (decimal commas are turned into points by the
client while it streams the bytes, or else by generated columns during the COPY), and one aggregate
scan first asks whether any rule is broken at all: a clean file is thus written once and renamed
into place; a file with problems takes the detailed check that names every broken cell (see
docs/ingestion.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from territoire import settings, warehouse
from territoire.catalog import Resource
from territoire.ingest import guards, locks, parsing, recovery, stream_checks, tableschema
from territoire.ingest.inputs import InputError, StagedInput, open_input
from territoire.naming import quote_ident

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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (prepare, copy, ...)
    report: dict[str, str] | None = None  # the conformity report's files: {"html": ..., "csv": ...}

    def summary(self) -> str:
        return (f"{self.source_id}/{self.resource} -> raw.{self.raw_table}: {self.status}, "
                f"{self.rows_loaded} rows loaded, {self.rows_rejected} rejected (batch {self.batch_id})")


def ensure_ingest_tables(conn: psycopg.Connection) -> None:
    conn.execute(LEDGER_SQL)
    recovery.ensure(conn)  # the ledger's `interrupted` status and backend columns
    conn.execute(tableschema.FUNCTIONS_SQL)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _FileDigest:
    """The file's SHA-256, computed by a thread while the load goes on: file reads and hashlib release
    the GIL, so it costs the load nothing (0.1 s for 150 MB, before, on the critical path). A load only
    waits for it when it must know at once (the file may be unchanged: same size as the last batch)."""

    def __init__(self, path: Path, known: str | None = None):
        self._value, self._error = known, None
        self._thread = None
        if known is None:
            self._thread = threading.Thread(target=self._run, args=(path,), name="territoire-sha256", daemon=True)
            self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._value = file_sha256(path)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the digest
            self._error = exc

    def result(self) -> str:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{quote_ident(schema)}.{quote_ident(table)}",)
                        ).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# Readers: what each format gives the loader.


# ---------------------------------------------------------------------------------------------


class _Progress:
    """Throttled progress messages (at most one a second) for long loads."""

    def __init__(self, sink: Callable[[str], None], prefix: str, interval: float = 1.0):
        self.sink, self.prefix, self.interval = sink, prefix, interval
        self.last = time.monotonic()

    def tick(self, message: Callable[[], str]) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.sink(f"{self.prefix}: {message()}")

    def say(self, message: str) -> None:
        self.sink(f"{self.prefix}: {message}")


class Loader:
    """Loads files into raw tables of one warehouse.

    `progress` receives human-readable messages as a load goes (bytes and rows streamed, at most one
    every `progress_interval` seconds, then the validation and the summary); the CLI prints them,
    Airflow logs them. `reports=False` skips the conformity report files (used by `territoire validate`).
    A CSV file of at least `parallel_min_bytes` is COPYed by `parallel` connections at once, each
    sending one part of it (see `_copy_in_parts`; defaults from `settings.load_parallelism()` and
    `settings.load_parallel_min_bytes()`). `client_checks=False` leaves every rule and key to PostgreSQL,
    even those the client proved while streaming (see `stream_checks`): a cross-check, same verdicts.
    """

    def __init__(self, url: str | None = None, progress: Callable[[str], None] | None = None,
                 reports: bool = True, progress_interval: float = 1.0, parallel: int | None = None,
                 parallel_min_bytes: int | None = None, client_checks: bool = True):
        self.url = url or warehouse.get_url()
        self.progress = progress or (lambda msg: log.info(msg))
        self.reports = reports
        self.progress_interval = progress_interval
        self.parallel = settings.load_parallelism() if parallel is None else max(1, parallel)
        self.parallel_min_bytes = settings.load_parallel_min_bytes() if parallel_min_bytes is None else parallel_min_bytes
        self.client_checks = client_checks
        with warehouse.connect(self.url) as conn:
            # Several workers may start at once: CREATE OR REPLACE FUNCTION is not concurrency-safe.
            with locks.table_lock(conn, "ingest.ddl", what="creating the ingest tables"), conn.transaction():
                ensure_ingest_tables(conn)

    # -- ledger ---------------------------------------------------------------------------
    def _ledger_start(self, conn, resource: Resource, table: str, location: str, path: Path) -> int:
        # We hold the table's lock, so a batch still `running` belongs to a process that died.
        interrupted = conn.execute(
            """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
                   error = 'interrupted: the process stopped before the load finished; nothing of it was kept'
               where raw_table = %s and status = 'running' returning batch_id""",
            (table,),
        ).fetchall()
        for (dead,) in interrupted:  # the parts a parallel COPY had committed (never visible in raw)
            conn.execute(f"drop table if exists {_parts_table(dead)}")
        return conn.execute(
            """insert into ingest.load_batches
                   (source_id, resource, raw_table, location, landing_path, file_size, status)
               values (%s, %s, %s, %s, %s, %s, 'running') returning batch_id""",
            (resource.source_id, resource.name, table, location, str(path), path.stat().st_size),
        ).fetchone()[0]

    def _unchanged(self, conn, resource: Resource, table: str, digest: _FileDigest, size: int) -> int | None:
        row = conn.execute(
            """select batch_id, file_sha256, file_size from ingest.load_batches
               where raw_table = %s and status = 'succeeded' order by batch_id desc limit 1""",
            (table,),
        ).fetchone()
        # Another size is another content: no need to wait for the digest.
        if not row or row[2] != size or row[1] != digest.result() or not _table_exists(conn, "raw", table):
            return None
        # Every row of a raw table carries the batch that wrote it: one row tells.
        current = conn.execute(
            sql.SQL("select _batch_id from raw.{} limit 1").format(sql.Identifier(table))).fetchone()
        return row[0] if current and current[0] == row[0] else None

    # -- public ---------------------------------------------------------------------------
    def load(self, resource: Resource, path: Path, *, location: str | None = None, force: bool = False,
             table: str | None = None, fmt: str | None = None, quarantine_threshold: float | None = None,
             sha256: str | None = None, strict: bool | None = None, check_header: bool = True) -> BatchResult:
        """Load `path` into `raw.<table>` (default: the resource's raw table).

        `strict` reads typed values exactly as the Table Schema specification writes them (default: the
        resource option `strict`, else False: French forms such as `1 234,5` or `01/03/2024` are accepted
        and normalised). `check_header=False` loads even when required columns are missing (the rows
        are still checked; used by `territoire validate` to report everything at once).
        """
        path = Path(path)
        table = table or resource.raw_table
        location = location or str(path)
        if not path.is_file():
            raise LoadError(f"{resource.source_id}/{resource.name}: file not found: {path}")
        started = time.monotonic()
        digest = _FileDigest(path, sha256)
        strict = bool(resource.options.get("strict", False)) if strict is None else strict
        with warehouse.connect(self.url, autocommit=True) as conn, \
                locks.table_lock(conn, f"raw.{table}", what=f"loading {resource.source_id}/{resource.name}"):
            batch_id = None
            try:
                recovery.recover_interrupted(conn, table)  # also when the file turns out unchanged
                if not force:
                    previous = self._unchanged(conn, resource, table, digest, path.stat().st_size)
                    if previous is not None:
                        batch_id = conn.execute(
                            """insert into ingest.load_batches (source_id, resource, raw_table, location,
                                   landing_path, file_sha256, file_size, rows_read, rows_loaded, rows_rejected,
                                   status, finished_at, details)
                               values (%s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 'skipped_unchanged',
                                       clock_timestamp(), %s)
                               returning batch_id""",
                            (resource.source_id, resource.name, table, location, str(path), digest.result(),
                             path.stat().st_size, json.dumps({"same_as_batch": previous})),
                        ).fetchone()[0]
                        self.progress(f"{resource.source_id}/{resource.name}: unchanged since batch {previous}, skipped")
                        return BatchResult(batch_id, resource.source_id, resource.name, table, "skipped_unchanged",
                                           digest.result(), message=f"same content as batch {previous}")
                batch_id = self._ledger_start(conn, resource, table, location, path)
                try:
                    result = self._load_batch(conn, batch_id, resource, path, table, fmt, digest,
                                              resource_threshold(resource, quarantine_threshold), strict,
                                              check_header, force=force)
                except QuarantineThresholdExceeded:
                    self._report(conn, batch_id)
                    raise
                except Exception as exc:
                    if conn.broken:  # the warehouse connection is gone: recorded on a new one, one line
                        raise recovery.connection_lost(self.url, batch_id, f"{resource.source_id}/{resource.name}",
                                                       path, exc) from None
                    conn.execute(
                        """update ingest.load_batches set status = 'failed', finished_at = clock_timestamp(),
                               error = %s, file_sha256 = %s where batch_id = %s""",
                        (_printable(str(exc))[:4000], _digest_or_none(digest), batch_id),
                    )
                    self._report(conn, batch_id)
                    if isinstance(exc, LoadError):
                        if "\x00" in str(exc):
                            raise LoadError(_printable(str(exc))) from exc
                        raise
                    raise LoadError(_printable(f"{resource.source_id}/{resource.name}: loading {path} failed: {exc}")
                                    ) from exc
                result.report = self._report(conn, batch_id)
            finally:
                if batch_id is not None and not conn.broken:  # what a parallel COPY committed, when the load did not take it
                    conn.execute(f"drop table if exists {_parts_table(batch_id)}")
        result.seconds = time.monotonic() - started
        self.progress(result.summary())
        return result

    def _report(self, conn, batch_id: int) -> dict | None:
        """Write the batch's conformity report beside it in the landing zone; a report failure never fails a load."""
        if not self.reports:
            return None
        try:
            from territoire.ingest import conformity

            paths = conformity.write_batch_report(conn, batch_id)
        except Exception as exc:  # noqa: BLE001 - the load's outcome matters more than its report
            log.warning("batch %s: the conformity report could not be written: %s", batch_id, exc)
            return None
        return {k: str(v) for k, v in paths.items()}

    # -- the batch itself -----------------------------------------------------------------
    def _load_batch(self, conn, batch_id: int, resource: Resource, path: Path, table: str, fmt: str | None,
                    digest: _FileDigest, threshold: float, strict: bool, check_header: bool = True,
                    force: bool = False) -> BatchResult:
        timings: dict[str, float] = {}
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.monotonic()
            timings[name] = round(now - clock, 3)
            clock = now

        where = f"{resource.source_id}/{resource.name} ({path})"
        progress = _Progress(self.progress, f"{resource.source_id}/{resource.name}", self.progress_interval)
        try:
            staged = open_input(path, resource, fmt)
        except (parsing.ParseError, InputError) as exc:
            raise LoadError(f"{resource.source_id}/{resource.name}: {exc}") from exc
        try:
            schema = tableschema.load_schema(resource.schema_path()) if resource.schema else None
        except tableschema.SchemaError as exc:
            raise LoadError(f"{resource.source_id}/{resource.name}: {exc}") from exc
        plan = tableschema.build_plan(schema, staged.columns, strict=strict,
                                      pattern_ok=lambda p: _regex_ok(conn, p))
        for skipped in plan.skipped:
            progress.say(f"check skipped: {skipped}")
        if plan.missing_required and check_header:
            raise LoadError(
                f"{where}: line 1: the header lacks required column(s) {', '.join(plan.missing_required)} of schema "
                f"{resource.schema}; found: {', '.join(staged.headers)}. Rename the columns in the file, or fix "
                f"the schema if the producer's format changed.")
        lap("prepare")
        stage_name = f"_load_{batch_id}"
        stage = f"raw.{quote_ident(stage_name)}"
        new_name = f"{table}__new"
        new = f"raw.{quote_ident(new_name)}"
        fast = tableschema.build_fast_check(schema, staged.columns, strict=strict,
                                            pattern_ok=lambda p: _regex_ok(conn, p))
        # Decimal commas: when the bytes allow it, the client turns them into points while streaming
        # (`parsing.iter_decimal_point_chunks`, on its own core, while the server parses) and the number
        # columns are plain; otherwise a STORED generated column does it during the COPY (below).
        rewritten = [i for i, c in enumerate(staged.columns) if fast is not None and c in fast.published]
        # Digit-code patterns (`^[0-9]{5}$`) are proved there too (stream_checks), where each line is split.
        digit_codes = {i: lengths for i, c in enumerate(staged.columns)
                       if fast is not None and schema is not None
                       and (f := schema.field_for_column(c)) is not None and f.pattern and f.type != "number"
                       and (lengths := tableschema.digit_code_lengths(f.pattern))}
        # A large file whose bytes can be split (no quotes, checked while streaming) is COPYed in parts,
        # one connection each: PostgreSQL's parse, the COPY's cost, then runs on several cores.
        parts = self._parts(path, staged)
        keys = tableschema.key_columns(schema, staged.columns, resource.primary_key)
        fast_rewritten = (tableschema.build_fast_check(
            schema, staged.columns, strict=strict, pattern_ok=lambda p: _regex_ok(conn, p),
            decimal_points_rewritten=True)
            if (rewritten or digit_codes or parts or keys) and staged.decimal_point_chunks is not None else None)
        # What the client proves from the lines it splits anyway (see stream_checks): that no key repeats,
        # instead of PostgreSQL building a unique index, and the rules of the columns it can read for sure,
        # which PostgreSQL then does not check again.
        fingerprints = (stream_checks.KeyFingerprints([[staged.columns.index(c) for c in key] for key in keys])
                        if keys and fast_rewritten is not None and self.client_checks else None)
        proofs = stream_checks.FieldProofs({
            i: rules for i, c in enumerate(staged.columns)
            if (f := schema.field_for_column(c)) is not None
            and (rules := stream_checks.column_rules(
                f, staged.description["encoding"], required=f.required or f.column in schema.primary_key,
                digit_code=digit_codes.get(i))) is not None
        }) if fast_rewritten is not None and schema is not None and self.client_checks else None
        proved_columns: list[str] = []
        scan: list[bool] = []  # whether the check after the COPY still had something to ask PostgreSQL

        def check_after_copy(copied: int) -> tableschema.FastCheck:
            """`fast_rewritten` without what the client proved of the `copied` lines while streaming."""
            got = proofs.proved() if proofs is not None and proofs.lines == copied else None
            check = fast_rewritten
            if got and (got[0] or got[1]):
                proved_columns.extend(staged.columns[i] for i in sorted(got[0]))
                check = tableschema.build_fast_check(
                    schema, staged.columns, strict=strict, pattern_ok=lambda p: _regex_ok(conn, p),
                    decimal_points_rewritten=True, proved_by_client=frozenset(proved_columns),
                    empty_records_checked=got[1])
            scan.append(bool(check.aggregates) or check.needs_empty_filter)
            return check

        def stage_columns(check: tableschema.FastCheck | None, in_parts: bool = False
                          ) -> tuple[dict[str, str], list[str], list[str]]:
            """(hidden columns by visible name, column definitions, COPY columns) of the COPY target. It has
            the raw table's final shape, so that a clean file is written only once (as `psql \\copy` writes
            it) and becomes the raw table by a rename. With `check.generated`, a number column is COPYed into
            a hidden column and the visible one is generated from it. The identity numbers the records
            from the line after the header (the careful path gives each row's physical line explicitly)."""
            published = check.published if check else {}
            generated = check.generated if check else {}
            col_defs = [f"{quote_ident(c)} text generated always as ({generated[c]}) stored" if c in generated
                        else f"{quote_ident(c)} text" for c in staged.columns]
            if in_parts:  # see _copy_in_parts: each part's connection takes its own block of line numbers
                identity = f"start with {staged.header_lines} cache {_line_block(path, len(staged.columns))}"
                loaded_at = conn.execute("select quote_literal(now())").fetchone()[0]  # one time for all parts
            else:
                # A cached sequence: without the cache, nextval() per row cost a third of the COPY.
                identity, loaded_at = f"start with {staged.header_lines + 1} cache 100000", "now()"
            col_defs += [f"_batch_id bigint not null default {int(batch_id)}",
                         f"_line_number integer generated by default as identity ({identity})",
                         f"_loaded_at timestamptz not null default {loaded_at}"]
            col_defs += [f"{quote_ident(h)} text" for h in published.values()]
            return published, col_defs, [published.get(c, c) for c in staged.columns]

        def create_stage(check: tableschema.FastCheck | None) -> tuple[dict[str, str], list[str], str]:
            published, col_defs, copy_cols = stage_columns(check)
            # Created inside this transaction: a failed or killed load leaves nothing behind.
            conn.execute(f"create table {stage} ({', '.join(col_defs)})")
            return published, copy_cols, ", ".join(quote_ident(c) for c in copy_cols)

        def copy_in_parts(check: tableschema.FastCheck, chunks: Callable[..., Iterator[bytes]]
                          ) -> tuple[int | None, list[str], bool]:
            """The COPY of `_copy_in_parts`, whose table then becomes `stage` (inside the caller's
            savepoint): (rows copied or None when PostgreSQL refused the bytes, COPY columns, shifted).
            Without the other connections, one COPY of the same bytes, as `_copy_fast` does it."""
            _, col_defs, copy_cols = stage_columns(check, in_parts=True)
            try:
                copied = self._copy_in_parts(conn, batch_id, col_defs, ", ".join(quote_ident(c) for c in copy_cols),
                                             staged, path, parts, chunks, progress)
            except _NoConnections as exc:
                progress.say(f"{exc}; one connection COPYs the file")
                _, copy_cols, cols_list = create_stage(check)
                copied, shifted = self._copy_fast(conn, stage, cols_list, staged, path, progress, chunks=chunks)
                return copied, copy_cols, shifted
            if copied is not None:  # from here on, as if one connection had COPYed the whole file
                conn.execute(f"alter table {_parts_table(batch_id)} set schema raw")
                copied_in_parts.append(len(parts))
            return copied, copy_cols, False

        copied_in_parts: list[int] = []

        with conn.transaction():
            # Seq scans must return rows in insertion order (= line order) for the raw table.
            conn.execute("set local synchronize_seqscans = off")
            # Hash aggregates (duplicate keys) over a million keys spill to disk with the default 4 MB.
            conn.execute("set local work_mem = '256MB'")
            _insert_rejections(conn, [(batch_id, resource.source_id, resource.name, line, None, rule, None, msg, raw)
                                      for line, rule, msg, raw in staged.pre_rejected])
            early_rejects = len(staged.pre_rejected)
            copied, shifted, clean, refused = None, False, None, False
            if fast_rewritten is not None:
                copied, clean, refused = self._copy_rewritten(conn, stage, create_stage, fast_rewritten, staged,
                                                              rewritten, path, progress, lap,
                                                              copy_in_parts if parts else None,
                                                              [w for w in (fingerprints, proofs) if w is not None],
                                                              check_after_copy)
            if copied is not None:
                fast, published, copy_cols = fast_rewritten, {}, list(staged.columns)
            else:
                if "copy" in timings:  # the rewritten attempt, rolled back: keep its time apart
                    timings["copy_rewritten"] = timings.pop("copy")
                    if "check" in timings:
                        timings["check_rewritten"] = timings.pop("check")
                # Known not clean: the detailed path reads the values as published, no generated column.
                published, copy_cols, cols_list = create_stage(None if clean is False else fast)
                copied, shifted = (self._copy_fast(conn, stage, cols_list, staged, path, progress)
                                   if staged.fast_chunks and not refused else (None, False))
                if copied is None:
                    copied, careful_rejects = self._copy_careful(conn, stage, cols_list, staged, batch_id, resource,
                                                                 path, progress)
                    early_rejects += careful_rejects
                lap("copy")
            rows_read = copied + early_rejects
            if rows_read == 0:
                raise LoadError(f"{where}: the file has a header but no data rows")
            progress.say(f"{copied:,} rows copied in {timings['copy']:.1f} s; checking them against "
                         f"{'schema ' + str(resource.schema) if schema else 'no schema'}")
            conn.execute(f"drop table if exists {new}")
            # Rows moved by the quoted-newline renumbering left dead tuples: rebuild (detailed path).
            # `clean` is already known (False) when the rewritten attempt found something wrong.
            if clean is None:
                clean = fast is not None and not shifted and _fast_clean(conn, stage, fast, copy_cols)
                if fast is not None and not shifted:
                    lap("check")
            if clean:
                for c, hidden in published.items():
                    conn.execute(f"alter table {stage} alter column {quote_ident(c)} drop expression")
                    conn.execute(f"alter table {stage} drop column {quote_ident(hidden)}")
                conn.execute(f"alter table {stage} alter column _batch_id drop default, alter column _loaded_at "
                             f"drop default, alter column _line_number drop identity")
                conn.execute(f"alter table {stage} rename to {quote_ident(new_name)}")
                kept = copied
                lap("transform")
            else:
                # Back to the values as published: the hidden columns take their visible names again.
                for c, hidden in published.items():
                    conn.execute(f"alter table {stage} drop column {quote_ident(c)}")
                    conn.execute(f"alter table {stage} rename column {quote_ident(hidden)} to {quote_ident(c)}")
                not_empty = _not_empty_sql(staged.columns)
                # The detailed path: one scan builds the new raw table, normalised values and for each row
                # the rules it breaks; the broken rows then move to quarantine with their line and value.
                kept = conn.execute(
                    f"create table {new} as select {', '.join(plan.outer)}, {int(batch_id)}::bigint as _batch_id, "
                    f"_line_number::integer as _line_number, now() as _loaded_at, "
                    f"{plan.rejected_expression()} as _rejected "
                    f"from (select {', '.join(plan.inner)}, _line_number from {stage} where {not_empty} offset 0) s"
                ).rowcount
                conn.execute(f"drop table {stage}")
                lap("transform_and_check")
                if plan.rules:
                    cur = conn.execute(
                        f"insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, "
                        f"rule, value, message) "
                        f"select %s, %s, %s, n._line_number, r.col, r.rule, left(v.value, 1000), r.message "
                        f"from {new} n cross join lateral unnest(n._rejected) as x(idx) "
                        f"join (values {plan.rules_values_sql()}) r(idx, col, rule, message) on r.idx = x.idx "
                        f"cross join lateral (select (to_jsonb(n) ->> r.col) as value) v "
                        f"where n._rejected is not null",
                        (batch_id, resource.source_id, resource.name))
                    if cur.rowcount:
                        conn.execute(f"delete from {new} where _rejected is not null")
                conn.execute(f"alter table {new} drop column _rejected")
            empty_records = copied - kept
            rows_read -= empty_records
            # The fingerprints stand for the raw table only when it holds every line they saw, as sent.
            distinct = (fingerprints.distinct() if fingerprints is not None and clean and fast is fast_rewritten
                        and fingerprints.lines == copied else None)
            for k, key in enumerate(keys):
                if not (distinct and distinct[k]):
                    self._reject_duplicates(conn, new, key, batch_id, resource)
            lap("quarantine")
            rejected = conn.execute(
                "select count(distinct line_number) from ingest.rejected_rows where batch_id = %s",
                (batch_id,)).fetchone()[0]
            share = rejected / rows_read if rows_read else 0.0
            details = {**staged.description, "strict": strict, "timings": timings,
                       "headers": dict(zip(staged.columns, staged.headers, strict=True)),
                       "columns_missing_required": plan.missing_required, "empty_records_skipped": empty_records,
                       "checked_by": "row by row in SQL" if not clean else "one aggregate scan (clean file)"
                       if not proved_columns else "the client while streaming + one aggregate scan (clean file)"
                       if not scan or scan[-1] else "the client while streaming (clean file)",
                       "columns_proved_by_client": proved_columns if clean else [],
                       "copy_connections": copied_in_parts[0] if copied_in_parts else 1,
                       # Who proved that no key repeats.
                       "unique_keys_checked_by": None if not keys else "client fingerprints" if distinct and all(
                           distinct) else "unique index",
                       # Who turned `,` into `.` in number columns.
                       "decimal_commas": "detailed check" if not clean else "rewritten while streaming"
                       if rewritten and fast is fast_rewritten else "generated column"
                       if published else None,
                       "schema": resource.schema, "checks_skipped": plan.skipped,
                       "columns_missing": plan.missing_optional, "columns_unknown": plan.extra_columns}
            if share > threshold:
                summary = self._rejection_summary(conn, batch_id)
                conn.execute(f"drop table {new}")
                conn.execute(
                    """update ingest.load_batches set rows_read = %s, rows_loaded = 0, rows_rejected = %s,
                           status = 'failed', finished_at = clock_timestamp(), error = %s, details = %s,
                           file_sha256 = %s
                       where batch_id = %s""",
                    (rows_read, rejected,
                     f"{rejected} of {rows_read} rows ({share:.1%}) broke the schema, above the threshold "
                     f"{threshold:.1%} of source {resource.source_id}; raw.{table} left unchanged",
                     json.dumps({**details, "rejections": summary}, default=str), digest.result(), batch_id),
                )
                failed = True
            else:
                failed = False
                loaded = rows_read - rejected
                guards.check_row_count(conn, table, loaded, tolerance=guards.max_row_drop(resource), force=force)
                _swap_into_place(conn, new, table)
                lap("swap")
                details["timings"] = timings
                conn.execute(
                    """update ingest.load_batches set rows_read = %s, rows_loaded = %s, rows_rejected = %s,
                           status = 'succeeded', finished_at = clock_timestamp(), details = %s, file_sha256 = %s
                       where batch_id = %s""",
                    (rows_read, loaded, rejected, json.dumps(details), digest.result(), batch_id),
                )
        lap("commit")
        if failed:
            raise QuarantineThresholdExceeded(
                f"{where}: {rejected} of {rows_read} rows ({share:.1%}) broke schema {resource.schema}, above the "
                f"threshold of {threshold:.1%}. They are in ingest.rejected_rows (batch {batch_id}); raw.{table} "
                f"is unchanged. Main problems: " + "; ".join(
                    f"{s['column'] or '(row)'}/{s['rule']}: {s['count']} rows (e.g. line {s['example_line']}: "
                    f"{s['example_value']!r})" for s in summary[:5])
                + ". Send the conformity report to the producer, or raise quarantine_threshold in the catalog.")
        return BatchResult(batch_id, resource.source_id, resource.name, table, "succeeded", digest.result(),
                           rows_read=rows_read, rows_loaded=loaded, rows_rejected=rejected, timings=timings)

    def _copy_rewritten(self, conn, stage: str, create_stage, fast: tableschema.FastCheck, staged: StagedInput,
                        columns: list[int], path: Path, progress: _Progress,
                        lap, copy_in_parts=None, watchers: list = (),
                        check_after_copy: Callable[[int], tableschema.FastCheck] | None = None
                        ) -> tuple[int | None, bool | None, bool]:
        """COPY with the decimal commas rewritten by the client, then the one-scan check, in a savepoint
        kept only for a clean file. Returns (rows copied, True, False) for a clean file; otherwise the
        savepoint is rolled back (the detailed path needs the values as published) and it returns
        (None, clean, refused): clean False when a rule is broken, None when the bytes could not be
        rewritten; refused when PostgreSQL refused the file (the careful path follows).
        `copy_in_parts(check, chunks)`: COPY the file in parts over several connections instead. `watchers`:
        given the lines sent (`stream_checks`); `check_after_copy(rows copied)`: the check then left to run."""
        width = len(staged.columns)

        def chunks(start=None, end=None, unquoted=False):
            return staged.decimal_point_chunks(columns, width, start, end, unquoted, watchers)

        try:
            with conn.transaction():
                if copy_in_parts is not None:
                    copied, copy_cols, shifted = copy_in_parts(fast, chunks)
                else:
                    _, copy_cols, cols_list = create_stage(fast)
                    copied, shifted = self._copy_fast(conn, stage, cols_list, staged, path, progress, chunks=chunks)
                if copied is None:
                    raise _RolledBack(clean=None, refused=True)
                lap("copy")
                if shifted:  # cannot happen (no quotes were seen), but then the published values are needed
                    raise _RolledBack(clean=None, refused=False)
                clean = _fast_clean(conn, stage, check_after_copy(copied) if check_after_copy else fast, copy_cols)
                lap("check")
                if not clean:
                    progress.say("the file breaks some rules: reading it again as published for the detailed check")
                    raise _RolledBack(clean=False, refused=False)
                return copied, True, False
        except parsing.NotRewritable as exc:
            progress.say(f"the client cannot split the lines into fields ({exc}): PostgreSQL parses the file "
                         f"alone{' and turns the decimal commas into points' if columns else ''}")
            return None, None, False
        except _RolledBack as back:
            return None, back.clean, back.refused

    def _parts(self, path: Path, staged: StagedInput) -> list[tuple[int, int]]:
        """The byte ranges to COPY at once over several connections; [] for a single COPY."""
        if self.parallel < 2 or staged.decimal_point_chunks is None or path.stat().st_size < self.parallel_min_bytes:
            return []
        parts = parsing.split_at_lines(path, self.parallel)
        return parts if len(parts) > 1 else []

    def _copy_in_parts(self, conn, batch_id: int, col_defs: list[str], cols_list: str, staged: StagedInput,
                       path: Path, parts: list[tuple[int, int]], chunks: Callable[..., Iterator[bytes]],
                       progress: _Progress) -> int | None:
        """COPY the byte ranges `parts` of the file at once, `conn` sending the first and one more
        connection each of the others, into `ingest._load_<batch>`: rows copied, or None when PostgreSQL
        refused the bytes. `parsing.NotRewritable` (a quote, a ragged line) and any
        other error propagate, after every part has stopped.

        A part is cut at a line start and its bytes must hold no quote (checked while streaming), so
        every line feed ends a record and the records of each part are known by counting them. The
        table is committed (empty) first, so that every connection sees it. `conn` COPYs inside its
        transaction; the other parts are committed as they end. They are never visible in raw: the caller
        moves the table there inside its transaction, and `Loader.load` drops it if the load fails
        (`_ledger_start` does, after a process was killed).

        Line numbers: the identity starts at the header's last line, with a cache larger than any part.
        Each connection asks for one number before its COPY (the probe), so it gets a block of its own
        from there; before its probe, the sequence is set to the line before its part's first record
        (a setval does not touch other connections' blocks). So part k's rows are numbered from its first
        line on, exactly as one COPY of the whole file numbers them; that each part copied as many
        records as it has line feeds is checked at the end."""
        table = _parts_table(batch_id)
        helpers: list[psycopg.Connection] = []
        try:
            try:
                for _ in parts[1:]:
                    helpers.append(warehouse.connect(self.url, autocommit=True))
            except psycopg.OperationalError as exc:  # max_connections reached, a pooler's limit...
                raise _NoConnections(f"{len(parts) - 1} more connection(s) to the warehouse for a parallel COPY "
                                     f"could not be opened ({str(exc).strip().splitlines()[-1]})") from exc
            helpers[0].execute(f"create table {table} ({', '.join(col_defs)})")
            sequence = conn.execute("select pg_get_serial_sequence(%s, '_line_number')", (table,)).fetchone()[0]
            n = len(parts)
            first_line = staged.header_lines + 1
            # The records of each part but the last, counted here (a thread counting them beside the COPY
            # waited for the GIL: the next part started 60 ms late, against 15 ms for this).
            records = [parsing.count_lines(path, *part) for part in parts[:-1]]
            probed = [threading.Event() for _ in parts]
            stop = threading.Event()
            copied: list[int | None] = [None] * n
            errors: list[BaseException | None] = [None] * n
            size = max(path.stat().st_size, 1)
            sent = [0] * n

            def stream(k: int, cur) -> None:
                with cur.copy(f"copy {table} ({cols_list}) from stdin with ({staged.copy_options})") as cp:
                    for chunk in chunks(*parts[k], unquoted=True):
                        if stop.is_set():
                            raise _PartStopped()
                        cp.write(chunk)
                        sent[k] += len(chunk)
                        if k == 0:
                            progress.tick(lambda: f"{sum(sent) / 1e6:,.0f} of {size / 1e6:,.0f} MB streamed "
                                                  f"({100 * sum(sent) / size:.0f}%) over {n} connections")
                copied[k] = cur.rowcount

            def run(k: int) -> None:
                try:
                    helper = helpers[k - 1]
                    probed[k - 1].wait()
                    if stop.is_set():
                        return
                    part_first = first_line + sum(records[:k])
                    helper.execute("select setval(%s, %s, true)", (sequence, part_first - 2))
                    if helper.execute("select nextval(%s)", (sequence,)).fetchone()[0] != part_first - 1:
                        raise parsing.NotRewritable(f"part {k + 1}: its line numbers could not be reserved")
                    probed[k].set()
                    with helper.cursor() as cur:
                        stream(k, cur)
                except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                    errors[k] = exc
                    stop.set()
                finally:
                    probed[k].set()

            threads = [threading.Thread(target=run, args=(k,), name=f"territoire-copy-part-{k}", daemon=True)
                       for k in range(1, n)]
            try:
                if conn.execute("select nextval(%s)", (sequence,)).fetchone()[0] != first_line - 1:
                    raise parsing.NotRewritable("part 1: its line numbers could not be reserved")
                for t in threads:
                    t.start()
                probed[0].set()
                with conn.cursor() as cur:
                    stream(0, cur)
            except BaseException as exc:  # noqa: BLE001 - after the other parts stopped
                errors[0] = exc
                stop.set()
            finally:
                probed[0].set()
                for t in threads:
                    t.join()
            failures = [e for e in errors if e is not None and not isinstance(e, _PartStopped)]
            for exc in failures:
                if isinstance(exc, _COPY_REFUSED):
                    _say_refused(progress, exc)
                    return None
            if failures:
                raise failures[0]
            # Unquoted bytes: a line feed ends a record. The last part's count numbers nothing after it.
            if copied[:-1] != records:
                raise parsing.NotRewritable(f"records per part {copied[:-1]} differ from the lines counted {records}")
            progress.say(f"{n} parts COPYed at once ({', '.join(f'{c:,}' for c in copied)} rows)")
            return sum(copied)
        finally:
            for helper in helpers:
                helper.close()

    def _copy_fast(self, conn, stage: str, cols_list: str, staged: StagedInput, path: Path,
                   progress: _Progress, chunks: Callable[[], Iterator[bytes]] | None = None) -> tuple[int | None, bool]:
        """Let PostgreSQL parse (and convert) the CSV stream: (rows copied, whether line numbers had to be
        shifted for quoted newlines). (None, False) when it refuses the file (the careful path follows)."""
        size = max(path.stat().st_size, 1)
        sent = newlines = returns = 0
        last = b""
        try:
            with conn.transaction():  # a savepoint: a refused file leaves the staging table empty
                with conn.cursor() as cur:
                    with cur.copy(f"copy {stage} ({cols_list}) from stdin with ({staged.copy_options})") as cp:
                        for chunk in (chunks or staged.fast_chunks)():
                            cp.write(chunk)
                            sent += len(chunk)
                            newlines += chunk.count(b"\n")
                            returns += chunk.count(b"\r")
                            last = chunk
                            progress.tick(lambda s=sent, n=newlines: f"{s / 1e6:,.0f} of {size / 1e6:,.0f} MB streamed "
                                                                      f"({100 * s / size:.0f}%), ~{n:,} rows")
                    copied = cur.rowcount
                # Line numbers: the identity numbers records; a field holding a newline shifts the
                # records after it. Physical lines equal records unless some field holds one.
                breaks = newlines if newlines else returns
                lines = breaks + (0 if last.endswith((b"\n", b"\r")) else 1) if sent else 0
                shifted = lines != copied
                if shifted:
                    nl = " + ".join(f"coalesce(length({c}) - length(replace({c}, E'\\n', '')), 0)"
                                    for c in cols_list.split(", "))
                    conn.execute(
                        f"update {stage} s set _line_number = s._line_number + x.before "
                        f"from (select _line_number, sum({nl}) over (order by _line_number rows between unbounded "
                        f"preceding and 1 preceding) as before from {stage}) x "
                        f"where x._line_number = s._line_number and x.before > 0"
                    )
            return copied, shifted
        except _COPY_REFUSED as exc:
            _say_refused(progress, exc)
            return None, False

    def _copy_careful(self, conn, stage: str, cols_list: str, staged: StagedInput, batch_id: int,
                      resource: Resource, path: Path, progress: _Progress) -> tuple[int, int]:
        """Row by row: rows with the wrong number of fields go to quarantine. Returns (copied, rejected)."""
        width = len(staged.columns)
        rejected: list[tuple] = []
        copied = 0
        with conn.cursor().copy(f"copy {stage} ({cols_list}, _line_number) from stdin") as cp:
            try:
                for line, values in staged.rows():
                    if isinstance(values, parsing.BadRecord):
                        rejected.append((batch_id, resource.source_id, resource.name, line, None, values.rule,
                                         None, values.message, values.raw))
                        continue
                    if len(values) != width:
                        rejected.append((batch_id, resource.source_id, resource.name, line, None, "field-count",
                                         None, f"ligne {line} : {len(values)} champs au lieu des {width} de l'en-tête "
                                               f"(séparateur ou guillemets mal placés ?)",
                                         _clip(staged, values)))
                        continue
                    # PostgreSQL text cannot hold NUL: mark it visibly (U+FFFD) rather than deleting it, so
                    # that `2\x007` is not silently loaded as `27` but fails its type check.
                    cp.write_row([*(v.replace("\x00", "\ufffd") if v else None for v in values), line])
                    copied += 1
                    progress.tick(lambda n=copied: f"{n:,} rows read (careful path)")
            except UnicodeDecodeError as exc:
                raise LoadError(f"{resource.source_id}/{resource.name} ({path}): bytes that are not "
                                f"{staged.description.get('encoding')} at byte offset {exc.start}: {exc.reason}. "
                                f"Re-save the file in UTF-8.") from exc
            except parsing.ParseError as exc:
                raise LoadError(f"{resource.source_id}/{resource.name}: {exc}") from exc
        _insert_rejections(conn, rejected)
        return copied, len(rejected)

    def _reject_duplicates(self, conn, new: str, key: list[str], batch_id: int, resource: Resource) -> None:
        """Rows repeating a key already seen on an earlier line go to quarantine (rule `unique`)."""
        key_sql = ", ".join(quote_ident(k) for k in key)
        not_null = " and ".join(f"{quote_ident(k)} is not null" for k in key)
        # Building a unique index is the cheapest "does any key repeat?" (a parallel sort, bytewise with
        # collation C; NULLs never clash). Usually none does: drop it and go on. Otherwise find the repeats.
        index = quote_ident(f"_uq_{batch_id}")
        try:
            with conn.transaction():
                conn.execute("set local maintenance_work_mem = '256MB'")
                conn.execute(f"create unique index {index} on {new} "
                             f"({', '.join(quote_ident(k) + ' collate ' + quote_ident('C') for k in key)})")
                conn.execute(f"drop index raw.{index}")
            return
        except psycopg.errors.UniqueViolation:
            pass
        cur = conn.execute(
            f"insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, "
            f"value, message) select %s, %s, %s, _line_number, %s, 'unique', concat_ws('|', {key_sql}), "
            f"'clé en double (' || %s || ') : déjà vue ligne ' || first_line "
            f"from (select _line_number, {key_sql}, first_value(_line_number) over w as first_line, "
            f"row_number() over w as n from {new} where ({key_sql}) in "
            f"(select {key_sql} from {new} where {not_null} group by {key_sql} having count(*) > 1) "
            f"window w as (partition by {key_sql} order by _line_number)) d where n > 1",
            (batch_id, resource.source_id, resource.name, ",".join(key), ",".join(key)),
        )
        if cur.rowcount:
            conn.execute(f"delete from {new} where _line_number in (select line_number from ingest.rejected_rows "
                         f"where batch_id = %s and rule = 'unique')", (batch_id,))

    def _rejection_summary(self, conn, batch_id: int) -> list[dict]:
        return rejection_summary(conn, batch_id)


def _not_empty_sql(columns: Iterable[str]) -> str:
    """True for a record with at least one non-empty field. Records whose every field is empty (`;;;;`
    rows that spreadsheets export) are not data: skipped, as the careful path skips them, and counted
    in the ledger's details."""
    return f"num_nonnulls({', '.join(f'nullif({quote_ident(c)}, {chr(39) * 2})' for c in columns)}) > 0"


def _fast_clean(conn, stage: str, fast: tableschema.FastCheck, columns: list[str]) -> bool:
    """One aggregate scan over the COPYed `columns`: is any rule broken at all? A value a cast refuses
    raises: not clean."""
    aggs = list(fast.aggregates)
    if fast.needs_empty_filter:
        aggs.append(f"count(*) filter (where not ({_not_empty_sql(columns)}))")
    if not aggs:  # the client proved every rule while streaming
        return True
    try:
        with conn.transaction():
            row = conn.execute(f"select {', '.join(aggs)} from {stage}").fetchone()
            return fast.clean(row) and not (fast.needs_empty_filter and row[-1])
    except psycopg.errors.DataError:
        return False


# What PostgreSQL raises when it refuses the bytes of a fast COPY (the careful path then reads the file).
_COPY_REFUSED = (psycopg.errors.DataError, psycopg.errors.BadCopyFileFormat, psycopg.errors.CharacterNotInRepertoire,
                 psycopg.errors.UntranslatableCharacter)


def _say_refused(progress: _Progress, exc: Exception) -> None:
    progress.say(f"fast COPY refused the file ({str(exc).splitlines()[0]}); reading it row by row")


def _parts_table(batch_id: int) -> str:
    """Where a parallel COPY writes (committed, outside raw) before the load moves it into raw."""
    return f"ingest.{quote_ident(f'_load_{int(batch_id)}')}"


def _line_block(path: Path, width: int) -> int:
    """A sequence cache larger than the records of any part: a record is at least `width` bytes (its
    delimiters and line feed)."""
    return min(path.stat().st_size // max(width, 1) + 2, 2**31 - 1)


class _NoConnections(Exception):
    """The connections of a parallel COPY could not be opened."""


class _PartStopped(Exception):
    """A part of a parallel COPY stopped because another one failed."""


class _RolledBack(Exception):
    """Leaves the rewritten attempt's savepoint (rolling it back) with what was learnt: `clean` False
    when a rule is broken (None: not known), `refused` when PostgreSQL refused the bytes."""

    def __init__(self, *, clean: bool | None, refused: bool):
        super().__init__("rewritten attempt rolled back")
        self.clean, self.refused = clean, refused


def rejection_summary(conn, batch_id: int) -> list[dict]:
    """Rejections of a batch grouped by column and rule, most frequent first, with a first example."""
    rows = conn.execute(
        """select column_name, rule, count(*), min(line_number),
                  (array_agg(value order by line_number))[1], (array_agg(message order by line_number))[1]
           from ingest.rejected_rows where batch_id = %s group by 1, 2 order by 3 desc, 1, 2""",
        (batch_id,)).fetchall()
    return [{"column": c, "rule": r, "count": n, "example_line": line, "example_value": v, "message": m}
            for c, r, n, line, v, m in rows]


def _digest_or_none(digest: _FileDigest) -> str | None:
    """A failed load records the file's digest when it can be read (the file may have gone)."""
    try:
        return digest.result()
    except OSError:
        return None


def _printable(text: str) -> str:
    """NUL cannot be stored in PostgreSQL text (the ledger) and is invisible in a terminal: show it."""
    return text.replace("\x00", "\\x00")


def _regex_ok(conn, pattern: str) -> bool:
    return conn.execute("select ingest.regex_ok(%s)", (pattern,)).fetchone()[0]


def resource_threshold(resource: Resource, override: float | None) -> float:
    if override is not None:
        return override
    from territoire.catalog import CatalogError, load_catalog

    try:
        return load_catalog().get(resource.source_id).quarantine_threshold
    except (KeyError, CatalogError, FileNotFoundError):
        return 0.05


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


def _swap_into_place(conn, new: str, table: str) -> None:
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

