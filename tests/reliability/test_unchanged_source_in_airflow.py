"""An unchanged source does not trigger the warehouse: the same ingestion DAG run three times by
`airflow dags test` (SQLite metadata) on one local file that does not change.

- run 1: the file is new, the load task succeeds and emits the raw table's Asset event;
- run 2: the file is unchanged (`skipped_unchanged` batch), the task is *skipped* (not failed) and no
  Asset event is emitted, so `transform_warehouse` (scheduled on those Assets) is not triggered;
- run 3: `force=True` reloads it and emits again.

What is asserted is read from Airflow's own metadata database (tables `asset_event`, `task_instance`,
`dag_run`), not from the code under test. Slow: `airflow db migrate` alone takes ~20 s, paid once here.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from reliability_helpers import airflow, one_source_airflow

from territoire import warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_an_unchanged_source_emits_no_asset_event_and_its_task_is_skipped(fresh_database, var_dir, tmp_path):
    url = fresh_database
    data = tmp_path / "donnees.csv"
    # SYNTHETIC data: two rows, enough for a real load.
    data.write_text("code;valeur\n01;1\n02;2\n", encoding="utf-8")
    env, dagfile = one_source_airflow(url, data, tmp_path, "@daily")
    home = tmp_path / "airflow"

    migrate = airflow(["db", "migrate"], env)
    assert migrate.returncode == 0, migrate.stderr[-2000:]

    # `dags test` writes the DAG and its outlet Asset into the metadata database itself (no reserialize).
    outputs = {}
    for day, conf in (("2026-02-01", None), ("2026-02-02", None), ("2026-02-03", {"force": True})):
        args = ["dags", "test", "ingest_corpus", day, "--dagfile-path", str(dagfile)]
        if conf:
            args += ["--conf", json.dumps(conf)]
        run = airflow(args, env)
        outputs[day] = run.stdout + run.stderr
        assert run.returncode == 0, outputs[day][-3000:]

    with sqlite3.connect(home / "airflow.db") as meta:
        runs = dict(meta.execute("select run_id, date(logical_date) from dag_run where dag_id = 'ingest_corpus'"))
        states = {runs[r]: (s, st) for r, s, st in meta.execute(
            "select ti.run_id, ti.task_id, ti.state from task_instance ti where ti.dag_id = 'ingest_corpus'")}
        run_states = {d: s for d, s in meta.execute(
            "select date(logical_date), state from dag_run where dag_id = 'ingest_corpus'")}
        events = [(runs.get(r), t, name) for r, t, name in meta.execute(
            """select e.source_run_id, e.source_task_id, a.name from asset_event e
               join asset a on a.id = e.asset_id order by e.id""")]
    assert len(runs) == 3, runs
    assert states == {"2026-02-01": ("load_donnees", "success"),
                      "2026-02-02": ("load_donnees", "skipped"),
                      "2026-02-03": ("load_donnees", "success")}, states
    # The DAG runs stay green: a skipped task is not a failure.
    assert run_states == {"2026-02-01": "success", "2026-02-02": "success", "2026-02-03": "success"}, run_states
    # One event per real load, none for the unchanged file.
    assert events == [("2026-02-01", "load_donnees", "raw.corpus__donnees"),
                      ("2026-02-03", "load_donnees", "raw.corpus__donnees")], events
    assert "nothing new for the warehouse" in outputs["2026-02-02"], outputs["2026-02-02"][-3000:]

    with warehouse.connect(url) as conn:
        batches = conn.execute("select batch_id, status from ingest.load_batches order by batch_id").fetchall()
    assert [s for _, s in batches] == ["succeeded", "skipped_unchanged", "succeeded"]
    # The skipped task's log names the batch whose content it found again.
    assert f"same content as batch {batches[0][0]}" in outputs["2026-02-02"]


def test_a_task_is_called_unchanged_only_when_every_table_is():
    from territoire.dag_factory import nothing_new

    def summary(table, status, batch):
        return {"source_id": "gtfs", "resource": "feed", "raw_table": table, "batch_id": batch, "status": status,
                "message": "same content as batch 3" if status == "skipped_unchanged" else ""}

    # A GTFS feed where one file changed: the task succeeds and emits every table's Asset.
    assert nothing_new([summary("gtfs__stops", "skipped_unchanged", 7),
                        summary("gtfs__trips", "succeeded", 8)]) is None
    assert nothing_new([]) is None
    line = nothing_new([summary("gtfs__stops", "skipped_unchanged", 7),
                        summary("gtfs__trips", "skipped_unchanged", 8)])
    assert line.startswith("gtfs/feed: raw.gtfs__stops unchanged (same content as batch 3; this run's ledger row: "
                           "batch 7); raw.gtfs__trips unchanged")
    assert "nothing new for the warehouse" in line and "force" in line
