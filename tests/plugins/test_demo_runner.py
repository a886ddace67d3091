"""`make demo` drives the DAGs in one process: the runs are real Airflow runs, recorded in the project's
metadata database (what `make airflow` and `territoire summary` read), each DAG's log in its own file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    from territoire import airflow_env, demo, settings, warehouse

    url = warehouse.get_url()
    env = airflow_env.environment(url)
    os.environ.update(env)
    logs = settings.var_dir() / "demo" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    demo.fresh_metadata(env, logs / "airflow-db-init.log")
    runner = demo.DagRunner(logs)
    sys.exit(0 if runner.run("ingest_sinoe") and runner.run("ingest_sinoe") else 1)
""")


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_are_airflow_runs_in_the_project_metadata(fresh_database, tmp_path):
    env = {**os.environ, "WAREHOUSE_URL": fresh_database, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    for name in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # What the terminal shows: one line per DAG run, with its outcome and its log.
    assert "ingest_sinoe: ok in" in result.stdout and "(1 success)" in result.stdout
    assert "(1 skipped)" in result.stdout  # the second run found the same file: skipped, no Asset event
    log = tmp_path / "var" / "demo" / "logs" / "ingest_sinoe.log"
    assert "load_tonnages_decheteries" in log.read_text(encoding="utf-8")
    with sqlite3.connect(tmp_path / "var" / "airflow" / "airflow.db") as conn:
        runs = conn.execute("select state from dag_run where dag_id = 'ingest_sinoe' order by id").fetchall()
        tasks = conn.execute("select state from task_instance where dag_id = 'ingest_sinoe' order by start_date"
                             ).fetchall()
    assert runs == [("success",), ("success",)]
    assert tasks == [("success",), ("skipped",)]
