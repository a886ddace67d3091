"""Client text -> typed Python value for a column, and typed value -> JSON.

A value is parsed by the family of its column's PostgreSQL type before it is bound, so that a
wrong value is a 400 naming the parameter and the type expected (never a SQL error), and so that
every value travels to PostgreSQL as a bound parameter of the right type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from territoire.api.catalog import Column
from territoire.api.problems import bad_parameter

TRUE = {"true", "1", "vrai", "oui", "yes", "t"}
FALSE = {"false", "0", "faux", "non", "no", "f"}
EXPECTED = {
    "integer": ("un nombre entier (ex. 42)", "a whole number (e.g. 42)"),
    "number": ("un nombre décimal avec un point (ex. 12.5)", "a decimal number with a point (e.g. 12.5)"),
    "boolean": ("true ou false", "true or false"),
    "date": ("une date AAAA-MM-JJ", "a date YYYY-MM-DD"),
    "timestamp": ("une date et heure ISO 8601 (ex. 2024-03-01T10:00:00+01:00)",
                  "an ISO 8601 date-time (e.g. 2024-03-01T10:00:00+01:00)"),
    "text": ("un texte", "a text"),
}


def _integer(text: str) -> int:
    value = int(text.strip())
    if abs(value) >= 2**63:
        raise ValueError("out of range")
    return value


def _number(text: str) -> Decimal:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise ValueError("not finite")
    return value


def _boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(text)


PARSERS = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": lambda t: date.fromisoformat(t.strip()),
    "timestamp": lambda t: datetime.fromisoformat(t.strip()),
    "text": str,
}


def check_text(parameter: str, text: str, max_length: int) -> str:
    if "\x00" in text:
        raise bad_parameter(parameter, "La valeur contient un caractère nul, que l'entrepôt refuse.",
                            "The value holds a NUL character, which the warehouse refuses.")
    if len(text) > max_length:
        raise bad_parameter(parameter, f"La valeur dépasse {max_length} caractères.",
                            f"The value is longer than {max_length} characters.", status=422, limit=max_length)
    return text


def parse(parameter: str, column: Column, text: str, max_length: int = 1000):
    """The value of `text` for `column`, or a 400 problem naming the parameter and the type expected."""
    check_text(parameter, text, max_length)
    family = column.family
    if family not in PARSERS:
        raise bad_parameter(parameter, f"La colonne {column.name} ({column.pg_type}) ne se filtre que par isnull.",
                            f"Column {column.name} ({column.pg_type}) can only be filtered with isnull.",
                            allowed=["isnull"])
    try:
        return PARSERS[family](text)
    except (ValueError, InvalidOperation, ArithmeticError):
        fr, en = EXPECTED[family]
        raise bad_parameter(parameter, f"{text!r} n'est pas une valeur de la colonne {column.name} : {fr} est attendu.",
                            f"{text!r} is not a value of column {column.name}: {en} expected.",
                            expected_type=family) from None


def to_json(value):
    """A JSON-ready value: numbers stay numbers, dates become ISO 8601 text."""
    if isinstance(value, Decimal):
        f = float(value)
        return f if math.isfinite(f) else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# Families whose values psycopg already gives as JSON-ready Python values (int, str, bool or None).
JSON_READY = ("integer", "text", "boolean")


def json_converter(column: Column) -> Callable | None:
    """What makes a value of `column` JSON-ready (`to_json`), or None when psycopg's value already is."""
    return None if column.family in JSON_READY else to_json


def json_rows(columns: Sequence[Column], rows: Iterable[Sequence]) -> list[dict]:
    """Rows as JSON-ready objects keyed by column name (the first len(columns) values of each row).

    Only the columns that need it go through `to_json`: a page of 10,000 rows is mostly text and
    integers, and a call per cell was most of the API's own time on a page."""
    names = [c.name for c in columns]
    width = len(names)
    converters = [(i, f) for i, c in enumerate(columns) if (f := json_converter(c)) is not None]
    if not converters:
        return [dict(zip(names, row[:width], strict=True)) for row in rows]
    out = []
    for row in rows:
        values = list(row[:width])
        for i, convert in converters:
            values[i] = convert(values[i])
        out.append(dict(zip(names, values, strict=True)))
    return out
