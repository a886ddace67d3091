"""Builds the Airflow DAGs from the catalogs. Nothing here touches a database or the network:
it only reads `catalog/sources.yml` and `catalog/datasets.yml`, so DAG parsing stays fast and safe.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from territoire import assets
from territoire.catalog import Source, load_catalog
from territoire.datasets import load_datasets

log = logging.getLogger(__name__)

OWNER = "territoire-data"
START = datetime(2026, 1, 1)
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    # No task may hang forever (a stuck download, a lock, a dead warehouse): each attempt is stopped
    # after this, and retried like any failure. DAGs with longer or shorter work override it.
    "execution_timeout": timedelta(hours=2),
}
# One vocabulary for tags (filter DAGs in the UI by stage and by domain).
STAGE_TAGS = {"ingestion", "transformation", "publication", "operations"}


def _failure_callbacks() -> list:
    """Notifiers for failed tasks (territoire.notifications), when that module provides them."""
    try:
        from territoire.notifications import failure_notifiers
    except ImportError:
        return []
    return failure_notifiers()


def ingestion_doc(source: Source) -> str:
    rows = "\n".join(
        f"| `{r.name}` | {r.format} | `raw.{r.raw_table}` | {r.location('production').connector if 'production' in r.locations else '-'} |"
        for r in source.resources)
    return f"""### Ingestion: {source.title}

Producer: **{source.producer}** · licence `{source.licence}` · domain `{source.domain}` ·
quarantine threshold {source.quarantine_threshold:.0%}.

{source.description}

| resource | format | raw table | production connector |
|---|---|---|---|
{rows}

**On call.** A failed `load_*` task names the file, line, column and rule in its log.
- Too many rejected rows: `select * from ingest.rejected_rows where batch_id = <id>`; the conformity report
  is beside the raw file in the landing zone. Send it to the producer; the raw table kept its last good load.
- Download errors (HTTP 5xx/429, truncated body, HTML instead of CSV) were already retried; check the portal.
- A **skipped** `load_*` task is not an incident: the file had the content of the last load (its log says
  which batch). It emits no Asset event, so `transform_warehouse` is not triggered for nothing.
- Re-run with the `force` parameter to reload even when the source did not change (a forced load
  emits its Assets).
"""


def build_ingestion_dag(source: Source) -> DAG:
    with DAG(
        dag_id=f"ingest_{source.id}",
        description=f"Fetch and load {source.title} into raw tables",
        schedule=source.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,  # two runs of one source never interleave (the loader also holds a lock per table)
        default_args={**DEFAULT_ARGS, "on_failure_callback": _failure_callbacks(),
                      **({"queue": source.queue} if source.queue else {})},
        tags=["ingestion", f"domaine:{source.domain}", f"source:{source.id}"],
        doc_md=ingestion_doc(source),
        params={"force": Param(False, type="boolean",
                               description="Reload even when the source did not change")},
    ) as dag:
        for resource in source.resources:

            @task(task_id=f"load_{resource.name}",
                  outlets=[assets.raw_asset(t) for t in assets.raw_tables(resource)])
            def load(source_id: str, resource_name: str, params: dict | None = None) -> list[dict]:
                from territoire.pipeline import ingest_resource

                force = bool((params or {}).get("force", False))
                summaries = ingest_resource(source_id, resource_name, force=force)
                unchanged = nothing_new(summaries)
                if unchanged and not force:
                    # A skipped task emits no Asset event (a successful one emits all its outlets):
                    # transform_warehouse is not triggered for a source that did not change, and the
                    # DAG run stays green.
                    from airflow.sdk.exceptions import AirflowSkipException

                    log.info(unchanged)
                    raise AirflowSkipException(unchanged)
                return summaries

            load(source.id, resource.name)
    return dag


def nothing_new(summaries: list[dict]) -> str | None:
    """When every raw table of a load task was `skipped_unchanged`, the line that says so; else None.

    A GTFS feed where only some files changed emits the Assets of all its tables (the warehouse is
    rebuilt once anyway), and a task that loaded nothing at all is not called unchanged.
    """
    if not summaries or any(s.get("status") != "skipped_unchanged" for s in summaries):
        return None
    tables = "; ".join(f"raw.{s['raw_table']} unchanged ({s.get('message') or 'same content'}; "
                       f"this run's ledger row: batch {s['batch_id']})" for s in summaries)
    first = summaries[0]
    return (f"{first['source_id']}/{first['resource']}: {tables}: nothing new for the warehouse, no Asset event "
            "(transform_warehouse is not triggered). Re-run with the `force` parameter to reload anyway.")


def build_ingestion_dags() -> dict[str, DAG]:
    return {f"ingest_{s.id}": build_ingestion_dag(s) for s in load_catalog()}


def all_raw_assets() -> list:
    return [assets.raw_asset(t) for s in load_catalog() for r in s.resources for t in assets.raw_tables(r)]


def published_dataset_ids() -> list[str]:
    """Datasets published by publish_open_data: all of catalog/datasets.yml, or the ones listed in
    TERRITOIRE_PUBLISH_DATASETS (space-separated; for a partial deployment or a test stack)."""
    import os

    only = os.environ.get("TERRITOIRE_PUBLISH_DATASETS", "").split()
    return [d for d in load_datasets() if not only or d in only]
