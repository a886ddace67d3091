"""The Great Expectations file data context committed under `expectations/`.

Credentials never live in it: its datasource reads `${GX_WAREHOUSE_URL}`, which this module sets
from the warehouse URL just before opening the context.
"""

from __future__ import annotations

import os
from pathlib import Path

from territoire import settings, warehouse

DATASOURCE = "warehouse"


def context_dir() -> Path:
    value = os.environ.get("TERRITOIRE_EXPECTATIONS_DIR")
    return Path(value) if value else settings.expectations_dir()


def get_context(url: str | None = None):
    """Open the file data context (GX is imported here: it takes seconds, never at DAG parse time)."""
    import great_expectations as gx

    import territoire.quality.expectations  # noqa: F401 - registers RowRulesExpectation before suites are read

    os.environ["GX_WAREHOUSE_URL"] = warehouse.parse_url(url or warehouse.get_url()).url("postgresql+psycopg")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    return gx.get_context(mode="file", context_root_dir=str(context_dir()))


def data_docs_dir() -> Path:
    return context_dir() / "uncommitted" / "data_docs" / "local_site"
