"""Table Schema (frictionless / schema.data.gouv.fr) rules, checked set-based in PostgreSQL.

The loader streams a file into a staging table of text columns, then this module builds one SQL
statement that finds every violation of the resource's Table Schema (type, required, pattern,
enum, minimum/maximum, min/maxLength, string formats, unique keys) with the line number, column,
rule and value, and the SQL expressions that normalise French-formatted values (`1 234,5`,
`01/03/2024`, `1er mars 2024`, `Vrai`) into canonical text for the raw table.

Doing this in the database keeps loads at COPY speed: Python never touches each value.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from territoire.naming import normalise_column, quote_ident

# SQL functions installed in the `ingest` schema by `install_functions`. Each returns NULL when the
# value cannot be read as the type, so "value is present and function is NULL" is a type error.
FUNCTIONS_SQL = r"""
create or replace function ingest.to_number(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := regexp_replace(btrim(v), '[ \u00a0\u202f'']', '', 'g');
begin
    if length(s) > 100 then return null; end if;
    if s ~ '^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$' then return s; end if;
    if s ~ '^[+-]?[0-9]+,[0-9]+$' then return replace(s, ',', '.'); end if;
    if s ~ '^[+-]?\.[0-9]+$' then return replace(s, '.', '0.'); end if;
    if s ~ '^[+-]?,[0-9]+$' then return replace(s, ',', '0.'); end if;
    if s ~ '^[+-]?[0-9]{1,3}(\.[0-9]{3})+,[0-9]+$' then return replace(replace(s, '.', ''), ',', '.'); end if;
    if s ~ '^[+-]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+$' then return replace(s, ',', ''); end if;
    return null;
end
$$;

create or replace function ingest.to_integer(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    n text := ingest.to_number(v);
begin
    if n ~ '^[+-]?[0-9]+$' then return n; end if;
    if n ~ '^[+-]?[0-9]+\.0+$' then return split_part(n, '.', 1); end if;
    return null;
end
$$;

create or replace function ingest.to_boolean(v text) returns text
language sql immutable parallel safe as $$
    select case lower(btrim(v))
        when 'true' then 'true' when 'vrai' then 'true' when 'oui' then 'true' when '1' then 'true'
        when 't' then 'true' when 'yes' then 'true'
        when 'false' then 'false' when 'faux' then 'false' when 'non' then 'false' when '0' then 'false'
        when 'f' then 'false' when 'no' then 'false'
        else null
    end
$$;

create or replace function ingest.to_date(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    d date;
    m int;
begin
    if s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then
        d := to_date(s, 'YYYY-MM-DD');
    elsif s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}' then
        d := to_date(left(s, 10), 'YYYY-MM-DD');
    elsif s ~ '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$' then
        d := to_date(s, 'DD/MM/YYYY');
    elsif s ~ '^[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}$' then
        d := to_date(s, 'DD-MM-YYYY');
    elsif s ~ '^[0-9]{8}$' then
        d := to_date(s, 'YYYYMMDD');
    elsif lower(s) ~ '^[0-9]{1,2}(er)? +[^ 0-9]+ +[0-9]{4}$' then
        -- "1er mars 2024", "14 juillet 2023", "3 févr. 2022"
        m := case rtrim(split_part(regexp_replace(lower(s), ' +', ' ', 'g'), ' ', 2), '.')
            when 'janvier' then 1 when 'janv' then 1 when 'février' then 2 when 'fevrier' then 2
            when 'févr' then 2 when 'fevr' then 2 when 'mars' then 3 when 'avril' then 4 when 'avr' then 4
            when 'mai' then 5 when 'juin' then 6 when 'juillet' then 7 when 'juil' then 7 when 'août' then 8
            when 'aout' then 8 when 'septembre' then 9 when 'sept' then 9 when 'octobre' then 10
            when 'oct' then 10 when 'novembre' then 11 when 'nov' then 11 when 'décembre' then 12
            when 'decembre' then 12 when 'déc' then 12 when 'dec' then 12 end;
        if m is null then return null; end if;
        s := regexp_replace(lower(s), ' +', ' ', 'g');
        d := make_date(split_part(s, ' ', 3)::int, m, regexp_replace(split_part(s, ' ', 1), 'er$', '')::int);
        return to_char(d, 'YYYY-MM-DD');
    else
        return null;
    end if;
    -- to_date accepts 2024-02-31 by rolling over; reject dates that do not round-trip.
    if s ~ '^[0-9]{4}-' and to_char(d, 'YYYY-MM-DD') <> left(s, 10) then
        return null;
    end if;
    if s ~ '^[0-9]{1,2}[/-]' and extract(day from d)::int <> split_part(translate(s, '-', '/'), '/', 1)::int then
        return null;
    end if;
    return to_char(d, 'YYYY-MM-DD');
exception when others then
    return null;
end
$$;

create or replace function ingest.to_datetime(v text) returns text
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    d text;
begin
    if s ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' then
        perform s::timestamptz;
        return replace(s, ' ', 'T');
    end if;
    -- French: 01/03/2024 10:00[:00]
    if s ~ '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}[ T][0-9]{1,2}[:h][0-9]{2}(:[0-9]{2})?$' then
        d := ingest.to_date(substring(s from '^[^ T]+'));
        if d is null then return null; end if;
        return d || 'T' || to_char(replace(substring(s from '[0-9]{1,2}[:h][0-9]{2}(?::[0-9]{2})?$'), 'h', ':')::time,
                                   'HH24:MI:SS');
    end if;
    return null;
exception when others then
    return null;
end
$$;

create or replace function ingest.to_year(v text) returns text
language sql immutable parallel safe as $$
    select case when btrim(v) ~ '^[0-9]{4}(\.0+)?$' then left(btrim(v), 4) else null end
$$;

create or replace function ingest.geopoint_ok(v text, fmt text) returns boolean
language plpgsql immutable parallel safe as $$
declare
    s text := btrim(v);
    m text[];
    lon numeric;
    lat numeric;
begin
    if fmt = 'object' then
        lon := (s::jsonb ->> 'lon')::numeric;
        lat := (s::jsonb ->> 'lat')::numeric;
    else
        m := regexp_match(s, case when fmt = 'array'
            then '^\[\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*,\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*\]$'
            else '^([+-]?[0-9]+(?:\.[0-9]+)?)\s*,\s*([+-]?[0-9]+(?:\.[0-9]+)?)$' end);
        lon := m[1]::numeric;
        lat := m[2]::numeric;
    end if;
    return coalesce(lon between -180 and 180 and lat between -90 and 90, false);
exception when others then
    return false;
end
$$;

create or replace function ingest.is_json(v text) returns boolean
language plpgsql immutable parallel safe as $$
begin
    perform v::jsonb;
    return true;
exception when others then
    return false;
end
$$;

create or replace function ingest.regex_ok(pattern text) returns boolean
language plpgsql immutable as $$
begin
    perform '' ~ pattern;
    return true;
exception when others then
    return false;
end
$$;
"""

# Values already in canonical form are recognised without a regex (PostgreSQL's regex engine costs
# ~1-3 us a call, which at a million rows and a dozen typed columns dominated the load): `translate`
# strips the digits, and what is left says whether the value is canonical. The plpgsql normalisers
# above only run for the unusual values (signs, thousands separators, French dates...).
DIGITS = "'0123456789'"
# A value longer than this is no number anyone can cast (a corrupted cell, a field swallowed by a quote).
MAX_DIGITS = 100


def _fast_value(t: str, col: str) -> str | None:
    """SQL: the canonical text of `col` when it is in a common canonical form, else NULL."""
    rest = f"translate({col}, {DIGITS}, '')"
    if t == "integer":
        return f"(case when {rest} = '' and length({col}) <= {MAX_DIGITS} then {col} end)"
    if t == "number":
        return (f"(case when length({col}) > {MAX_DIGITS} then null when {rest} = '' then {col} "
                f"when {rest} = ',' then (case when left({col}, 1) <> ',' and right({col}, 1) <> ',' "
                f"then replace({col}, ',', '.') end) "
                f"when {rest} = '.' then (case when left({col}, 1) <> '.' and right({col}, 1) <> '.' then {col} end) end)")
    if t == "year":
        return f"(case when length({col}) = 4 and {rest} = '' then {col} end)"
    if t == "boolean":
        return f"(case when {col} in ('true', 'false') then {col} end)"
    if t == "date":
        return (f"(case when length({col}) = 10 and {rest} = '--' and substr({col}, 5, 1) = '-' "
                f"and substr({col}, 6, 2) collate \"C\" between '01' and '12' "
                f"and substr({col}, 9, 2) collate \"C\" between '01' and '28' then {col} end)")
    return None


_SIMPLE_DIGITS_PATTERN = re.compile(r"^\^?(?:\\d|\[0-9\])(?:\{(\d+)(?:,(\d*))?\}|(\+))\$?$")


def fast_pattern(pattern: str, col: str) -> str | None:
    """SQL matching `pattern` without the regex engine, for the frequent digit-code patterns
    (`^\\d{14}$` SIRET, `^[0-9]{5}$` INSEE codes, `^\\d+$`); None for any other pattern."""
    m = _SIMPLE_DIGITS_PATTERN.match(pattern)
    if not m:
        return None
    lo, hi, plus = m.groups()
    if plus:
        length = f"length({col}) >= 1"
    elif hi is None:
        length = f"length({col}) = {int(lo)}"
    elif hi == "":
        length = f"length({col}) >= {int(lo)}"
    else:
        length = f"length({col}) between {int(lo)} and {int(hi)}"
    return f"(translate({col}, {DIGITS}, '') = '' and {length})"


def digit_code_lengths(pattern: str) -> tuple[int, int] | None:
    """(min, max) length when `pattern` is a digit-code pattern (`^[0-9]{5}$`, `^\\d{2,5}$`, `^\\d+$`), else None."""
    m = _SIMPLE_DIGITS_PATTERN.match(pattern)
    if not m:
        return None
    lo, hi, plus = m.groups()
    if plus:
        return 1, sys.maxsize
    return int(lo), sys.maxsize if hi == "" else int(hi if hi is not None else lo)


# int8 holds every 18-digit string: up to that length a digit code is checked by a cast, not `translate`.
_INT8_DIGITS = 18


def fast_digits_broken(pattern: str, col: str) -> str | None:
    """SQL, for the one-scan check: true when a non-empty `col` breaks a digit-code `pattern` (`^[0-9]{9}$`,
    `^\\d{2,5}$`), false when it matches; a value with a non-digit makes the cast raise (the loader then
    takes the detailed path, as for any broken value). None when the pattern is not one of those, or
    allows codes too long for int8.

    `translate` (the detailed check's way) costs ~0.4 us a value in a UTF-8 database; the cast, `abs`
    and `lpad` ~0.15 us. Zero-padding the cast's canonical text back to the value's length and comparing
    it to the value catches what a cast alone tolerates: a sign, spaces, and (PostgreSQL 16+) `0x1F` or
    `1_000`.
    """
    m = _SIMPLE_DIGITS_PATTERN.match(pattern)
    if not m:
        return None
    lo, hi, plus = m.groups()
    if plus or hi == "" or int(hi if hi is not None else lo) > _INT8_DIGITS:
        return None
    canonical = f"abs({col}::int8)::text"
    if hi is None:
        return f"(lpad({canonical}, {int(lo)}, '0') <> {col})"
    return (f"(octet_length({col}) not between {int(lo)} and {int(hi)} "
            f"or lpad({canonical}, octet_length({col}), '0') <> {col})")


NORMALISERS = {
    "number": "ingest.to_number",
    "integer": "ingest.to_integer",
    "boolean": "ingest.to_boolean",
    "date": "ingest.to_date",
    "datetime": "ingest.to_datetime",
    "year": "ingest.to_year",
}

# Types whose canonical text replaces the published value in the raw table (the raw table contract).
NORMALISED_TYPES = {"number", "integer", "date", "datetime", "boolean", "year"}

# Strict reading (schema.data.gouv.fr / Validata semantics): the value must already be in the
# format the Table Schema specification defines for its type.
STRICT_PATTERNS = {
    "number": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$",
    "integer": r"^[+-]?[0-9]+$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "datetime": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?$",
    "year": r"^[0-9]{4}$",
}
OTHER_TYPE_PATTERNS = {
    "yearmonth": r"^[0-9]{4}-(0[1-9]|1[0-2])$",
    "time": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$",
    "duration": r"^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$",
}
# `format` of string fields (Table Schema): checked with a regex, as frictionless does.
STRING_FORMATS = {
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    "uri": r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$",
    "uuid": r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
}
DEFAULT_TRUE = ("true", "True", "TRUE", "1")
DEFAULT_FALSE = ("false", "False", "FALSE", "0")

TYPE_LABELS_FR = {
    "number": "un nombre", "integer": "un entier", "boolean": "un booléen (true/false)",
    "date": "une date (AAAA-MM-JJ)", "datetime": "une date-heure ISO 8601", "year": "une année (AAAA)",
    "yearmonth": "une année-mois (AAAA-MM)", "time": "une heure (HH:MM:SS)", "duration": "une durée ISO 8601",
    "geopoint": "un point géographique", "object": "un objet JSON", "array": "un tableau JSON",
    "geojson": "une géométrie GeoJSON",
}


@dataclass(frozen=True)
class Field:
    name: str
    column: str
    type: str = "string"
    format: str | None = None
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    unique: bool = False
    description: str = ""
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    decimal_char: str | None = None
    group_char: str | None = None


@dataclass(frozen=True)
class Schema:
    path: Path
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.extra.get("title") or self.extra.get("name") or self.path.name)

    def field_for_column(self, column: str) -> Field | None:
        for f in self.fields:
            if f.column == column:
                return f
        return None


class SchemaError(ValueError):
    """A Table Schema file cannot be read; the message names the file and the field."""


@lru_cache(maxsize=64)
def load_schema(path: Path) -> Schema:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"Table Schema not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise SchemaError(f"{path}: a Table Schema needs a 'fields' list")
    fields = []
    for i, f in enumerate(data["fields"], start=1):
        if not isinstance(f, dict) or "name" not in f:
            raise SchemaError(f"{path}: field #{i} has no 'name'")
        c = f.get("constraints") or {}
        fields.append(Field(
            name=f["name"], column=normalise_column(f["name"], i), type=f.get("type", "string"),
            format=f.get("format") if f.get("format") not in (None, "default") else None,
            required=bool(c.get("required", False)), pattern=c.get("pattern"),
            enum=tuple(str(v) for v in c.get("enum", ()) or ()),
            minimum=c.get("minimum"), maximum=c.get("maximum"),
            min_length=c.get("minLength"), max_length=c.get("maxLength"), unique=bool(c.get("unique", False)),
            description=f.get("description", ""),
            true_values=tuple(f.get("trueValues") or ()), false_values=tuple(f.get("falseValues") or ()),
            decimal_char=f.get("decimalChar"), group_char=f.get("groupChar"),
        ))
    pk = data.get("primaryKey") or ()
    if isinstance(pk, str):
        pk = (pk,)
    by_name = {f.name: f.column for f in fields}
    return Schema(
        path=path, fields=tuple(fields),
        primary_key=tuple(by_name.get(k, normalise_column(k, 0)) for k in pk),
        missing_values=tuple(data.get("missingValues", [""])),
        extra={k: v for k, v in data.items() if k not in ("fields",)},
    )


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def anchored(pattern: str) -> str:
    """Table Schema patterns match the whole value (XML Schema semantics); PostgreSQL's `~` searches."""
    return f"^(?:{pattern})$"


@dataclass(frozen=True)
class Rule:
    """One check: a SQL condition (over the plan's inner select) that is true when the row violates it."""

    column: str
    rule: str
    condition: str
    message: str


@dataclass
class Plan:
    """How to turn the staging table into the raw table, and which rows break the schema.

    `inner` selects from the staging table: every column, plus `_a<i>` (the value is missing) and
    `_p<i>` (the value read as its type: canonical text, NULL when unreadable) for the columns the
    schema describes, so that each value is parsed once however many rules use it. `outer` gives
    the raw table's columns from `inner`; `rejected` is an int[] of the violated rules' indexes
    (NULL for a valid row).
    """

    columns: list[str]
    inner: list[str]
    outer: list[str]
    rules: list[Rule]
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def rejected_expression(self) -> str:
        if not self.rules:
            return "null::int[]"
        conds = [f"coalesce({r.condition}, false)" for r in self.rules]
        # Valid rows (nearly all) only pay for the OR chain; the array is built for bad rows only.
        any_bad = " or ".join(conds)
        items = ", ".join(f"case when {c} then {i} end" for i, c in enumerate(conds))
        return f"(case when {any_bad} then array_remove(array[{items}], null) end)"

    def rules_values_sql(self) -> str:
        """A VALUES list (idx, column, rule, message) to join the rule indexes back to their description."""
        return ", ".join(f"({i}, {_lit(r.column)}, {_lit(r.rule)}, {_lit(r.message)})"
                         for i, r in enumerate(self.rules))


def _parse_expression(col: str, f: Field, strict: bool) -> str | None:
    """SQL giving the value of `col` read as the field's type (canonical text), NULL when unreadable."""
    t = f.type
    if t == "number" and (f.decimal_char or f.group_char):
        # Declared separators: strip the group char, turn the decimal char into '.', then read strictly.
        v = col
        if f.group_char:
            v = f"replace({v}, {_lit(f.group_char)}, '')"
        if f.decimal_char and f.decimal_char != ".":
            v = f"replace({v}, {_lit(f.decimal_char)}, '.')"
        expr = f"(case when {v} ~ {_lit(STRICT_PATTERNS['number'])} then {v} end)"
        return expr if strict else f"coalesce({expr}, {NORMALISERS['number']}({col}))"
    if t == "boolean":
        trues = f.true_values or (DEFAULT_TRUE if strict else ())
        falses = f.false_values or (DEFAULT_FALSE if strict else ())
        parts = []
        if trues:
            parts.append(f"when {col} in ({', '.join(_lit(v) for v in trues)}) then 'true'")
        if falses:
            parts.append(f"when {col} in ({', '.join(_lit(v) for v in falses)}) then 'false'")
        if strict:
            return f"(case {' '.join(parts)} end)"
        return f"(case {' '.join(parts)} else ingest.to_boolean({col}) end)" if parts else f"ingest.to_boolean({col})"
    if strict and t in STRICT_PATTERNS:
        check = f"{col} ~ {_lit(STRICT_PATTERNS[t])}"
        if t in ("integer", "year"):
            fast = _fast_value(t, col)
            return f"coalesce({fast}, case when {check} then {col} end)"
        if t in ("date", "datetime"):  # the regex admits 2024-02-31: let the normaliser reject it
            return f"(case when {check} then {NORMALISERS[t]}({col}) end)"
        return f"(case when {check} then {col} end)"
    if t in NORMALISERS:
        fast = _fast_value(t, col)
        # coalesce: the plpgsql normaliser only runs when the fast reading fails.
        return f"coalesce({fast}, {NORMALISERS[t]}({col}))" if fast else f"{NORMALISERS[t]}({col})"
    if t in OTHER_TYPE_PATTERNS:
        return f"(case when btrim({col}) ~ {_lit(OTHER_TYPE_PATTERNS[t])} then btrim({col}) end)"
    if t == "geopoint":
        return f"(case when ingest.geopoint_ok({col}, {_lit(f.format or 'default')}) then {col} end)"
    if t in ("object", "array", "geojson"):
        opener = {"object": "{", "array": "[", "geojson": "{"}[t]
        return f"(case when left(btrim({col}), 1) = {_lit(opener)} and ingest.is_json({col}) then {col} end)"
    return None  # string, any: nothing to read


def build_plan(schema: Schema | None, columns: list[str], *, strict: bool = False,
               pattern_ok: Callable[[str], bool] | None = None) -> Plan:
    """The SQL plan of one load: normalisation of typed values and every row-level rule of `schema`.

    `strict` reads values as the Table Schema specification defines them (what Validata checks);
    otherwise French forms are accepted and normalised (`1 234,5`, `01/03/2024`, `Vrai`).
    `pattern_ok(pattern)` says whether PostgreSQL can run a pattern; the others are listed in `skipped`.
    """
    inner = [quote_ident(c) for c in columns]
    outer = []
    rules: list[Rule] = []
    plan = Plan(columns=list(columns), inner=inner, outer=outer, rules=rules)
    if schema is None:
        plan.outer.extend(quote_ident(c) for c in columns)
        return plan
    present = set(columns)
    known = {f.column for f in schema.fields}
    plan.missing_required = [f.name for f in schema.fields if f.column not in present
                             and (f.required or f.column in schema.primary_key)]
    plan.missing_optional = [f.name for f in schema.fields if f.column not in present
                             and f.name not in plan.missing_required]
    plan.extra_columns = [c for c in columns if c not in known]
    nulls = [m for m in schema.missing_values if m != ""]
    for i, c in enumerate(columns):
        f = schema.field_for_column(c)
        col = quote_ident(c)
        if f is None:
            outer.append(f"{col}")
            continue
        a, p = f"_a{i}", f"_p{i}"
        # Table Schema compares missingValues exactly: "  " is a value (and, for a number, a wrong one).
        absent = f"({col} is null or {col} = ''" + (
            f" or {col} in ({', '.join(_lit(m) for m in nulls)}))" if nulls else ")")
        inner.append(f"{absent} as {a}")
        parse = _parse_expression(col, f, strict)
        if parse is not None:
            inner.append(f"(case when {absent} then null else {parse} end) as {p}")
        # The raw value: canonical text for normalised types, as published otherwise; missing -> NULL.
        if parse is not None and f.type in NORMALISED_TYPES:
            outer.append(f"(case when {a} then null else coalesce({p}, {col}) end) as {col}")
        elif nulls or f.type != "string":
            outer.append(f"(case when {a} then null else {col} end) as {col}")
        else:
            outer.append(col)
        label = f"« {f.name} »"
        if f.required or f.column in schema.primary_key:
            rules.append(Rule(c, "required", a, f"{label} est obligatoire : la valeur manque"))
        if parse is not None:
            what = TYPE_LABELS_FR.get(f.type, f.type)
            if f.type == "geopoint":
                what += {"array": " au format [lon, lat]", "object": " au format {\"lon\":…, \"lat\":…}"}.get(
                    f.format or "", " au format « lon, lat »")
            rules.append(Rule(c, f"type:{f.type}", f"(not {a} and {p} is null)", f"{label} doit être {what}"))
        if f.type == "string" and f.format in STRING_FORMATS:
            rules.append(Rule(c, f"format:{f.format}", f"(not {a} and {col} !~ {_lit(STRING_FORMATS[f.format])})",
                              f"{label} doit être au format {f.format}"))
        if f.pattern:
            if pattern_ok is not None and not pattern_ok(anchored(f.pattern)):
                plan.skipped.append(f"{f.name}: pattern {f.pattern} (PostgreSQL cannot run it)")
            else:
                ok = fast_pattern(f.pattern, col) or f"{col} ~ {_lit(anchored(f.pattern))}"
                rules.append(Rule(c, "pattern", f"(not {a} and not {ok})",
                                  f"{label} doit respecter le motif {f.pattern}"))
        if f.enum:
            value = f"coalesce({p}, {col})" if parse is not None and f.type in NORMALISED_TYPES else col
            rules.append(Rule(c, "enum", f"(not {a} and {value} not in ({', '.join(_lit(v) for v in f.enum)}))",
                              f"{label} doit valoir l'une de ces valeurs : {' | '.join(f.enum)}"))
        if f.min_length is not None:
            rules.append(Rule(c, "minLength", f"(not {a} and length({col}) < {int(f.min_length)})",
                              f"{label} doit compter au moins {f.min_length} caractères"))
        if f.max_length is not None:
            rules.append(Rule(c, "maxLength", f"(not {a} and length({col}) > {int(f.max_length)})",
                              f"{label} doit compter au plus {f.max_length} caractères"))
        for bound, op, word in (("minimum", "<", "supérieur ou égal à"), ("maximum", ">", "inférieur ou égal à")):
            limit = getattr(f, bound)
            if limit is None or parse is None:
                continue
            if f.type in ("number", "integer"):
                cond = f"({p}::numeric {op} {float(limit)!r})"
            elif f.type in ("date", "datetime", "year", "yearmonth", "time"):
                cond = f"({p} {op} {_lit(limit)})"  # canonical ISO text sorts like the values
            else:
                continue
            rules.append(Rule(c, bound, cond, f"{label} doit être {word} {limit}"))
    return plan


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


# ---------------------------------------------------------------------------------------------
# The optimistic check: most files are clean, so first ask PostgreSQL, in ONE aggregate scan of the
# staging table, whether any rule is broken at all, using the cheapest C-level operations (casts,
# min/max, lengths, equality) instead of the per-value expressions of `Plan`. The scan can run in
# parallel workers (it returns one row). When it finds nothing, the raw table is built with trivial
# expressions; when it finds something (or a cast raises), the loader takes the detailed path
# (`build_plan`) that names every broken cell. Both paths accept exactly the same values on clean
# files: the fast one only says "all clear" when every value is already in a form the detailed
# path would accept unchanged (or with `,` -> `.`).

FAST_TYPES = {"string", "integer", "number", "date", "boolean", "any"}


@dataclass
class FastCheck:
    """`aggregates` read the values as published: for a number column `c` they are COPYed into a
    hidden column `published[c]`, and `c` is a STORED generated column `generated[c]` (`,` -> `.`)
    that PostgreSQL computes during the COPY itself, so a clean file is written once."""

    aggregates: list[str]                      # SQL aggregates over the loaded table
    oks: list[Callable[[Any], bool]]           # per aggregate: is its value fine?
    outer: list[str]                           # the raw table's columns when everything is fine
    needs_empty_filter: bool                   # no required column proves that no record is empty
    published: dict[str, str] = field(default_factory=dict)   # column -> hidden column holding the published text
    generated: dict[str, str] = field(default_factory=dict)   # column -> generation expression (over the hidden one)

    def sql(self, table: str) -> str:
        return f"select {', '.join(self.aggregates) or 'true'} from {table}"

    def clean(self, row: tuple) -> bool:
        return all(ok(v) for ok, v in zip(self.oks, row, strict=False))


def _bound_ok(limit: Any, op: str) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        if value is None or limit is None:
            return True
        if isinstance(value, str):  # ISO dates compare as text
            a, b = value, str(limit)
        else:
            a, b = float(value), float(limit)
        return a >= b if op == ">=" else a <= b
    return ok


def build_fast_check(schema: Schema | None, columns: list[str], *, strict: bool = False,
                     pattern_ok: Callable[[str], bool] | None = None,
                     decimal_points_rewritten: bool = False,
                     proved_by_client: frozenset[str] = frozenset(),
                     empty_records_checked: bool = False) -> FastCheck | None:
    """The one-scan "is anything wrong?" check of `schema`, or None when the schema uses something
    it cannot decide cheaply (strict reading, datetime, geopoint, declared separators, missingValues...).

    `decimal_points_rewritten`: the loaded number columns already hold `replace(published, ',', '.')`
    (the loader rewrote them while streaming), so there is no hidden published column; None when a
    check needs the published text of a number (its pattern, enum or lengths). `proved_by_client`:
    columns whose every rule the client proved while streaming (`stream_checks`), left out here, and
    `empty_records_checked`: the client saw no empty record."""
    outer = [quote_ident(c) for c in columns]
    if schema is None:
        return FastCheck([], [], outer, needs_empty_filter=True)
    if strict or [m for m in schema.missing_values if m != ""]:
        return None
    aggs: list[str] = []
    oks: list[Callable[[Any], bool]] = []
    published: dict[str, str] = {}
    generated: dict[str, str] = {}
    required_absent: list[str] = []  # one aggregate for all required columns: cheap comparisons, one count
    zero = lambda v: not v  # noqa: E731 - None (no row) or 0 / False
    required_checked = False
    for i, c in enumerate(columns):
        f = schema.field_for_column(c)
        if f is None:
            continue
        if c in proved_by_client:
            required_checked = required_checked or f.required or f.column in schema.primary_key
            continue
        if f.type not in FAST_TYPES or f.format or f.decimal_char or f.group_char or f.true_values or \
                f.false_values or (f.enum and f.type != "string"):
            return None
        col = quote_ident(c)
        if f.type == "number" and decimal_points_rewritten:
            if f.pattern or f.enum or f.min_length is not None or f.max_length is not None:
                return None
            num_col = col
        elif f.type == "number":
            hidden = f"_published_{i}"
            published[c] = hidden
            generated[c] = f"replace({quote_ident(hidden)}, ',', '.')"
            # The type and bounds are checked on the generated column (`,` already `.`: the same
            # value as `replace(published)`, without computing it again); pattern, enum and lengths on
            # what was published.
            num_col = col
            col = quote_ident(hidden)
        val = f"nullif({col}, '')"
        if f.required or f.column in schema.primary_key:
            required_absent.append(f"{col} is null or {col} = ''")
            required_checked = True
        if f.type in ("integer", "number"):
            # The cast checks the syntax (a bad value raises); min/max only as the bounds require,
            # since every aggregate re-evaluates its cast.
            num = f"{val}::int8" if f.type == "integer" else f"nullif({num_col}, '')::float8"
            if f.maximum is not None:
                aggs.append(f"max({num})")
                oks.append(_bound_ok(f.maximum, "<="))
            if f.minimum is not None:
                aggs.append(f"min({num})")
                oks.append(_bound_ok(f.minimum, ">="))
            elif f.maximum is None:
                if f.type == "number":
                    # float8 also reads NaN and Infinity, which the detailed check refuses: max(abs())
                    # is NaN or Infinity then.
                    aggs.append(f"max(abs({num}))")
                    oks.append(lambda v: v is None or math.isfinite(v))
                else:
                    aggs.append(f"min({num})")
                    oks.append(_bound_ok(None, ">="))
            if f.type == "number" and not decimal_points_rewritten:
                outer[i] = f"replace({col}, ',', '.') as {quote_ident(c)}"
        elif f.type == "date":
            iso = f"length({col}) = 10 and substr({col}, 5, 1) = '-' and substr({col}, 8, 1) = '-'"
            aggs += [f"count({val}) - count(case when {iso} then {col}::date end)",
                     f"min(case when {iso} then {col}::date end)::text",
                     f"max(case when {iso} then {col}::date end)::text"]
            oks += [zero, _bound_ok(f.minimum, ">="), _bound_ok(f.maximum, "<=")]
        elif f.type == "boolean":
            aggs.append(f"bool_and({col} in ('true', 'false'))")
            oks.append(lambda v: v is None or v is True)
        if f.pattern:
            if pattern_ok is not None and not pattern_ok(anchored(f.pattern)):
                pass  # reported by the detailed plan's `skipped`; the fast check ignores it likewise
            else:
                broken = fast_digits_broken(f.pattern, col) or \
                    f"not {fast_pattern(f.pattern, col) or f'{col} ~ {_lit(anchored(f.pattern))}'}"
                aggs.append(f"bool_or({col} <> '' and {broken})")  # NULL (missing) is ignored
                oks.append(zero)
        if f.enum:
            aggs.append(f"bool_or({col} <> '' and {col} not in ({', '.join(_lit(v) for v in f.enum)}))")
            oks.append(zero)
        if f.min_length is not None:
            aggs.append(f"min(length({val}))")
            oks.append(_bound_ok(f.min_length, ">="))
        if f.max_length is not None:
            aggs.append(f"max(length({val}))")
            oks.append(_bound_ok(f.max_length, "<="))
    if required_absent:
        aggs.append(f"count(*) filter (where {' or '.join(required_absent)})")
        oks.append(zero)
    return FastCheck(aggs, oks, outer, needs_empty_filter=not (required_checked or empty_records_checked),
                     published=published, generated=generated)
