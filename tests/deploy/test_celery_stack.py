"""The CeleryExecutor stack runs tasks on two workers (scheduler, dag-processor, api-server, Redis).

The stack starts like docker-compose.yml's: deploy/airflow-init.sh first, then the services.
A throwaway DAG, written by the test into a temporary folder, fans out into parallel tasks; the
test triggers it with `airflow dags trigger`, waits (bounded) for the run to succeed through the
REST API, and checks from the task instances' `hostname` that both workers ran some of them.
The pipeline DAGs are not used yet: this proves the distributed setup itself.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import textwrap
import time

import psycopg
import pytest
from celery_stack import ADMIN_USER, VENV_BIN, CeleryStack, StackError, postgres_answers, redis_answers
from compose_checks import PROJECT_ROOT, example_env, interpolate, load_compose, parse_env_example

from territoire import warehouse

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(600)]

# With one task slot per worker (see the fixture), four 3-second tasks cannot all go to one worker.
FANOUT = 4

DAG_FILE = textwrap.dedent(
    f'''
    """Throwaway DAG of the CeleryExecutor stack test (tests/deploy/test_celery_stack.py)."""
    import time

    import pendulum
    from airflow.sdk import dag, task


    @dag(
        dag_id="stack_fanout",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={{"owner": "platform", "retries": 0}},
        tags=["test"],
    )
    def stack_fanout():
        @task
        def work(n: int) -> int:
            # Long enough that one worker's slot is busy when the next task is queued.
            time.sleep(3)
            return n * n

        @task
        def total(values: list[int]) -> int:
            assert sorted(values) == [n * n for n in range({FANOUT})], values
            return sum(values)

        total(work.expand(n=list(range({FANOUT}))))


    stack_fanout()
    '''
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for reason in (postgres_answers(), redis_answers()):
        if reason:
            pytest.skip(reason)
    dags = tmp_path_factory.mktemp("stack_dags")
    (dags / "stack_fanout.py").write_text(DAG_FILE, encoding="utf-8")
    with CeleryStack(dags_folder=dags, worker_concurrency=1) as running:
        yield running
    # Everything it started is gone.
    for name, proc in running.processes.items():
        assert proc.poll() is not None, f"{name} (pid {proc.pid}) still runs after stop()"


def test_tasks_run_on_both_celery_workers(stack):
    started = time.monotonic()
    stack.wait_for_dag("stack_fanout", timeout=90)
    run_id = stack.trigger("stack_fanout")
    state = stack.wait_for_run("stack_fanout", run_id, timeout=240)
    tis = stack.task_instances("stack_fanout", run_id)
    assert state == "success", {(ti["task_id"], ti.get("map_index")): ti["state"] for ti in tis}
    assert len(tis) == FANOUT + 1
    assert {ti["state"] for ti in tis} == {"success"}
    hosts = {ti["hostname"] for ti in tis}
    assert hosts == set(stack.workers), f"tasks ran on {hosts}, expected both workers {stack.workers}"
    # Every mapped task ran through the executor, on the queue the workers serve.
    assert {ti["queue"] for ti in tis} == {stack.queue}
    print(f"run {run_id}: {len(tis)} tasks on {sorted(hosts)} in {time.monotonic() - started:.1f}s")


def test_the_init_script_prepared_the_stack(stack):
    """deploy/airflow-init.sh (the compose airflow-init service) ran before the services started."""
    out = stack.init_result.stdout
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert step in out, out
    assert stack.admin_password not in out + stack.init_result.stderr, "the admin password leaked in the log"
    assert json.loads(stack.passwords_file.read_text()) == {ADMIN_USER: stack.admin_password}
    assert stat.S_IMODE(stack.passwords_file.stat().st_mode) == 0o600
    with psycopg.connect(stack.env["WAREHOUSE_URL"]) as conn:
        schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        ledger = conn.execute("select to_regclass('ingest.load_batches')").fetchone()[0]
    assert set(warehouse.SCHEMAS) <= schemas
    assert ledger is not None, "territoire db init did not create ingest.load_batches"
    assert (stack.shared_dir / "landing").is_dir() and (stack.shared_dir / "publication").is_dir()
    manifest = json.loads((stack.root / "dbt_target" / "manifest.json").read_text())
    assert any(key.startswith("model.") for key in manifest["nodes"])


def test_init_runs_again_and_rotates_the_admin_password(stack):
    """`docker compose up` runs airflow-init on every start: it must be idempotent."""
    old = stack.admin_password
    again = stack.run_init(admin_password="rotated-" + old[:6])
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    # The running api-server accepts the new password and refuses the old one.
    assert stack.token()
    with pytest.raises(StackError, match="HTTP 401"):
        stack._request("POST", "/auth/token", {"username": ADMIN_USER, "password": old}, auth=False)


def test_compose_health_checks_pass_on_the_running_services(stack):
    """The health checks of docker-compose.yml, run verbatim against the live processes.

    They gate `depends_on: service_healthy` (workers wait for a healthy api-server): a wrong one
    keeps the stack from starting. Only the ports differ (free ports here, fixed ones in compose).
    The worker check must reach that very worker (its reply is checked), or it proves nothing.
    """
    raw = load_compose(PROJECT_ROOT / "docker-compose.yml")
    env_example = parse_env_example((PROJECT_ROOT / ".env.example").read_text(encoding="utf-8"))
    services = interpolate(raw, example_env(env_example))["services"]
    ports = {
        "localhost:8080": f"127.0.0.1:{stack.api_port}",
        "localhost:8974": f"127.0.0.1:{stack.scheduler_health_port}",
    }
    checks = {
        "airflow-apiserver": "stack-main",
        "airflow-scheduler": "stack-main",
        "airflow-dag-processor": "stack-main",
        "airflow-worker": stack.workers[1],
    }
    procs = {}
    for service, hostname in checks.items():
        test = services[service]["healthcheck"]["test"]
        argv = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        for old, new in ports.items():
            argv = [a.replace(old, new) for a in argv]
        env = dict(stack.env, HOSTNAME=hostname, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        procs[service] = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {}
    for service, hostname in checks.items():
        # Each check imports Airflow or Celery: seconds on an idle machine, minutes on a loaded one.
        outputs[service], _ = procs[service].communicate(timeout=300)
        code = procs[service].returncode
        assert code == 0, f"{service} health check (as {hostname}) failed with exit {code}:\n{outputs[service][-2000:]}"
    # The ping went to the worker named by $HOSTNAME and it answered (another name gets no reply).
    reply = re.sub(r"\x1b\[[0-9;]*m", "", outputs["airflow-worker"])  # celery may colour its output
    assert f"celery@{stack.workers[1]}: OK" in reply, reply
    assert f"celery@{stack.workers[0]}" not in reply, reply
