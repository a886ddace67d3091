"""The production CeleryExecutor stack, started from the installed programs on 127.0.0.1.

What docker-compose.yml runs in containers, this runs as local processes, so a test can prove the
distributed setup works without a Docker engine: a fresh PostgreSQL metadata database on
127.0.0.1:5432 (migrated with `airflow db migrate`, dropped afterwards), Redis on 127.0.0.1:6379 as
the broker (a database number of its own, claimed and flushed), then `airflow scheduler`,
`airflow dag-processor`, `airflow api-server` and two `airflow celery worker` processes with
distinct hostnames. Before starting them it initialises the stack with deploy/airflow-init.sh, the
script of the compose `airflow-init` service (metadata migration, admin password, warehouse schemas
in a fresh warehouse database, dbt manifest). AIRFLOW_HOME is a temporary folder. Everything started is stopped at the end:
each process runs in its own process group, stopped with SIGTERM then SIGKILL after a bounded wait.

    with CeleryStack(dags_folder=path) as stack:
        run_id = stack.trigger("my_dag")
        state = stack.wait_for_run("my_dag", run_id, timeout=240)
        hosts = {ti["hostname"] for ti in stack.task_instances("my_dag", run_id)}

Airflow 3 specifics (why the configuration below looks the way it does):
- workers do not talk to the metadata database: they run tasks through the api-server's
  execution API (`[core] execution_api_server_url`), authenticated with a JWT the scheduler signs
  with `[api_auth] jwt_secret`, so every component gets the same secret;
- the DAG processor is a process of its own (`airflow dag-processor`);
- the hostname a task instance records comes from `[core] hostname_callable`: on one machine both
  workers would report the same name, so each worker gets its own (like containers do).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "airflow").exists() else PROJECT_ROOT / ".venv" / "bin"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis database numbers this helper may claim (one per concurrent stack; 0 is left to others).
REDIS_DBS = range(10, 16)
ADMIN_USER = "admin"

_HOSTNAME_MODULE = '''\
"""hostname_callable of one stack process: the name given by the stack (like a container's)."""
import os


def get():
    return os.environ["CELERY_STACK_HOSTNAME"]
'''


class StackError(RuntimeError):
    """The stack could not start or a run did not finish; the message says which process and why."""


# ---- Reachability (for skips) -------------------------------------------------------------------


def postgres_answers() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except psycopg.Error as exc:
        return f"PostgreSQL does not answer on 127.0.0.1:5432 ({exc.__class__.__name__}: {exc})".strip()


def redis_answers() -> str | None:
    """None when Redis answers PING on 127.0.0.1:6379, else why not."""
    try:
        reply = _redis_command(0, "PING")
    except OSError as exc:
        return f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT} ({exc})"
    return None if reply == "PONG" else f"Redis on {REDIS_HOST}:{REDIS_PORT} answered {reply!r} to PING"


def _redis_command(db: int, *args: str) -> str:
    """One command on a fresh connection (RESP), so the helper needs no Redis client state."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5, socket_connect_timeout=3)
    try:
        reply = client.execute_command(*args)
    except redis.exceptions.ConnectionError as exc:
        raise OSError(str(exc)) from exc
    finally:
        client.close()
    if isinstance(reply, bytes):
        return reply.decode()
    if reply is True:  # redis-py turns the +OK / +PONG status replies into True
        return "PONG" if args[0].upper() == "PING" else "OK"
    return str(reply)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- The stack --------------------------------------------------------------------------------


@dataclass
class CeleryStack:
    dags_folder: Path
    workers: tuple[str, ...] = ("worker-a", "worker-b")
    # True: initialise like the compose `airflow-init` service (deploy/airflow-init.sh: db migrate,
    # admin password, warehouse schemas in a fresh warehouse database, dbt manifest).
    # False: only `airflow db migrate` and a password file.
    run_init_script: bool = True
    # True: dbt writes its manifest into the stack's folder, not into the checkout (which other
    # runs share). A pipeline run whose DAG reads dbt_project/target/manifest.json needs False.
    isolate_dbt_target: bool = True
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    # Filled by start():
    metadata_db: str = ""
    warehouse_db: str = ""
    redis_db: int = -1
    api_port: int = 0
    scheduler_health_port: int = 0
    queue: str = ""
    admin_password: str = ""
    init_result: subprocess.CompletedProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str = ""
    _tmp: tempfile.TemporaryDirectory | None = None
    _claim: str = ""

    # -- lifecycle --

    def __enter__(self) -> CeleryStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, ready_timeout: float = 240) -> None:
        if self.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="celery-stack-")
            self.root = Path(self._tmp.name)
        home = self.root / "airflow_home"
        (home / "logs").mkdir(parents=True, exist_ok=True)
        (self.root / "pylib").mkdir(exist_ok=True)
        (self.root / "pylib" / "stack_hostname.py").write_text(_HOSTNAME_MODULE, encoding="utf-8")
        self.admin_password = secrets.token_hex(12)
        self.passwords_file = self.root / "auth" / "passwords.json"
        self.shared_dir = self.root / "shared"

        self.metadata_db = self._create_database("airflow_stack")
        self._claim_redis_db()
        self.api_port = free_port()
        self.scheduler_health_port = free_port()
        # A queue of this run's own: even a stray worker of another run cannot take its tasks.
        self.queue = f"stack_{uuid.uuid4().hex[:8]}"
        db_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.metadata_db}"
        from cryptography.fernet import Fernet

        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env = {
            **base,
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.root / "pylib"), base.get("PYTHONPATH")])),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "stack_hostname.get",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # One message at a time per process slot, so a busy worker leaves tasks to the other.
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Find new DAG files and queued work quickly: a test waits on both.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_health_port),
            "CELERY_STACK_HOSTNAME": "stack-main",
            # Shared storage of the stack (the compose territoire-shared volume).
            "TERRITOIRE_VAR_DIR": str(self.shared_dir),
            "TERRITOIRE_LANDING_DIR": str(self.shared_dir / "landing"),
            "TERRITOIRE_PUBLICATION_DIR": str(self.shared_dir / "publication"),
        }
        if self.run_init_script:
            self.warehouse_db = self._create_database("territoire_stack")
            from territoire import warehouse

            wh_url = f"postgresql://postgres@127.0.0.1:5432/{self.warehouse_db}"
            self.env.update(
                WAREHOUSE_URL=wh_url,
                AIRFLOW_CONN_WAREHOUSE=warehouse.airflow_connection_uri(wh_url),
                TERRITOIRE_HOME=str(PROJECT_ROOT),
                **warehouse.dbt_env(wh_url),
            )
            if self.isolate_dbt_target:
                self.env.update(DBT_TARGET_PATH=str(self.root / "dbt_target"), DBT_LOG_PATH=str(self.root / "dbt_logs"))
        self.env.update(self.extra_env)

        self.init_result = self.run_init()
        if self.init_result.returncode != 0:
            out = self.init_result.stdout[-3000:] + self.init_result.stderr[-3000:]
            raise StackError(f"initialisation failed (exit {self.init_result.returncode}):\n{out}")

        self._spawn("api-server", ["api-server"])
        self._spawn("scheduler", ["scheduler"])
        self._spawn("dag-processor", ["dag-processor"])
        for name in self.workers:
            self._spawn(
                name,
                # celery@<name>: what a container named <name> gets by default, which the compose
                # health check (`inspect ping --destination celery@$HOSTNAME`) relies on.
                ["celery", "worker", "--celery-hostname", f"celery@{name}", "--queues", self.queue,
                 "--concurrency", str(self.worker_concurrency)],
                # Each worker serves its task logs on a port of its own, and reports its own hostname.
                {"CELERY_STACK_HOSTNAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        self._wait_ready(ready_timeout)

    def stop(self, grace: float = 20) -> None:
        """Stop every process this stack started (workers first), then drop what it created.

        All get SIGTERM at once; each group that has not exited `grace` seconds later (workers
        finish their running tasks first: warm shutdown) gets SIGKILL.
        """
        order = [n for n in self.processes if n in self.workers] + [n for n in self.processes if n not in self.workers]
        for name in order:
            proc = self.processes[name]
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        started = time.monotonic()
        deadline = started + grace
        for name in order:
            proc = self.processes[name]
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                log.info("%s stopped %.1fs after SIGTERM", name, time.monotonic() - started)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %ss: SIGKILL", name, grace)
            # The group may still hold children (task supervisors, uvicorn/gunicorn workers).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %s) survived SIGKILL", name, proc.pid)
        for f in getattr(self, "_logs", {}).values():
            f.close()
        if self.redis_db >= 0:
            try:
                _redis_command(self.redis_db, "FLUSHDB")
            except OSError as exc:
                log.warning("could not flush Redis db %s: %s", self.redis_db, exc)
            self.redis_db = -1
        for db in (self.metadata_db, self.warehouse_db):
            if not db:
                continue
            try:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'drop database if exists "{db}" with (force)')
            except psycopg.Error as exc:
                log.warning("could not drop %s: %s", db, exc)
        self.metadata_db = self.warehouse_db = ""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- resources --

    def _create_database(self, prefix: str) -> str:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        return name

    def run_init(self, admin_password: str | None = None) -> subprocess.CompletedProcess:
        """Initialise (or re-initialise) the stack, as the compose `airflow-init` service does."""
        if admin_password:
            self.admin_password = admin_password
            self._token = ""
        if not self.run_init_script:
            self.passwords_file.parent.mkdir(parents=True, exist_ok=True)
            self.passwords_file.write_text(json.dumps({ADMIN_USER: self.admin_password}), encoding="utf-8")
            return self.airflow("db", "migrate", timeout=300)
        # Like compose: only the init job sees the admin password, in its environment.
        return subprocess.run(
            [str(PROJECT_ROOT / "deploy" / "airflow-init.sh")],
            env={
                **self.env,
                "PATH": f"{VENV_BIN}{os.pathsep}{self.env.get('PATH', '')}",
                "AIRFLOW_ADMIN_USERNAME": ADMIN_USER,
                "AIRFLOW_ADMIN_PASSWORD": self.admin_password,
            },
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.root,
        )

    def _claim_redis_db(self) -> None:
        """Take the first Redis database of REDIS_DBS no other live stack claims, and flush it."""
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        for db in REDIS_DBS:
            # SET NX with an expiry: a crashed run frees its database after 15 minutes at most.
            if _redis_command(db, "SET", "celery_stack:claim", token, "NX", "EX", "900") == "OK":
                _redis_command(db, "FLUSHDB")  # removes the claim key too: re-set it after the flush
                _redis_command(db, "SET", "celery_stack:claim", token, "EX", "900")
                self.redis_db, self._claim = db, token
                return
        raise StackError(f"every Redis database {REDIS_DBS.start}-{REDIS_DBS.stop - 1} is claimed by another stack")

    # -- processes --

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        logs = getattr(self, "_logs", None)
        if logs is None:
            logs = self._logs = {}
        path = self.root / f"{name}.log"
        logs[name] = open(path, "w", encoding="utf-8")  # closed in stop()
        self.processes[name] = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *args],
            env={**self.env, **(env or {})},
            stdout=logs[name],
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise StackError(f"`airflow` {name} exited with code {proc.returncode}:\n{self.log_tail(name)}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {"api-server", *self.workers}
        while pending:
            self._check_alive()
            if "api-server" in pending:
                try:
                    self._request("GET", "/api/v2/monitor/health", auth=False)
                    pending.discard("api-server")
                except (OSError, StackError):
                    pass
            for name in list(pending - {"api-server"}):
                if f"celery@{name} ready." in self.log_tail(name, 20000):
                    pending.discard(name)
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}:\n{self.log_tail(n, 1500)}" for n in sorted(pending))
                raise StackError(f"not ready after {timeout:.0f}s: {sorted(pending)}\n{tails}")
            time.sleep(1)

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run an `airflow` CLI command against this stack."""
        return subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )

    # -- REST API --

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise StackError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc

    def token(self) -> str:
        if not self._token:
            self._token = self._request(
                "POST", "/auth/token", {"username": ADMIN_USER, "password": self.admin_password}, auth=False
            )["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        return self._request(method, path, body)

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> dict:
        """Wait until the dag-processor has parsed `dag_id` (no import error)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                return self.api("GET", f"/api/v2/dags/{dag_id}")
            except StackError as exc:
                if "HTTP 404" not in str(exc):
                    raise
            if time.monotonic() > deadline:
                errors = self.api("GET", "/api/v2/importErrors")
                raise StackError(f"DAG {dag_id} not parsed after {timeout:.0f}s; import errors: {errors}\n"
                                 f"{self.log_tail('dag-processor')}")
            time.sleep(2)

    def trigger(self, dag_id: str, logical_date: str | None = None) -> str:
        """`airflow dags trigger`, as an operator would; returns the run id.

        `logical_date`: the run's logical date (ISO 8601). Giving a time-scheduled DAG its next
        scheduled logical date makes this run stand for the scheduled one: the scheduler skips
        creating a run whose logical date already exists.
        """
        run_id = f"stack__{uuid.uuid4().hex[:8]}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if logical_date:
            args += ["--logical-date", logical_date]
        proc = self.airflow(*args)
        if proc.returncode != 0:
            raise StackError(f"`airflow dags trigger {dag_id}` failed: {proc.stderr[-2000:]}")
        return run_id

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            state = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                tis = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
                raise StackError(
                    f"run {run_id} of {dag_id} still {state} after {timeout:.0f}s; task states {tis}\n"
                    f"--- scheduler:\n{self.log_tail('scheduler')}\n"
                    + "".join(f"--- {w}:\n{self.log_tail(w, 1500)}\n" for w in self.workers)
                )
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        # Page through (the API gives 50 by default): a Cosmos DAG has a task per dbt model and test.
        tis: list[dict] = []
        while True:
            page = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(tis)}")
            tis += page["task_instances"]
            if not page["task_instances"] or len(tis) >= page["total_entries"]:
                return tis

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG through the REST API (what the UI toggle does)."""
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str, chars: int = 3000) -> str:
        """End of a task's log (latest attempt), read from the log folder the workers share here."""
        folder = self.root / "airflow_home" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        logs = sorted(folder.rglob("attempt=*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(encoding="utf-8", errors="replace")[-chars:] if logs else f"(no log in {folder})"
