"""The JSON of the API's rows (`values.dumps`, orjson) says what `to_json` cell by cell, then the
standard library's `json.dumps`, said before: the same values for every family of column."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from territoire.api.catalog import Column
from territoire.api.values import dumps, row_objects, to_json

COLUMNS = [Column("code", "text", True), Column("n", "bigint", False), Column("ok", "boolean", False),
           Column("kw", "numeric(10,2)", False), Column("x", "double precision", False),
           Column("jour", "date", False), Column("maj", "timestamp with time zone", False),
           Column("tags", "text[]", False)]
ROWS = [
    ("01001", 3, True, Decimal("3.70"), 1.5, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), ["a"]),
    ("2A004", None, None, None, None, None, None, None),
    ("97411", -1, False, Decimal("NaN"), float("nan"), date(1, 1, 1), datetime(2026, 1, 2), []),
    ("75056", 2**62, True, Decimal("Infinity"), float("-inf"), date(9999, 12, 31), None, None),
    ('"\\\n\t\x01é€😀', -(2**63), None, Decimal("12345678901234567890.123"), 1e20, date(2024, 2, 29),
     datetime(2024, 7, 1, 10, 0, 0, 123000, tzinfo=ZoneInfo("Europe/Paris")), ["b", None]),
    # Local mean time: Paris was 9 min 21 s ahead of UTC until 1911 (orjson would write +00:09).
    ("lmt", 0, False, Decimal("-0.00"), -0.0, date(1850, 1, 1),
     datetime(1850, 1, 1, tzinfo=ZoneInfo("Europe/Paris")), None),
]


def former(columns: list[Column], rows: list[tuple]) -> str:
    """The representation before orjson: `to_json` cell by cell, then `json.dumps`."""
    objects = [{c.name: to_json(v) for c, v in zip(columns, row, strict=False)} for row in rows]
    return json.dumps(objects, ensure_ascii=False, separators=(",", ":"), default=str)


def test_dumps_says_what_the_former_json_said_on_every_family():
    assert json.loads(dumps(row_objects(COLUMNS, ROWS), COLUMNS)) == json.loads(former(COLUMNS, ROWS))
    assert json.loads(dumps(row_objects(COLUMNS, ROWS))) == json.loads(former(COLUMNS, ROWS))


def test_times_keep_an_offset_in_seconds():
    body = json.loads(dumps(row_objects(COLUMNS, ROWS), COLUMNS))
    assert body[-1]["maj"] == "1850-01-01T00:00:00+00:09:21"
    assert body[4]["maj"] == "2024-07-01T10:00:00.123000+02:00"


def test_dates_only_are_written_by_orjson_as_isoformat():
    dated = [COLUMNS[0], COLUMNS[5]]
    rows = [(r[0], r[5]) for r in ROWS]
    assert dumps(row_objects(dated, rows), dated) == former(dated, rows).encode()


def test_what_orjson_does_not_know_is_text_as_before():
    columns = [Column("t", "time without time zone", False), Column("d", "interval", False),
               Column("u", "uuid", False), Column("b", "bytea", False)]
    rows = [(time(10, 0, 5), timedelta(days=1, seconds=3), UUID("12345678-1234-5678-1234-567812345678"), b"\x00a")]
    assert json.loads(dumps(row_objects(columns, rows), columns)) == json.loads(former(columns, rows))


def test_what_orjson_refuses_is_written_by_the_standard_library():
    # A jsonb cell may hold an integer beyond 64 bits, or nest deeper than orjson goes.
    deep: list = []
    for _ in range(300):
        deep = [deep]
    columns = [Column("code", "text", True), Column("doc", "jsonb", False)]
    for cell in ({"big": 2**70, "small": [1, 2.5, None]}, deep):
        rows = [("a", cell)]
        assert json.loads(dumps(row_objects(columns, rows), columns)) == json.loads(former(columns, rows))


def test_numbers_and_times_in_an_array_are_written_as_in_their_own_column():
    # A deliberate change (hence catalog.REPRESENTATION 2): the former JSON wrote them with str()
    # ("1.5", "2024-01-02 03:04:05+00:00"), PostgreSQL's JSON export as numbers and ISO 8601.
    columns = [Column("kw", "numeric[]", False), Column("maj", "timestamp with time zone[]", False)]
    rows = [([Decimal("1.5"), Decimal("NaN"), None], [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)])]
    assert json.loads(dumps(row_objects(columns, rows), columns)) == [
        {"kw": [1.5, "NaN", None], "maj": ["2024-01-02T03:04:05+00:00"]}]


def test_row_objects_keep_only_the_shown_columns():
    # A page selects the key columns after the requested ones: they are not shown.
    rows = row_objects(COLUMNS[3:5], [row[3:] for row in ROWS])
    assert rows[0] == {"kw": Decimal("3.70"), "x": 1.5}
    assert json.loads(dumps(rows[:1])) == [{"kw": 3.7, "x": 1.5}]
    assert row_objects(COLUMNS[:1], ROWS) == [{"code": r[0]} for r in ROWS]
