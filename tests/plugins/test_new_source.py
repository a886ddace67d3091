"""`territoire new-source` on real files from ../shared/data: the inferred Table Schema keeps codes as
text with their leading zeros, and the scaffolded source loads, builds in dbt and has its DAG.

The scaffolding writes into the project (catalog, schemas, dbt models, samples), so the end-to-end test
runs on a copy of the project's tracked files, with that copy's package first on PYTHONPATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from territoire import schema_inference

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
REGIONS = SHARED / "territorial" / "insee_cog_2026" / "regions.csv"
COMMUNES = SHARED / "territorial" / "insee_cog_2026" / "communes.csv"
BIKES = SHARED / "bike_counters" / "paris_comptage_velo_donnees_compteurs_sample.csv"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not there")


def _infer(path: Path) -> dict:
    headers, rows = schema_inference.read_sample(path, "csv")
    schema = schema_inference.infer(headers, rows, name="t", title="t")
    return schema


def _fields(schema: dict) -> dict[str, dict]:
    return {f["name"]: f for f in schema["fields"]}


@needs_shared
def test_codes_keep_their_leading_zeros_and_corsica():
    """COG communes: COM holds 01001 and 2A004: a string with the shape of the codes, never a number;
    TYPECOM repeats four values: an enumeration; COM alone is not a key (584 codes repeat)."""
    schema = _infer(COMMUNES)
    fields = _fields(schema)
    assert fields["COM"]["type"] == "string"
    assert fields["COM"]["constraints"]["pattern"] == "^[0-9][0-9A-Z][0-9]{3}$"
    assert fields["COM"]["constraints"]["required"] is True
    assert fields["DEP"]["type"] == "string" and "pattern" not in fields["DEP"]["constraints"]  # 01, 2A, 971
    assert fields["TYPECOM"]["constraints"]["enum"] == ["ARM", "COM", "COMA", "COMD"]
    assert not fields["REG"]["constraints"].get("required")  # empty for associated communes
    assert schema.get("primaryKey") != ["COM"]


@needs_shared
def test_numbers_dates_and_key_of_a_real_file():
    fields = _fields(schema := _infer(BIKES))
    assert fields["Comptage horaire"]["type"] == "number"  # 3.0, 16.0
    assert fields["Date et heure de comptage"]["type"] == "datetime"  # 2021-09-01T03:00:00+02:00
    assert fields["Date d'installation du site de comptage"]["type"] == "date"
    assert fields["Identifiant du site de comptage"]["type"] == "integer"
    assert "primaryKey" not in schema or schema["primaryKey"] != ["Identifiant du compteur"]
    regions = _infer(REGIONS)
    assert regions["primaryKey"] == ["REG"]
    assert _fields(regions)["REG"]["constraints"]["pattern"] == "^[0-9]{2}$"


def test_french_forms_and_booleans():
    schema = schema_inference.infer(
        ["montant", "date", "actif", "siret"],
        [["1 234,50", "01/03/2024", "true", "00012345678901"], ["12,5", "15/03/2024", "False", "12345678901234"],
         ["-3", "31/12/2023", "TRUE", "00012345678902"]], name="t", title="t")
    fields = _fields(schema)
    assert fields["montant"]["type"] == "number"
    assert fields["date"]["type"] == "date" and fields["date"]["format"] == "%d/%m/%Y"
    assert fields["actif"]["type"] == "boolean"
    assert fields["siret"] == {"name": "siret", "type": "string",
                               "constraints": {"required": True, "pattern": "^[0-9]{14}$"}}


def _copy_project(target: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if not name or name.startswith("node_modules/") or not (ROOT / name).is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    # Work in progress not yet tracked (this module and its templates) must be there too.
    shutil.copytree(ROOT / "plugins" / "territoire", target / "plugins" / "territoire", dirs_exist_ok=True)
    return target


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


@needs_shared
@pytest.mark.integration
@pytest.mark.slow
def test_a_scaffolded_source_loads_builds_and_has_its_dag(fresh_database, tmp_path):
    project = _copy_project(tmp_path / "project")
    env = {**os.environ, "PYTHONPATH": str(project / "plugins"), "WAREHOUSE_URL": fresh_database,
           "TERRITOIRE_VAR_DIR": str(tmp_path / "var"), "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    for name in ("TERRITOIRE_CATALOG", "TERRITOIRE_LANDING_DIR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.pop(name, None)
    cli = ["-m", "territoire.cli"]

    made = _run([*cli, "new-source", "regions_cog", "--file", str(REGIONS), "--domain", "territoire",
                 "--producer", "INSEE", "--title", "Régions (COG 2026)"], env, project)
    assert made.returncode == 0, made.stderr
    schema = json.loads((project / "catalog/schemas/territoire/regions_cog.json").read_text(encoding="utf-8"))
    assert schema["primaryKey"] == ["REG"]
    model = project / "dbt_project/models/staging/regions_cog/stg_regions_cog__regions.sql"
    assert "tncc::bigint as tncc" in model.read_text(encoding="utf-8")
    manifest = json.loads((project / "dbt_project/target/manifest.json").read_text(encoding="utf-8"))
    assert "model.territoire.stg_regions_cog__regions" in manifest["nodes"]

    again = _run([*cli, "new-source", "regions_cog", "--file", str(REGIONS), "--domain", "territoire"], env, project)
    assert again.returncode == 1 and "already in" in again.stderr

    loaded = _run([*cli, "load", "regions_cog"], env, project)
    assert loaded.returncode == 0, loaded.stderr
    assert "18 rows loaded, 0 rejected" in loaded.stdout
    built = _run([*cli, "dbt", "build", "--select", "stg_regions_cog__regions"], env, project)
    assert built.returncode == 0, built.stdout[-3000:]
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("select reg, cheflieu, tncc from staging.stg_regions_cog__regions "
                            "order by ligne_source limit 2").fetchall()
    assert rows == [("01", "97105", 3), ("02", "97209", 3)]

    dags = _run(["-c", "from airflow.dag_processing.dagbag import DagBag; import sys; "
                       f"bag = DagBag(dag_folder={str(project / 'dags' / 'ingest_sources.py')!r}); "
                       "print(sorted(bag.dags)); sys.exit(1 if bag.import_errors else 0)"], env, project)
    assert dags.returncode == 0, dags.stderr[-2000:]
    assert "'ingest_regions_cog'" in dags.stdout
