"""The real pipeline on the CeleryExecutor stack equals a single-process run (issue 7, scale-out).

One stack (tests/deploy/celery_stack.py: scheduler, dag-processor, api-server, two celery workers,
Redis broker, PostgreSQL metadata and warehouse databases) runs the project's own dags/ on the
territory reference: `ingest_cog` -> `transform_warehouse` (Cosmos, one task per dbt model, only
the models TERRITOIRE_DBT_SELECT names) -> `publish_open_data` (only dim_territoire). Both workers
share one landing/publication folder, as the compose workers share the `territoire-shared` volume.

How the runs start (and why):
- Every DAG is paused at creation: otherwise each of the catalog's `ingest_<source>` DAGs (and the
  operations DAG) would start its scheduled run at once and load sources this test does not use.
- `ingest_cog` is triggered with `airflow dags trigger`, at the logical date of its next scheduled
  run (read from the API), then unpaused: the scheduler then finds that run already there and does
  not add a scheduled one (a second run would emit its Asset events again).
- `transform_warehouse` is triggered with `airflow dags trigger` once `ingest_cog` has succeeded,
  as its Asset schedule would. It stays paused while the loads run, so their Asset events queue no
  run: its schedule is AssetAny over every raw table, so the event of the first of ingest_cog's
  loads would start a transformation while the other loads are still running.
- `publish_open_data` is unpaused before the transformation and started by its Asset
  (`audit.marts`, emitted once by transform_warehouse's last task): the test waits for that
  Asset-triggered run. That proves the Asset hand-off through the distributed stack too.

Then it checks that tasks ran on both workers (task instances' hostname), and compares with the
same stages run as plain functions in this process, on another fresh database and var folder:
the audit dimensions and published.dim_territoire row for row (md5 of the ordered rows), and the
published dataset files byte for byte (sha256 of <publication>/datasets/dim_territoire/*).
datapackage.json is compared like the other files: it holds no path or URL of the run (resource
paths are file names; the URLs are the licence's and the producer's, from the catalogs).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import psycopg
import pytest
from celery_stack import PROJECT_ROOT, CeleryStack, StackError, postgres_answers, redis_answers
from support.pipeline import ingest_sources

from territoire import dbt, pipeline

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1500)]

DBT_SELECT = "+dim_territoire +dim_departement +dim_region +dim_epci"
DATASET = "dim_territoire"
# Everything the stack does (start, three runs) must finish within this, however loaded the machine.
BUDGET_SECONDS = 15 * 60
# Compared row for row between the two runs: what the quality gate published, and the audit marts
# the transformation built.
TABLES = ("published.dim_territoire", "audit.dim_territoire", "audit.dim_departement", "audit.dim_region",
          "audit.dim_epci")


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row as text, in a fixed order) of each table of TABLES."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            out[table] = conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from {table} t"
            ).fetchone()
    return out


def file_digests(publication: Path) -> dict[str, str]:
    """sha256 of each file of the published dataset folder (a link to its current version)."""
    folder = publication / "datasets" / DATASET
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files, f"nothing published in {folder}"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}

    def left(self, at_most: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise StackError(f"the stack used up its {BUDGET_SECONDS}s budget; phases so far: {self.marks}")
        return min(at_most, left)

    def mark(self, phase: str) -> None:
        self.marks[phase] = round(time.monotonic() - self.started - sum(self.marks.values()), 1)


def wait_success(stack: CeleryStack, dag_id: str, run_id: str, timeout: float) -> list[dict]:
    """Wait for the run; on failure, the message carries each failed task's log."""
    state = stack.wait_for_run(dag_id, run_id, timeout=timeout)
    tis = stack.task_instances(dag_id, run_id)
    if state != "success":
        failed = [ti["task_id"] for ti in tis if ti["state"] in ("failed", "up_for_retry", "upstream_failed")]
        logs = "".join(f"\n--- {t}:\n{stack.task_log_tail(dag_id, run_id, t)}" for t in failed
                       if not t.startswith("fail_if"))
        pytest.fail(f"{dag_id} run {run_id} ended {state}; task states "
                    f"{ {ti['task_id']: ti['state'] for ti in tis} }{logs}")
    return tis


def wait_asset_triggered_run(stack: CeleryStack, dag_id: str, timeout: float) -> str:
    """The run id of the first run of `dag_id` created by an Asset event (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        stack._check_alive()
        runs = [r for r in stack.dag_runs(dag_id) if r["run_type"] == "asset_triggered"]
        if runs:
            return runs[0]["dag_run_id"]
        if time.monotonic() > deadline:
            raise StackError(f"no Asset-triggered run of {dag_id} after {timeout:.0f}s; runs: {stack.dag_runs(dag_id)}"
                             f"\n--- scheduler:\n{stack.log_tail('scheduler')}")
        time.sleep(2)


def run_on_the_stack(tmp_path: Path) -> dict:
    """Run the pipeline on a fresh Celery stack; returns what the comparison needs (read before stop)."""
    budget = Budget(BUDGET_SECONDS)
    shared = tmp_path / "shared"  # the workers' shared storage (landing zone and publication)
    env = {
        "TERRITOIRE_DBT_SELECT": DBT_SELECT,
        "TERRITOIRE_PUBLISH_DATASETS": DATASET,
        "TERRITOIRE_PROFILE": "demo",
        "TERRITOIRE_VAR_DIR": str(shared),
        "TERRITOIRE_LANDING_DIR": str(shared / "landing"),
        "TERRITOIRE_PUBLICATION_DIR": str(shared / "publication"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        # Cosmos' cache (dbt partial parse, profiles) of this stack only, not the machine-wide /tmp/cosmos.
        "AIRFLOW__COSMOS__CACHE_DIR": str(tmp_path / "cosmos_cache"),
        # See the module docstring: no source starts on its own.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
    }
    dag_ids = ("ingest_cog", "transform_warehouse", "publish_open_data")
    # isolate_dbt_target=False: Cosmos reads dbt_project/target/manifest.json, which the init script
    # writes (dbt parse). The stack sets WAREHOUSE_URL and AIRFLOW_CONN_WAREHOUSE to its warehouse.
    with CeleryStack(dags_folder=PROJECT_ROOT / "dags", isolate_dbt_target=False, extra_env=env,
                     root=tmp_path / "stack") as stack:
        budget.mark("stack start")
        for dag_id in dag_ids:
            dag = stack.wait_for_dag(dag_id, timeout=budget.left(300))
            assert dag["is_paused"], f"{dag_id} should be paused at creation: {dag}"
        budget.mark("DAGs parsed")

        # 1. ingest_cog, standing for its scheduled run.
        logical_date = stack.api("GET", "/api/v2/dags/ingest_cog")["next_dagrun_logical_date"]
        assert logical_date, "ingest_cog has no next scheduled run: is its schedule still time-based?"
        ingest_run = stack.trigger("ingest_cog", logical_date=logical_date)
        stack.set_paused("ingest_cog", False)
        tis = {"ingest_cog": wait_success(stack, "ingest_cog", ingest_run, budget.left(420))}
        budget.mark("ingest_cog")

        # 2. transform_warehouse, as its Asset schedule would; publish_open_data waits for its Asset.
        stack.set_paused("publish_open_data", False)
        transform_run = stack.trigger("transform_warehouse")
        stack.set_paused("transform_warehouse", False)
        tis["transform_warehouse"] = wait_success(stack, "transform_warehouse", transform_run, budget.left(600))
        budget.mark("transform_warehouse")

        # 3. publish_open_data, started by the audit.marts Asset event.
        publish_run = wait_asset_triggered_run(stack, "publish_open_data", budget.left(120))
        tis["publish_open_data"] = wait_success(stack, "publish_open_data", publish_run, budget.left(420))
        budget.mark("publish_open_data")

        runs = {dag_id: [(r["dag_run_id"], r["run_type"], r["state"]) for r in stack.dag_runs(dag_id)]
                for dag_id in dag_ids}
        result = {
            "tis": tis,
            "runs": runs,
            "expected_runs": {"ingest_cog": ingest_run, "transform_warehouse": transform_run,
                              "publish_open_data": publish_run},
            "workers": stack.workers,
            "queue": stack.queue,
            "tables": table_digests(stack.env["WAREHOUSE_URL"]),
            "files": file_digests(shared / "publication"),
            "version": (shared / "publication" / "datasets" / DATASET).resolve().name,
            "reports": sorted(p.name for p in (shared / "publication").iterdir()),
            "times": budget.marks,
        }
    for name, proc in stack.processes.items():
        assert proc.poll() is not None, f"{name} (pid {proc.pid}) still runs after stop()"
    result["times"]["stop"] = round(time.monotonic() - budget.started - sum(budget.marks.values()), 1)
    return result


def run_in_one_process(url: str, var: Path, monkeypatch) -> dict:
    """The same stages as plain functions (what the Airflow tasks call), in this process."""
    monkeypatch.setenv("TERRITOIRE_VAR_DIR", str(var))
    monkeypatch.delenv("TERRITOIRE_LANDING_DIR", raising=False)
    monkeypatch.delenv("TERRITOIRE_PUBLICATION_DIR", raising=False)
    monkeypatch.setenv("TERRITOIRE_PROFILE", "demo")
    monkeypatch.setenv("WAREHOUSE_URL", url)
    started = time.monotonic()
    summaries = ingest_sources(url, ["cog"])
    assert summaries and {s["status"] for s in summaries} == {"succeeded"}, summaries
    # The selection the stack's Cosmos DAG renders. The target folder is the test's own, so this
    # run neither reads nor rewrites dbt_project/target (which the stack's DAGs read).
    dbt.run(["build", "--select", *DBT_SELECT.split(), "--indirect-selection", "cautious"], url,
            capture=True, target_path=var / "dbt_target")
    outcome = pipeline.publish_dataset(DATASET, url=url)
    assert outcome.verdict == "passed", outcome
    pipeline.build_reports(url)
    return {
        "tables": table_digests(url),
        "files": file_digests(var / "publication"),
        "version": (var / "publication" / "datasets" / DATASET).resolve().name,
        "reports": sorted(p.name for p in (var / "publication").iterdir()),
        "seconds": round(time.monotonic() - started, 1),
    }


@pytest.fixture(scope="module")
def services_answer():
    for reason in (postgres_answers(), redis_answers()):
        if reason:
            pytest.skip(f"the CeleryExecutor pipeline test needs them: {reason}")


def test_pipeline_on_two_celery_workers_equals_a_single_process_run(services_answer, fresh_database, tmp_path,
                                                                     monkeypatch):
    stack = run_on_the_stack(tmp_path / "celery")
    single = run_in_one_process(fresh_database, tmp_path / "single" / "var", monkeypatch)
    print(f"stack phases (s): {stack['times']}; single process: {single['seconds']}s")

    # Exactly one run per DAG: no scheduled or Asset-triggered duplicate.
    for dag_id, run_id in stack["expected_runs"].items():
        assert [r[0] for r in stack["runs"][dag_id]] == [run_id], stack["runs"]

    all_tis = [ti for tis in stack["tis"].values() for ti in tis]
    states = {(ti["dag_id"], ti["task_id"]): ti["state"] for ti in all_tis}
    # Only the guard that fails the run when a gate blocked a dataset is skipped (it did not fire).
    assert {k: s for k, s in states.items() if s != "success"} == {
        ("publish_open_data", "fail_if_a_dataset_was_blocked"): "skipped"}, states
    # Every dbt model of the selection had its task, and the loads one task per COG resource.
    task_ids = {ti["task_id"] for ti in stack["tis"]["transform_warehouse"]}
    for model in ("dim_territoire", "dim_departement", "dim_region", "dim_epci", "stg_cog__communes"):
        assert any(t.startswith("dbt.models.") and t.endswith(f".{model}.run") for t in task_ids), task_ids
    assert len(stack["tis"]["ingest_cog"]) >= 8, states

    # Cosmos' watcher marks the end of its dbt build with an empty task the scheduler completes itself,
    # on no worker: the only task allowed to have run nowhere.
    nowhere = {f"{ti['dag_id']}.{ti['task_id']}" for ti in all_tis if ti["state"] == "success" and not ti["hostname"]}
    assert nowhere <= {"transform_warehouse.dbt.dbt_producer_watcher_done"}, nowhere
    ran = [ti for ti in all_tis if ti["state"] == "success" and ti["hostname"]]
    hosts = {ti["hostname"] for ti in ran}
    per_host = {h: sorted(f"{ti['dag_id']}.{ti['task_id']}" for ti in ran if ti["hostname"] == h) for h in hosts}
    assert hosts == set(stack["workers"]), f"tasks ran on {per_host}, expected both workers {stack['workers']}"
    assert {ti["queue"] for ti in ran} == {stack["queue"]}

    # The warehouse: same rows in the audit marts and in what was published.
    assert stack["tables"]["published.dim_territoire"][0] == 34_875, stack["tables"]
    assert stack["tables"] == single["tables"]
    # The published files, byte for byte (and so the same content-addressed version folder).
    assert set(stack["files"]) >= {f"{DATASET}.csv", f"{DATASET}.parquet", "datapackage.json"}, stack["files"]
    assert stack["files"] == single["files"]
    assert stack["version"] == single["version"]
    # build_reports ran on a worker and wrote the same kinds of outputs as in one process.
    assert stack["reports"] == single["reports"]
