"""Client text -> typed Python value for a column, and typed value -> JSON.

A value is parsed by the family of its column's PostgreSQL type before it is bound, so that a
wrong value is a 400 naming the parameter and the type expected (never a SQL error), and so that
every value travels to PostgreSQL as a bound parameter of the right type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import orjson

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


def _decimal(value: Decimal):
    f = float(value)
    return f if math.isfinite(f) else str(value)


def to_json(value):
    """A JSON-ready value: numbers stay numbers, dates become ISO 8601 text."""
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# What orjson does not write itself (or not as `to_json` does), by exact type; anything else as text.
_WRITERS = {Decimal: _decimal, date: date.isoformat, datetime: datetime.isoformat}
# Families whose cells may hold a time with its UTC offset: timestamp, and other (time, arrays...).
_TIMES = ("timestamp", "other")


def _orjson_default(value):
    write = _WRITERS.get(type(value))
    return write(value) if write else str(value)


def _jsonable(value):
    """`to_json` through lists and objects: the standard library's path, for what orjson refuses."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return to_json(value)


def dumps(document, columns: Sequence[Column] | None = None) -> bytes:
    """A response body as JSON, its cells (psycopg's values) written as `to_json` makes them.

    orjson writes a page of rows about five times as fast as the standard library's encoder, which
    with the cell by cell conversion it needed first was most of the API's own time on a page.
    orjson writes a time's UTC offset to the minute, so a historical offset in seconds (local mean
    time, before 1911) would be cut: dates and times go through `isoformat`, unless `columns` (the
    columns of the rows) says that no cell holds a time of day, when orjson writes the dates itself
    exactly as `isoformat` does. Non-finite floats are null either way. What orjson refuses (an
    integer beyond 64 bits, nesting deeper than 254 levels, in a jsonb cell) is written by the
    standard library."""
    exact_times = columns is None or any(c.family in _TIMES for c in columns)
    option = orjson.OPT_PASSTHROUGH_DATETIME if exact_times else 0
    try:
        return orjson.dumps(document, default=_orjson_default, option=option)
    except orjson.JSONEncodeError:
        return json.dumps(_jsonable(document), ensure_ascii=False, separators=(",", ":"), default=str).encode()


def row_objects(columns: Sequence[Column], rows: Iterable[Sequence]) -> list[dict]:
    """Rows as objects keyed by column name, the values as psycopg gives them (`dumps` writes them).
    A row may hold more values than `columns` (a page selects the key columns after the requested
    ones): zip stops at the last column name."""
    names = [c.name for c in columns]
    return [dict(zip(names, row, strict=False)) for row in rows]
