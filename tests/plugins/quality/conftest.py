from __future__ import annotations

import pytest

from tests.support.gate import use_expectations_copy


@pytest.fixture
def gate_workspace(tmp_path, monkeypatch):
    """The var and publication folders and the expectations of one test, in its tmp_path."""
    monkeypatch.setenv("TERRITOIRE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(tmp_path / "var" / "publication"))
    use_expectations_copy(monkeypatch, tmp_path)
    return tmp_path
