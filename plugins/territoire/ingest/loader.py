"""Load a landed file into its raw table: streamed, validated, audited, idempotent.

Every load is a batch in the ledger `ingest.load_batches` (ledger.py). It runs as a sequence of small
named stages passing one `LoadRun` (run.py) that says what happened:

    read -> match -> stage -> check -> quarantine -> keys -> rules -> decide -> swap -> record

* read (inputs.py): the file becomes a `StagedInput` (columns, CSV bytes or rows);
* match (header.py): the header against PostgreSQL's limits, the schema and the raw table;
* stage (staging.py, fastcopy.py): the records into a staging table, by PostgreSQL's own COPY parser
  when it takes the bytes, row by row otherwise;
* check (checking.py, schema/): one aggregate scan says whether any Table Schema rule is broken; a
  clean file's staging table becomes the new raw table by a rename, otherwise the detailed check
  builds it and names every broken cell;
* quarantine / keys: broken rows and repeated keys move to `ingest.rejected_rows` (content kept for the
  first rows of each rule, every row counted);
* rules: the resource's business rules (territoire.ingest.rules);
* decide: above the quarantine threshold the load fails and the raw table stays as it was;
* swap (swap.py): the new table takes the raw table's place, under the dbt views that read it;
* record: the ledger row says what happened, in the same transaction.

All of it runs in one transaction: a load killed half-way leaves nothing visible but a ledger row
still `running`, which the next load of the table marks failed (interrupted). Two loads of the same
table never interleave (the table's platform lock, `ingest.locks`, which no analyst can take). Loading a file whose checksum equals the one
already in the raw table is a no-op (`skipped_unchanged`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from territoire import settings, warehouse
from territoire.catalog import Resource
from territoire.ingest import checking, fastcopy, guards, header, ledger, locks, parsing, recovery, staging
from territoire.ingest import rules as business_rules
from territoire.ingest.inputs import InputError, open_input
from territoire.ingest.landing import sha256_file as file_sha256
from territoire.ingest.ledger import ensure_ingest_tables, rejection_summary  # noqa: F401 - public
from territoire.ingest.run import LoadRun, Progress
from territoire.ingest.schema import SchemaError, build_fast_check, build_plan, key_columns, load_schema
from territoire.ingest.swap import swap_into_place

log = logging.getLogger(__name__)

LEDGER_SQL = ledger.LEDGER_SQL


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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    report: dict[str, str] | None = None  # the conformity report's files: {"html": ..., "csv": ...}

    def summary(self) -> str:
        return (f"{self.source_id}/{self.resource} -> raw.{self.raw_table}: {self.status}, "
                f"{self.rows_loaded} rows loaded, {self.rows_rejected} rejected (batch {self.batch_id})")


class _FileDigest:
    """The file's SHA-256, computed by a thread while the load goes on (file reads and hashlib release
    the GIL). A load only waits for it when it must know at once (same size as the last batch)."""

    def __init__(self, path: Path, known: str | None = None):
        self._value, self._error, self._thread = known, None, None
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

    def or_none(self) -> str | None:
        """A failed load records the file's digest when it can be read (the file may have gone)."""
        try:
            return self.result()
        except OSError:
            return None


def _printable(text: str) -> str:
    """NUL cannot be stored in PostgreSQL text (the ledger) and is invisible in a terminal: show it."""
    return text.replace("\x00", "\\x00")


def _catalog_source(resource: Resource):
    from territoire.catalog import CatalogError, load_catalog

    try:
        return load_catalog().get(resource.source_id)
    except (KeyError, CatalogError, FileNotFoundError):
        return None


def resource_threshold(resource: Resource, override: float | None) -> float:
    if override is not None:
        return override
    source = _catalog_source(resource)
    return source.quarantine_threshold if source is not None else 0.05


class Loader:
    """Loads files into raw tables of one warehouse.

    `progress` receives human-readable messages as a load goes (at most one every `progress_interval`
    seconds while streaming, then the validation and the summary); the CLI prints them, Airflow logs
    them. `reports=False` skips the conformity report files (used by `territoire validate`).
    `fast_copy` (default: `TERRITOIRE_LOAD_FAST_COPY`, on) lets a clean CSV take fastcopy.py's path:
    decimal commas rewritten by the client while streaming, and a file of at least `parallel_min_bytes`
    COPYed by `parallel` connections at once (defaults from settings.load_parallelism() and
    settings.load_parallel_min_bytes()). Verdicts are the same either way.
    """

    def __init__(self, url: str | None = None, progress: Callable[[str], None] | None = None,
                 reports: bool = True, progress_interval: float = 1.0, parallel: int | None = None,
                 parallel_min_bytes: int | None = None, fast_copy: bool | None = None):
        self.url = url or warehouse.get_url()
        self.progress = progress or (lambda msg: log.info(msg))
        self.reports = reports
        self.progress_interval = progress_interval
        self.parallel = settings.load_parallelism() if parallel is None else max(1, parallel)
        self.parallel_min_bytes = settings.load_parallel_min_bytes() if parallel_min_bytes is None else parallel_min_bytes
        self.fast_copy = fastcopy.enabled() if fast_copy is None else fast_copy
        with warehouse.connect(self.url) as conn:
            with conn.transaction():
                # Several workers may start at once: CREATE OR REPLACE FUNCTION is not concurrency-safe.
                locks.transaction_lock(conn, "ingest.ddl", what="creating the ingest tables")
                ensure_ingest_tables(conn)

    # -- public -------------------------------------------------------------------------------
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
                locks.table_lock(conn, f"raw.{table}", what=f"load of {resource.source_id}/{resource.name}"):
            batch_id = None
            try:
                recovery.recover_interrupted(conn, table)  # also when the file turns out unchanged
                previous = None if force else ledger.unchanged_since(conn, table, digest, path.stat().st_size)
                if previous is not None:
                    return self._skip(conn, resource, table, location, path, digest, previous)
                batch_id = ledger.start(conn, resource, table, location, path)
                run = LoadRun(conn, batch_id, resource, path, table, fmt, strict, check_header,
                              resource_threshold(resource, quarantine_threshold),
                              Progress(self.progress, f"{resource.source_id}/{resource.name}", self.progress_interval),
                              force=force)
                result = self._load_batch(run, digest)
            finally:
                # What a parallel COPY committed, when the load did not take it (a lost connection leaves
                # it to the next load's recovery).
                if batch_id is not None and not conn.broken:
                    conn.execute(f"drop table if exists {ledger.parts_table(batch_id)}")
        result.seconds = time.monotonic() - started
        self.progress(result.summary())
        return result

    def _skip(self, conn, resource, table, location, path, digest, previous) -> BatchResult:
        batch_id = ledger.record_skip(conn, resource, table, location, path, digest.result(), previous)
        self.progress(f"{resource.source_id}/{resource.name}: unchanged since batch {previous}, skipped")
        return BatchResult(batch_id, resource.source_id, resource.name, table, "skipped_unchanged",
                           digest.result(), message=f"same content as batch {previous}")

    def _load_batch(self, run: LoadRun, digest: _FileDigest) -> BatchResult:
        try:
            result = self._stages(run, digest)
        except QuarantineThresholdExceeded:
            self._report(run.conn, run.batch_id)
            raise
        except Exception as exc:
            if run.conn.broken:  # the warehouse connection is gone: recorded on a new one, one line
                raise recovery.connection_lost(self.url, run.batch_id, f"{run.resource.source_id}/{run.resource.name}",
                                               run.path, exc) from None
            ledger.record_error(run.conn, run.batch_id, _printable(str(exc)), digest.or_none())
            self._report(run.conn, run.batch_id)
            if isinstance(exc, LoadError):
                if "\x00" in str(exc):
                    raise LoadError(_printable(str(exc))) from exc
                raise
            if isinstance(exc, (header.HeaderError, staging.StageError)):
                raise LoadError(_printable(str(exc))) from exc
            raise LoadError(_printable(f"{run.resource.source_id}/{run.resource.name}: loading {run.path} "
                                       f"failed: {exc}")) from exc
        result.report = self._report(run.conn, run.batch_id)
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

    # -- the stages ---------------------------------------------------------------------------
    def _stages(self, run: LoadRun, digest: _FileDigest) -> BatchResult:
        read(run)
        match(run)
        run.lap("prepare")
        with run.conn.transaction():
            # Seq scans must return rows in insertion order (= line order) for the raw table.
            run.conn.execute("set local synchronize_seqscans = off")
            # Hash aggregates (duplicate keys) over a million keys spill to disk with the default 4 MB.
            run.conn.execute("set local work_mem = '256MB'")
            self.stage(run)
            check(run)
            quarantine(run)
            if not run.stopped:
                keys(run)
            if not run.stopped:
                rules(run)
            failed = decide(run)
            if not failed:
                swap(run)
            record(run, digest, failed)
        run.lap("commit")
        if failed:
            raise QuarantineThresholdExceeded(_threshold_message(run))
        return BatchResult(run.batch_id, run.resource.source_id, run.resource.name, run.table, "succeeded",
                           digest.result(), rows_read=run.rows_read, rows_loaded=run.rows_read - run.rows_rejected,
                           rows_rejected=run.rows_rejected, timings=run.timings)

    def stage(self, run: LoadRun) -> None:
        """The records into the staging table: the fast COPY attempt (fastcopy.py) when on and useful,
        else PostgreSQL's COPY of the bytes as published, else row by row."""
        staged = run.staged
        for found, level in ((staged.pre_rejected, "error"), (staged.read_warnings, "warning")):
            kept = found[:settings.quarantine_rows_kept()]
            ledger.insert_rejections(run.conn, [(run.batch_id, run.resource.source_id, run.resource.name, line, None,
                                                 rule, None, msg, raw) for line, rule, msg, raw in kept], level=level)
            for line, rule, msg, _ in found[:1]:
                run.add_rejections(None, rule, len(found), line, None, msg, level=level)
        run.early_rejects = len(staged.pre_rejected)
        copied, refused = self._fast_copy(run) if self.fast_copy else (None, False)
        if copied is None:
            if "copy" in run.timings:  # the rewritten attempt, rolled back: keep its time apart
                run.timings["copy_rewritten"] = run.timings.pop("copy")
                run.timings.pop("check", None)
            # Known not clean: the detailed path reads the values as published, no generated column.
            cols_list = staging.create_stage(run, None if run.clean is False else run.fast)
            copied = staging.copy_fast(run, cols_list) if staged.fast_chunks and not refused else None
            if copied is None:
                copied = staging.copy_careful(run, cols_list)
            run.lap("copy")
        run.copied = copied
        run.rows_rejected = run.early_rejects
        if run.rows_read == 0 and not run.stopped:
            raise LoadError(f"{run.where}: the file has a header but no data rows")
        run.progress.say(f"{copied:,} rows copied in {run.timings['copy']:.1f} s; checking them against "
                         f"{'schema ' + str(run.resource.schema) if run.schema else 'no schema'}")

    def _fast_copy(self, run: LoadRun) -> tuple[int | None, bool]:
        """(rows copied by a kept attempt or None, whether PostgreSQL refused the bytes)."""
        check_rewritten = fastcopy.check_for(run)
        numbers = fastcopy.number_positions(run, run.fast)
        parts = fastcopy.parts_of(run, self.parallel, self.parallel_min_bytes)
        if check_rewritten is None or not (numbers or parts):  # nothing the attempt would bring
            return None, False
        copied, clean, refused = fastcopy.attempt(run, check_rewritten, numbers, parts, self.url)
        if copied is not None:
            run.fast, run.clean = check_rewritten, True
            run.decimal_commas = "rewritten while streaming" if numbers else None
        else:
            run.clean = clean
        return copied, refused


# -- the stages that need nothing of the Loader ---------------------------------------------------------


def read(run: LoadRun) -> None:
    """The file as the loader reads it, and its schema."""
    try:
        run.staged = open_input(run.path, run.resource, run.fmt)
    except (parsing.ParseError, InputError) as exc:
        raise LoadError(f"{run.resource.source_id}/{run.resource.name}: {exc}") from exc
    try:
        run.schema = load_schema(run.resource.schema_path()) if run.resource.schema else None
    except SchemaError as exc:
        raise LoadError(f"{run.resource.source_id}/{run.resource.name}: {exc}") from exc


def match(run: LoadRun) -> None:
    """The header against PostgreSQL's limits, the schema (plan of the checks) and the raw table."""
    header.check_width(run)
    header.check_repeats(run)
    pattern_ok = lambda p: checking.regex_ok(run.conn, p)  # noqa: E731
    run.plan = build_plan(run.schema, run.staged.columns, strict=run.strict, pattern_ok=pattern_ok)
    for skipped in run.plan.skipped:
        run.progress.say(f"check skipped: {skipped}")
    if run.plan.missing_required and run.check_header:
        raise LoadError(
            f"{run.where}: line 1: the header lacks required column(s) {', '.join(run.plan.missing_required)} of "
            f"schema {run.resource.schema}; found: {', '.join(run.staged.headers)}. {header.did_you_mean(run)} "
            f"Rename the columns in the file, or fix the schema if the producer's format changed.")
    if run.check_header:
        header.check_schema_match(run)
    header.check_drift(run)
    for warning in run.warnings:
        if warning["kind"] != "repeated-label":  # said by check_repeats
            run.progress.say(f"header: {warning['message']}")
    run.fast = build_fast_check(run.schema, run.staged.columns, strict=run.strict, pattern_ok=pattern_ok)
    run.keys = key_columns(run.schema, run.staged.columns, run.resource.primary_key)


def check(run: LoadRun) -> None:
    """Clean (one aggregate scan): the staging table becomes the new raw table. Otherwise the detailed
    check builds the new raw table and marks each row with the rules it breaks."""
    run.conn.execute(f"drop table if exists {run.new}")
    if run.clean is None:
        run.clean = checking.fast_clean(run, run.fast)
        run.lap("check")
    if run.clean:
        if run.published:
            run.decimal_commas = "generated column"
        checking.keep_clean_stage(run)
        run.lap("transform")
        return
    run.decimal_commas = "detailed check"
    kept = checking.detailed_check(run)
    # Stopped after the first slice: the records not checked are not known to be empty.
    run.empty_records = 0 if run.stopped else run.copied - kept
    run.lap("transform_and_check")


def quarantine(run: LoadRun) -> None:
    """Broken rows out of the new raw table into quarantine; stop here when the threshold is already lost."""
    if run.clean:
        return
    run.rows_rejected += checking.quarantine_broken_rows(run)
    run.lap("quarantine")
    if run.stopped or run.share_rejected > run.threshold:
        run.stopped = {"stage": "check", **(run.stopped or {}), "rows_read": run.rows_read,
                       "rows_rejected": run.rows_rejected}


def keys(run: LoadRun) -> None:
    """Rows repeating a key already seen on an earlier line into quarantine (rule `unique`), unless the
    client proved that the key never repeats (proofs.py)."""
    proved = (run.client_proofs or {}).get("keys", [])
    for key in run.keys:
        if key not in proved:
            run.rows_rejected += checking.quarantine_duplicates(run, key)
    run.lap("keys")


def rules(run: LoadRun) -> None:
    """The resource's business rules (territoire.ingest.rules), on the new raw table: error-level rows
    leave it, warnings stay and are reported."""
    from territoire.naming import quote_ident

    outcome = business_rules.apply(run.conn, batch_id=run.batch_id, resource=run.resource, table=run.new,
                                   columns=list(run.staged.columns))
    if outcome.errors:
        gone = run.conn.execute(f"delete from {run.new} where _line_number in ({outcome.error_lines_sql})").rowcount
        run.rows_rejected += gone
    for c in outcome.counts:  # every violation counted, beside the schema checks' counts
        run.add_rejections(c["column"], c["rule"], c["count"], c["example_line"], c["example_value"], c["message"],
                           level=c["level"])
    run.rules = {"applied": list(outcome.applied), "errors": outcome.errors, "warnings": outcome.warnings,
                 "not_run": [list(x) for x in outcome.not_run], "table": quote_ident(run.new_name)}
    run.lap("rules")


def decide(run: LoadRun) -> bool:
    """True when too many rows were rejected: the load fails, the raw table stays as it was."""
    return bool(run.stopped) or run.share_rejected > run.threshold


def swap(run: LoadRun) -> None:
    header.check_raw_table(run)
    guards.check_row_count(run.conn, run.table, run.rows_read - run.rows_rejected,  # a snapshot that lost most rows
                           resource=run.resource, force=run.force)
    swap_into_place(run.conn, run.new, run.table)
    run.lap("swap")


def record(run: LoadRun, digest: _FileDigest, failed: bool) -> None:
    details = _details(run)
    if failed:
        run.conn.execute(f"drop table if exists {run.new}")
        error = (f"{run.rows_rejected} of {run.rows_read} rows ({run.share_rejected:.1%}) broke the schema, above "
                 f"the threshold {run.threshold:.1%} of source {run.resource.source_id}; raw.{run.table} left "
                 f"unchanged" + (f" (stopped at the {run.stopped['stage']} stage)" if run.stopped else ""))
        ledger.record_outcome(run.conn, run.batch_id, status="failed", rows_read=run.rows_read, rows_loaded=0,
                              rows_rejected=run.rows_rejected, details=details, sha256=digest.result(), error=error)
        return
    ledger.record_outcome(run.conn, run.batch_id, status="succeeded", rows_read=run.rows_read,
                          rows_loaded=run.rows_read - run.rows_rejected, rows_rejected=run.rows_rejected,
                          details=details, sha256=digest.result())


def _details(run: LoadRun) -> dict:
    plan = run.plan
    return {**run.staged.description, "strict": run.strict, "timings": run.timings,
            "headers": dict(zip(run.staged.columns, run.staged.headers, strict=True)),
            "columns_missing_required": plan.missing_required, "empty_records_skipped": run.empty_records,
            "checked_by": "one aggregate scan (clean file)" if run.clean else "row by row in SQL",
            "copy_connections": run.copy_connections, "decimal_commas": run.decimal_commas,
            "schema": run.resource.schema, "checks_skipped": plan.skipped,
            "columns_missing": plan.missing_optional, "columns_unknown": plan.extra_columns,
            "header_warnings": run.warnings, "rejections": run.rejections, "stopped": run.stopped,
            "business_rules": run.rules, "client_proofs": run.client_proofs}


def _threshold_message(run: LoadRun) -> str:
    summary = sorted((s for s in run.rejections if s.get("level", "error") == "error"), key=lambda s: -s["count"])
    return (f"{run.where}: {run.rows_rejected} of {run.rows_read} rows ({run.share_rejected:.1%}) broke schema "
            f"{run.resource.schema}, above the threshold of {run.threshold:.1%}. They are in ingest.rejected_rows "
            f"(batch {run.batch_id}); raw.{run.table} is unchanged. Main problems: " + "; ".join(
                f"{s['column'] or '(row)'}/{s['rule']}: {s['count']} rows (e.g. line {s['example_line']}: "
                f"{s['example_value']!r})" for s in summary[:5])
            + ". Send the conformity report to the producer, or raise quarantine_threshold in the catalog.")
