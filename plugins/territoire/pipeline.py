"""The pipeline's stages as plain functions: Airflow tasks, the CLI and the tests call these.

- ingest: fetch a catalog resource (connector) into the landing zone, load it into its raw table(s);
- transform: dbt build (outside Airflow; in Airflow, Cosmos renders one task per model);
- publish: audit a dataset with its GX suite, switch it into `published` if it passes, export files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from territoire import warehouse
from territoire.catalog import load_catalog
from territoire.datasets import get_dataset

log = logging.getLogger(__name__)


def ingest_resource(source_id: str, resource_name: str, *, force: bool = False, profile: str | None = None,
                    url: str | None = None) -> list[dict]:
    """Fetch then load one resource. Returns one summary dict per raw table loaded."""
    from territoire.ingest import refusals
    from territoire.ingest.loader import Loader

    resource = load_catalog().get(source_id).resource(resource_name)
    result = refusals.fetch_recorded(resource, url=url, profile=profile, force=force)  # refused files in the ledger too
    if result.not_modified:
        # Still hand the previously landed file to the loader: if its last load failed, this run
        # loads it; if it succeeded, the ledger turns it into a cheap `skipped_unchanged`.
        log.info("%s/%s: the source answered 'not modified'", source_id, resource_name)
    loader = Loader(url)
    summaries = []
    for target in result.load_targets():
        batch = loader.load(resource, target.path, table=target.table, fmt=target.format, sha256=target.sha256,
                            location=result.location, force=force)
        summaries.append({
            "source_id": source_id, "resource": resource_name, "raw_table": batch.raw_table,
            "batch_id": batch.batch_id, "status": batch.status, "rows_loaded": batch.rows_loaded,
            "rows_rejected": batch.rows_rejected, "message": batch.message,
        })
    return summaries


@dataclass
class PublishOutcome:
    dataset_id: str
    verdict: str
    run_id: str
    published_rows: int | None
    files: list[str]
    changed: bool

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def publish_dataset(dataset_id: str, *, url: str | None = None, override_by: str | None = None,
                    override_reason: str | None = None) -> PublishOutcome:
    """Write-audit-publish for one dataset. Raises QualityGateFailed (nothing published) when blocked."""
    from territoire.publication import consistency
    from territoire.publication.export import export_dataset
    from territoire.publication.publish import dataset_lock, publish_table
    from territoire.quality.gate import audit, check_publishable

    url = url or warehouse.get_url()
    dataset = get_dataset(dataset_id)
    # What GX validates is what is published: no dbt rebuild of audit.<id> in between.
    with dataset_lock(dataset_id, url):
        consistency.complete_interrupted(dataset, url)  # a previous publication stopped after its swap
        outcome = audit(dataset_id, url)
        check_publishable(outcome, override_by=override_by, override_reason=override_reason)
        if outcome.verdict != "warnings":  # an override is recorded only where it was needed
            override_by = override_reason = None
        rows = publish_table(dataset, outcome.run_id, url, override_by=override_by,
                             override_reason=override_reason)
        exported = export_dataset(dataset, url)
        consistency.finished(dataset_id, exported.version_folder, url)
    log.info("%s: published %s rows; files in %s", dataset_id, rows, exported.folder)
    return PublishOutcome(dataset_id, outcome.verdict, outcome.run_id, rows, [str(p) for p in exported.files],
                          exported.changed)


def build_reports(url: str | None = None, *, dbt_docs: bool = True) -> dict:
    """Rebuild what describes the whole publication, whatever the gates decided.

    - the managers' quality report (French, static HTML) from the quality history;
    - the DCAT-AP catalogue of the published datasets (JSON-LD and Turtle);
    - the analysts' read-only role and its grants (idempotent);
    - the dbt docs, browsable from the publication folder.
    """
    from territoire.publication.dbt_docs import publish_dbt_docs
    from territoire.publication.dcat import build_catalogue
    from territoire.publication.roles import ensure_analyst_roles
    from territoire.quality.report import build_report

    url = url or warehouse.get_url()
    built = {
        "quality_report": str(build_report(url=url)),
        "dcat_catalogue": str(build_catalogue(url=url)),
    }
    # A failure to manage the analysts' roles fails the run, but after the dbt docs are published.
    roles_error = None
    try:
        built["analyst_role"] = ensure_analyst_roles(url).group_role
    except psycopg.Error as exc:
        roles_error = exc
        log.error("analyst roles not created or repaired: %s (the warehouse role needs CREATEROLE, "
                  "docs/deployment.md)", exc)
    if dbt_docs:
        built["dbt_docs"] = str(publish_dbt_docs(url))
    if roles_error is not None:
        raise roles_error
    return built


def push_to_portal() -> list[str]:
    """Push the datasets that declare `portal:` to the udata portal, when a portal is configured."""
    from territoire.publication.portal import PortalError, portal_config, push_all

    try:
        config = portal_config()
    except PortalError as exc:
        log.info("no udata portal configured (%s): nothing pushed", exc)
        return []
    return [str(r) for r in push_all(config)]
