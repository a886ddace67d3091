"""Every real file the project ships (data/samples) and every file of ../shared/data loads into a
fresh warehouse: rows that break a schema go to quarantine, the rest loads. Counts are checked
against an independent reading of each file (Python's csv / json modules)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from ingest_helpers import SAMPLES, SHARED, fetch_all, make_resource

from territoire import settings
from territoire.catalog import load_catalog
from territoire.ingest import parsing
from territoire.ingest.loader import Loader

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA_SUFFIXES = {".csv": "csv", ".txt": "csv", ".json": "json", ".geojson": "geojson"}
NOT_DATA = {"LICENSE.txt", "README.md", "MANIFEST.md", "CHANGELOG.md", "datapackage.json"}


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES
                  and p.name not in NOT_DATA and "schema" not in p.name)


def expected_records(path: Path, fmt: str) -> int:
    """Records as Python's own readers count them (independent of the loader's COPY path)."""
    if fmt == "csv":
        d = parsing.sniff_csv(path)
        with open(path, encoding=d.encoding, newline="", errors="replace") as f:
            rows = [r for r in csv.reader(f, delimiter=d.delimiter) if r and any(v != "" for v in r)]
        return len(rows) - 1
    text = path.read_text(encoding=parsing.detect_encoding(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        dec, n, i = json.JSONDecoder(), 0, 0
        text = text.strip()
        while i < len(text):
            _, i = dec.raw_decode(text, i)
            n += 1
            while i < len(text) and text[i].isspace():
                i += 1
        return n
    if isinstance(data, dict) and "features" in data:
        return len(data["features"])
    return len(data) if isinstance(data, list) else 1


def _load_all(url: str, files: list[tuple[str, Path]], tmp_path) -> list[str]:
    loader = Loader(url, progress=lambda m: None)
    problems = []
    for i, (label, path) in enumerate(files):
        fmt = DATA_SUFFIXES[path.suffix]
        r = make_resource(path, name=f"f{i}", fmt=fmt, source_id="real")
        try:
            result = loader.load(r, path, quarantine_threshold=1.0)
        except Exception as exc:  # noqa: BLE001 - collect every failure, then report them all
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        want = expected_records(path, fmt)
        if result.rows_loaded + result.rows_rejected != want or result.rows_loaded == 0:
            problems.append(f"{label}: loaded {result.rows_loaded} + rejected {result.rows_rejected}, "
                            f"the file holds {want} records")
        (n,), = fetch_all(url, f'select count(*) from raw."{r.raw_table}"')
        if n != result.rows_loaded:
            problems.append(f"{label}: raw table holds {n} rows, ledger says {result.rows_loaded}")
    return problems


def test_every_shipped_sample_loads(fresh_database, tmp_path):
    files = [(str(p.relative_to(SAMPLES)), p) for p in data_files(SAMPLES)]
    assert len(files) >= 20
    assert _load_all(fresh_database, files, tmp_path) == []


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_every_shared_file_loads(fresh_database, tmp_path):
    files = [(str(p.relative_to(SHARED)), p) for p in data_files(SHARED)]
    assert _load_all(fresh_database, files, tmp_path) == []


@pytest.mark.skipif(not (SHARED / "transport" / "gtfs_frioul_if_express_marseille.zip").is_file(),
                    reason="the reference GTFS feed in ../shared/data is not present")
def test_reference_gtfs_feed_loads_table_by_table(fresh_database, tmp_path):
    from territoire.ingest.connectors.gtfs import extract_feed

    files = extract_feed(SHARED / "transport" / "gtfs_frioul_if_express_marseille.zip", tmp_path / "feed",
                         source_id="gtfs", resource="feed")
    assert {"stops", "stop_times", "routes", "trips"} <= set(files)
    assert _load_all(fresh_database, [(f"gtfs/{stem}", p) for stem, p in sorted(files.items())], tmp_path) == []
    # A BOM before every header: the first column must not carry it.
    loaded = {c for (c,) in fetch_all(fresh_database, "select column_name from information_schema.columns "
                                                      "where table_schema = 'raw'")}
    assert "stop_id" in loaded and not any(c.startswith("ufeff") for c in loaded)


def test_catalog_resources_load_with_their_schemas(fresh_database, tmp_path, monkeypatch):
    """Each catalog resource with a local demo file loads with its Table Schema, within its threshold."""
    monkeypatch.setenv("TERRITOIRE_PROFILE", "demo")
    loader = Loader(fresh_database, progress=lambda m: None)
    problems, loaded = [], 0
    for source in load_catalog():
        for r in source.resources:
            loc = r.locations.get("demo")
            path = loc.resolved_path() if loc else None
            if not path or not path.is_file() or r.format not in ("csv", "json", "ndjson", "geojson"):
                continue
            try:
                result = loader.load(r, path)
                loaded += 1
                assert result.status == "succeeded"
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{source.id}/{r.name}: {exc}")
    assert loaded >= 1 and problems == []
    assert settings.landing_dir() == tmp_path / "landing"


def test_fast_copy_changes_no_verdict(fresh_database, tmp_path, monkeypatch):
    """Every catalog resource with a Table Schema and a local CSV file, loaded once with the fast COPY
    (territoire.ingest.fastcopy: decimal commas rewritten by the client, parallel parts) and once without
    it: the same rows, values and line numbers, the same quarantine. With the fast COPY, the client proves
    what it can of the rules (territoire.ingest.proofs): that changes who decides, never the verdict."""
    monkeypatch.setenv("TERRITOIRE_PROFILE", "demo")
    proving = Loader(fresh_database, progress=lambda m: None, reports=False)
    checking = Loader(fresh_database, progress=lambda m: None, reports=False, fast_copy=False)
    compared, proved, client_proved = [], 0, 0
    for source in load_catalog():
        for r in source.resources:
            loc = r.locations.get("demo")
            path = loc.resolved_path() if loc else None
            if not r.schema or not path or not path.is_file() or r.format != "csv":
                continue
            results = [loader.load(replace(r, name=f"{r.name}_{k}"), path, force=True, quarantine_threshold=1.0)
                       for k, loader in enumerate((proving, checking))]
            tables, quarantines, details = [], [], []
            for result in results:
                table = f'raw."{result.raw_table}"'
                columns = [c for (c,) in fetch_all(
                    fresh_database, "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
                                    "and not attisdropped and attname not in ('_batch_id', '_loaded_at') "
                                    "order by attnum", (table,))]
                tables.append(fetch_all(fresh_database, f"select md5(string_agg(t::text, '|' order by _line_number)) "
                                                        f"from (select {', '.join(chr(34) + c + chr(34) for c in columns)}"
                                                        f" from {table}) t"))
                quarantines.append(set(fetch_all(fresh_database, "select line_number, column_name, rule, value from "
                                                                 "ingest.rejected_rows where batch_id = %s",
                                                 (result.batch_id,))))
                details.append(fetch_all(fresh_database, "select details from ingest.load_batches where batch_id = %s",
                                         (result.batch_id,))[0][0])
            assert tables[0] == tables[1] and quarantines[0] == quarantines[1], f"{source.id}/{r.name}"
            assert details[1]["decimal_commas"] != "rewritten while streaming"
            proved += details[0]["decimal_commas"] == "rewritten while streaming"
            client_proved += bool((details[0].get("client_proofs") or {}).get("columns"))
            compared.append(f"{source.id}/{r.name}")
    assert len(compared) >= 5 and proved >= 1 and client_proved >= 1, (compared, proved, client_proved)


def test_independent_count_helper_sees_quoted_newlines(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('a;b\n1;"x\ny"\n2;z\n', encoding="utf-8")
    assert expected_records(p, "csv") == 2
