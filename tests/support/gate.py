"""What tests of the quality gate share: their own copy of the expectations, and the failed checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from territoire import settings


def use_expectations_copy(mp: pytest.MonkeyPatch, folder: Path) -> Path:
    """Point the GX context at a copy of the committed expectations made in `folder`: GX writes
    validations and Data Docs under its context, and a test never writes into the repository's."""
    copy = folder / "expectations"
    shutil.copytree(settings.expectations_dir(), copy, ignore=shutil.ignore_patterns("validations", "data_docs"))
    mp.setenv("TERRITOIRE_EXPECTATIONS_DIR", str(copy))
    return copy


def failing(outcome) -> dict[str, str]:
    """The checks a gate outcome failed, by name, with their level (error, warning)."""
    return {c.name: c.level for c in outcome.failed}
