"""transform_warehouse: dbt builds staging -> intermediate -> marts (into `audit`) through Cosmos.

Scheduled on the raw tables' Assets: any load that brought new content triggers a rebuild (an unchanged
source's load task is skipped and emits no Asset event, docs/ingestion.md). Cosmos' watcher execution
mode: one task, `dbt_producer_watcher`, runs a single `dbt build` of the whole project (models, then
their tests, with dbt's threads), and one task per dbt model shows that model's status and its dbt log
lines, read from the producer's results; the graph is grouped by layer and domain (the folders of
dbt_project/models). Cosmos reads dbt_project/target/manifest.json (LoadMode.DBT_MANIFEST: no dbt
command at parse time; `make manifest` writes it) and builds the dbt profile from the Airflow
connection `warehouse` (territoire.cosmos_profile).
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, AssetAny, Param, task
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ExecutionMode,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos.constants import PRODUCER_WATCHER_TASK_ID, DbtResourceType, InvocationMode

from territoire import assets, settings
from territoire.cosmos_profile import WarehouseProfileMapping
from territoire.dag_factory import DEFAULT_ARGS, START, _failure_callbacks, all_raw_assets

DBT_DIR = settings.dbt_project_dir()
# A deployment (or a test stack) may render only part of the project, e.g. "+dim_territoire".
DBT_SELECT = os.environ.get("TERRITOIRE_DBT_SELECT", "").split()
# The dbt installed beside this Python (the project's environment), whatever the PATH of the worker.
_DBT_BESIDE_PYTHON = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_DBT_BESIDE_PYTHON) if _DBT_BESIDE_PYTHON.is_file() else "dbt"


def keep_tests_inside_the_selection(group: DbtTaskGroup) -> None:
    """With a partial selection (TERRITOIRE_DBT_SELECT), forget the tests that also read a model outside it.

    The producer's `dbt build --indirect-selection cautious` does not run them (a relationships test from
    an unbuilt fact to dim_territoire would fail), but Cosmos counts them among the selected model's tests,
    whose task would then wait for them forever. A model left with no test loses its `.test` task."""
    graph = group.dbt_graph
    selected = {uid for uid, node in graph.filtered_nodes.items() if node.resource_type != DbtResourceType.TEST}
    producer = group.dag.task_dict[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    producer.tests_per_model = {
        model: kept for model, tests in producer.tests_per_model.items()
        if (kept := [t for t in tests if set(graph.nodes[t].depends_on) <= selected])}
    for test_task in [t for t in group.dag.tasks if getattr(t, "is_test_sensor", False)
                      and t.model_unique_id not in producer.tests_per_model]:
        for upstream in test_task.upstream_list:
            for downstream in test_task.downstream_list:
                upstream >> downstream
            upstream.downstream_task_ids.discard(test_task.task_id)
        for downstream in test_task.downstream_list:
            downstream.upstream_task_ids.discard(test_task.task_id)
        del group.dag.task_dict[test_task.task_id]
        test_task.task_group.children.pop(test_task.task_id, None)


def read_results_after_the_build(group: DbtTaskGroup) -> None:
    """Start the model tasks once the producer's `dbt build` has finished, whatever its outcome.

    Cosmos links the producer to the first models only in a DbtDag; in a task group the model tasks
    would otherwise start at once and wait for their result (a sensor per model, polling). Here the
    first models run after the producer (`all_done`: a failed build still lets each task report its
    own model's status), so every model task finds its result at its first look, and a run driven
    task by task (`dag.test()`, `make demo`) never waits on a producer that has not started.
    """
    producer = group.dag.task_dict[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    watchers = [t for t in group.dag.tasks if t.task_id.startswith(f"{group.group_id}.")
                and hasattr(t, "producer_task_id")]
    ids = {t.task_id for t in watchers}
    for watcher in watchers:
        if not watcher.upstream_task_ids & ids:
            producer >> watcher
            watcher.trigger_rule = "all_done"


with DAG(
    dag_id="transform_warehouse",
    description="dbt: staging, intermediate and marts (written to the audit schema)",
    schedule=AssetAny(*all_raw_assets()),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": timedelta(minutes=1),
                  "on_failure_callback": _failure_callbacks()},
    tags=["transformation", "dbt"],
    params={"full_refresh": Param(False, type="boolean",
                                  description="Rebuild incremental models from scratch (dbt --full-refresh)")},
    doc_md=__doc__ + """
**On call.** A failed model task (under `dbt.<layer>.<domain>`) is a SQL error in that model or one of
its dbt tests: its log shows dbt's lines for that model, the `dbt.dbt_producer_watcher` log has the whole
build (the failing test and the query listing the failing rows). Clearing a failed model task re-runs
dbt for that model alone. Marts only reach analysts through `publish_open_data`, so a
failure here publishes nothing. Full refresh: trigger with `{"full_refresh": true}`
(`airflow dags trigger transform_warehouse -c '{"full_refresh": true}'`).
""",
) as dag:
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_DIR,
            manifest_path=DBT_DIR / "target" / "manifest.json",
            project_name="territoire",
            install_dbt_deps=False,  # the project has no packages: nothing to download at run time
        ),
        profile_config=ProfileConfig(
            profile_name="territoire",
            target_name="warehouse",
            # threads as in dbt_project/profiles.yml: the watcher's one `dbt build` runs models in parallel.
            profile_mapping=WarehouseProfileMapping(conn_id="warehouse",
                                                    profile_args={"schema": "public", "threads": 4}),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # Each model's task shows the model, its `.test` task the model's tests, both read from the
            # one `dbt build` (the watcher mode has no per-model `dbt build` task). A test reading two
            # models (relationships) runs in that build once both are built, as in a bare `dbt build`.
            test_behavior=TestBehavior.AFTER_EACH,
            should_detach_multiple_parents_tests=False,
            select=DBT_SELECT,
            # No Asset per dbt model (their OpenLineage-style URIs need a host, which a warehouse on a
            # Unix socket lacks): this DAG emits one Asset for the marts, below. Set here, not in
            # operator_args: Cosmos overrides operator_args' value with RenderConfig's.
            emit_datasets=False,
            # One TaskGroup per folder of dbt_project/models: layer (staging, intermediate, marts),
            # then domain (cog, transport, faits...), instead of one flat group of a hundred tasks.
            group_nodes_by_folder=True,
        ),
        # One `dbt build` for the whole graph (the producer task), its per-model results shown on the
        # model tasks: the same work as a bare `dbt build`, without starting dbt once per model. dbt runs
        # in a process of its own (its JSON log read line by line): recording each result in Airflow
        # then happens beside the build instead of inside dbt's threads, which it would slow down.
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER,
                                         invocation_mode=InvocationMode.SUBPROCESS,
                                         dbt_executable_path=DBT_EXECUTABLE),
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
            # With a partial selection (TERRITOIRE_DBT_SELECT), leave out the tests that also read a
            # model outside it (a relationships test from an unbuilt fact), as a bare
            # `dbt build --select ... --indirect-selection cautious` does.
            "dbt_cmd_flags": ["--indirect-selection", "cautious"],
        },
    )

    if DBT_SELECT:
        keep_tests_inside_the_selection(dbt)
    read_results_after_the_build(dbt)

    @task(outlets=[assets.AUDIT_MARTS])
    def marts_ready() -> str:
        """Marks the audit marts as updated: triggers publish_open_data."""
        return "audit marts rebuilt"

    dbt >> marts_ready()
