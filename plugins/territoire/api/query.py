"""The query layer: client parameters -> SQL built with psycopg.sql, every value bound.

Identifiers (dataset, columns) come only from the catalog's allow-list (`catalog.Table`), quoted by
`sql.Identifier`; values are parsed by their column's type (`values.parse`) and bound as parameters.
Nothing a client sends is ever pasted into the SQL text.

Filters: `<column>__<operator>=<value>` with operators eq, ne, lt, le, gt, ge, in (comma-separated
values), contains (text columns, case-insensitive) and isnull (true/false).
Pagination: keyset on (sort column, dataset key), so page 9,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from territoire.api.catalog import Column, Table
from territoire.api.config import ApiConfig
from territoire.api.problems import bad_parameter, too_large
from territoire.api.values import check_text, parse

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "isnull")
COMPARISONS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
AGGREGATES = ("count", "sum", "avg", "min", "max")
NUMERIC_ONLY = ("sum", "avg")
ORDERABLE = ("integer", "number", "boolean", "date", "timestamp", "text")


@dataclass
class Filter:
    parameter: str
    column: Column
    op: str
    value: Any

    def describe(self) -> dict:
        return {"column": self.column.name, "operator": self.op, "value": _jsonable(self.value)}


def _jsonable(value):
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (int, float, bool, str, type(None))) else str(value)


def relation(table: Table) -> sql.Composable:
    return sql.Identifier("published", table.id)


def column_of(table: Table, parameter: str, name: str) -> Column:
    try:
        return table.columns[name]
    except KeyError:
        raise bad_parameter(parameter, f"La colonne {name!r} n'existe pas dans {table.id}.",
                            f"Column {name!r} does not exist in {table.id}.", allowed=list(table.columns)) from None


def _split_list(parameter: str, text: str, limit: int, config: ApiConfig) -> list[str]:
    check_text(parameter, text, config.max_value_length * 10)
    items = [t for t in text.split(",") if t != ""]
    if len(items) > limit:
        raise too_large(parameter, limit, f"{parameter} accepte au plus {limit} valeurs.",
                        f"{parameter} accepts at most {limit} values.")
    return items


# ---- filters ----------------------------------------------------------------------------------

def parse_filters(table: Table, params: list[tuple[str, str]], reserved: tuple[str, ...],
                  config: ApiConfig) -> list[Filter]:
    candidates = [(name, text) for name, text in params if name not in reserved]
    if len(candidates) > config.max_filters:
        raise too_large("filters", config.max_filters, f"Au plus {config.max_filters} filtres par requête.",
                        f"At most {config.max_filters} filters per request.")
    filters = []
    for name, text in candidates:
        col_name, sep, op = name.rpartition("__")
        if not sep:
            raise bad_parameter(name, f"Paramètre inconnu {name!r} : les filtres s'écrivent <colonne>__<opérateur>.",
                                f"Unknown parameter {name!r}: filters are written <column>__<operator>.",
                                allowed=[*reserved, "<colonne>__<opérateur>"])
        column = column_of(table, name, col_name)
        if op not in OPERATORS:
            raise bad_parameter(name, f"Opérateur inconnu {op!r}.", f"Unknown operator {op!r}.",
                                allowed=list(OPERATORS))
        filters.append(Filter(name, column, op, _filter_value(name, column, op, text, config)))
    return filters


def _filter_value(name: str, column: Column, op: str, text: str, config: ApiConfig):
    if op == "isnull":
        value = parse(name, Column(column.name, "boolean", True), text)
        return value
    if op == "contains":
        if column.family != "text":
            raise bad_parameter(name, f"contains ne s'applique qu'aux colonnes de texte ; {column.name} est "
                                f"{column.pg_type}.", f"contains only applies to text columns; {column.name} is "
                                f"{column.pg_type}.", allowed=[o for o in OPERATORS if o != "contains"])
        return check_text(name, text, config.max_value_length)
    if op == "in":
        items = _split_list(name, text, config.max_in_values, config)
        return [parse(name, column, t, config.max_value_length) for t in items]
    return parse(name, column, text, config.max_value_length)


def _condition(f: Filter) -> tuple[sql.Composable, list]:
    col = sql.Identifier(f.column.name)
    if f.op == "isnull":
        return sql.SQL("{} is null" if f.value else "{} is not null").format(col), []
    if f.op == "contains":
        return sql.SQL("strpos(lower({}), lower(%s)) > 0").format(col), [f.value]
    if f.op == "in":
        return sql.SQL("{} = any(%s)").format(col), [f.value]
    if f.op == "ne":
        return sql.SQL("{} is distinct from %s").format(col), [f.value]
    return sql.SQL("{} " + COMPARISONS[f.op] + " %s").format(col), [f.value]


def where(conditions: list[tuple[sql.Composable, list]]) -> tuple[sql.Composable, list]:
    if not conditions:
        return sql.SQL(""), []
    params: list = []
    for _, p in conditions:
        params.extend(p)
    return sql.SQL(" where ") + sql.SQL(" and ").join(c for c, _ in conditions), params


def filter_conditions(filters: list[Filter]) -> list[tuple[sql.Composable, list]]:
    return [_condition(f) for f in filters]


# ---- columns and sort -------------------------------------------------------------------------

def parse_columns(table: Table, text: str | None, config: ApiConfig) -> list[Column]:
    if not text:
        return list(table.columns.values())
    names = _split_list("columns", text, len(table.columns) + 1, config)
    seen = []
    for name in names:
        column = column_of(table, "columns", name.strip())
        if column not in seen:
            seen.append(column)
    return seen


@dataclass
class Sort:
    column: Column | None  # None: the dataset's key only
    descending: bool = False


def parse_sort(table: Table, text: str | None) -> Sort:
    if not text:
        return Sort(None)
    descending = text.startswith("-")
    column = column_of(table, "sort", text.lstrip("-+ "))
    if column.family not in ORDERABLE:
        raise bad_parameter("sort", f"La colonne {column.name} ({column.pg_type}) ne se trie pas.",
                            f"Column {column.name} ({column.pg_type}) cannot be sorted.",
                            allowed=[c.name for c in table.columns.values() if c.family in ORDERABLE])
    return Sort(column, descending)


# ---- keyset pagination ------------------------------------------------------------------------

@dataclass
class Page:
    table: Table
    columns: list[Column]
    sort: Sort
    filters: list[Filter]
    size: int
    after: list | None = None
    key: list[Column] = field(default_factory=list)

    def __post_init__(self):
        key = [self.sort.column] if self.sort.column else []
        key += [self.table.columns[c] for c in self.table.key if not key or c != key[0].name]
        self.key = key

    @property
    def selected(self) -> list[Column]:
        """The requested columns, then the key columns the cursor needs."""
        return self.columns + [c for c in self.key if c not in self.columns]


def encode_cursor(values: list) -> str:
    text = json.dumps([None if v is None else (v if isinstance(v, (bool, int)) else str(v)) for v in values],
                      ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(token: str, key: list[Column]) -> list:
    problem = bad_parameter("after", "Le curseur `after` est invalide : reprenez le lien `next` d'une page.",
                            "The `after` cursor is invalid: use the `next` link of a page.")
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise problem from None
    if not isinstance(raw, list) or len(raw) != len(key):
        raise problem
    values = []
    for column, v in zip(key, raw, strict=True):
        if v is None or isinstance(v, (bool, int)):
            values.append(v)
        elif isinstance(v, str):
            values.append(parse("after", column, v, max_length=20_000))  # a long text key is still a key
        else:
            raise problem
    if any(v is None for v, c in zip(values, key, strict=True) if c is not key[0] or c.not_null):
        raise problem
    return values


def _keyset_condition(page: Page) -> tuple[sql.Composable, list] | None:
    """Rows after the cursor, in (sort column, key) order; nulls of the sort column come last."""
    if page.after is None:
        return None
    op = sql.SQL("<" if page.sort.descending else ">")
    idents = [sql.Identifier(c.name) for c in page.key]
    first, first_value = page.key[0], page.after[0]
    nullable = page.sort.column is not None and not first.not_null
    if nullable and first_value is None:
        rest = sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(idents[1:]), op,
                                             sql.SQL(", ").join(sql.Placeholder() for _ in idents[1:]))
        return sql.SQL("({} is null and {})").format(idents[0], rest), page.after[1:]
    cond = sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(idents), op,
                                         sql.SQL(", ").join(sql.Placeholder() for _ in idents))
    if nullable:
        cond = sql.SQL("({} or {} is null)").format(cond, idents[0])
    return cond, list(page.after)


def page_query(page: Page) -> tuple[sql.Composable, list]:
    conditions = filter_conditions(page.filters)
    keyset = _keyset_condition(page)
    if keyset:
        conditions.append(keyset)
    clause, params = where(conditions)
    direction = sql.SQL(" desc nulls last" if page.sort.descending else " asc nulls last")
    order = sql.SQL(", ").join(sql.Identifier(c.name) + direction for c in page.key)
    query = sql.SQL("select {} from {}{} order by {} limit {}").format(
        sql.SQL(", ").join(sql.Identifier(c.name) for c in page.selected), relation(page.table), clause, order,
        sql.Literal(page.size + 1))
    return query, params


# ---- aggregates -------------------------------------------------------------------------------

@dataclass
class Aggregate:
    function: str
    column: Column | None

    @property
    def alias(self) -> str:
        return self.function if self.column is None else f"{self.function}_{self.column.name}"

    def expression(self) -> sql.Composable:
        if self.column is None:
            return sql.SQL("count(*)")
        return sql.SQL(self.function + "({})").format(sql.Identifier(self.column.name))


def parse_aggregates(table: Table, specs: list[str], config: ApiConfig) -> list[Aggregate]:
    if len(specs) > config.max_aggregates:
        raise too_large("agg", config.max_aggregates, f"Au plus {config.max_aggregates} agrégats par requête.",
                        f"At most {config.max_aggregates} aggregates per request.")
    out = []
    for spec in specs or ["count"]:
        check_text("agg", spec, config.max_value_length)
        function, _, name = spec.partition(":")
        if function not in AGGREGATES:
            raise bad_parameter("agg", f"Agrégat inconnu {function!r} (forme : fonction:colonne).",
                                f"Unknown aggregate {function!r} (form: function:column).", allowed=list(AGGREGATES))
        column = column_of(table, "agg", name) if name else None
        if column is None and function != "count":
            raise bad_parameter("agg", f"{function} demande une colonne : {function}:<colonne>.",
                                f"{function} needs a column: {function}:<column>.", allowed=list(table.columns))
        _check_aggregable(table, function, column)
        out.append(Aggregate(function, column))
    return out


def _check_aggregable(table: Table, function: str, column: Column | None) -> None:
    if column is None or function == "count":
        return
    allowed = ("integer", "number") if function in NUMERIC_ONLY else ORDERABLE
    if column.family not in allowed:
        raise bad_parameter("agg", f"{function} ne s'applique pas à {column.name} ({column.pg_type}).",
                            f"{function} does not apply to {column.name} ({column.pg_type}).",
                            allowed=[f"{function}:{c.name}" for c in table.columns.values() if c.family in allowed])


@dataclass
class Grouping:
    table: Table
    group_by: list[Column]
    aggregates: list[Aggregate]
    filters: list[Filter]
    sort: tuple[str, bool] | None  # output name, descending
    limit: int

    @property
    def output(self) -> list[str]:
        return [c.name for c in self.group_by] + [a.alias for a in self.aggregates]


def parse_group_by(table: Table, text: str | None, config: ApiConfig) -> list[Column]:
    if not text:
        return []
    names = _split_list("group_by", text, config.max_group_by, config)
    columns = []
    for name in names:
        column = column_of(table, "group_by", name.strip())
        if column not in columns:
            columns.append(column)
    return columns


def parse_group_sort(text: str | None, output: list[str]) -> tuple[str, bool] | None:
    if not text:
        return None
    name = text.lstrip("-+ ")
    if name not in output:
        raise bad_parameter("sort", f"{name!r} n'est ni une colonne de regroupement ni un agrégat de la requête.",
                            f"{name!r} is neither a group-by column nor an aggregate of the request.", allowed=output)
    return name, text.startswith("-")


def grouping_query(g: Grouping) -> tuple[sql.Composable, list]:
    clause, params = where(filter_conditions(g.filters))
    select = [sql.Identifier(c.name) for c in g.group_by]
    select += [a.expression() + sql.SQL(" as ") + sql.Identifier(a.alias) for a in g.aggregates]
    query = sql.SQL("select {} from {}{}").format(sql.SQL(", ").join(select), relation(g.table), clause)
    if g.group_by:
        query += sql.SQL(" group by {}").format(sql.SQL(", ").join(sql.Identifier(c.name) for c in g.group_by))
    if g.sort:
        name, desc = g.sort
        query += sql.SQL(" order by {}{}").format(sql.Identifier(name), sql.SQL(" desc nulls last" if desc else ""))
    elif g.group_by:
        query += sql.SQL(" order by {}").format(sql.SQL(", ").join(sql.Identifier(c.name) for c in g.group_by))
    return query + sql.SQL(" limit {}").format(sql.Literal(g.limit + 1)), params


# ---- export -----------------------------------------------------------------------------------

def export_query(table: Table, columns: list[Column], sort: Sort, filters: list[Filter],
                 expressions: dict[str, sql.Composable] | None = None) -> tuple[sql.Composable, list]:
    """The whole filtered result, in (sort column, key) order. `expressions` replaces a column's select
    expression (the CSV's spreadsheet-safe text, the Parquet's numeric as double)."""
    expressions = expressions or {}
    clause, params = where(filter_conditions(filters))
    page = Page(table, columns, sort, filters, size=0)
    direction = sql.SQL(" desc nulls last" if sort.descending else "")
    order = sql.SQL(", ").join(sql.Identifier(c.name) + direction for c in page.key)
    select = sql.SQL(", ").join(expressions.get(c.name, sql.Identifier(c.name)) for c in columns)
    return sql.SQL("select {} from {}{} order by {}").format(select, relation(table), clause, order), params
