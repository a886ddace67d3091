"""A Table Schema guessed from a sample file, for `territoire new-source`.

Each column is typed from its values: `integer`, `number` (decimal point or French comma), `date`
(ISO or French dd/mm/yyyy), `datetime` (ISO 8601), `boolean` (true/false spellings), else `string`.
Codes are never numbers: digits with a leading zero (`01`, `01001`) or codes mixing digits and capitals
(`2A004`) stay strings with a `pattern` of their shape, so the zeros survive. A column filled on every
row is `required`; a string column repeating a few values gets an `enum`; the first column whose values
are all distinct is the `primaryKey`. The result is a starting point to review, not a contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

# At most this many rows are read from the sample (its first ones).
MAX_ROWS = 200_000
# A string column is an enumeration when it has at most this many distinct values, each repeated.
ENUM_MAX_VALUES = 12
ENUM_MAX_LENGTH = 60

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}( \d{3})+)([.,]\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FR_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_BOOLEANS = {"true", "false"}
_CODE = re.compile(r"^[0-9A-Z]+$")


@dataclass
class ColumnStats:
    """What the inference needs to know of one column's values."""

    name: str
    rows: int = 0
    filled: int = 0
    distinct: set[str] = field(default_factory=set)
    too_many: bool = False  # more distinct values than kept
    kinds: set[str] = field(default_factory=set)
    lengths: set[int] = field(default_factory=set)
    leading_zero: bool = False

    def add(self, value: str | None) -> None:
        self.rows += 1
        value = (value or "").strip()
        if not value:
            return
        self.filled += 1
        if not self.too_many:
            self.distinct.add(value)
            self.too_many = len(self.distinct) > 100_000
        self.kinds.add(kind_of(value))
        self.lengths.add(len(value))
        self.leading_zero |= len(value) > 1 and value[0] == "0" and value.isdigit()


def kind_of(value: str) -> str:
    """The narrowest Table Schema type that reads `value` (a non-empty, stripped string)."""
    if _INTEGER.match(value):
        return "integer"
    if _NUMBER.match(value):
        return "number"
    if _ISO_DATE.match(value) and _valid_date(value, "%Y-%m-%d"):
        return "date"
    if _FR_DATE.match(value) and _valid_date(value, "%d/%m/%Y"):
        return "date"
    if _DATETIME.match(value):
        return "datetime"
    if value.lower() in _BOOLEANS:
        return "boolean"
    return "code" if _CODE.match(value) and any(c.isdigit() for c in value) else "string"


def _valid_date(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def column_type(stats: ColumnStats) -> str:
    kinds = stats.kinds
    if not kinds:
        return "string"
    if kinds == {"integer"}:
        return "string" if stats.leading_zero else "integer"
    if kinds <= {"integer", "number"} and not stats.leading_zero:
        return "number"
    if len(kinds) == 1 and next(iter(kinds)) in ("date", "datetime", "boolean"):
        return next(iter(kinds))
    return "string"


def code_pattern(stats: ColumnStats) -> str | None:
    """`^[0-9]{5}$`-style pattern for a column of codes of one length (digits with leading zeros, or
    digits and capitals); None for anything else."""
    if not stats.kinds <= {"integer", "code"} or len(stats.lengths) != 1:
        return None
    if stats.kinds == {"integer"} and not stats.leading_zero:
        return None
    if stats.too_many or not stats.distinct:
        return None
    length = next(iter(stats.lengths))
    classes = []
    for i in range(length):
        chars = {v[i] for v in stats.distinct}
        classes.append("[0-9]" if all(c.isdigit() for c in chars) else
                       "[A-Z]" if all(c.isalpha() for c in chars) else "[0-9A-Z]")
    return "^" + "".join(f"{c}{{{n}}}" if n > 1 else c for c, n in _runs(classes)) + "$"


def _runs(items: list[str]) -> Iterator[tuple[str, int]]:
    current, count = None, 0
    for item in items:
        if item == current:
            count += 1
            continue
        if current is not None:
            yield current, count
        current, count = item, 1
    if current is not None:
        yield current, count


def enum_values(stats: ColumnStats, kind: str, pattern: str | None) -> list[str] | None:
    """The values of a string column that repeats a handful of short values (each seen at least twice
    on average), sorted; None otherwise."""
    if kind != "string" or pattern or stats.too_many:
        return None
    n = len(stats.distinct)
    if not 1 <= n <= ENUM_MAX_VALUES or stats.filled < 2 * n or n == stats.filled:
        return None
    if max(len(v) for v in stats.distinct) > ENUM_MAX_LENGTH:
        return None
    return sorted(stats.distinct)


def field_for(stats: ColumnStats) -> dict:
    kind = column_type(stats)
    pattern = code_pattern(stats) if kind == "string" else None
    constraints: dict = {}
    if stats.rows and stats.filled == stats.rows:
        constraints["required"] = True
    if pattern:
        constraints["pattern"] = pattern
    values = enum_values(stats, kind, pattern)
    if values:
        constraints["enum"] = values
    out = {"name": stats.name, "type": kind}
    if kind == "date" and "/" in next(iter(stats.distinct), ""):
        out["format"] = "%d/%m/%Y"
    out["constraints"] = constraints
    return out


def primary_key(columns: list[ColumnStats]) -> str | None:
    """The first column filled on every row whose values are all distinct (ids and codes first)."""
    candidates = [c for c in columns if c.rows and c.filled == c.rows and not c.too_many
                  and len(c.distinct) == c.rows and c.rows > 1]
    preferred = [c for c in candidates if re.search(r"(^|_|\b)(id|code|identifiant)", c.name.lower())]
    chosen = (preferred or candidates)[:1]
    return chosen[0].name if chosen else None


def infer(headers: list[str], rows: Iterable[list[str | None]], *, name: str, title: str) -> dict:
    """A Table Schema for rows of values in the order of `headers`."""
    columns = [ColumnStats(h) for h in headers]
    for count, row in enumerate(rows):
        if count >= MAX_ROWS:
            break
        for i, col in enumerate(columns):
            col.add(row[i] if i < len(row) else None)
    schema = {
        "$schema": "https://frictionlessdata.io/schemas/table-schema.json",
        "name": name,
        "title": title,
        "description": f"Inferred by `territoire new-source` on {date.today():%Y-%m-%d} from a sample of "
                       f"{columns[0].rows if columns else 0} rows: review the types, constraints and key.",
        "fields": [field_for(c) for c in columns],
    }
    key = primary_key(columns)
    if key:
        schema["primaryKey"] = [key]
    return schema


def read_sample(path: Path, fmt: str) -> tuple[list[str], Iterator[list[str | None]]]:
    """The header and the rows (as text) of a CSV or JSON sample, read with the loader's own readers."""
    from territoire.ingest import parsing

    if fmt == "csv":
        dialect = parsing.sniff_csv(path)
        return dialect.header, (row for _, row in parsing.iter_csv_rows(path, dialect))
    encoding = parsing.detect_encoding(path)
    reader = parsing.iter_json_lines if fmt == "ndjson" else parsing.iter_json_document
    records = [r for _, r in reader(path, encoding) if isinstance(r, dict)]
    headers: list[str] = []
    for record in records:
        headers += [k for k in record if k not in headers]
    return headers, ([_text(r.get(h)) for h in headers] for r in records)


def _text(value) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None  # nested values are stored as JSON text: not typed here
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
