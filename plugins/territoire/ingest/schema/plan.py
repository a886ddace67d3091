"""The SQL of one load, built from the types (types.py) and constraints (constraints.py) of a schema.

Two checks, which accept exactly the same values:

* `build_fast_check`: ONE aggregate scan asking whether any rule is broken at all (casts, min/max,
  lengths: the cheapest operations). Most files are clean: then the staging table becomes the raw table
  by a rename, written once. None when the schema uses something it cannot decide cheaply.
* `build_plan`: the detailed check. One `create table as select` builds the raw table (normalised
  values) and, per row, the list of the rules it breaks; the loader then moves those rows to quarantine
  with their line, column, rule and value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from territoire.ingest import proofs
from territoire.ingest.schema.constraints import CONSTRAINTS, Column, Violation
from territoire.ingest.schema.model import Schema
from territoire.ingest.schema.sqltext import anchored, lit
from territoire.ingest.schema.types import field_type, zero
from territoire.naming import quote_ident


@dataclass
class Plan:
    """How to turn the staging table into the raw table, and which rows break the schema.

    `inner` selects from the staging table: every column, plus two arrays over the columns the schema
    describes, `_a` (the value is missing) and `_p` (the value read as its type), so that each value is
    read once however many rules use it. Arrays, not one column each: a select list holds at most 1,664
    entries, and a file may have 1,500 columns. `outer` gives the raw table's columns from `inner`.
    """

    columns: list[str]
    inner: list[str]
    outer: list[str]
    rules: list[Violation]
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)   # the elements of `_a`
    parsed: list[str] = field(default_factory=list)   # the elements of `_p`

    def inner_sql(self) -> str:
        arrays = [f"array[{', '.join(self.absent)}]::boolean[] as _a" if self.absent else None,
                  f"array[{', '.join(self.parsed)}]::text[] as _p" if self.parsed else None]
        return ", ".join([*self.inner, *(a for a in arrays if a)])

    def rejected_expression(self) -> str:
        """SQL: an int[] of the indexes of the rules the row breaks, NULL for a valid row."""
        if not self.rules:
            return "null::int[]"
        conds = [f"coalesce({r.condition}, false)" for r in self.rules]
        # Valid rows (nearly all) only pay for the OR chain; the array is built for bad rows only.
        items = ", ".join(f"case when {c} then {i} end" for i, c in enumerate(conds))
        return f"(case when {' or '.join(conds)} then array_remove(array[{items}], null) end)"

    def rules_values_sql(self) -> str:
        """A VALUES list (idx, column, rule, message) to join the rule indexes back to their description."""
        return ", ".join(f"({i}, {lit(r.column)}, {lit(r.rule)}, {lit(r.message)})" for i, r in enumerate(self.rules))


def _runnable(pattern: str | None, pattern_ok: Callable[[str], bool] | None) -> bool:
    return not pattern or pattern_ok is None or pattern_ok(anchored(pattern))


def _column(schema: Schema, c: str, i: int, strict: bool, at: tuple[int, int] = (0, 0)
            ) -> tuple[Column, str] | None:
    """The field of column `c` (position `i`) as the constraints see it, and the SQL of its absence;
    `at`: the 0-based positions its absence and reading take in the plan's `_a` and `_p` arrays."""
    f = schema.field_for_column(c)
    if f is None:
        return None
    col = quote_ident(c)
    nulls = [m for m in schema.missing_values if m != ""]
    # Table Schema compares missingValues exactly: "  " is a value (and, for a number, a wrong one).
    absent = f"({col} is null or {col} = ''" + (f" or {col} in ({', '.join(lit(m) for m in nulls)}))"
                                                 if nulls else ")")
    t = field_type(f)
    return Column(f, t, col, f"_a[{at[0] + 1}]", f"_p[{at[1] + 1}]" if t.read_sql(col, f, strict) is not None else None,
                  f.required or f.column in schema.primary_key), absent


def build_plan(schema: Schema | None, columns: list[str], *, strict: bool = False,
               pattern_ok: Callable[[str], bool] | None = None) -> Plan:
    """The detailed check of `schema` over the staging table's `columns`.

    `strict` reads values as the Table Schema specification writes them (what Validata checks); otherwise
    French forms are accepted and normalised (`1 234,5`, `01/03/2024`, `Vrai`). `pattern_ok(pattern)`
    says whether PostgreSQL can run a pattern; the others are listed in `skipped`.
    """
    plan = Plan(columns=list(columns), inner=[quote_ident(c) for c in columns], outer=[], rules=[])
    if schema is None:
        plan.outer.extend(quote_ident(c) for c in columns)
        return plan
    present, known = set(columns), {f.column for f in schema.fields}
    plan.missing_required = [f.name for f in schema.fields if f.column not in present
                             and (f.required or f.column in schema.primary_key)]
    plan.missing_optional = [f.name for f in schema.fields if f.column not in present
                             and f.name not in plan.missing_required]
    plan.extra_columns = [c for c in columns if c not in known]
    nulls = [m for m in schema.missing_values if m != ""]
    for i, c in enumerate(columns):
        described = _column(schema, c, i, strict, (len(plan.absent), len(plan.parsed)))
        if described is None:
            plan.outer.append(quote_ident(c))
            continue
        column, absent = described
        _add_column(plan, column, absent, strict, bool(nulls), pattern_ok)
    return plan


def _add_column(plan: Plan, c: Column, absent: str, strict: bool, nulls: bool,
                pattern_ok: Callable[[str], bool] | None) -> None:
    f, col = c.field, c.col
    plan.absent.append(absent)
    if c.parsed is not None:
        plan.parsed.append(f"(case when {absent} then null else {c.type.read_sql(col, f, strict)} end)")
    # The raw value: canonical text for normalised types, as published otherwise; missing -> NULL.
    if c.parsed is not None and c.type.normalised:
        plan.outer.append(f"(case when {c.absent} then null else coalesce({c.parsed}, {col}) end) as {col}")
    elif nulls or f.type != "string":
        plan.outer.append(f"(case when {c.absent} then null else {col} end) as {col}")
    else:
        plan.outer.append(col)
    if not _runnable(f.pattern, pattern_ok):
        plan.skipped.append(f"{f.name}: pattern {f.pattern} (PostgreSQL cannot run it)")
    for constraint in CONSTRAINTS:
        if constraint.applies(c) and (constraint.rule != "pattern" or _runnable(f.pattern, pattern_ok)):
            plan.rules.extend(constraint.violations(c))


# ---------------------------------------------------------------------------------------------------
# The one-scan check.


@dataclass
class FastCheck:
    """`aggregates` read the values as published. For a number column `c` they are COPYed into a hidden
    column `published[c]`, and `c` is a STORED generated column `generated[c]` (`,` -> `.`) that PostgreSQL
    computes during the COPY itself, so that a clean file is written once."""

    aggregates: list[str]                      # SQL aggregates over the staging table
    oks: list[Callable[[Any], bool]]           # per aggregate: is its value fine?
    needs_empty_filter: bool                   # no required column proves that no record is empty
    published: dict[str, str] = field(default_factory=dict)   # column -> hidden column holding the published text
    generated: dict[str, str] = field(default_factory=dict)   # column -> generation expression (over the hidden one)

    def clean(self, row: tuple) -> bool:
        return all(ok(v) for ok, v in zip(self.oks, row, strict=False))


def build_fast_check(schema: Schema | None, columns: list[str], *, strict: bool = False,
                     pattern_ok: Callable[[str], bool] | None = None, decimal_points_rewritten: bool = False,
                     proved: Collection[str] = (), no_empty_record: bool = False) -> FastCheck | None:
    """The one-scan "is anything wrong?" check of `schema`, or None when a rule cannot be decided cheaply
    (strict reading, missingValues, a type or constraint without an aggregate).

    `decimal_points_rewritten`: the number columns already hold `replace(published, ',', '.')` (the
    client rewrote them while streaming, see fastcopy.py), so there is no hidden published column; None
    when a check needs the published text of a number (its pattern, enum or lengths).

    `proved`: columns whose every rule the client proved while streaming (client_proofs), left out;
    `no_empty_record`: the client saw no empty record."""
    if schema is None:
        return FastCheck([], [], needs_empty_filter=not no_empty_record)
    if strict or [m for m in schema.missing_values if m != ""]:
        return None
    check = FastCheck([], [], needs_empty_filter=True)
    required: list[str] = []  # one aggregate for all required columns: cheap comparisons, one count
    for i, c in enumerate(columns):
        described = _column(schema, c, i, strict)
        if described is None or c in proved:
            continue
        column = described[0]
        if not _add_fast(check, column, i, decimal_points_rewritten, pattern_ok, required):
            return None
    if required:
        check.aggregates.append(f"count(*) filter (where {' or '.join(required)})")
        check.oks.append(zero)
        check.needs_empty_filter = False
    check.needs_empty_filter = check.needs_empty_filter and not no_empty_record
    return check


def client_proofs(schema: Schema | None, columns: list[str], *, strict: bool = False) -> dict[int, list[proofs.Proof]]:
    """Per column position, the proofs of its rules (ingest/proofs.py) that the client checks while it
    streams a clean CSV; a column with a rule the client cannot prove is left out (PostgreSQL checks it).
    {} when the one-scan check itself would not run (strict reading, missingValues)."""
    if schema is None:
        return {i: [] for i in range(len(columns))}
    if strict or [m for m in schema.missing_values if m != ""]:
        return {}
    found: dict[int, list[proofs.Proof]] = {}
    for i, c in enumerate(columns):
        described = _column(schema, c, i, strict)
        if described is None:
            found[i] = []
            continue
        column = described[0]
        rules = [constraint.client_proof(column) for constraint in CONSTRAINTS if constraint.applies(column)]
        if all(proof is not None for proof in rules):
            found[i] = rules
    return found


def _add_fast(check: FastCheck, c: Column, i: int, rewritten: bool, pattern_ok, required: list[str]) -> bool:
    """Add the aggregates of one column; False when one of its rules has none."""
    f, col, num_col = c.field, c.col, c.col
    if f.type == "number":
        if rewritten and (f.pattern or f.enum or f.min_length is not None or f.max_length is not None):
            return False
        if not rewritten:  # type and bounds on the generated column; pattern, enum, lengths on the published
            hidden = f"_published_{i}"
            check.published[f.column] = hidden
            check.generated[f.column] = f"replace({quote_ident(hidden)}, ',', '.')"
            col = quote_ident(hidden)
    typed = c.type.fast_aggregates(col, f, num_col=num_col)
    if typed is None:
        return False
    pairs = list(typed)
    for constraint in CONSTRAINTS[2:]:  # required: one count below; type: the aggregates above
        if not constraint.applies(c) or (constraint.rule == "pattern" and not _runnable(f.pattern, pattern_ok)):
            continue
        more = constraint.aggregates(c, col)
        if more is None:
            return False
        pairs += more
    if c.required:
        required.append(f"{col} is null or {col} = ''")
    for agg, ok in pairs:
        check.aggregates.append(agg)
        check.oks.append(ok)
    return True


def key_columns(schema: Schema | None, columns: list[str], primary_key: tuple[str, ...] = ()) -> list[list[str]]:
    """The keys whose values must be unique: the resource's (or schema's) primary key, and unique fields."""
    keys: list[list[str]] = []
    pk = list(primary_key) or (list(schema.primary_key) if schema else [])
    if pk and all(k in columns for k in pk):
        keys.append(pk)
    if schema:
        for f in schema.fields:
            if f.unique and f.column in columns and [f.column] not in keys:
                keys.append([f.column])
    return keys
