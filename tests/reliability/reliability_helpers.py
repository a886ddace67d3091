"""Helpers of the reliability suite: run the whole pipeline, fingerprint the warehouse and the files.

Reuses the shared pipeline helpers (tests/support/pipeline.py: `ingest_sources`). Imported by the test
modules as `reliability_helpers` (pytest puts this folder on sys.path; tests/ is not a package).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.pipeline import ingest_sources  # tests/ is on pytest's pythonpath (pyproject)

from territoire import dbt, pipeline, warehouse
from territoire.datasets import load_datasets

TESTS_DIR = Path(__file__).resolve().parents[1]

PROJECT = TESTS_DIR.parent
MALFORMED = TESTS_DIR / "fixtures" / "malformed"
log = logging.getLogger(__name__)

# Columns whose value legitimately differs from one run to the next, excluded from the fingerprint:
# - `_loaded_at`: the load's timestamp (raw tables' technical column; now() of the load transaction);
# - `_batch_id`: the ledger's bigserial of the load that wrote the row (a second run gets new ids);
# - published tables may carry the quality run that let them through and when (`_validation_run_id`,
#   `_published_at` and similar): they identify *a run*, not the data. The list is explicit, so a new
#   run-dependent column makes the idempotency test fail until someone decides it belongs here.
RUN_DEPENDENT_COLUMNS = {"_loaded_at", "_batch_id", "_published_at", "_validation_run_id", "_run_id",
                         "_dbt_loaded_at"}
FINGERPRINT_SCHEMAS = ("raw", "audit", "published")


def table_fingerprints(url: str, schemas: tuple[str, ...] = FINGERPRINT_SCHEMAS) -> dict[str, tuple[int, str]]:
    """{schema.table: (rows, md5 of every row's text in a stable order)}, run-dependent columns left out.

    Rows are rendered by PostgreSQL (`row(...)::text`, the same text whatever the column types) and
    sorted by that text, so the fingerprint depends on the content only, not on the physical order.
    """
    out: dict[str, tuple[int, str]] = {}
    with warehouse.connect(url) as conn:
        tables = conn.execute(
            """select table_schema, table_name from information_schema.tables
               where table_schema = any(%s) and table_type in ('BASE TABLE', 'VIEW')
               order by 1, 2""", (list(schemas),)).fetchall()
        for schema, table in tables:
            cols = [c for (c,) in conn.execute(
                """select column_name from information_schema.columns where table_schema = %s and table_name = %s
                   order by ordinal_position""", (schema, table)).fetchall() if c not in RUN_DEPENDENT_COLUMNS]
            rel = f'"{schema}"."{table}"'
            expr = "row(" + ", ".join(f'"{c}"' for c in cols) + ")::text" if cols else "''"
            n, digest = conn.execute(
                f"select count(*), md5(coalesce(string_agg(r, E'\\n' order by r collate \"C\"), '')) "
                f"from (select {expr} as r from {rel}) t").fetchone()
            out[f"{schema}.{table}"] = (n, digest)
    return out


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder`, through symbolic links.

    The publication folder holds `datasets/.versions/<id>-<hash>/` and a link `datasets/<id>` to the
    current version: both the versions and what the links point at are fingerprinted (a symlink is
    also recorded with its target, so a link switched to another version is a difference).
    """
    out: dict[str, str] = {}
    if not folder.exists():
        return out
    for root, dirs, files in os.walk(folder, followlinks=True):
        base = Path(root)
        for name in sorted(dirs + files):
            p = base / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel + " ->"] = os.readlink(p)
            if name in files and p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class PipelineRun:
    ingested: list[dict] = field(default_factory=list)
    dbt_error: str | None = None
    published: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def run_pipeline(url: str, datasets: list[str] | None = None) -> PipelineRun:
    """Every catalog resource ingested, `dbt build`, every dataset gated and published, the reports.

    A dataset its gate blocks is recorded (not raised): the idempotency test compares what the two
    runs did, and reports which datasets were blocked on the day it ran.
    """
    from territoire.quality.gate import QualityGateFailed

    run = PipelineRun()
    clock = time.monotonic()
    run.ingested = ingest_sources(url)
    run.timings["ingest"] = time.monotonic() - clock
    try:
        dbt.run(["build"], url, capture=True)
    except dbt.DbtError as exc:
        run.dbt_error = str(exc)
    run.timings["dbt"] = time.monotonic() - clock - run.timings["ingest"]
    for dataset_id in datasets if datasets is not None else list(load_datasets()):
        try:
            pipeline.publish_dataset(dataset_id, url=url)
            run.published.append(dataset_id)
        except QualityGateFailed as exc:
            run.blocked[dataset_id] = str(exc).splitlines()[0][:300]
    run.reports = pipeline.build_reports(url)
    run.timings["total"] = time.monotonic() - clock
    return run


def airflow(args: list[str], env: dict, timeout: int = 600):
    """The project's `airflow` command with the given environment (captured output)."""
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


def one_source_airflow(url: str, data: Path, tmp_path: Path, schedule: str) -> tuple[dict, Path]:
    """An Airflow environment (SQLite metadata under tmp_path, its own DAGs folder) whose catalog holds
    one SYNTHETIC source `corpus` reading the local file `data` (DAG `ingest_corpus`). The DAG file is
    built by the real DAG factory, with retries off: a failure shows at once instead of after the DAG's
    retries (minutes apart). Returns (env, DAG file)."""
    import yaml

    from territoire import airflow_env

    catalog = tmp_path / "sources.yml"
    catalog.write_text(yaml.safe_dump({"version": 1, "sources": [{
        "id": "corpus", "domain": "territoire", "title": "Source de test (SYNTHÉTIQUE)", "producer": "tests",
        "licence": "etalab-2.0", "schedule": schedule, "resources": [{
            "name": "donnees", "format": "csv", "location": {"demo": {"connector": "local", "path": str(data)}}}]}]},
        allow_unicode=True), encoding="utf-8")
    env = airflow_env.environment(url, home=tmp_path / "airflow")
    env["TERRITOIRE_CATALOG"] = str(catalog)
    dags = tmp_path / "dags"
    dags.mkdir()
    dagfile = dags / "ingest_sources.py"
    dagfile.write_text(
        "# airflow dag: the ingestion DAGs, retries off for the test\n"
        "from territoire import dag_factory\n"
        "dag_factory.DEFAULT_ARGS['retries'] = 0\n"
        "globals().update(dag_factory.build_ingestion_dags())\n", encoding="utf-8")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return env, dagfile
