"""Rows made JSON-ready column by column give exactly what `to_json` gives cell by cell."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from territoire.api.catalog import Column
from territoire.api.values import json_rows, to_json

COLUMNS = [Column("code", "text", True), Column("n", "bigint", False), Column("ok", "boolean", False),
           Column("kw", "numeric(10,2)", False), Column("x", "double precision", False),
           Column("jour", "date", False), Column("maj", "timestamp with time zone", False),
           Column("tags", "text[]", False)]
ROWS = [
    ("01001", 3, True, Decimal("3.70"), 1.5, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), ["a"]),
    ("2A004", None, None, None, None, None, None, None),
    ("97411", -1, False, Decimal("NaN"), float("nan"), date(1, 1, 1), datetime(2026, 1, 2), []),
    ("75056", 2**62, True, Decimal("Infinity"), float("-inf"), date(9999, 12, 31), None, None),
]


def test_json_rows_match_to_json_on_every_family():
    expected = [{c.name: to_json(v) for c, v in zip(COLUMNS, row, strict=True)} for row in ROWS]
    assert json_rows(COLUMNS, ROWS) == expected
    assert json.dumps(json_rows(COLUMNS, ROWS)) == json.dumps(expected)


def test_json_rows_keep_only_the_shown_columns():
    # A page selects the key columns after the requested ones: they are not shown.
    rows = json_rows(COLUMNS[3:5], [row[3:] for row in ROWS])
    assert rows[0] == {"kw": 3.7, "x": 1.5}
    assert rows[2] == {"kw": "NaN", "x": None}
    assert json_rows(COLUMNS[:1], ROWS) == [{"code": r[0]} for r in ROWS]
