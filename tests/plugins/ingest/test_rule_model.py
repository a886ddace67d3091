"""The rule model (territoire.ingest.schema): each type and constraint is one class, and the two checks
built from it (one aggregate scan, the detailed check) never disagree: whenever the one-scan check
calls a column clean, the detailed check finds nothing in it. Values are SYNTHETIC, chosen at the edges
of each type's canonical form."""

from __future__ import annotations

import psycopg
import pytest

from territoire.ingest.ledger import ensure_ingest_tables
from territoire.ingest.schema import TYPES, Field, Schema, build_fast_check, build_plan
from territoire.ingest.schema.constraints import CONSTRAINTS
from territoire.naming import quote_ident

pytestmark = pytest.mark.integration

VALUES = {
    "integer": ["12", "-4", "+4", " 12", "1 000", "69.0", "1e3", "12a", "", "007"],
    "number": ["1.5", "1,5", "-0,5", "1 234,5", ",5", "5.", "5,", "NaN", "Infinity", "1e3", "1.2.3", "abc", ""],
    "date": ["2024-03-01", "2024-02-30", "01/03/2024", "2024-13-01", "20240301", "1er mars 2024", "demain", ""],
    "boolean": ["true", "false", "True", "VRAI", "oui", "t", "0", "peut-être", ""],
}
CONSTRAINED = [
    ("integer", {"minimum": 0, "maximum": 100}),
    ("number", {"minimum": 0}),
    ("date", {"minimum": "2024-01-01"}),
    ("string", {"pattern": "^[0-9]{5}$"}),
    ("string", {"enum": ["A", "B"], "required": True}),
    ("string", {"minLength": 2, "maxLength": 3}),
]


def _field(t: str, constraints: dict) -> Field:
    return Field(name="v", column="v", type=t, required=bool(constraints.get("required")),
                 pattern=constraints.get("pattern"), enum=tuple(constraints.get("enum", ())),
                 minimum=constraints.get("minimum"), maximum=constraints.get("maximum"),
                 min_length=constraints.get("minLength"), max_length=constraints.get("maxLength"))


def _verdicts(conn, schema: Schema, value: str) -> tuple[bool | None, bool]:
    """(one-scan clean? None when a cast raised, detailed check clean?) for a one-row column `v`."""
    conn.execute("drop table if exists pg_temp.t")
    conn.execute("create temp table t (v text, _line_number int)")
    conn.execute("insert into t values (nullif(%s, ''), 2)", (value,))
    fast = build_fast_check(schema, ["v"])
    try:
        with conn.transaction():
            row = conn.execute(f"select {', '.join(fast.aggregates)} from t").fetchone() if fast.aggregates else ()
            fast_clean = fast.clean(row)
    except psycopg.errors.DataError:
        fast_clean = None
    plan = build_plan(schema, ["v"])
    rejected = conn.execute(f"select {plan.rejected_expression()} from (select {plan.inner_sql()}, _line_number "
                            f"from t) s").fetchone()[0]
    return fast_clean, rejected is None


@pytest.mark.parametrize("t, constraints", [(t, {}) for t in VALUES] + CONSTRAINED)
def test_the_one_scan_check_never_passes_what_the_detailed_check_refuses(warehouse_url, t, constraints):
    schema = Schema(path=None, fields=(_field(t, constraints),))
    values = VALUES.get(t, ["12345", "1234", "69381.0", "ABCDE", "A", "B", "C", "", "ab", "abcd"])
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_ingest_tables(conn)
        for value in values:
            fast_clean, detailed_clean = _verdicts(conn, schema, value)
            assert not (fast_clean and not detailed_clean), f"{t} {constraints}: {value!r}"


def test_every_type_and_constraint_explains_itself_in_french():
    for t in TYPES.values():
        if t.name in ("string", "any"):
            continue
        message = t.message(_field(t.name, {}))
        assert message.startswith("« v » doit être") and " : " in message, t.name  # what, then what to do
    rules = {c.rule for c in CONSTRAINTS}
    assert {"required", "pattern", "enum", "minLength", "maxLength", "minimum", "maximum"} <= rules


def test_a_quoted_identifier_is_what_the_checks_read():
    schema = Schema(path=None, fields=(Field(name='a"b', column='a"b', type="integer"),))
    plan = build_plan(schema, ['a"b'])
    assert quote_ident('a"b') in plan.inner and all('a"b' not in r.condition.replace('"a""b"', "")
                                                    for r in plan.rules)
