"""`territoire load <source> --file F` and `territoire validate F` for every format the catalog
supports, run as users run them (the installed console script, a real warehouse)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest
from ingest_helpers import PROJECT, SAMPLES, SHARED, fetch_all, write_schema
from sheet_writers import write_xlsx

pytestmark = pytest.mark.integration

TERRITOIRE = PROJECT / ".venv" / "bin" / "territoire"


def run(*args, env, check) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(TERRITOIRE), *args], capture_output=True, text=True, cwd=PROJECT,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == check, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def catalog(tmp_path) -> Path:
    """A GTFS source and a spreadsheet source (SYNTHETIC files)."""
    path = tmp_path / "sources.yml"
    write_xlsx(tmp_path / "aides.xlsx", {"Aides": [["Aides 2024 (SYNTHÉTIQUE)"], [],
                                                   ["code", "montant", "date"],
                                                   ["01001", 1500.0, dt.date(2024, 1, 31)],
                                                   ["01002", 0.1 + 0.7, dt.date(2024, 2, 29)]]})
    path.write_text(textwrap.dedent(f"""
        version: 1
        sources:
          - id: bus
            domain: transport
            title: Réseau de bus (SYNTHÉTIQUE)
            producer: tests
            licence: etalab-2.0
            resources:
              - name: gtfs
                format: gtfs
                location:
                  demo: {{connector: gtfs, path: {tmp_path}/nowhere.zip}}
                rules:
                  checks:
                    - {{rule: references, table: stop_times, column: stop_id, to: raw.bus__stops, to_column: stop_id}}
                    - {{rule: references, table: stop_times, column: trip_id, to: raw.bus__trips, to_column: trip_id}}
          - id: cog
            domain: territoire
            title: Régions (archive)
            producer: INSEE
            licence: etalab-2.0
            resources:
              - name: regions
                format: csv
                location:
                  demo: {{connector: local, path: {tmp_path}/nowhere.zip, member: cog/regions.csv}}
          - id: aides
            domain: subventions
            title: Aides (SYNTHÉTIQUE)
            producer: tests
            licence: etalab-2.0
            resources:
              - name: aides
                format: xlsx
                options: {{sheet: Aides}}
                location:
                  demo: {{connector: local, path: {tmp_path}/aides.xlsx}}
        """), encoding="utf-8")
    return path


def test_load_file_takes_a_gtfs_zip_or_folder_and_archives_it(warehouse_url, catalog, tmp_path):
    env = {"WAREHOUSE_URL": warehouse_url, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    feed = SAMPLES / "transport" / "synthetic_gtfs.zip"
    out = run("--catalog", str(catalog), "load", "bus", "--file", str(feed), env=env, check=0)
    assert "bus/gtfs -> raw.bus__stops: succeeded" in out.stdout and "raw.bus__stop_times" in out.stdout
    (stops,), = fetch_all(warehouse_url, "select count(*) from raw.bus__stops")
    assert stops == sum(1 for line in (SAMPLES / "transport" / "synthetic_gtfs" / "stops.txt")
                        .read_text(encoding="utf-8-sig").splitlines()[1:] if line.strip())
    # The feed is archived in the landing zone and recorded in the ledger like a download.
    assert any(p.suffix == ".zip" for p in (tmp_path / "landing").rglob("*"))
    (n,), = fetch_all(warehouse_url, "select count(*) from ingest.load_batches where source_id = 'bus' "
                                     "and status = 'succeeded' and location like %s", (f"%{feed.name}",))
    assert n >= 5
    # The files load after those they refer to: on this first load, stop_times is checked against the
    # stops and trips of the same feed (the rules ran, none was skipped for a missing table).
    (rules,), = fetch_all(warehouse_url, "select details -> 'business_rules' from ingest.load_batches "
                                         "where raw_table = 'bus__stop_times' order by batch_id limit 1")
    assert rules["not_run"] == [] and len(rules["applied"]) == 2 and rules["errors"] == 0
    # The same feed as a folder of .txt files.
    folder = run("--catalog", str(catalog), "load", "bus", "--file", str(SAMPLES / "transport" / "synthetic_gtfs"),
                 "--force", env=env, check=0)
    assert "bus/gtfs -> raw.bus__stops: succeeded" in folder.stdout
    # A folder for a table source is refused with what to do.
    wrong = run("--catalog", str(catalog), "load", "aides", "--file", str(SAMPLES / "transport"), env=env, check=1)
    assert "'aides'" in wrong.stderr and "only a GTFS feed" in wrong.stderr


def test_load_file_and_validate_read_a_spreadsheet(warehouse_url, catalog, tmp_path):
    env = {"WAREHOUSE_URL": warehouse_url, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    out = run("--catalog", str(catalog), "load", "aides", "--file", str(tmp_path / "aides.xlsx"), env=env, check=0)
    assert "aides/aides -> raw.aides__aides: succeeded, 2 rows loaded" in out.stdout
    assert fetch_all(warehouse_url, "select code, montant, date, _line_number from raw.aides__aides order by 4") == [
        ("01001", "1500", "2024-01-31", 4), ("01002", "0.8", "2024-02-29", 5)]
    # A CSV given for the spreadsheet source: refused, naming both formats.
    csv_file = tmp_path / "aides.xlsx.csv"
    csv_file.write_text("code;montant\n01001;1500\n", encoding="utf-8")
    wrong = run("--catalog", str(catalog), "load", "aides", "--file", str(csv_file), env=env, check=1)
    assert "aides/aides" in wrong.stderr and "the file is delimited text (CSV), a CSV file; the catalog declares XLSX" \
        in wrong.stderr
    schema = write_schema(tmp_path, [{"name": "code", "constraints": {"pattern": "^[0-9]{5}$"}},
                                     {"name": "montant", "type": "number", "constraints": {"maximum": 1000}},
                                     {"name": "date", "type": "date"}])
    report = run("validate", str(tmp_path / "aides.xlsx"), "--schema", str(schema), env={"WAREHOUSE_URL": warehouse_url},
                 check=1)
    assert "ligne 4, montant [maximum]" in report.stdout and report.stdout.rstrip().endswith("NON VALIDE")


def test_load_file_takes_a_zip_holding_the_member_the_catalog_names(fresh_database, catalog, tmp_path):
    env = {"WAREHOUSE_URL": fresh_database, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    regions = SAMPLES / "territorial" / "insee_cog_2026" / "regions.csv"
    archive = tmp_path / "cog_2026.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(regions, "cog/regions.csv")
        zf.writestr("cog/LISEZMOI.txt", "SYNTHETIC readme beside a real file")
    out = run("--catalog", str(catalog), "load", "cog", "--file", str(archive), env=env, check=0)
    assert "cog/regions -> raw.cog__regions: succeeded, 18 rows loaded" in out.stdout
    # The CSV itself is also accepted for that resource.
    again = run("--catalog", str(catalog), "load", "cog", "--file", str(regions), "--force", env=env, check=0)
    assert "succeeded, 18 rows loaded" in again.stdout


def test_load_file_takes_the_real_reference_feed(warehouse_url, catalog, tmp_path):
    """RTM's Frioul shuttle feed (../shared/data, reference only): a BOM before every header and a
    file that is not GTFS in the archive."""
    feed = SHARED / "transport" / "gtfs_frioul_if_express_marseille.zip"
    if not feed.exists():
        pytest.skip("../shared/data is not available")
    env = {"WAREHOUSE_URL": warehouse_url, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    out = run("--catalog", str(catalog), "load", "bus", "--file", str(feed), env=env, check=0)
    assert "raw.bus__stop_times: succeeded, 140 rows loaded" in out.stdout
    columns = {c for (c,) in fetch_all(warehouse_url, "select column_name from information_schema.columns "
                                                      "where table_name = 'bus__stops'")}
    assert "stop_id" in columns and not any("ufeff" in c or "\ufeff" in c for c in columns)
