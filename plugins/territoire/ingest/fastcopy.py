"""The fast COPY of a clean CSV file: optional, behind one switch (`TERRITOIRE_LOAD_FAST_COPY=0` or
`Loader(fast_copy=False)` turns it off; the loads then give the same verdicts, a little slower).

Two optimisations that only pay on large files, and only when the bytes allow them for sure:

* the client turns the decimal commas of number columns into points while it streams the bytes
  (`parsing.iter_decimal_point_chunks`, numpy on the client's core while the server parses), so that the
  staging table needs no generated column and a clean file is written once, as `psql \\copy` writes it;
* a large file whose bytes hold no quote is COPYed in parts, one connection each (`copy_in_parts`), so
  that PostgreSQL's parsing runs on several cores.

The attempt runs in a savepoint kept only when the one-scan check finds the file clean; otherwise it
is rolled back and the loader stages the values as published for the detailed check. Measured on the
benchmark (bench/README.md), this is what keeps the loader near `psql \\copy` on a 2-core machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import psycopg

from territoire import warehouse
from territoire.ingest import checking, parsing, proofs, staging
from territoire.ingest.ledger import parts_table
from territoire.ingest.run import LoadRun
from territoire.ingest.schema import FastCheck, build_fast_check, client_proofs
from territoire.naming import quote_ident


def enabled() -> bool:
    """The switch: `TERRITOIRE_LOAD_FAST_COPY` (default on; 0, false or off turns it off)."""
    return os.environ.get("TERRITOIRE_LOAD_FAST_COPY", "1").strip().lower() not in ("0", "false", "off", "no")


class _NoConnections(Exception):
    """The connections of a parallel COPY could not be opened."""


class _PartStopped(Exception):
    """A part of a parallel COPY stopped because another one failed."""


class _RolledBack(Exception):
    """Leaves the attempt's savepoint (rolling it back) with what was learnt: `clean` False when a rule is
    broken (None: not known), `refused` when PostgreSQL refused the bytes."""

    def __init__(self, *, clean: bool | None, refused: bool):
        super().__init__("rewritten attempt rolled back")
        self.clean, self.refused = clean, refused


def check_for(run: LoadRun, watcher: proofs.Watcher | None = None) -> FastCheck | None:
    """The one-scan check over number columns already rewritten by the client; None when the attempt
    is not worth it or not possible. After the COPY, `watcher` leaves out what the client proved."""
    if run.staged.decimal_point_chunks is None:
        return None
    proved = {run.staged.columns[i] for i in watcher.proved_columns()} if watcher else set()
    return build_fast_check(run.schema, run.staged.columns, strict=run.strict,
                            pattern_ok=lambda p: checking.regex_ok(run.conn, p), decimal_points_rewritten=True,
                            proved=proved, no_empty_record=bool(watcher and watcher.no_empty_record()))


def watcher_for(run: LoadRun) -> proofs.Watcher:
    """What the client tries to prove while it streams the file: the rules of every column it can
    (schema.client_proofs) and that no key repeats."""
    columns = run.staged.columns
    return proofs.Watcher(client_proofs(run.schema, columns, strict=run.strict),
                          [[columns.index(c) for c in key] for key in run.keys],
                          run.staged.description.get("encoding") or "utf-8", len(columns))


def _record_proofs(run: LoadRun, watcher: proofs.Watcher) -> None:
    """What the client proved, said and kept for the ledger (`details.client_proofs`)."""
    columns = [run.staged.columns[i] for i in sorted(watcher.proved_columns())]
    keys = [key for key, distinct in zip(run.keys, watcher.distinct_keys(), strict=True) if distinct]
    run.client_proofs = {"columns": columns, "keys": keys, "not_proved": watcher.reason or watcher.keys_reason}
    run.progress.say(f"the client proved the rules of {len(columns)} of {len(run.staged.columns)} columns"
                     + (f" and that {len(keys)} of {len(run.keys)} keys never repeat" if run.keys else "")
                     + (f" ({watcher.reason or watcher.keys_reason})" if watcher.reason or watcher.keys_reason else ""))


def number_positions(run: LoadRun, check: FastCheck | None) -> list[int]:
    """The positions of the number columns (those the published check reads through a generated column)."""
    return [i for i, c in enumerate(run.staged.columns) if check is not None and c in check.published]


def attempt(run: LoadRun, check: FastCheck, numbers: list[int], parts: list[tuple[int, int]], url: str
            ) -> tuple[int | None, bool | None, bool]:
    """COPY with the decimal commas rewritten, then the one-scan check, in a savepoint kept only for a
    clean file: (rows copied, True, False). Otherwise the savepoint is rolled back and it returns
    (None, clean, refused): clean False when a rule is broken, None when the bytes could not be
    rewritten; refused when PostgreSQL refused the file (the careful path follows)."""
    width = len(run.staged.columns)
    watcher = watcher_for(run)

    def chunks(start=None, end=None, unquoted=False):
        return run.staged.decimal_point_chunks(numbers, width, start, end, unquoted, watcher)

    try:
        with run.conn.transaction():
            copied = (_copy_parts_or_one(run, check, chunks, parts, url) if parts
                      else staging.copy_fast(run, staging.create_stage(run, check), chunks=chunks))
            if copied is None:
                raise _RolledBack(clean=None, refused=True)
            run.lap("copy")
            if run.shifted:  # cannot happen (no quotes were seen), but then the published values are needed
                raise _RolledBack(clean=None, refused=False)
            run.copied = copied
            _record_proofs(run, watcher)
            clean = checking.fast_clean(run, check_for(run, watcher))
            run.lap("check")
            if not clean:
                run.progress.say("the file breaks some rules: reading it again as published for the detailed check")
                raise _RolledBack(clean=False, refused=False)
            return copied, True, False
    except parsing.NotRewritable as exc:
        run.progress.say(f"the client cannot split the lines into fields ({exc}): PostgreSQL parses the file "
                         f"alone{' and turns the decimal commas into points' if numbers else ''}")
        return None, None, False
    except _RolledBack as back:
        run.copy_connections = 1
        run.client_proofs = None  # the detailed path checks every rule and key itself
        return None, back.clean, back.refused


def parts_of(run: LoadRun, parallel: int, min_bytes: int) -> list[tuple[int, int]]:
    """The byte ranges to COPY at once over several connections; [] for a single COPY."""
    if parallel < 2 or run.staged.decimal_point_chunks is None or run.path.stat().st_size < min_bytes:
        return []
    parts = parsing.split_at_lines(run.path, parallel)
    return parts if len(parts) > 1 else []


def _copy_parts_or_one(run: LoadRun, check: FastCheck, chunks, parts, url: str) -> int | None:
    """The parallel COPY, whose table then becomes the staging table (inside the caller's savepoint).
    Without the other connections, one COPY of the same bytes."""
    defs, copy_columns = staging.stage_columns(run, check, in_parts=True)
    try:
        copied = _copy_in_parts(run, defs, ", ".join(quote_ident(c) for c in copy_columns), parts, chunks, url)
    except _NoConnections as exc:
        run.progress.say(f"{exc}; one connection COPYs the file")
        return staging.copy_fast(run, staging.create_stage(run, check), chunks=chunks)
    run.copy_columns = copy_columns
    if copied is not None:  # from here on, as if one connection had COPYed the whole file
        run.conn.execute(f"alter table {parts_table(run.batch_id)} set schema raw")
        run.copy_connections = len(parts)
    return copied


class _Parts:
    """The shared state of the threads of one parallel COPY."""

    def __init__(self, run: LoadRun, parts: list[tuple[int, int]], table: str, cols_list: str, chunks):
        self.run, self.parts, self.table, self.cols_list, self.chunks = run, parts, table, cols_list, chunks
        n = len(parts)
        self.probed = [threading.Event() for _ in parts]
        self.stop = threading.Event()
        self.copied: list[int | None] = [None] * n
        self.errors: list[BaseException | None] = [None] * n
        self.sent = [0] * n
        self.size = max(run.path.stat().st_size, 1)
        # The records of each part but the last, counted here (a thread counting them beside the COPY
        # waited for the GIL: the next part started 60 ms late, against 15 ms for this).
        self.records = [parsing.count_lines(run.path, *part) for part in parts[:-1]]
        self.first_line = run.staged.header_lines + 1
        self.sequence = ""

    def stream(self, k: int, cur) -> None:
        n = len(self.parts)
        with cur.copy(f"copy {self.table} ({self.cols_list}) from stdin with ({self.run.staged.copy_options})") as cp:
            for chunk in self.chunks(*self.parts[k], unquoted=True):
                if self.stop.is_set():
                    raise _PartStopped()
                cp.write(chunk)
                self.sent[k] += len(chunk)
                if k == 0:
                    self.run.progress.tick(lambda: f"{sum(self.sent) / 1e6:,.0f} of {self.size / 1e6:,.0f} MB "
                                                   f"streamed ({100 * sum(self.sent) / self.size:.0f}%) over {n} "
                                                   f"connections")
        self.copied[k] = cur.rowcount

    def run_part(self, k: int, helper) -> None:
        """Part k > 0, on its own connection: reserve its block of line numbers, then COPY."""
        try:
            self.probed[k - 1].wait()
            if self.stop.is_set():
                return
            part_first = self.first_line + sum(self.records[:k])
            helper.execute("select setval(%s, %s, true)", (self.sequence, part_first - 2))
            if helper.execute("select nextval(%s)", (self.sequence,)).fetchone()[0] != part_first - 1:
                raise parsing.NotRewritable(f"part {k + 1}: its line numbers could not be reserved")
            self.probed[k].set()
            with helper.cursor() as cur:
                self.stream(k, cur)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.errors[k] = exc
            self.stop.set()
        finally:
            self.probed[k].set()

    def run_first(self, conn) -> None:
        try:
            if conn.execute("select nextval(%s)", (self.sequence,)).fetchone()[0] != self.first_line - 1:
                raise parsing.NotRewritable("part 1: its line numbers could not be reserved")
            self.probed[0].set()
            with conn.cursor() as cur:
                self.stream(0, cur)
        except BaseException as exc:  # noqa: BLE001 - after the other parts stopped
            self.errors[0] = exc
            self.stop.set()
        finally:
            self.probed[0].set()

    def result(self) -> int | None:
        failures = [e for e in self.errors if e is not None and not isinstance(e, _PartStopped)]
        for exc in failures:
            if isinstance(exc, staging.COPY_REFUSED):
                staging.say_refused(self.run, exc)
                return None
        if failures:
            raise failures[0]
        # Unquoted bytes: a line feed ends a record. The last part's count numbers nothing after it.
        if self.copied[:-1] != self.records:
            raise parsing.NotRewritable(f"records per part {self.copied[:-1]} differ from the lines counted "
                                        f"{self.records}")
        self.run.progress.say(f"{len(self.parts)} parts COPYed at once ({', '.join(f'{c:,}' for c in self.copied)} "
                              f"rows)")
        return sum(self.copied)


def _copy_in_parts(run: LoadRun, col_defs: list[str], cols_list: str, parts: list[tuple[int, int]],
                   chunks: Callable[..., Iterator[bytes]], url: str) -> int | None:
    """COPY the byte ranges `parts` at once, the load's connection sending the first and one more connection
    each of the others, into `ingest._load_<batch>`: rows copied, or None when PostgreSQL refused the bytes.

    A part is cut at a line start and its bytes must hold no quote (checked while streaming), so every line
    feed ends a record and the records of each part are known by counting them. The table is committed
    (empty) first, so that every connection sees it; the other parts are committed as they end. They are
    never visible in raw: the load moves the table there inside its transaction, and drops it if it fails.

    Line numbers: the identity starts at the header's last line, with a cache larger than any part. Each
    connection asks for one number before its COPY (the probe), so it gets a block of its own; before its
    probe, the sequence is set to the line before its part's first record. So part k's rows are numbered
    from its first line on, exactly as one COPY of the whole file numbers them; that each part copied as
    many records as it has line feeds is checked at the end."""
    table = parts_table(run.batch_id)
    helpers: list[psycopg.Connection] = []
    try:
        try:
            for _ in parts[1:]:
                helpers.append(warehouse.connect(url, autocommit=True))
        except psycopg.OperationalError as exc:  # max_connections reached, a pooler's limit...
            raise _NoConnections(f"{len(parts) - 1} more connection(s) to the warehouse for a parallel COPY "
                                 f"could not be opened ({str(exc).strip().splitlines()[-1]})") from exc
        helpers[0].execute(f"create table {table} ({', '.join(col_defs)})")
        state = _Parts(run, parts, table, cols_list, chunks)
        state.sequence = run.conn.execute("select pg_get_serial_sequence(%s, '_line_number')", (table,)).fetchone()[0]
        threads = [threading.Thread(target=state.run_part, args=(k, helpers[k - 1]), name=f"territoire-copy-part-{k}",
                                    daemon=True) for k in range(1, len(parts))]
        for t in threads:
            t.start()
        state.run_first(run.conn)
        for t in threads:
            t.join()
        return state.result()
    finally:
        for helper in helpers:
            helper.close()
