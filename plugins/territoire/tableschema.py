"""Table Schema (frictionless / schema.data.gouv.fr) rules, checked set-based in PostgreSQL.

The loader streams a file into a staging table of text columns, then this module builds one SQL
statement that finds every violation of the resource's Table Schema (type, required, pattern,
enum, minimum/maximum, unique keys) with the line number, column, rule and value, and the SQL
expressions that normalise French-formatted values (`1 234,5`, `01/03/2024`, `Vrai`) into
canonical text for the raw table.

Doing this in the database keeps loads at COPY speed: Python never touches each value.
"""

from __future__ import annotations

import json
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
begin
    if s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$' then
        return null;
    end if;
    perform s::timestamptz;
    return s;
exception when others then
    return null;
end
$$;

create or replace function ingest.to_year(v text) returns text
language sql immutable parallel safe as $$
    select case when btrim(v) ~ '^[0-9]{4}(\.0+)?$' then left(btrim(v), 4) else null end
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

# Values already in (nearly) canonical form: recognised by one regex and normalised inline, so the
# plpgsql functions above only run for the unusual values (thousands separators, French dates...).
FAST_PATHS = {
    "number": (r"^[+-]?[0-9]+([.,][0-9]+)?$", "replace({v}, ',', '.')"),
    "integer": (r"^[+-]?[0-9]+$", "{v}"),
    "boolean": (r"^(true|false)$", "{v}"),
    "date": (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])$", "{v}"),
    "year": (r"^[0-9]{4}$", "{v}"),
}

NORMALISERS = {
    "number": "ingest.to_number",
    "integer": "ingest.to_integer",
    "boolean": "ingest.to_boolean",
    "date": "ingest.to_date",
    "datetime": "ingest.to_datetime",
    "year": "ingest.to_year",
}


@dataclass(frozen=True)
class Field:
    name: str
    column: str
    type: str = "string"
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unique: bool = False
    description: str = ""
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    path: Path
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    extra: dict[str, Any] = field(default_factory=dict)

    def field_for_column(self, column: str) -> Field | None:
        for f in self.fields:
            if f.column == column:
                return f
        return None


@lru_cache(maxsize=64)
def load_schema(path: Path) -> Schema:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    fields = []
    for i, f in enumerate(data.get("fields", []), start=1):
        c = f.get("constraints") or {}
        fields.append(Field(
            name=f["name"], column=normalise_column(f["name"], i), type=f.get("type", "string"),
            required=bool(c.get("required", False)), pattern=c.get("pattern"),
            enum=tuple(str(v) for v in c.get("enum", ()) or ()),
            minimum=c.get("minimum"), maximum=c.get("maximum"), unique=bool(c.get("unique", False)),
            description=f.get("description", ""),
        ))
    pk = data.get("primaryKey") or ()
    if isinstance(pk, str):
        pk = (pk,)
    by_name = {f.name: f.column for f in fields}
    return Schema(
        path=Path(path), fields=tuple(fields),
        primary_key=tuple(by_name.get(k, normalise_column(k, 0)) for k in pk),
        missing_values=tuple(data.get("missingValues", [""])),
        extra={k: v for k, v in data.items() if k not in ("fields",)},
    )


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def normalised_expression(column: str, f: Field | None, missing: tuple[str, ...]) -> str:
    """SQL expression turning the staged text of `column` into its canonical raw text."""
    col = quote_ident(column)
    nulls = ", ".join(_lit(m) for m in missing if m != "")
    base = f"nullif(btrim({col}), '')" if f and f.type != "string" else col
    if nulls:
        base = f"(case when btrim({col}) in ({nulls}) then null else {base} end)"
    if f is None or f.type not in NORMALISERS:
        return base
    slow = f"coalesce({NORMALISERS[f.type]}({base}), {base})"
    if f.type in FAST_PATHS:
        pattern, fast = FAST_PATHS[f.type]
        return f"(case when {col} ~ {_lit(pattern)} then {fast.format(v=col)} else {slow} end)"
    return slow


def valid_expression(column: str, ftype: str) -> str:
    """SQL condition: the (present) value of `column` can be read as `ftype`."""
    col = quote_ident(column)
    check = f"{NORMALISERS[ftype]}({col}) is not null"
    if ftype in FAST_PATHS:
        return f"(case when {col} ~ {_lit(FAST_PATHS[ftype][0])} then true else {check} end)"
    return f"({check})"


def numeric_expression(column: str, ftype: str) -> str:
    col = quote_ident(column)
    pattern, fast = FAST_PATHS[ftype]
    return f"(case when {col} ~ {_lit(pattern)} then {fast.format(v=col)} else {NORMALISERS[ftype]}({col}) end)::numeric"


@dataclass(frozen=True)
class Rule:
    """One check: a SQL condition that is true when the row violates it."""

    column: str
    rule: str
    condition: str
    message: str


def rules_for(schema: Schema, columns: list[str]) -> tuple[list[Rule], list[str]]:
    """The row-level rules of `schema` for a file with `columns`, and the schema's missing required columns."""
    rules: list[Rule] = []
    present = set(columns)
    missing_columns = [f.name for f in schema.fields if f.required and f.column not in present]
    nulls = [m for m in schema.missing_values if m != ""]
    for f in schema.fields:
        if f.column not in present:
            continue
        col = quote_ident(f.column)
        absent = f"(nullif(btrim({col}), '') is null" + (
            f" or btrim({col}) in ({', '.join(_lit(m) for m in nulls)}))" if nulls else ")"
        )
        if f.required:
            rules.append(Rule(f.column, "required", absent, f"field {f.name!r} is required"))
        if f.type in NORMALISERS:
            rules.append(Rule(
                f.column, f"type:{f.type}", f"(not {absent} and not {valid_expression(f.column, f.type)})",
                f"field {f.name!r} must be a {f.type}",
            ))
        if f.pattern:
            rules.append(Rule(
                f.column, "pattern", f"(not {absent} and not ({col} ~ {_lit(f.pattern)}))",
                f"field {f.name!r} must match the pattern {f.pattern}",
            ))
        if f.enum:
            values = ", ".join(_lit(v) for v in f.enum)
            rules.append(Rule(
                f.column, "enum", f"(not {absent} and {col} not in ({values}))",
                f"field {f.name!r} must be one of: {', '.join(f.enum)}",
            ))
        if f.type in ("number", "integer") and (f.minimum is not None or f.maximum is not None):
            num = numeric_expression(f.column, f.type)
            if f.minimum is not None:
                rules.append(Rule(
                    f.column, "minimum", f"(coalesce({num} < {float(f.minimum)}, false))",
                    f"field {f.name!r} must be >= {f.minimum}",
                ))
            if f.maximum is not None:
                rules.append(Rule(
                    f.column, "maximum", f"(coalesce({num} > {float(f.maximum)}, false))",
                    f"field {f.name!r} must be <= {f.maximum}",
                ))
    return rules, missing_columns
