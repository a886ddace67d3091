"""End-to-end fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def isolated_var(tmp_path, monkeypatch) -> Path:
    """Landing zone, publication folder and Airflow home in a temporary folder."""
    var = tmp_path / "var"
    monkeypatch.setenv("TERRITOIRE_VAR_DIR", str(var))
    monkeypatch.delenv("TERRITOIRE_LANDING_DIR", raising=False)
    monkeypatch.delenv("TERRITOIRE_PUBLICATION_DIR", raising=False)
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    return var
