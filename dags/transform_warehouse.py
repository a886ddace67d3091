"""transform_warehouse: dbt builds staging -> intermediate -> marts (into `audit`) through Cosmos.

Scheduled on the raw tables' Assets: any load that brought new content triggers a rebuild (an unchanged
source's load task is skipped and emits no Asset event, docs/ingestion.md). One Airflow task per
dbt model, running `dbt build` on it: the model, then its tests (TestBehavior.BUILD). Cosmos reads dbt_project/target/manifest.json
(LoadMode.DBT_MANIFEST: no dbt command at parse time; `make manifest` writes it) and builds the dbt
profile from the Airflow connection `warehouse` (territoire.cosmos_profile).
"""

import os
from datetime import timedelta

from airflow.sdk import DAG, AssetAny, Param, task
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos.airflow.graph import calculate_detached_node_name
from cosmos.constants import DbtResourceType, InvocationMode

from territoire import assets, settings
from territoire.cosmos_profile import WarehouseProfileMapping
from territoire.dag_factory import DEFAULT_ARGS, START, _failure_callbacks, all_raw_assets

DBT_DIR = settings.dbt_project_dir()
# A deployment (or a test stack) may render only part of the project, e.g. "+dim_territoire".
DBT_SELECT = os.environ.get("TERRITOIRE_DBT_SELECT", "").split()


def drop_tests_reading_outside_the_selection(dag: DAG, group: DbtTaskGroup) -> None:
    """With a partial selection, remove the detached test tasks that read a model left out of it.

    Cosmos renders every test one of whose models is selected: a relationships test from a fact
    to dim_territoire then gets its own task although the fact is neither selected nor built, and
    fails. dbt's `--indirect-selection cautious` (what a single-process `dbt build --select` of the
    same models uses) leaves such tests out; this does the same to the rendered tasks.
    """
    kept = group.dbt_graph.filtered_nodes
    for node in kept.values():
        if node.resource_type != DbtResourceType.TEST or set(node.depends_on) <= kept.keys():
            continue
        task_id = f"{group.group_id}.{calculate_detached_node_name(node)}"
        task = dag.task_dict.get(task_id)
        if task is None:
            continue
        for upstream in task.upstream_list:
            upstream.downstream_task_ids.discard(task_id)
        for downstream in task.downstream_list:
            downstream.upstream_task_ids.discard(task_id)
        del dag.task_dict[task_id]
        group.children.pop(task_id, None)


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
**On call.** A failed `*_build` task is a SQL error in that model or one of its dbt
tests (the log names the test and the query listing the failing rows). Marts only reach analysts through `publish_open_data`, so a
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
            profile_mapping=WarehouseProfileMapping(conn_id="warehouse", profile_args={"schema": "public"}),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            # A test reading two models (relationships) gets its own task after both: inside one
            # model's `dbt build` the other model may not be built yet.
            should_detach_multiple_parents_tests=True,
            select=DBT_SELECT,
            # No Asset per dbt model (their OpenLineage-style URIs need a host, which a warehouse on a
            # Unix socket lacks): this DAG emits one Asset for the marts, below. Set here, not in
            # operator_args: Cosmos overrides operator_args' value with RenderConfig's.
            emit_datasets=False,
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
        },
    )

    if DBT_SELECT:
        drop_tests_reading_outside_the_selection(dag, dbt)

    @task(outlets=[assets.AUDIT_MARTS])
    def marts_ready() -> str:
        """Marks the audit marts as updated: triggers publish_open_data."""
        return "audit marts rebuilt"

    dbt >> marts_ready()
