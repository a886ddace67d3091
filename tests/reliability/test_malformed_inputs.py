"""A corpus of malformed inputs, each sent after a good version of the same resource, through the
same path as an Airflow ingestion task (`territoire.pipeline.ingest_resource`: connector -> landing ->
loader).

Every case must end either in quarantine (rows in `ingest.rejected_rows` with the rule, the load
refused because the source's threshold is 0) or in a clear error (`FetchError` / `LoadError`) whose
message names the source, the file and the problem - never a bare KeyError, IndexError,
UnicodeDecodeError or csv.Error. Whatever the outcome, the raw table keeps the good version's rows,
the ledger's last good batch stays the one the table carries, and no half-built table is left behind.

The files are SYNTHETIC: tests/fixtures/malformed/ (see its README) and some generated here (a 50 MB
field, random bytes, an XLSX, an old XLS, a gzip, hostile and incomplete ZIPs, an empty file).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from reliability_helpers import MALFORMED, PROJECT, table_fingerprints, tree_digest

from territoire import pipeline, settings, warehouse
from territoire.ingest.connectors import FetchError
from territoire.ingest.loader import LoadError

pytestmark = [pytest.mark.integration]

GOOD_CSV = "code;valeur\nA01;1\nA02;2\nA03;3\n"
GOOD_JSON = '[{"code": "A01", "valeur": 1}, {"code": "A02", "valeur": 2}]\n'
SCHEMA = {"fields": [
    {"name": "code", "type": "string", "constraints": {"required": True, "pattern": "^[A-Z][0-9]{2}$"}},
    {"name": "valeur", "type": "integer"},
]}
GTFS_FEED = PROJECT / "data" / "samples" / "transport" / "synthetic_gtfs"


# --- generated inputs -------------------------------------------------------------------------------

def _huge_field(path: Path) -> None:
    """A 50 MB value in an integer column: not committed, written here."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("code;valeur\nA01;1\nA02;")
        block = "9" * (1 << 20)
        for _ in range(50):
            f.write(block)
        f.write("\nA03;3\n")


def _binary(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(64 * 1024))


def _xlsx(path: Path) -> None:
    """A minimal Office Open XML workbook (what a spreadsheet saves), sent where a CSV is expected."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               'content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
                               'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                       'relationships"/>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                           '2006/main"><sheets><sheet name="Feuil1" sheetId="1"/></sheets></workbook>',
        "xl/worksheets/sheet1.xml": '<?xml version="1.0"?><worksheet><sheetData><row><c t="inlineStr"><is><t>code'
                                    '</t></is></c></row></sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in parts.items():
            zf.writestr(name, text)


def _xls(path: Path) -> None:
    """The first bytes of an old binary Excel file (OLE2 compound document) and zero padding."""
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 4096 + "Feuil1".encode("utf-16-le") * 50)


def _gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(GOOD_CSV.encode(), mtime=0))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _feed_members() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(GTFS_FEED.iterdir()) if p.suffix == ".txt"}


def _zip_slip(path: Path) -> None:
    members = {**_feed_members(), "../../evil.txt": b"written outside the folder"}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def _gtfs_missing_stops(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in _feed_members().items():
            if name != "stops.txt":
                zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def _good_feed(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in _feed_members().items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


# --- the corpus ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    file: str | None = None          # a fixture of tests/fixtures/malformed/
    make: object = None              # or a function writing the file
    suffix: str = ".csv"
    fmt: str = "csv"
    schema: bool = True              # checked against SCHEMA (code: A01-like, valeur: integer)
    options: dict | None = None
    error: str | None = None         # regex the error message must match (a clear error)...
    rule: str | None = None          # ...or the quarantine rule the bad rows get


CASES = [
    Case("wrong_encoding_declared_utf8", file="cp1252_short.csv", schema=False, options={"encoding": "utf-8"},
         error=r"(?i)not utf-8.*byte offset|Re-save the file in UTF-8"),
    Case("utf16_instead_of_utf8", file="utf16_le.csv", error=r"(?i)header lacks required column|encoding|UTF-16"),
    Case("wrong_delimiter", file="comma_instead_of_semicolon.csv", options={"delimiter": ";"},
         error=r"line 1: the header lacks required column\(s\) code .*found: code,valeur"),
    Case("ragged_rows", file="ragged_rows.csv", schema=False, rule="field-count"),
    # A last line without its end of line that also lacks fields: a cut file, refused before the landing zone.
    Case("truncated_last_row", file="truncated_last_row.csv",
         error=r"looks cut: its last line has no end of line and 1 field\(s\) where the header has 2"),
    Case("empty_file", make=_empty, error=r"the file is empty \(0 bytes\)"),
    Case("header_only", file="header_only.csv", error=r"has a header but no data rows"),
    Case("only_blank_lines", file="blank_lines_only.csv", error=r"holds only blank lines"),
    Case("header_repeated_mid_file", file="repeated_header.csv", rule="type"),
    Case("columns_renamed_by_producer", file="format_changed_header.csv",
         error=r"line 1: the header lacks required column\(s\) code .*found: identifiant, montant_eur, date"),
    Case("wrong_types", file="wrong_types.csv", rule="type"),
    Case("huge_field_50mb", make=_huge_field, rule="type"),
    Case("binary_garbage", make=_binary, suffix=".bin",
         error=r"(?i)cannot find the delimiter|not a CSV|header lacks required|binary|NUL"),
    Case("xlsx_instead_of_csv", make=_xlsx, suffix=".xlsx", error=r"expected a CSV file but got a ZIP archive"),
    Case("xls_instead_of_csv", make=_xls, suffix=".xls",
         error=r"(?i)cannot find the delimiter|not a CSV|header lacks required|binary|spreadsheet|NUL"),
    Case("gzip_instead_of_csv", make=_gzip, suffix=".csv.gz",
         error=r"(?i)cannot find the delimiter|not a CSV|header lacks required|binary|gzip|compressed|NUL"),
    Case("html_error_page", file="html_error_page.csv", error=r"expected a CSV file but got an HTML/XML page"),
    Case("json_error_instead_of_csv", file="json_error_as_csv.csv",
         error=r"(?i)cannot find the delimiter.*is this a CSV file|JSON"),
    Case("nul_bytes", file="nul_bytes.csv", error=r"(?i)NUL|0x00", rule="type"),
    Case("bom_mid_file", file="bom_mid_file.csv", rule="pattern"),
    Case("unterminated_quote", file="unterminated_quote.csv", rule="type"),  # the quote swallows the rest: one bad value
    Case("not_quite_json", file="not_quite_json.json", suffix=".json", fmt="json",
         error=r"line \d+: not valid JSON", rule="json"),
    Case("json_scalar_not_records", make=lambda p: p.write_text("42\n"), suffix=".json", fmt="json",
         error=r"expected a JSON array of records|not JSON"),
    Case("zip_slip", make=_zip_slip, suffix=".zip", fmt="gtfs", schema=False,
         error=r"(?i)\.\./\.\./evil\.txt.*(outside|escap)|(outside|escap).*\.\./\.\./evil\.txt"),
    Case("gtfs_missing_required_file", make=_gtfs_missing_stops, suffix=".zip", fmt="gtfs", schema=False,
         error=r"misses required file\(s\): stops\.txt"),
]


def _catalog(folder: Path, case: Case, path: Path, schema_path: Path) -> Path:
    resource = {"name": "donnees", "format": "csv" if case.fmt == "gtfs" else case.fmt,
                "location": {"demo": {"connector": "gtfs" if case.fmt == "gtfs" else "local", "path": str(path)}}}
    if case.schema:
        resource["schema"] = str(schema_path)  # absolute: the catalog joins it to catalog/schemas/
    if case.options:
        resource["options"] = case.options
    catalog = {"version": 1, "sources": [{
        "id": "corpus", "domain": "territoire", "title": "Corpus de fichiers défectueux (SYNTHÉTIQUE)",
        "producer": "tests", "licence": "etalab-2.0", "quarantine_threshold": 0.0, "resources": [resource]}]}
    out = folder / f"catalog_{path.stem}.yml"
    out.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return out


def _ledger(url: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("select batch_id, raw_table, status, rows_loaded, error, landing_path "
                            "from ingest.load_batches order by batch_id").fetchall()


def _raw_tables(url: str) -> set[str]:
    with warehouse.connect(url) as conn:
        return {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'raw'")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_malformed_input_is_quarantined_or_named_and_the_good_version_stays(
        case, fresh_database, var_dir, tmp_path, monkeypatch):
    url = fresh_database
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(SCHEMA), encoding="utf-8")

    good = tmp_path / ("good.zip" if case.fmt == "gtfs" else f"good{case.suffix if case.fmt == 'json' else '.csv'}")
    if case.fmt == "gtfs":
        _good_feed(good)
    else:
        good.write_text(GOOD_JSON if case.fmt == "json" else GOOD_CSV, encoding="utf-8")
    monkeypatch.setenv("TERRITOIRE_CATALOG", str(_catalog(tmp_path, case, good, schema_path)))
    first = pipeline.ingest_resource("corpus", "donnees", url=url)
    assert {s["status"] for s in first} == {"succeeded"}
    before = table_fingerprints(url, ("raw",))
    ledger_before = _ledger(url)
    tables_before = _raw_tables(url)
    landing_before = tree_digest(settings.landing_dir())

    bad = tmp_path / f"{case.id}{case.suffix}"
    if case.file:
        shutil.copy(MALFORMED / case.file, bad)
    else:
        case.make(bad)
    monkeypatch.setenv("TERRITOIRE_CATALOG", str(_catalog(tmp_path, case, bad, schema_path)))
    try:
        outcome = pipeline.ingest_resource("corpus", "donnees", url=url)
    except Exception as exc:  # noqa: BLE001 - which exception it is, is asserted below
        raised = exc
    else:
        pytest.fail(f"{case.id}: loaded without complaint: {outcome}")

    # First: nothing that was loaded is lost, nothing half-built is left (whatever the error).
    assert table_fingerprints(url, ("raw",)) == before
    assert _raw_tables(url) == tables_before
    if case.id == "zip_slip":
        assert not (tmp_path.parent / "evil.txt").exists() and not (var_dir.parent / "evil.txt").exists()

    # Then: a clear error, not an unexplained crash.
    assert isinstance(raised, (FetchError, LoadError)), f"{case.id}: {type(raised).__name__}: {raised}"
    message = str(raised)
    assert "corpus" in message and "donnees" in message, message  # names the source and resource
    new_batches = [b for b in _ledger(url) if b not in ledger_before]
    if isinstance(raised, FetchError) and raised.landed is not None:
        # An archive refused as unsafe: kept in the landing zone as evidence, never extracted, and
        # recorded in the ledger as a failed batch like any other.
        assert len(new_batches) == 1 and new_batches[0][2] == "failed", new_batches
        assert new_batches[0][5] == str(raised.landed.path) and raised.landed.path.is_file()
        assert not (raised.landed.path.parent / f"{raised.landed.sha256}.extracted").exists()
    elif isinstance(raised, FetchError):
        # Refused before the landing zone: no batch, nothing archived, the error names the file given.
        assert bad.name in message, message
        assert new_batches == []
        assert tree_digest(settings.landing_dir()) == landing_before
    else:
        assert len(new_batches) == 1 and new_batches[0][2] == "failed", new_batches
        landed = new_batches[0][5]
        assert Path(landed).name in message or bad.name in message, message  # names the file it read
        assert new_batches[0][4], "the ledger's error column is empty"
    if case.rule and isinstance(raised, LoadError) and "rows" in message and "broke" in message:
        with warehouse.connect(url) as conn:
            rules = {r for (r,) in conn.execute("select rule from ingest.rejected_rows where batch_id = %s",
                                                (new_batches[0][0],))}
        assert any(r == case.rule or r.startswith(case.rule + ":") for r in rules), (rules, message)
        assert re.search(r"ingest\.rejected_rows \(batch \d+\)", message)
    else:
        assert case.error and re.search(case.error, message, re.S), f"{case.id}: unexpected message: {message}"
