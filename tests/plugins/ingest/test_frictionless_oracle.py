"""frictionless (the Table Schema reference implementation) as an independent oracle: every real file
shipped with a schema (data/samples through the catalog, ../shared/data through the catalog's file names
and the schemas' own example files) is validated by frictionless and by the platform, and the rows and
cells each flags are compared for every check both implement.

Both read the file the same way (the encoding and delimiter the platform detected are given to
frictionless, and frictionless matches fields by header name as the platform does: `schema_sync`), so
what is compared is the validation. The differences that remain are listed in KNOWN (and in the table
of docs/ingestion.md, "frictionless as an oracle"): a new difference, or one that went away, fails.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from frictionless import Dialect, Resource, Schema, formats, system
from ingest_helpers import PROJECT, SHARED, fetch_all, make_resource

from territoire.catalog import load_catalog
from territoire.ingest import detect, parsing
from territoire.ingest.loader import Loader

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Checks both implement: the platform's rule (before any `:` detail) and frictionless's error.
COMMON = {"type", "required", "pattern", "enum", "minimum", "maximum", "minLength", "maxLength",
          "exclusiveMinimum", "exclusiveMaximum", "unique", "field-count"}

# (file name, kind) -> why the verdicts differ there. `kind` is a check of COMMON. Strict: the platform
# reads values exactly as the Table Schema specification writes them (`territoire validate`'s default).
KNOWN: dict[tuple[str, str], str] = {}
# Lenient (the default of catalog loads): French forms are read as the values they write.
_DECIMAL_COMMA = "decimal comma (`12,5`): lenient reads it as 12.5; the Table Schema default `decimalChar` is `.`"
_FRENCH_FORMS = ("French forms (`29 400,00`, `05/12/2016`, `0,5`): lenient reads them; the schema declares neither "
                 "`groupChar`, `decimalChar` nor a date `format`")
_T_F = "`t`/`f` booleans: lenient reads the usual spellings when the schema keeps the default `trueValues`"
KNOWN_LENIENT: dict[tuple[str, str], str] = {
    ("sinoe_tonnage_decheteries_par_type_dechet_par_dept.csv", "type"): _DECIMAL_COMMA,
    ("atmo_occitanie_mesures_annuelles.csv", "type"): _T_F,
    ("atmo_occitanie_mesures_mensuelles.csv", "type"): _T_F,
    ("DEP_Lot_Subventions_2017_DONNEES.xlsx_pour_exemple.csv", "type"): _FRENCH_FORMS,
    ("exemple_invalide_erreurs_cellules.csv", "type"): _FRENCH_FORMS,
    ("exemple_invalide_erreurs_colonnes.csv", "type"): _FRENCH_FORMS,
}


@dataclass(frozen=True)
class Pair:
    label: str
    path: Path
    schema: Path
    fmt: str


def _pairs() -> list[Pair]:
    pairs = []
    by_name: dict[str, tuple[Path, str]] = {}
    for source in load_catalog():
        for r in source.resources:
            loc = r.locations.get("demo")
            path = loc.resolved_path() if loc else None
            if r.schema and path and path.is_file() and r.format in ("csv", "tsv", "json", "ndjson"):
                pairs.append(Pair(f"data/{path.relative_to(PROJECT / 'data')}", path, r.schema_path(), r.format))
                by_name[path.name] = (r.schema_path(), r.format)
    if SHARED.is_dir():
        for path in sorted(SHARED.rglob("*")):
            if path.name in by_name:
                schema, fmt = by_name[path.name]
                pairs.append(Pair(f"shared/{path.relative_to(SHARED)}", path, schema, fmt))
        examples = SHARED / "schemas"
        for csv_file, schema in [
            ("scdl_subventions/exemple_valide.csv", "scdl_subventions/schema.json"),
            ("scdl_subventions/exemple_invalide_erreurs_cellules.csv", "scdl_subventions/schema.json"),
            ("scdl_subventions/exemple_invalide_erreurs_colonnes.csv", "scdl_subventions/schema.json"),
            ("etalab_schema-irve/statique_exemple-valide-statique.csv", "etalab_schema-irve/statique_schema-statique.json"),
            ("etalab_schema-irve/dynamique_exemple-valide-dynamique.csv",
             "etalab_schema-irve/dynamique_schema-dynamique.json"),
        ]:
            if (examples / csv_file).is_file():
                pairs.append(Pair(f"shared/schemas/{csv_file}", examples / csv_file, examples / schema, "csv"))
    return pairs


def _json_records(path: Path) -> list[tuple[int, dict]]:
    """(line of its start, record) for each record, read with Python's json module alone: a JSON array,
    or values one after another (NDJSON, or the looser files real exports are)."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        decoder, out, pos = json.JSONDecoder(), [], 0
        while (pos := len(text) - len(text[pos:].lstrip())) < len(text):
            value, end = decoder.raw_decode(text, pos)
            out.append((text.count("\n", 0, pos) + 1, value))
            pos = end
        return out
    return list(enumerate(data, start=1))  # the platform numbers a document's records from 1


def _as_text(value) -> str | None:
    """A JSON value as the raw text a CSV would hold (the raw table contract): the schema then reads it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _frictionless_json_verdicts(pair: Pair, schema) -> frozenset[tuple[int, str | None, str]]:
    """frictionless has no JSON reader without its `json` extra: it validates the records inline."""
    records = _json_records(pair.path)
    headers = list(dict.fromkeys(k for _, r in records for k in r))
    rows = [[_as_text(r.get(h)) for h in headers] for _, r in records]
    with system.use_context(trusted=True):
        report = Resource(data=[headers, *rows], schema=schema).validate(limit_errors=10**7)
    return frozenset((records[e.row_number - 2][0], None if k == "field-count" else e.field_name, k)
                     for e in report.tasks[0].errors if (k := _frictionless_kind(e)) in COMMON)


@functools.cache  # the same verdicts for the strict and the lenient comparison
def _frictionless_verdicts(pair: Pair) -> frozenset[tuple[int, str | None, str]]:
    if pair.fmt in ("json", "ndjson"):
        schema = Schema.from_descriptor(str(pair.schema.resolve()))
        schema.fields_match = "partial"
        return _frictionless_json_verdicts(pair, schema)
    dialect = parsing.sniff_csv(pair.path)
    schema = Schema.from_descriptor(str(pair.schema.resolve()))
    schema.fields_match = "partial"  # fields matched by name, as the platform does
    with system.use_context(trusted=True):
        resource = Resource(path=str(pair.path.resolve()), schema=schema, encoding=dialect.encoding,
                            dialect=Dialect(controls=[formats.CsvControl(delimiter=dialect.delimiter)]))
        report = resource.validate(limit_errors=10**7)
    lines = _record_lines(pair.path, dialect)
    found = set()
    for error in report.tasks[0].errors:
        kind = _frictionless_kind(error)
        if kind in COMMON:
            field = None if kind == "field-count" else error.field_name
            found.add((lines[error.row_number - 1], field, kind))
    return frozenset(found)


def _record_lines(path: Path, dialect: parsing.CsvDialect) -> list[int]:
    """The physical line each record starts on: frictionless numbers records (a record holding a quoted
    newline counts once), the platform names the line a producer sees in an editor."""
    import csv

    starts = [1]
    with open(path, encoding=dialect.encoding, errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=dialect.delimiter)
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            if row:
                starts.append(start)
            start = reader.line_num + 1
    return starts


def _frictionless_kind(error) -> str:
    if error.type == "type-error":
        return "type"
    if error.type == "constraint-error":
        m = re.match(r'constraint "(\w+)"', error.note)
        return m.group(1) if m else "constraint"
    if error.type in ("missing-cell", "extra-cell"):
        return "field-count"
    if error.type in ("unique-error", "primary-key"):
        return "unique"
    return error.type


def _platform_verdicts(url: str, loader: Loader, pair: Pair, k: int, strict: bool) -> set[tuple[int, str | None, str]]:
    resource = make_resource(pair.path, name=f"oracle_{k}", fmt=pair.fmt, schema=pair.schema.resolve(),
                             source_id="oracle")
    result = loader.load(resource, pair.path, quarantine_threshold=1.0, strict=strict, check_header=False, force=True)
    (details,), = fetch_all(url, "select details from ingest.load_batches where batch_id = %s", (result.batch_id,))
    headers = details.get("headers") or {}
    found = set()
    for line, column, rule in fetch_all(url, "select line_number, column_name, rule from ingest.rejected_rows "
                                             "where batch_id = %s", (result.batch_id,)):
        kind = rule.split(":", 1)[0]
        if kind in COMMON:
            found.add((line, headers.get(column, column) if column else None, kind))
    return found


def _compare(platform: set, oracle: set) -> dict[str, list[str]]:
    """{kind: examples} of the verdicts only one side gave. Cells of a row the platform set aside
    whole (field count) are not compared: it checks no cell of such a row."""
    whole_rows = {line for line, _, kind in platform if kind == "field-count"}
    oracle = {v for v in oracle if v[0] not in whole_rows or v[2] == "field-count"}
    out: dict[str, list[str]] = defaultdict(list)
    for side, verdicts in (("platform only", platform - oracle), ("frictionless only", oracle - platform)):
        for line, field, kind in sorted(verdicts, key=lambda v: (v[0], str(v[1]), v[2])):
            out[kind].append(f"{side}: line {line} {field}")
    return out


def test_the_comparison_sees_json_verdicts(fresh_database, tmp_path):
    """The real JSON files break none of their schema's rules: this copy of Celleneuve.json with four
    values changed (SYNTHETIC defects) shows that verdicts on JSON records are compared too."""
    real = PROJECT / "data" / "samples" / "bike_counters" / "montpellier_ecocompteur" / "Celleneuve.json"
    lines = real.read_text(encoding="utf-8").splitlines()
    records = [i for i, line in enumerate(lines) if line.strip()]
    first_id = json.loads(lines[records[0]])["id"]
    for k, change in ((2, {"intensity": -4}), (4, {"intensity": "x"}), (6, {"id": first_id}), (8, {"id": None})):
        record = json.loads(lines[records[k]])
        record.update(change)
        lines[records[k]] = json.dumps(record)
    path = tmp_path / "Celleneuve_defects.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    schema = next(p.schema for p in _pairs() if p.path.name == real.name)
    pair = Pair("synthetic", path, schema, "ndjson")
    loader = Loader(fresh_database, progress=lambda m: None, reports=False)
    platform = _platform_verdicts(fresh_database, loader, pair, 999, True)
    assert {kind for _, _, kind in platform} == {"minimum", "type", "unique", "required"}
    assert platform == _frictionless_verdicts(pair)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_frictionless_and_the_platform_flag_the_same_rows_and_cells(fresh_database, strict, monkeypatch):
    # Every rejected row's content kept (not only the first 1,000 of each rule): compared cell by cell.
    monkeypatch.setenv("TERRITOIRE_QUARANTINE_ROWS_KEPT", "10000000")
    pairs = _pairs()
    assert len(pairs) >= 15, [p.label for p in pairs]
    loader = Loader(fresh_database, progress=lambda m: None, reports=False)
    differences: dict[tuple[str, str], list[str]] = {}
    compared = 0
    for k, pair in enumerate(pairs):
        assert detect.detect_format(pair.path).family == ("json" if pair.fmt in ("json", "ndjson") else "csv")
        oracle = _frictionless_verdicts(pair)
        platform = _platform_verdicts(fresh_database, loader, pair, k, strict)
        compared += len(oracle | platform)
        for kind, examples in _compare(platform, oracle).items():
            differences[(pair.path.name, kind)] = examples
            if not strict:  # leniency only ever accepts more: never a verdict frictionless does not give
                assert not [e for e in examples if e.startswith("platform only")], (pair.label, examples[:5])
    known = KNOWN if strict else KNOWN_LENIENT
    unexplained = {key: examples[:5] for key, examples in differences.items() if key not in known}
    explained_but_gone = sorted(key for key in known if key not in differences)
    assert compared > 100  # the files hold verdicts to compare, not only valid rows
    assert unexplained == {}, unexplained
    assert explained_but_gone == [], f"listed in KNOWN but no longer different: {explained_but_gone}"
