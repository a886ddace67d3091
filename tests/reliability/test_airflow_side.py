"""What Airflow itself sees: a failing ingestion run through `airflow dags test` (SQLite metadata, the
warehouse URL carrying a password), then the operations that read Airflow: the daily summary lists
that failed run (CLI reader), and `backfill(via="airflow", dry_run=True)` asks Airflow for the dates.

Slow: `airflow db migrate` alone takes tens of seconds. One test, so it is paid once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from reliability_helpers import airflow, one_source_airflow
from test_security import password_warehouse  # noqa: F401 - fixture: a database owned by a role with a password

from territoire import operations, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_failing_ingestion_run_in_airflow_leaks_no_password_and_is_in_the_summary(
        password_warehouse, var_dir, tmp_path):  # noqa: F811
    url, password = password_warehouse
    bad = tmp_path / "donnees.csv"
    bad.write_text("code;valeur\n", encoding="utf-8")  # a header and no data rows: the load fails
    env, dagfile = one_source_airflow(url, bad, tmp_path, "@monthly")
    since = datetime.now(UTC) - timedelta(minutes=1)

    migrate = airflow(["db", "migrate"], env)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    # The DAG must be in the metadata database for `dags list-runs` and `backfill create` to know it.
    serialized = airflow(["dags", "reserialize"], env)
    assert serialized.returncode == 0, serialized.stderr[-2000:]
    run = airflow(["dags", "test", "ingest_corpus", "2026-02-01", "--dagfile-path", str(dagfile)],
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
