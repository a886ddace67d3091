"""End-to-end helpers: run the pipeline's stages on the shipped samples against a real warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoire import dbt, pipeline, warehouse
from territoire.catalog import load_catalog


@pytest.fixture
def isolated_var(tmp_path, monkeypatch) -> Path:
    """Landing zone, publication folder and Airflow home in a temporary folder."""
    var = tmp_path / "var"
    monkeypatch.setenv("TERRITOIRE_VAR_DIR", str(var))
    monkeypatch.delenv("TERRITOIRE_LANDING_DIR", raising=False)
    monkeypatch.delenv("TERRITOIRE_PUBLICATION_DIR", raising=False)
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    return var


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
    dbt.run(["build", "--select", "+dim_territoire", "+dim_departement", "+dim_region", "+dim_epci"], url,
            capture=True)
