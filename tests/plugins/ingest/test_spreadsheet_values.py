"""Values as spreadsheets and portals write them: booleans (declared trueValues/falseValues, or the usual
French and English spellings), numbers with (no-break, narrow no-break) spaces and a decimal comma, and
codes a spreadsheet turned into numbers, reported by a rule of their own. Files are SYNTHETIC."""

from __future__ import annotations

import pytest
from ingest_helpers import fetch_all, make_resource, write_schema

pytestmark = pytest.mark.integration


def _load(loader, tmp_path, fields, header, rows, **kw):
    path = tmp_path / "synthetique.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    r = make_resource(path, schema=write_schema(tmp_path, fields))
    return r, loader.load(r, path, quarantine_threshold=1.0, **kw)


def _quarantine(url, batch_id):
    return set(fetch_all(url, "select line_number, column_name, rule, value from ingest.rejected_rows "
                              "where batch_id = %s", (batch_id,)))


def test_usual_boolean_spellings_when_the_schema_keeps_the_defaults(loader, warehouse_url, tmp_path):
    words = ["t", "f", "VRAI", "FAUX", "oui", "Non", "True", "False", "1", "0", "peut-être"]
    r, result = _load(loader, tmp_path, [{"name": "actif", "type": "boolean"}], "actif", words)
    assert fetch_all(warehouse_url, f'select actif from raw."{r.raw_table}" order by _line_number') == [
        (v,) for v in ["true", "false"] * 5]
    assert _quarantine(warehouse_url, result.batch_id) == {(12, "actif", "type:boolean", "peut-être")}


def test_declared_true_and_false_values_are_the_only_ones(loader, warehouse_url, tmp_path):
    field = {"name": "ouvert", "type": "boolean", "trueValues": ["O"], "falseValues": ["N"]}
    r, result = _load(loader, tmp_path, [field], "ouvert", ["O", "N", "oui"])
    assert fetch_all(warehouse_url, f'select ouvert from raw."{r.raw_table}" order by _line_number') == [
        ("true",), ("false",)]
    (message,), = fetch_all(warehouse_url, "select message from ingest.rejected_rows where batch_id = %s",
                            (result.batch_id,))
    assert "O pour vrai, N pour faux" in message


def test_numbers_with_thousands_spaces_and_decimal_comma(loader, warehouse_url, tmp_path):
    values = ["1 234,5", "1\u00a0234\u00a0567,25", "12\u202f345", "-0,5", "3.25"]
    fields = [{"name": "id", "type": "integer"}, {"name": "montant", "type": "number"}]
    r, result = _load(loader, tmp_path, fields, "id;montant", [f"{i};{v}" for i, v in enumerate(values)])
    assert fetch_all(warehouse_url, f'select montant from raw."{r.raw_table}" order by _line_number') == [
        ("1234.5",), ("1234567.25",), ("12345",), ("-0.5",), ("3.25",)]
    assert result.rows_rejected == 0


@pytest.mark.parametrize("value, pattern, rule", [
    ("69381.0", r"^[0-9]{5}$", "code-as-number"),              # a commune code read as a decimal
    ("1001", r"^[0-9]{5}$", "code-as-number"),                 # 01001: the leading zero lost
    ("4.5032466E+13", r"^[0-9]{14}$", "code-as-number"),       # a SIRET in scientific notation
    ("45032466300000.0", r"^\d{14}$", "code-as-number"),       # 14 digits ending 00000.0
    ("6938", r"^[0-9]{9}$", "pattern"),                        # far too short: a wrong code, not a lost zero
    ("69A81", r"^[0-9]{5}$", "pattern"),
])
def test_codes_a_spreadsheet_turned_into_numbers(loader, warehouse_url, tmp_path, value, pattern, rule):
    fields = [{"name": "code", "type": "string", "constraints": {"pattern": pattern}}]
    _, result = _load(loader, tmp_path, fields, "code", [value])
    found = fetch_all(warehouse_url, "select rule, message from ingest.rejected_rows where batch_id = %s",
                      (result.batch_id,))
    assert [r for r, _ in found] == [rule]
    if rule == "code-as-number":
        assert "code écrit comme un nombre : zéros ou chiffres perdus" in found[0][1]
