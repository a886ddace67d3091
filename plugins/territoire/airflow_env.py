"""The environment Airflow runs in for the demo, the tests, `territoire summary` and `make airflow`.

Airflow's own metadata database is SQLite under var/airflow (the docker-compose stack uses
PostgreSQL instead); the `warehouse` connection points at the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

from territoire import settings, warehouse


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or settings.var_dir() / "airflow")


def metadata_url(home: Path | None = None) -> str:
    """Airflow's metadata database: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, else the project's SQLite file."""
    return (os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
            or f"sqlite:///{(home or airflow_home()) / 'airflow.db'}")


def environment(url: str | None = None, home: Path | None = None) -> dict[str, str]:
    home = home or airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    url = url or warehouse.get_url()
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(home),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW_CONN_WAREHOUSE": warehouse.airflow_connection_uri(url),
        "WAREHOUSE_URL": url,
        "TERRITOIRE_VAR_DIR": str(settings.var_dir()),
        "PYTHONPATH": os.pathsep.join(p for p in (str(settings.PROJECT_ROOT / "plugins"),
                                                   os.environ.get("PYTHONPATH")) if p),
        "GX_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
        # No telemetry calls from Cosmos or dbt (and no network at all in CI).
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # transform_warehouse's one dbt build (Cosmos watcher mode) would otherwise rewrite a compressed
        # backup of every result so far into an Airflow Variable on each of its ~1,200 dbt events (quadratic):
        # keep them in memory, backed up only if the build fails (consumer retries still find them).
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
    })
    return env
