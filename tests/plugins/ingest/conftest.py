"""Fixtures for ingestion tests: a private landing zone, a loader on the session warehouse, helpers
to build catalog resources and Table Schemas directly (no catalog file needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoire.ingest.loader import Loader


@pytest.fixture(autouse=True)
def landing_dir(tmp_path, monkeypatch) -> Path:
    """Each test archives into its own landing zone."""
    d = tmp_path / "landing"
    monkeypatch.setenv("TERRITOIRE_LANDING_DIR", str(d))
    return d


@pytest.fixture
def messages() -> list[str]:
    return []


@pytest.fixture
def loader(warehouse_url, messages) -> Loader:
    return Loader(warehouse_url, progress=messages.append, progress_interval=0.0)
