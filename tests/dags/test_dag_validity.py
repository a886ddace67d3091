"""Every DAG imports without error, is well described, and parsing touches no database or network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from territoire import dbt, settings
from territoire.catalog import load_catalog
from territoire.dag_factory import OWNER, STAGE_TAGS
from territoire.datasets import load_datasets


class NetworkUsedAtParseTime(AssertionError):
    pass


@pytest.fixture(scope="module")
def dagbag(monkeypatch_module, tmp_path_factory):
    if not dbt.manifest_path().exists():
        dbt.parse()
    home = tmp_path_factory.mktemp("airflow_home")
    monkeypatch_module.setenv("AIRFLOW_HOME", str(home))
    monkeypatch_module.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # A DAG file that opens a socket (database, HTTP) while being parsed fails the test.

    def forbidden(self, address):
        raise NetworkUsedAtParseTime(f"a DAG file opened a connection to {address} while being parsed")

    def refuse(what):
        def refused(*args, **kwargs):
            raise NetworkUsedAtParseTime(f"a DAG file called {what} while being parsed")
        return refused

    monkeypatch_module.setattr(socket.socket, "connect", forbidden)
    monkeypatch_module.setattr(socket, "create_connection",
                               lambda *a, **k: (_ for _ in ()).throw(NetworkUsedAtParseTime(str(a))))
    # libpq (psycopg, psycopg2) opens its sockets in C, past the socket module: refuse the entry points.
    import httpx
    import psycopg
    import psycopg2
    import sqlalchemy

    monkeypatch_module.setattr(psycopg, "connect", refuse("psycopg.connect"))
    monkeypatch_module.setattr(psycopg.Connection, "connect", classmethod(refuse("psycopg.Connection.connect")))
    monkeypatch_module.setattr(psycopg2, "connect", refuse("psycopg2.connect"))
    monkeypatch_module.setattr(sqlalchemy, "create_engine", refuse("sqlalchemy.create_engine"))
    monkeypatch_module.setattr(httpx.Client, "send", refuse("httpx.Client.send"))
    # ... and a warehouse URL on a port where nothing listens, so a connection that slipped through fails.
    monkeypatch_module.setenv("WAREHOUSE_URL", "postgresql://parse-time@127.0.0.1:9/nowhere")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(settings.PROJECT_ROOT / "dags"))
    monkeypatch_module.undo()
    return bag


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, dagbag.import_errors


def test_one_ingestion_dag_per_catalog_source_and_the_pipeline_dags(dagbag):
    expected = {f"ingest_{s.id}" for s in load_catalog()} | {"transform_warehouse", "publish_open_data"}
    assert expected <= set(dagbag.dag_ids)


def test_every_task_has_the_owner(dagbag):
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            assert t.owner == OWNER, f"{dag.dag_id}.{t.task_id} owner is {t.owner!r}"


def test_retries_are_decided_per_dag(dagbag):
    """Every DAG says how often its tasks retry (Airflow's default, 0, is never taken by accident), and
    every task follows it; downloads (ingestion) retry with exponential backoff."""
    for dag in dagbag.dags.values():
        declared = (dag.default_args or {}).get("retries")
        assert declared is not None, f"{dag.dag_id} sets no retries in default_args"
        for t in dag.tasks:
            assert t.retries == declared, f"{dag.dag_id}.{t.task_id} retries {t.retries}, the DAG says {declared}"
        if dag.dag_id.startswith("ingest_"):
            assert declared >= 1 and all(t.retry_exponential_backoff for t in dag.tasks), dag.dag_id


def test_tags_come_from_the_vocabulary_and_docs_exist(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert any(tag in STAGE_TAGS for tag in dag.tags), f"{dag.dag_id} has no stage tag: {dag.tags}"
        assert dag.doc_md and "On call" in dag.doc_md, f"{dag.dag_id} lacks triage notes in doc_md"


def test_ingestion_dags_emit_raw_assets_and_transform_is_scheduled_on_them(dagbag):
    raw_names = set()
    for source in load_catalog():
        dag = dagbag.dags[f"ingest_{source.id}"]
        assert dag.max_active_runs == 1
        for t in dag.tasks:
            names = {o.name for o in t.outlets}
            assert names and all(n.startswith("raw.") for n in names), (dag.dag_id, t.task_id, names)
            raw_names |= names
    transform = dagbag.dags["transform_warehouse"]
    scheduled_on = {a.name for a in transform.timetable.asset_condition.objects}
    assert raw_names <= scheduled_on, f"raw tables that do not trigger the warehouse: {raw_names - scheduled_on}"


def test_transform_renders_one_task_per_dbt_model_grouped_by_layer_and_domain(dagbag):
    """Cosmos' watcher mode: one producer task runs the single `dbt build`; each model has its task (and
    its tests a `.test` task) inside the group of its folder: dbt.models.<layer>[.<domain>].<model>.run."""
    import json

    manifest = json.loads(dbt.manifest_path().read_text())
    models = {n["name"]: n["original_file_path"] for n in manifest["nodes"].values()
              if n["resource_type"] == "model" and n["package_name"] == "territoire"}
    dag = dagbag.dags["transform_warehouse"]
    task_ids = {t.task_id for t in dag.tasks}
    assert "dbt.dbt_producer_watcher" in task_ids
    expected = {name: "dbt." + ".".join(Path(path).parent.parts) + f".{name}.run" for name, path in models.items()}
    missing = {m for m, task_id in expected.items() if task_id not in task_ids}
    assert not missing, f"dbt models without their Airflow task: {sorted(missing)[:10]}"
    assert "dbt.models.staging.cog.stg_cog__communes.run" in task_ids
    assert "dbt.models.marts.faits.fct_points_de_charge.test" in task_ids
    # No group holds a flat list of every model: the largest folder group is a domain's.
    groups = dag.task_group.get_task_group_dict()
    largest = max(len(g.children) for g in groups.values() if g.group_id and g.group_id != "dbt")
    assert largest < 30, largest
    # The model tasks read the producer's results once its build has finished, whatever its outcome.
    producer = dag.task_dict["dbt.dbt_producer_watcher"]
    first = dag.task_dict["dbt.models.staging.cog.stg_cog__communes.run"]
    assert producer.task_id in first.upstream_task_ids and first.trigger_rule == "all_done"


def test_publication_dag_has_a_gate_per_dataset(dagbag):
    task_ids = {t.task_id for t in dagbag.dags["publish_open_data"].tasks}
    for dataset_id in load_datasets():
        assert f"gate_and_publish__{dataset_id}" in task_ids


def test_a_file_that_defines_one_dag_is_named_after_it(dagbag):
    """`dag_id` = file name, so whoever is on call finds the file from the UI. The generated ingestion
    DAGs (several in one file, `ingest_sources.py`) are the one exception."""
    from pathlib import Path

    by_file: dict[str, list[str]] = {}
    for dag in dagbag.dags.values():
        by_file.setdefault(Path(dag.fileloc).stem, []).append(dag.dag_id)
    for stem, dag_ids in by_file.items():
        if len(dag_ids) == 1:
            assert dag_ids == [stem], f"dags/{stem}.py defines {dag_ids[0]!r}: name the file after the DAG"
    assert "operations_daily_summary" in by_file


def test_a_source_can_send_its_tasks_to_a_queue_of_its_own(tmp_path):
    """`queue:` in a catalog entry routes the source's tasks to the Celery workers of that queue
    (docs/deployment.md, queues per domain); without it they go to Airflow's default queue."""
    from territoire.catalog import load_catalog as load
    from territoire.dag_factory import build_ingestion_dag

    shipped = load().get("enedis")
    path = tmp_path / "sources.yml"
    path.write_text(
        "sources:\n"
        "  - {id: lourde, domain: energie, title: t, producer: p, licence: etalab-2.0, queue: energie,\n"
        "     resources: [{name: r, format: csv, location: {demo: {connector: local, path: x.csv}}}]}\n",
        encoding="utf-8")
    routed = build_ingestion_dag(load(path).get("lourde"))
    assert {t.queue for t in routed.tasks} == {"energie"}
    from airflow.configuration import conf

    default = conf.get("operators", "default_queue")
    assert {t.queue for t in build_ingestion_dag(shipped).tasks} == {default}


def test_every_task_alerts_when_it_fails(dagbag):
    """A failed load, dbt model, gate or summary reaches whoever is on call (territoire.notifications,
    connection `territoire_alerts`; nothing is sent while it is not defined)."""
    from territoire.notifications import QualityAlertNotifier

    for dag in dagbag.dags.values():
        for t in dag.tasks:
            callbacks = t.on_failure_callback or []
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(isinstance(c, QualityAlertNotifier) for c in callbacks), f"{dag.dag_id}.{t.task_id}"


def test_every_task_has_an_execution_timeout(dagbag):
    """No task can hang forever (a stuck download, a held lock, a dead warehouse)."""
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            assert t.execution_timeout is not None, f"{dag.dag_id}.{t.task_id} has no execution_timeout"
