"""Where things live. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def env_number(name: str, default: N, parse: Callable[[str], N] = float, expected: str = "a number") -> N:
    """The number in environment variable `name` read with `parse` (int or float), or `default` when the
    variable is unset or empty. A value that does not parse raises ValueError naming the variable, its
    value and what is `expected` ("a whole number of connections"), so a typo in a deployment's
    settings stops the process with a message saying what to fix."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r}: {expected} is expected") from exc


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


def load_parallelism() -> int:
    """How many connections COPY one large CSV file at once (`TERRITOIRE_LOAD_PARALLELISM`; default: the
    client's cores, at most 4). 1 turns parallel COPY off. Each one is a PostgreSQL backend parsing its
    part of the file: on a warehouse with fewer cores than this machine, lower it."""
    default = max(1, min(4, os.cpu_count() or 1))
    return max(1, env_number("TERRITOIRE_LOAD_PARALLELISM", default, int, "a whole number of connections"))


def load_parallel_min_bytes() -> int:
    """Files smaller than this are COPYed by one connection (`TERRITOIRE_LOAD_PARALLEL_MIN_BYTES`, default
    32 MiB): below it, opening connections costs more than it saves."""
    return env_number("TERRITOIRE_LOAD_PARALLEL_MIN_BYTES", 32 << 20, int, "a whole number of bytes")


def quarantine_rows_kept() -> int:
    """How many rejected rows of each (column, rule) of a batch keep their content (value, message, line)
    in quarantine, schema checks and business rules alike; beyond, they are counted only
    (`TERRITOIRE_QUARANTINE_ROWS_KEPT`, default 1000)."""
    value = os.environ.get("TERRITOIRE_QUARANTINE_ROWS_KEPT", "1000")
    if not value.strip().isdigit():
        raise ValueError(f"TERRITOIRE_QUARANTINE_ROWS_KEPT={value!r}: a whole number of rows is expected")
    return int(value)


def data_dir() -> Path:
    return PROJECT_ROOT / "data"


def allowed_roots(extra: list[Path] = ()) -> list[Path]:
    """Folders catalog paths may point into: the project (with data/), the landing zone, the catalog's
    own folder (`extra`), and those listed in TERRITOIRE_ALLOWED_ROOTS (separated by os.pathsep)."""
    roots = [PROJECT_ROOT, data_dir(), landing_dir(), *extra]
    listed = os.environ.get("TERRITOIRE_ALLOWED_ROOTS", "")
    roots += [Path(p).expanduser() for p in listed.split(os.pathsep) if p.strip()]
    out: list[Path] = []
    for root in roots:
        resolved = Path(root).resolve()
        if resolved not in out:
            out.append(resolved)
    return out
