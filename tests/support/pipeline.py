"""Run the pipeline's stages on the shipped samples against a real warehouse (shared by e2e and reliability tests)."""

from __future__ import annotations

from territoire import dbt, pipeline, warehouse
from territoire.catalog import load_catalog


def ingest_sources(url: str, source_ids: list[str] | None = None, **kwargs) -> list[dict]:
    summaries = []
    for source in load_catalog():
        if source_ids and source.id not in source_ids:
            continue
        for resource in source.resources:
            summaries += pipeline.ingest_resource(source.id, resource.name, url=url, **kwargs)
    return summaries


def build_territory(url: str) -> None:
    """dbt build of the territory reference only (the foundation's slice of the warehouse)."""
    warehouse.ensure_schemas(url)
    # cautious: skip the tests of facts that point at these dimensions (the facts are not built here).
    dbt.run(["build", "--select", "+dim_territoire", "+dim_departement", "+dim_region", "+dim_epci",
             "--indirect-selection", "cautious"], url,
            capture=True)
