"""The `api` service of docker-compose.yml: the open API and portal, read-only, started after its role exists.

(It runs the project's image without building it, so the Airflow checks of compose_checks do not
cover it: its command, healthcheck and role are checked here.)
"""

from __future__ import annotations

import shlex

import pytest
from compose_checks import (
    PROJECT_ROOT,
    _script_calls,
    example_env,
    interpolate,
    load_compose,
    parse_env_example,
    territoire_cli_error,
)

from territoire.api.role import DEFAULT_ROLE
from territoire.warehouse import parse_url


@pytest.fixture(scope="module")
def services() -> dict:
    env = example_env(parse_env_example((PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")))
    return interpolate(load_compose(PROJECT_ROOT / "docker-compose.yml"), env)["services"]


def test_the_api_runs_territoire_serve(services):
    api = services["api"]
    assert api["entrypoint"] == ["territoire"]
    assert territoire_cli_error(api["command"]) is None
    assert api["command"][0] == "serve"
    assert api["image"] == services["airflow-scheduler"]["image"]  # the image the Airflow services build


def test_the_api_reads_as_its_own_role_never_as_the_owner(services):
    env = services["api"]["environment"]
    assert parse_url(env["TERRITOIRE_API_DATABASE_URL"]).user == DEFAULT_ROLE
    assert "WAREHOUSE_URL" not in env and "WAREHOUSE_PASSWORD" not in env
    assert all(v.endswith(":ro") for v in services["api"]["volumes"])


def test_the_role_is_created_before_the_api_starts(services):
    assert services["api"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    calls = _script_calls(PROJECT_ROOT / "deploy" / "airflow-init.sh", "territoire")
    assert ["api-role"] in [c[:1] for c in calls]
    assert territoire_cli_error(["api-role"]) is None
    assert "TERRITOIRE_API_DB_PASSWORD" in services["airflow-init"]["environment"]


def test_the_api_listens_on_loopback_by_default_and_has_a_healthcheck(services):
    assert services["api"]["ports"][0].startswith("127.0.0.1:")
    test = services["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")
    assert "/api/" in shlex.join(test)
