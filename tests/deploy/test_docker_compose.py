"""docker-compose.yml, .env.example, the Dockerfile and deploy/ checked without a Docker engine.

The stack is validated against the Compose Specification's JSON Schema, then against the project:
see compose_checks.py for what each check covers. The second half feeds broken files to the
checker to prove each check catches the mistake it is there for.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from compose_checks import (
    PROJECT_ROOT,
    InterpolationError,
    check_project,
    command_problems,
    depends_on_problems,
    dockerfile_problems,
    env_example_problems,
    example_env,
    interpolate,
    load_compose,
    mount_problems,
    parse_env_example,
    schema_problems,
    secret_problems,
    variables,
)

from territoire import warehouse

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)


@pytest.fixture(scope="module")
def raw() -> dict:
    return load_compose(COMPOSE)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_example(ENV_EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolved(raw, env_example) -> dict:
    """The model as `docker compose config` would give it with a filled-in .env."""
    return interpolate(raw, example_env(env_example))


def _fmt(problems: list[str]) -> str:
    return "\n".join(problems)


# ---- the project's files are clean ----------------------------------------------------------


def test_valid_against_the_compose_specification(resolved):
    problems = schema_problems(resolved)
    assert not problems, _fmt(problems)


SHARED_SCHEMA = PROJECT_ROOT.parent / "shared" / "specs" / "compose-spec.json"


@pytest.mark.skipif(not SHARED_SCHEMA.exists(), reason="../shared/specs/compose-spec.json is not beside the checkout")
def test_valid_against_the_shared_compose_specification(resolved):
    """The same validation against the schema in ../shared/specs (where CI puts it), so that the copy
    kept in tests/deploy cannot drift from the specification the project is held to."""
    assert schema_problems(resolved, SHARED_SCHEMA) == []


def test_the_production_services_are_all_there(resolved):
    services = resolved["services"]
    for name in (*AIRFLOW_SERVICES, "postgres", "redis"):
        assert name in services, f"docker-compose.yml has no service {name}"
    assert services["airflow-apiserver"]["command"] == ["api-server"]
    assert services["airflow-dag-processor"]["command"] == ["dag-processor"]
    assert services["airflow-worker"]["command"][:2] == ["celery", "worker"]
    # The worker must be scalable with --scale: no fixed container name, no host port.
    assert "container_name" not in services["airflow-worker"]
    assert "ports" not in services["airflow-worker"]
    assert services["flower"]["profiles"] == ["flower"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["TERRITOIRE_PROFILE"] == "production"
        # The warehouse connection and WAREHOUSE_URL are the same database.
        assert env["AIRFLOW_CONN_WAREHOUSE"].split("://", 1)[1] == env["WAREHOUSE_URL"].split("://", 1)[1]
        # Landing zone and publication folder live on the shared volume, in every service.
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        for var in ("TERRITOIRE_LANDING_DIR", "TERRITOIRE_PUBLICATION_DIR"):
            assert any(
                env[var].startswith(target + "/") and source == "territoire-shared"
                for target, source in mounts.items()
            ), f"{name}: {var}={env[var]} is not on the shared volume"


def test_bind_mounts_and_build_context_exist(resolved):
    problems = mount_problems(resolved, PROJECT_ROOT)
    assert not problems, _fmt(problems)


def test_depends_on_is_satisfiable(resolved):
    problems = depends_on_problems(resolved)
    assert not problems, _fmt(problems)


def test_secrets_are_required_and_have_no_default(raw):
    problems = secret_problems(raw)
    assert not problems, _fmt(problems)


def test_every_variable_is_documented_in_env_example(raw, env_example):
    problems = env_example_problems(raw, env_example)
    assert not problems, _fmt(problems)


def test_dockerfile_copies_what_exists():
    problems = dockerfile_problems(PROJECT_ROOT)
    assert not problems, _fmt(problems)


def test_commands_programs_and_airflow_config_exist(resolved):
    """Each service runs a real program or Airflow 3.3 subcommand; every AIRFLOW__X__Y is an option."""
    problems = command_problems(resolved, PROJECT_ROOT)
    assert not problems, _fmt(problems)


@pytest.mark.parametrize(
    "secret",
    [k for k, v in parse_env_example(ENV_EXAMPLE.read_text(encoding="utf-8")).items() if v == ""],
)
def test_compose_refuses_to_start_without_each_secret(raw, env_example, secret):
    """`.env.example` copied as-is, or a .env missing one secret: compose stops and names it."""
    env = example_env(env_example)
    env.pop(secret)
    with pytest.raises(InterpolationError, match=secret):
        interpolate(raw, env)
    env[secret] = ""  # set but empty is refused too (the :? form)
    with pytest.raises(InterpolationError, match=secret):
        interpolate(raw, env)


def test_no_default_admin_password(raw, env_example):
    env = example_env(env_example)
    del env["AIRFLOW_ADMIN_PASSWORD"]
    with pytest.raises(InterpolationError, match="no default admin password"):
        interpolate(raw, env)
    admin = [it for it in variables(raw) if it.name == "AIRFLOW_ADMIN_PASSWORD"]
    assert admin and all(it.op == ":?" for it in admin)


def test_env_is_git_ignored_and_not_committed():
    """(That .dockerignore keeps it out of the image is checked by dockerfile_problems.)"""
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=PROJECT_ROOT, capture_output=True, check=False
    )
    assert ignored.returncode == 0, ".env must be listed in .gitignore"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=PROJECT_ROOT, capture_output=True, check=False
    )
    assert tracked.returncode != 0, ".env is committed: remove it from git and rotate its secrets"


# ---- the checker catches broken files ---------------------------------------------------------


def _broken(resolved: dict, service: str, **changes) -> dict:
    model = copy.deepcopy(resolved)
    model["services"][service].update(changes)
    return model


def test_checker_catches_a_missing_bind_mount(resolved):
    svc = resolved["services"]["airflow-scheduler"]
    model = _broken(resolved, "airflow-scheduler", volumes=[*svc["volumes"], "./no-such-folder:/opt/x:ro"])
    problems = mount_problems(model, PROJECT_ROOT)
    assert any("no-such-folder" in p and "airflow-scheduler" in p for p in problems), _fmt(problems)


def test_checker_catches_an_undeclared_named_volume(resolved):
    svc = resolved["services"]["airflow-worker"]
    model = _broken(resolved, "airflow-worker", volumes=[*svc["volumes"], "scratch:/scratch"])
    problems = mount_problems(model, PROJECT_ROOT)
    assert any("'scratch' is not declared" in p for p in problems), _fmt(problems)


def test_checker_catches_schema_violations(resolved):
    model = _broken(resolved, "redis", healthcheck={"test": ["CMD", "redis-cli", "ping"], "interval": 10})
    model["services"]["postgres"]["restart_policy"] = "always"  # not a Compose key
    problems = schema_problems(model)
    assert any("restart_policy" in p for p in problems), _fmt(problems)
    assert any("healthcheck/interval" in p for p in problems), _fmt(problems)


def test_checker_catches_bad_depends_on(resolved):
    model = copy.deepcopy(resolved)
    model["services"]["airflow-scheduler"]["depends_on"]["metadata-db"] = {"condition": "service_healthy"}
    model["services"]["airflow-triggerer"]["depends_on"]["airflow-init"] = {"condition": "service_healthy"}
    model["services"]["airflow-init"]["restart"] = "always"
    model["services"]["airflow-worker"]["depends_on"]["flower"] = {"condition": "service_started"}
    problems = depends_on_problems(model)
    assert any("'metadata-db', which is not a service" in p for p in problems), _fmt(problems)
    assert any("airflow-triggerer" in p and "airflow-init has no healthcheck" in p for p in problems), _fmt(problems)
    assert any("restart: always" in p for p in problems), _fmt(problems)
    assert any("airflow-worker" in p and "only runs under profiles" in p for p in problems), _fmt(problems)


def test_checker_catches_secrets_with_defaults_or_in_clear(raw):
    model = copy.deepcopy(raw)
    env = model["services"]["airflow-init"]["environment"]
    env["AIRFLOW_ADMIN_PASSWORD"] = "${AIRFLOW_ADMIN_PASSWORD:-admin}"
    env["AIRFLOW__CORE__FERNET_KEY"] = ""
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://airflow:airflow@postgres/airflow"
    problems = secret_problems(model)
    assert any("AIRFLOW_ADMIN_PASSWORD must be required" in p for p in problems), _fmt(problems)
    assert any("AIRFLOW__CORE__FERNET_KEY must come from .env" in p for p in problems), _fmt(problems)
    assert any("SQL_ALCHEMY_CONN holds a URL whose password" in p for p in problems), _fmt(problems)


def test_checker_catches_undocumented_and_stale_variables(raw, env_example):
    model = copy.deepcopy(raw)
    model["services"]["airflow-worker"]["environment"]["EXTRA"] = "${UNDOCUMENTED_SETTING:-x}"
    documented = dict(env_example, OBSOLETE_SETTING="1", AIRFLOW_UID="1000", REDIS_PASSWORD="hunter2")
    problems = env_example_problems(model, documented)
    assert any("UNDOCUMENTED_SETTING is not documented" in p for p in problems), _fmt(problems)
    assert any("OBSOLETE_SETTING, which docker-compose.yml does not use" in p for p in problems), _fmt(problems)
    assert any("default of AIRFLOW_UID is '50000' but .env.example says '1000'" in p for p in problems), _fmt(problems)
    assert any("secret REDIS_PASSWORD must be left empty" in p for p in problems), _fmt(problems)


def test_checker_catches_bad_commands_and_config(resolved, tmp_path):
    """Airflow 2 leftovers and typos: caught by the installed Airflow's own CLI parser and config."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "deploy", project / "deploy")
    shutil.copy(PROJECT_ROOT / "Dockerfile", project / "Dockerfile")
    init = project / "deploy" / "airflow-init.sh"
    init.write_text(init.read_text().replace("territoire db init", "territoire db create"))  # renamed
    init.chmod(0o644)  # lost its executable bit
    model = copy.deepcopy(resolved)
    services = model["services"]
    services["airflow-apiserver"]["command"] = ["webserver"]  # removed in Airflow 3
    services["airflow-worker"]["command"] = ["celery", "worker", "--queue-names", "default"]  # it is --queues
    services["airflow-triggerer"]["healthcheck"]["test"] = ["CMD", "airflow", "jobs", "check", "--job-type", "Triggerer"]
    services["airflow-scheduler"]["environment"]["AIRFLOW__WEBSERVER__SECRET_KEY"] = "x"  # moved to [api]
    services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTION_API_URL"] = "x"  # typo
    services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] = "airflow.auth.NoSuchManager"
    services["airflow-scheduler"]["environment"]["AIRFLOW__COSMOS__ENABLE_TELEMETERY"] = "false"  # typo
    services["flower"]["command"] = ["flower-server"]
    problems = command_problems(model, project, venv_bin=PROJECT_ROOT / ".venv" / "bin")
    text = _fmt(problems)
    assert "`airflow webserver` is not a valid Airflow 3 command" in text, text
    assert "`airflow celery worker --queue-names default` is not a valid" in text, text
    assert "`airflow jobs check --job-type Triggerer` is not a valid" in text, text
    assert "[webserver] secret_key is not an option of the installed Airflow (deprecated: use AIRFLOW__API__SECRET_KEY)" in text, text
    assert "[core] execution_api_url is not an option" in text, text
    assert "airflow.auth.NoSuchManager cannot be imported" in text, text
    assert "[cosmos] enable_telemetery is not an option" in text and "not read by cosmos either" in text, text
    assert "enable_telemetry is not" not in text, text  # the real (undeclared) Cosmos option is accepted
    assert "airflow-init.sh is not executable" in text, text
    assert "`territoire db create` is not a valid territoire command" in text, text
    # flower's entrypoint is the image's `airflow`: `airflow flower-server` is not a command either.
    assert "`airflow flower-server` is not a valid" in text, text


def test_checker_catches_dockerfile_mistakes(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "var").mkdir()
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12\n"
        "RUN pip install uv && uv sync\n"
        "COPY plugins/ plugins/\n"
        "COPY dags/ \\\n    dags/\n"
        "COPY var/ var/\n"
        "COPY --from=builder /x /x\n",
        encoding="utf-8",
    )
    (tmp_path / ".dockerignore").write_text("var\n", encoding="utf-8")
    text = _fmt(dockerfile_problems(tmp_path))
    assert ".dockerignore must exclude .env" in text, text
    assert "python:3.11-slim" in text, text
    assert "uv sync --frozen --no-dev" in text, text
    assert "Dockerfile:4: COPY source 'dags/' does not exist" in text, text
    assert "Dockerfile:6: COPY source 'var/' is excluded by .dockerignore" in text, text
    assert "plugins/" not in text and "/x" not in text, text


def test_check_project_reports_a_broken_compose_file(resolved, raw):
    """The whole checker on a broken model (what the test above does check by check)."""
    model = copy.deepcopy(raw)
    model["services"]["airflow-worker"]["volumes"].append("./missing-dir:/opt/missing")
    model["services"]["redis"]["depends_on"] = ["cache"]
    problems = check_project(PROJECT_ROOT, model=model)
    assert any("missing-dir" in p for p in problems), _fmt(problems)
    assert any("'cache', which is not a service" in p for p in problems), _fmt(problems)


def test_yaml_anchors_keep_the_common_settings(raw):
    """Every Airflow service gets the x-airflow-common environment (the merge keys are not lost)."""
    common = raw["x-airflow-common"]["environment"]
    for name in AIRFLOW_SERVICES:
        env = raw["services"][name]["environment"]
        missing = sorted(set(common) - set(env))
        assert not missing, f"{name} lacks {missing} from x-airflow-common"
    assert yaml.safe_load(COMPOSE.read_text(encoding="utf-8")) == raw


# ---- the PostgreSQL init script, on a real server -----------------------------------------------


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_postgres_init_script_creates_both_databases():
    if not _postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    suffix = uuid.uuid4().hex[:8]
    names = {
        "AIRFLOW_DB_NAME": f"t_af_{suffix}",
        "AIRFLOW_DB_USER": f"t_afu_{suffix}",
        "WAREHOUSE_DB_NAME": f"t_wh_{suffix}",
        "WAREHOUSE_DB_USER": f"t_whu_{suffix}",
    }
    env = dict(
        os.environ,
        PGHOST="127.0.0.1",
        PGPORT="5432",
        POSTGRES_USER="postgres",
        # Quotes and a backslash: psql binds the value, so nothing can break the SQL.
        AIRFLOW_DB_PASSWORD="it's a \"pass\\word\"",
        WAREHOUSE_DB_PASSWORD="w-" + suffix,
        **names,
    )
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        proc = subprocess.run(
            [str(PROJECT_ROOT / "deploy" / "postgres" / "init-databases.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        with psycopg.connect(admin) as conn:
            owners = dict(
                conn.execute(
                    "select datname, pg_get_userbyid(datdba) from pg_database where datname = any(%s)",
                    ([names["AIRFLOW_DB_NAME"], names["WAREHOUSE_DB_NAME"]],),
                ).fetchall()
            )
        assert owners == {
            names["AIRFLOW_DB_NAME"]: names["AIRFLOW_DB_USER"],
            names["WAREHOUSE_DB_NAME"]: names["WAREHOUSE_DB_USER"],
        }
        with psycopg.connect(admin) as conn:
            # The warehouse role manages the analysts' roles (CREATEROLE), makes `territoire validate`'s
            # scratch databases (CREATEDB), and is no superuser.
            assert conn.execute("select rolcreaterole, rolcreatedb, rolsuper from pg_roles where rolname = %s",
                                (names["WAREHOUSE_DB_USER"],)).fetchone() == (True, True, False)
        _the_warehouse_role_can_stop_another_roles_query(env, names)
        # Without a password the script refuses to run, and says which variable is missing.
        env.pop("WAREHOUSE_DB_PASSWORD")
        refused = subprocess.run(
            [str(PROJECT_ROOT / "deploy" / "postgres" / "init-databases.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0 and "WAREHOUSE_DB_PASSWORD" in refused.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for key in ("AIRFLOW_DB_NAME", "WAREHOUSE_DB_NAME"):
                conn.execute(f'drop database if exists "{names[key]}" with (force)')
            for key in ("AIRFLOW_DB_USER", "WAREHOUSE_DB_USER"):
                conn.execute(f'drop role if exists "{names[key]}"')


def _the_warehouse_role_can_stop_another_roles_query(env: dict, names: dict) -> None:
    """What the analysts' watchdog needs (platform_maintenance): logged in as the warehouse role, see the
    query of a session of another role (pg_read_all_stats) and end it (pg_signal_backend)."""
    def url(user: str, password: str, db: str) -> str:
        return warehouse.ConnectionParts("127.0.0.1", 5432, user, password, db).url()

    other = psycopg.connect(url(names["AIRFLOW_DB_USER"], env["AIRFLOW_DB_PASSWORD"], names["AIRFLOW_DB_NAME"]),
                            autocommit=True)
    try:
        other.execute("select 'a query of another role'")
        pid = other.info.backend_pid
        with psycopg.connect(url(names["WAREHOUSE_DB_USER"], env["WAREHOUSE_DB_PASSWORD"], names["WAREHOUSE_DB_NAME"]),
                             autocommit=True) as platform:
            seen = platform.execute("select query from pg_stat_activity where pid = %s", (pid,)).fetchone()
            assert seen == ("select 'a query of another role'",)
            assert platform.execute("select pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    finally:
        other.close()


def test_compose_file_uses_no_host_specific_path():
    text = COMPOSE.read_text(encoding="utf-8")
    assert str(Path.home()) not in text and "/work/" not in text
