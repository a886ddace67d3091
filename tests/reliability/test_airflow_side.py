"""What Airflow itself sees: a failing ingestion run through `airflow dags test` (SQLite metadata, the
warehouse URL carrying a password), then the operations that read Airflow: the daily summary lists
that failed run (CLI reader), and `backfill(via="airflow", dry_run=True)` asks Airflow for the dates.

Slow: `airflow db migrate` alone takes tens of seconds. One test, so it is paid once.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from test_security import password_warehouse  # noqa: F401 - fixture: a database owned by a role with a password

from territoire import airflow_env, operations, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _airflow(args: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("airflow"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_a_failing_ingestion_run_in_airflow_leaks_no_password_and_is_in_the_summary(
        password_warehouse, var_dir, tmp_path):  # noqa: F811
    url, password = password_warehouse
    bad = tmp_path / "donnees.csv"
    bad.write_text("code;valeur\n", encoding="utf-8")  # a header and no data rows: the load fails
    catalog = tmp_path / "sources.yml"
    catalog.write_text(yaml.safe_dump({"version": 1, "sources": [{
        "id": "corpus", "domain": "territoire", "title": "Source de test (SYNTHÉTIQUE)", "producer": "tests",
        "licence": "etalab-2.0", "schedule": "@monthly", "resources": [{
            "name": "donnees", "format": "csv", "location": {"demo": {"connector": "local", "path": str(bad)}}}]}]},
        allow_unicode=True), encoding="utf-8")
    env = airflow_env.environment(url, home=tmp_path / "airflow")
    env["TERRITOIRE_CATALOG"] = str(catalog)
    # Only the ingestion DAG file (the transform DAG needs the dbt manifest and is not under test here).
    dags = tmp_path / "dags"
    dags.mkdir()
    # The same DAG factory and task, with retries off: the DAG's 2 retries (2 then 4 minutes apart) would
    # make `dags test` wait 6 minutes for a failure that is certain.
    (dags / "ingest_sources.py").write_text(
        "# airflow dag: the ingestion DAGs, retries off for the test\n"
        "from territoire import dag_factory\n"
        "dag_factory.DEFAULT_ARGS['retries'] = 0\n"
        "globals().update(dag_factory.build_ingestion_dags())\n", encoding="utf-8")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    since = datetime.now(UTC) - timedelta(minutes=1)

    migrate = _airflow(["db", "migrate"], env)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    # The DAG must be in the metadata database for `dags list-runs` and `backfill create` to know it.
    serialized = _airflow(["dags", "reserialize"], env)
    assert serialized.returncode == 0, serialized.stderr[-2000:]
    run = _airflow(["dags", "test", "ingest_corpus", "2026-02-01", "--dagfile-path", str(dags / "ingest_sources.py")],
                   env)
    output = run.stdout + run.stderr
    assert "no data rows" in output, output[-3000:]  # the task failed, and said why
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "airflow").rglob("*.log"))
    assert password not in output and password not in logs
    with warehouse.connect(url) as conn:
        errors = conn.execute("select status, error from ingest.load_batches").fetchall()
    assert errors and all(s == "failed" for s, _ in errors)
    assert all(password not in (e or "") for _, e in errors)

    failed = operations.airflow_runs_cli("failed", since, ["ingest_corpus"], env)
    assert [r.dag_id for r in failed] == ["ingest_corpus"], failed
    summary = operations.failed_runs_summary(since, url=url, runs=lambda state, s: failed)
    text = summary.text("en")
    assert "1 failed Airflow run(s)" in text and "ingest_corpus" in text and "corpus/donnees" in text
    assert password not in text and password not in summary.text("fr")

    dry = operations.backfill("corpus", "2026-01-01", "2026-03-01", via="airflow", dry_run=True, env=env)
    assert [d.date().isoformat() for d in dry.dates] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    for day in ("2026-01-01", "2026-02-01", "2026-03-01"):
        assert day in dry.airflow_output, dry.airflow_output
