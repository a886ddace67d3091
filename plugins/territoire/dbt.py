"""Running dbt against the warehouse, outside Airflow (CLI, tests, `make`).

Inside Airflow, Cosmos runs dbt with a profile built from the `warehouse` connection; here the
profile in `dbt_project/profiles.yml` reads the environment that `warehouse.dbt_env()` sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from territoire import settings, warehouse


class DbtError(RuntimeError):
    """A dbt command failed; the message carries the end of dbt's output."""


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def environment(url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(warehouse.dbt_env(url))
    env.setdefault("DBT_PROFILES_DIR", str(settings.dbt_project_dir()))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run(args: list[str], url: str | None = None, *, capture: bool = False, target_path: Path | None = None
        ) -> subprocess.CompletedProcess:
    """Run `dbt <args>` in the project folder. Raises DbtError with dbt's output when it fails."""
    cmd = [dbt_executable(), *args, "--project-dir", str(settings.dbt_project_dir()),
           "--profiles-dir", str(settings.dbt_project_dir())]
    if target_path:
        cmd += ["--target-path", str(target_path)]
    proc = subprocess.run(cmd, env=environment(url), cwd=settings.dbt_project_dir(), text=True,
                          capture_output=capture)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").splitlines()[-40:]) if capture else "(see the output above)"
        raise DbtError(f"`dbt {' '.join(args)}` failed with exit code {proc.returncode}:\n{tail}")
    return proc


def manifest_path() -> Path:
    return settings.dbt_project_dir() / "target" / "manifest.json"


def parse(url: str | None = None) -> Path:
    """Write target/manifest.json (what Cosmos reads with LoadMode.DBT_MANIFEST). Needs no database."""
    env_url = url or os.environ.get("WAREHOUSE_URL") or "postgresql://parse@localhost:5432/parse"
    run(["parse", "--quiet"], env_url)
    return manifest_path()
