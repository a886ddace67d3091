"""deploy/airflow-init.sh, the `airflow-init` service of docker-compose.yml, run on this machine.

What it prepares (metadata migration, admin password file, warehouse schemas, shared folders, dbt
manifest) and that it can run again is proven by test_celery_stack.py, whose stack starts with it.
Here: without one of its secrets it refuses to run, says what to do, and touches nothing.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from compose_checks import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "deploy" / "airflow-init.sh"
REQUIRED = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW_ADMIN_USERNAME",
    "AIRFLOW_ADMIN_PASSWORD",
    "WAREHOUSE_URL",
)


@pytest.mark.parametrize("missing", REQUIRED)
def test_airflow_init_refuses_to_run_without_a_secret(tmp_path, missing):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WAREHOUSE", "TERRITOIRE"))}
    env = {
        **base,
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{base.get('PATH', '')}",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        # Points nowhere: the script must stop before using any of it.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody@127.0.0.1:1/none",
        "AIRFLOW__CORE__FERNET_KEY": "x",
        "AIRFLOW__API_AUTH__JWT_SECRET": "x",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
        "AIRFLOW_ADMIN_USERNAME": "ops",
        "AIRFLOW_ADMIN_PASSWORD": "x",
        "WAREHOUSE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "TERRITOIRE_HOME": str(PROJECT_ROOT),
    }
    env[missing] = ""
    proc = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{missing} is not set" in proc.stderr and ".env.example" in proc.stderr
    assert not (tmp_path / "auth").exists() and not (tmp_path / "airflow").exists()
