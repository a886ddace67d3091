"""The check and quarantine stages: is the staged file clean (one aggregate scan), and if not, which
rows break which rule (the detailed check), with their content kept for the first rows of each rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psycopg

from territoire import settings
from territoire.ingest.run import LoadRun
from territoire.ingest.schema import FastCheck
from territoire.naming import quote_ident

SQL_DIR = Path(__file__).parent / "sql"


def _sql(name: str, **parts: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").format(**parts)


def regex_ok(conn, pattern: str) -> bool:
    return conn.execute("select ingest.regex_ok(%s)", (pattern,)).fetchone()[0]


def not_empty_sql(columns: Iterable[str]) -> str:
    """True for a record with at least one non-empty field. Records whose every field is empty (`;;;;`
    rows that spreadsheets export) are not data: skipped, as the careful path skips them, and counted.
    An OR chain, not num_nonnulls(): a function takes at most 100 arguments, a file may have 1,500 columns."""
    return "(" + " or ".join(f"coalesce({quote_ident(c)} <> '', false)" for c in columns) + ")"


def fast_clean(run: LoadRun, check: FastCheck | None) -> bool:
    """One aggregate scan over the staged values: is any rule broken at all? A value a cast refuses
    raises: not clean. False when there is no one-scan check or line numbers had to move."""
    if check is None or run.shifted:
        return False
    aggs = list(check.aggregates)
    if check.needs_empty_filter:
        aggs.append(f"count(*) filter (where not {not_empty_sql(run.staged.columns)})")
    if not aggs:
        return True
    try:
        with run.conn.transaction():
            row = run.conn.execute(f"select {', '.join(aggs)} from {run.stage}").fetchone()
            return check.clean(row) and not (check.needs_empty_filter and row[-1])
    except psycopg.errors.DataError:
        return False


def keep_clean_stage(run: LoadRun) -> None:
    """A clean file: the staging table becomes the new raw table by a rename (written once)."""
    conn, stage = run.conn, run.stage
    for c, hidden in run.published.items():
        conn.execute(f"alter table {stage} alter column {quote_ident(c)} drop expression")
        conn.execute(f"alter table {stage} drop column {quote_ident(hidden)}")
    conn.execute(f"alter table {stage} alter column _batch_id drop default, alter column _loaded_at "
                 f"drop default, alter column _line_number drop identity")
    conn.execute(f"alter table {stage} rename to {quote_ident(run.new_name)}")


# The detailed check of a large file first reads this many records: when they alone hold more broken
# rows than the threshold allows of the whole file, the load stops there (a file of bad rows costs
# one slice, not a full pass).
FIRST_SLICE = 100_000


def detailed_check(run: LoadRun) -> int:
    """Build the new raw table (normalised values) with, per row, the rules it breaks (`_rejected`);
    returns the rows kept (empty records left out). A large file is read in two slices; when the first
    already breaks the threshold, the load stops there (`run.stopped`) and only that slice is kept."""
    conn, stage = run.conn, run.stage
    # Back to the values as published: the hidden columns take their visible names again.
    for c, hidden in run.published.items():
        conn.execute(f"alter table {stage} drop column {quote_ident(c)}")
        conn.execute(f"alter table {stage} rename column {quote_ident(hidden)} to {quote_ident(c)}")
    run.published = {}
    if run.copied <= FIRST_SLICE:
        kept = conn.execute(f"create table {run.new} as {_checked_rows(run, 'true')}").rowcount
    else:
        # Line numbers are at least the record's rank: this slice holds at most FIRST_SLICE records.
        first = f"_line_number < {run.staged.header_lines + 1 + FIRST_SLICE}"
        kept = conn.execute(f"create table {run.new} as {_checked_rows(run, first)}").rowcount
        broken = conn.execute(f"select count(*) from {run.new} where _rejected is not null").fetchone()[0]
        if run.early_rejects + broken > run.threshold * (run.copied + run.early_rejects):
            run.stopped = {"stage": "check", "rows_checked": kept}
        else:
            kept += conn.execute(f"insert into {run.new} {_checked_rows(run, f'not ({first})')}").rowcount
    conn.execute(f"drop table {stage}")
    return kept


def _checked_rows(run: LoadRun, where: str) -> str:
    plan = run.plan
    return (f"select {', '.join(plan.outer)}, {int(run.batch_id)}::bigint as _batch_id, "
            f"_line_number::integer as _line_number, now() as _loaded_at, {plan.rejected_expression()} as _rejected "
            f"from (select {plan.inner_sql()}, _line_number from {run.stage} "
            f"where {not_empty_sql(run.staged.columns)} and {where} offset 0) s")


def quarantine_broken_rows(run: LoadRun) -> int:
    """Rows breaking a rule: counted per (column, rule), the first ones' content into quarantine, all of
    them out of the new raw table. Returns how many rows."""
    conn, new = run.conn, run.new
    if run.plan.rules:
        params = {"batch_id": run.batch_id, "source_id": run.resource.source_id, "resource": run.resource.name}
        counts = conn.execute(_sql("quarantine_typed", new=new, rules=run.plan.rules_values_sql(),
                                   kept=str(settings.quarantine_rows_kept())), params).fetchall()
        for col, rule, count, line, message, _ in counts:
            value = conn.execute(f"select left(to_jsonb(n) ->> %s, 1000) from {new} n where _line_number = %s",
                                 (col, line)).fetchone()
            run.add_rejections(col, rule, count, line, value[0] if value else None, message)
        broken = conn.execute(f"delete from {new} where _rejected is not null").rowcount if counts else 0
    else:
        broken = 0
    conn.execute(f"alter table {new} drop column _rejected")
    return broken


def unique_index_holds(run: LoadRun, key: list[str]) -> bool:
    """Building a unique index is the cheapest "does any key repeat?" (a parallel sort, bytewise with
    collation C; NULLs never clash). Usually none does: the index is dropped and the load goes on."""
    index = quote_ident(f"_uq_{run.batch_id}")
    try:
        with run.conn.transaction():
            run.conn.execute("set local maintenance_work_mem = '256MB'")
            run.conn.execute(f"create unique index {index} on {run.new} "
                             f"({', '.join(quote_ident(k) + ' collate ' + quote_ident('C') for k in key)})")
            run.conn.execute(f"drop index raw.{index}")
        return True
    except psycopg.errors.UniqueViolation:
        return False


def quarantine_duplicates(run: LoadRun, key: list[str]) -> int:
    """Rows repeating a key already seen on an earlier line go to quarantine (rule `unique`); returns how many."""
    if unique_index_holds(run, key):
        return 0
    quoted = [quote_ident(k) for k in key]
    columns = ",".join(key)
    gone, line, value = run.conn.execute(
        _sql("quarantine_duplicates", new=run.new, key=", ".join(quoted), key_text=", ".join(quoted),
             not_null=" and ".join(f"{k} is not null" for k in quoted), kept=str(settings.quarantine_rows_kept())),
        {"batch_id": run.batch_id, "source_id": run.resource.source_id, "resource": run.resource.name,
         "columns": columns}).fetchone()
    run.add_rejections(columns, "unique", gone, line, value, f"clé en double ({columns})")
    return gone
