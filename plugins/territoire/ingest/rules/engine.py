"""`apply`: run a resource's declared rules on a staged table, in bulk, and quarantine what they find.

Called by the loader once the typed checks are done and before the swap, on the staged table holding
the (normalised) text values and `_line_number`; also by `territoire validate`. The quarantine is bounded
as the schema checks' is: the first N violations of each (rule, column) go to `ingest.rejected_rows` with
their level, value and own message; every violation is counted in `Outcome.counts` (which the loader
records in the ledger's `details.rejections`, beside the schema checks' counts). Each rule's run (applied
or not, and why) goes to `ingest.rule_runs`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psycopg

from territoire import settings
from territoire.ingest.rules.declarations import Declaration, resource_rules
from territoire.ingest.rules.model import RULES, sql_text
from territoire.naming import quote_ident

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_FLUSH = 5000


def examples_kept() -> int:
    """How many violations per (rule, column) go to the quarantine with their value and message (settings)."""
    return settings.quarantine_rows_kept()


@dataclass
class Outcome:
    batch_id: int
    errors: int = 0
    warnings: int = 0
    applied: list[str] = field(default_factory=list)
    not_run: list[tuple[str, str]] = field(default_factory=list)
    error_rules: tuple[str, ...] = ()
    # Per (rule, column, level), every violation counted: the entries of the ledger's `details.rejections`
    # ({column, rule, level, count, lines, example_line, example_value, message}).
    counts: list[dict] = field(default_factory=list)

    @property
    def error_lines_sql(self) -> str:
        """`select line_number ...`: every line an error-level rule rejected, kept in the quarantine or only
        counted (the loader deletes them; a session-local table, valid until the next run of the rules)."""
        if not self.error_rules:
            return "select null::bigint as line_number where false"
        return "select line_number from _rule_error_lines"


class RuleNotRun(Exception):
    """A rule cannot run on this table (missing reference data...); the message says why, in French."""


class Context:
    """What a rule's check works with: the connection, the staged table and its columns."""

    def __init__(self, conn: psycopg.Connection, table: str, columns: Iterable[str]):
        self.conn = conn
        self.table = table
        self.columns = set(columns)
        self.decl: Declaration | None = None   # the declaration being checked (set by `apply`)

    def hits(self, sql_name: str, params: dict | None = None, fragments: dict[str, str] | None = None,
             **identifiers: str) -> int:
        """Run `sql/<sql_name>.sql` (a select of line_number, column_name, value, message) and keep its rows
        as violations of the current declaration. `identifiers` fill `{name}` with quoted column names,
        `fragments` with SQL the caller built from quoted names; a fragment may itself use the other
        placeholders (a CTE shared by several rules' files), filled first."""
        subs = {"table": self.table, **(fragments or {}), **{k: quote_ident(v) for k, v in identifiers.items()}}

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: subs.get(m.group(1), m.group(0)), text)

        subs.update({k: fill(v) for k, v in (fragments or {}).items()})
        text = fill(sql_text(sql_name))
        return self.hits_query(text, params)

    def hits_query(self, query: str, params: dict | None = None) -> int:
        decl = self.decl
        cur = self.conn.execute(
            f"insert into _rule_hits (rule, level, line_number, column_name, value, message) "
            f"select %(_rule)s, %(_level)s, h.* from ({query}) as h",
            {**(params or {}), "_rule": decl.rule, "_level": decl.effective_level})
        return cur.rowcount

    def add_hits(self, rows: Iterable[tuple]) -> int:
        """Violations found in Python: (line_number, column_name, value, message) tuples."""
        decl, n = self.decl, 0
        with self.conn.cursor().copy(
                "copy _rule_hits (rule, level, line_number, column_name, value, message) from stdin") as copy:
            for row in rows:
                copy.write_row((decl.rule, decl.effective_level, *row))
                n += 1
        return n

    def judge_values(self, column: str, judge: Callable[[str], str | None]) -> int:
        """A Python verdict on each distinct non-empty value of `column` (streamed through a server-side
        cursor, bad values flushed in batches), then one join marks every row holding a bad value."""
        col = quote_ident(column)
        self.conn.execute("truncate _rule_bad_values")
        bad: list[tuple[str, str]] = []
        with self.conn.transaction(), self.conn.cursor(name="rule_values") as cur:
            cur.itersize = _FLUSH
            cur.execute(f"select distinct {col} from {self.table} where nullif(btrim({col}), '') is not null")
            for (value,) in cur:
                message = judge(value)
                if message:
                    bad.append((value, message))
                if len(bad) >= _FLUSH:
                    self._flush(bad)
            self._flush(bad)
        return self.hits("values_hits", {"column_name": column}, column=column)

    def _flush(self, bad: list[tuple[str, str]]) -> None:
        if bad:
            with self.conn.cursor().copy("copy _rule_bad_values (value, message) from stdin") as copy:
                for row in bad:
                    copy.write_row(row)
            bad.clear()

    def require_table(self, qualified: str, what: str) -> None:
        """Raise RuleNotRun unless the reference table exists and has rows."""
        exists = self.conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()[0]
        if not exists or self.conn.execute(f"select not exists (select 1 from {qualified})").fetchone()[0]:
            raise RuleNotRun(f"{what} ({qualified}) n'est pas chargé dans l'entrepôt : "
                             f"charger d'abord cette source (`territoire load {qualified.split('.')[1].split('__')[0]}`)")


def ensure_tables(conn: psycopg.Connection) -> None:
    """The rules' ledger table and the quarantine's `level` column; DDL only when missing (it locks)."""
    ready = conn.execute(
        "select to_regclass('ingest.rule_runs') is not null and exists (select 1 from information_schema.columns "
        "where table_schema = 'ingest' and table_name = 'rejected_rows' and column_name = 'level')").fetchone()[0]
    if not ready:
        conn.execute(sql_text("ledger"))


def table_stem(table: str) -> str:
    """`raw."transport__stops__new"` -> `stops`: which file of a multi-file resource (GTFS) is loaded."""
    name = table.split(".")[-1].strip('"').removesuffix("__new")
    return name.split("__", 1)[-1]


def apply(conn: psycopg.Connection, *, batch_id: int, resource, table: str, columns: Iterable[str],
          declarations: list[Declaration] | None = None) -> Outcome:
    """Run the rules declared for `resource` (or `declarations`) on `table`; see the module docstring."""
    from territoire.ingest import rules as _registry  # noqa: F401 - importing the package registers every rule

    ensure_tables(conn)
    decls = resource_rules(resource) if declarations is None else declarations
    stem = table_stem(table)
    decls = [d for d in decls if d.params.get("table") in (None, stem)]  # rules of another file of the feed
    if not decls:
        return Outcome(batch_id)
    ctx = Context(conn, table, columns)
    conn.execute(sql_text("hits_table"))
    # Statistics for the planner (a fresh staged table has none, and its estimates then make PostgreSQL
    # JIT-compile scans of a few thousand rows for a second).
    conn.execute(f"analyze {table}")
    outcome = Outcome(batch_id)
    runs = []
    for decl in decls:
        runs.append(_run_one(ctx, decl, outcome))
    _quarantine(conn, outcome, resource)
    _record(conn, batch_id, runs)
    return outcome


def _run_one(ctx: Context, decl: Declaration, outcome: Outcome) -> tuple:
    label, level = decl.label(), decl.effective_level
    missing = [c for c in decl.columns_needed() if c not in ctx.columns]
    found, reason = 0, None
    started = time.monotonic()
    if missing:
        reason = f"colonne(s) absente(s) du fichier : {', '.join(missing)}"
    else:
        ctx.decl = decl
        try:
            with ctx.conn.transaction():
                ctx.conn.execute("set local jit = off")  # one scan per rule: compiling costs more than it saves
                for table in RULES[decl.rule].needs:
                    ctx.require_table(*table.split("|"))
                found = RULES[decl.rule].check(ctx, decl) or 0
        except RuleNotRun as exc:
            reason = str(exc)
        except psycopg.Error as exc:
            reason = f"la règle n'a pas pu s'exécuter : {str(exc).strip().splitlines()[0]}"
    if reason:
        outcome.not_run.append((label, reason))
    else:
        outcome.applied.append(label)
        if level == "error":
            outcome.errors += found
        else:
            outcome.warnings += found
    return (decl.rule, label, decl.column, level, "not_run" if reason else "applied", reason, found,
            decl.declared_in, round(time.monotonic() - started, 3))


def _quarantine(conn, outcome: Outcome, resource) -> None:
    rows = conn.execute(sql_text("quarantine_hits"), {
        "batch_id": outcome.batch_id, "source_id": resource.source_id, "resource": resource.name,
        "keep": examples_kept()}).fetchall()
    outcome.counts = [{"column": column, "rule": rule, "level": level, "count": count, "lines": lines,
                       "example_line": line, "example_value": value, "message": message}
                      for rule, column, level, count, lines, line, value, message in rows]
    outcome.error_rules = tuple(sorted({c["rule"] for c in outcome.counts if c["level"] == "error"}))
    conn.execute(sql_text("error_lines"))
    conn.execute("drop table if exists _rule_hits; drop table if exists _rule_bad_values")


def _record(conn, batch_id: int, runs: list[tuple]) -> None:
    if not runs:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ingest.rule_runs (batch_id, rule, label, column_name, level, status, reason, violations, "
            "declared_in, seconds) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(batch_id, *run) for run in runs])
