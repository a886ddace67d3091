"""The preview table of a dataset page: one filter, a sort and pages, all in query parameters, so
the form works without JavaScript and every view has its own link.

Column names are checked against the published table; the value a visitor types is parsed by the
column's type (a clear French message when it does not fit) and always bound, never spliced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from psycopg import sql

from territoire.portal.db import Column

PAGE_SIZE = 50
MAX_PAGE = 200  # deeper pages belong to the API (keyset pagination) or the downloads
OPERATORS = {
    "eq": "est égal à", "ne": "est différent de", "lt": "est inférieur à", "gt": "est supérieur à",
    "contains": "contient", "isnull": "est vide",
}
SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "gt": ">"}
EXPECTED = {"entier": "un nombre entier (ex. 42)", "nombre": "un nombre (ex. 12,5)",
            "booleen": "oui ou non", "date": "une date JJ/MM/AAAA ou AAAA-MM-JJ",
            "horodatage": "une date JJ/MM/AAAA ou AAAA-MM-JJ", "texte": "un texte"}


class BadFilter(ValueError):
    """A filter the page cannot apply; the message is shown to the visitor as it is."""


@dataclass
class Query:
    column: str = ""
    operator: str = "eq"
    value: str = ""
    sort: str = ""
    descending: bool = False
    page: int = 1
    errors: list[str] = field(default_factory=list)

    def params(self, **changes) -> str:
        values = {"colonne": self.column, "operateur": self.operator, "valeur": self.value, "tri": self.sort,
                  "ordre": "desc" if self.descending else "asc", "page": self.page}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def read_query(args: dict[str, str], columns: list[Column]) -> Query:
    """The visitor's query parameters, checked; unknown names are dropped with a message."""
    names = {c.name for c in columns}
    q = Query(column=args.get("colonne", ""), operator=args.get("operateur", "eq"), value=args.get("valeur", ""),
              sort=args.get("tri", ""), descending=args.get("ordre") == "desc")
    if q.column and q.column not in names:
        q.errors.append(f"La colonne « {q.column} » n'existe pas dans ce jeu de données.")
        q.column = ""
    if q.operator not in OPERATORS:
        q.errors.append(f"L'opérateur « {q.operator} » n'est pas connu (choix : {', '.join(OPERATORS.values())}).")
        q.operator = "eq"
    if q.sort and q.sort not in names:
        q.errors.append(f"Impossible de trier sur « {q.sort} » : cette colonne n'existe pas.")
        q.sort = ""
    try:
        q.page = min(max(int(args.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        q.errors.append("Le numéro de page doit être un nombre entier.")
    return q


def parse_value(column: Column, text: str):
    """The typed value for a filter on `column`; BadFilter names what was expected."""
    text = text.strip()
    try:
        if column.family == "entier":
            return int(text.replace(" ", "").replace("\u202f", ""))
        if column.family == "nombre":
            return Decimal(text.replace(" ", "").replace("\u202f", "").replace(",", "."))
        if column.family == "booleen":
            return {"oui": True, "vrai": True, "true": True, "1": True,
                    "non": False, "faux": False, "false": False, "0": False}[text.casefold()]
        if column.family in ("date", "horodatage"):
            return datetime.strptime(text, "%d/%m/%Y").date() if "/" in text else date.fromisoformat(text)
    except (ValueError, KeyError, InvalidOperation):
        raise BadFilter(f"« {text} » ne convient pas pour la colonne « {column.name} » : "
                        f"il faut {EXPECTED[column.family]}.") from None
    return text


def where_clause(q: Query, columns: list[Column]) -> tuple[sql.Composable, list]:
    if not q.column or (not q.value and q.operator != "isnull"):
        return sql.SQL(""), []
    column = next(c for c in columns if c.name == q.column)
    target = sql.Identifier(column.name)
    if q.operator == "isnull":
        return sql.SQL(" where {} is null").format(target), []
    if q.operator == "contains":
        return sql.SQL(" where {}::text ilike %s").format(target), ["%" + _like_escape(q.value) + "%"]
    value = parse_value(column, q.value)
    return sql.SQL(" where {} " + SQL_OPERATORS[q.operator] + " %s").format(target), [value]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Page:
    columns: list[str]
    rows: list[tuple]
    total: int
    query: Query

    @property
    def last_page(self) -> int:
        return min(max(1, -(-self.total // PAGE_SIZE)), MAX_PAGE)


def fetch(conn, table: str, columns: list[Column], q: Query, default_sort: tuple[str, ...]) -> Page:
    """One page of the published table as the query asks; BadFilter when the value does not fit."""
    where, params = where_clause(q, columns)
    relation = sql.Identifier("published", table)
    total = conn.execute(sql.SQL("select count(*) from {}").format(relation) + where, params).fetchone()[0]
    sort = [q.sort] if q.sort else [c for c in default_sort if any(col.name == c for col in columns)]
    order = sql.SQL(", ").join(
        sql.SQL("{} {} nulls last").format(sql.Identifier(c), sql.SQL("desc" if q.descending else "asc"))
        for c in sort) if sort else sql.SQL("1")
    query = (sql.SQL("select {} from {}").format(sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
                                                relation)
             + where + sql.SQL(" order by ") + order + sql.SQL(" limit %s offset %s"))
    rows = conn.execute(query, [*params, PAGE_SIZE, (q.page - 1) * PAGE_SIZE]).fetchall()
    return Page([c.name for c in columns], rows, total, q)
