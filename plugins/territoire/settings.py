"""Where things live. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def var_dir() -> Path:
    return _path("TERRITOIRE_VAR_DIR", PROJECT_ROOT / "var")


def landing_dir() -> Path:
    return _path("TERRITOIRE_LANDING_DIR", var_dir() / "landing")


def publication_dir() -> Path:
    return _path("TERRITOIRE_PUBLICATION_DIR", var_dir() / "publication")


def embedded_pgdata_dir() -> Path:
    return _path("TERRITOIRE_EMBEDDED_PGDATA", var_dir() / "warehouse" / "pgdata")


def catalog_path() -> Path:
    return _path("TERRITOIRE_CATALOG", PROJECT_ROOT / "catalog" / "sources.yml")


def schemas_dir() -> Path:
    return PROJECT_ROOT / "catalog" / "schemas"


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt_project"


def expectations_dir() -> Path:
    return PROJECT_ROOT / "expectations"


def profile() -> str:
    """Which location of each resource to use: 'demo' (shipped samples) or 'production'."""
    return os.environ.get("TERRITOIRE_PROFILE", "demo")
