"""`make airflow` / `territoire airflow`: the Airflow UI on this project's runs, on this machine.

Starts Airflow's API server (the UI) on 127.0.0.1, the scheduler, the DAG processor and the triggerer,
all on the project's Airflow home (var/airflow: the metadata database `make demo` fills, the logs of
its runs) and the project's settings (`territoire.airflow_env`). Prints the URL and the login, then
waits; Ctrl-C, SIGTERM or `territoire airflow --stop` (`make airflow-stop`) stops every process it
started. The login is the simple auth manager's `admin`, with a password generated once per Airflow
home and kept in its passwords file.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from territoire import airflow_env

HOST = "127.0.0.1"
USER = "admin"
SERVICES = (("api-server", ["api-server"]), ("scheduler", ["scheduler"]), ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer"]))
START_TIMEOUT = 300
STOP_TIMEOUT = 90


class LocalAirflowError(RuntimeError):
    """Airflow could not start or stop; the message says what to do."""


def default_port() -> int:
    return int(os.environ.get("TERRITOIRE_AIRFLOW_PORT", "8080"))


def pid_file() -> Path:
    return airflow_env.airflow_home() / "territoire-airflow.pid"


def password(home: Path) -> str:
    """The admin's password: the one in the simple auth manager's file, or a new one written there."""
    path = home / "simple_auth_manager_passwords.json.generated"
    known = json.loads(path.read_text(encoding="utf-8") or "{}") if path.is_file() else {}
    if USER not in known:
        known[USER] = secrets.token_urlsafe(12)
        path.write_text(json.dumps(known) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return known[USER]


def environment(port: int) -> dict[str, str]:
    env = airflow_env.environment()
    base = f"http://{HOST}:{port}"
    env.update({
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # A laptop, not a cluster: a few worker processes, not Airflow's default 32.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        # The demo's Airflow is for looking at runs: no schedule fires by itself while the UI is open.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    })
    return env


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v2/monitor/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def _airflow(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def _ensure_metadata(env: dict, logs: Path) -> None:
    """Create or upgrade the metadata database (a no-op when `make demo` already made it)."""
    with open(logs / "db-migrate.log", "w", encoding="utf-8") as log:
        code = subprocess.run(_airflow("db", "migrate"), env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise LocalAirflowError(f"`airflow db migrate` failed (exit {code}): see {logs / 'db-migrate.log'}")


def _start(env: dict, logs: Path) -> dict[str, subprocess.Popen]:
    procs = {}
    for name, args in SERVICES:
        log = open(logs / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 - open while the process runs
        # A session of its own: stopping it stops the workers it forks too.
        procs[name] = subprocess.Popen(_airflow(*args), env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
    return procs


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    # Graceful first (the scheduler hands back its running tasks), then killed: stopping never hangs.
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(procs: dict[str, subprocess.Popen], port: int, logs: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(port):
        dead = [name for name, p in procs.items() if p.poll() is not None]
        if dead:
            raise LocalAirflowError(f"Airflow's {dead[0]} stopped while starting: see {logs / (dead[0] + '.log')}")
        if time.monotonic() > deadline:
            raise LocalAirflowError(f"the Airflow UI did not answer on port {port} within {START_TIMEOUT} s: "
                                    f"see {logs / 'api-server.log'}")
        time.sleep(1)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def run(port: int | None = None) -> int:
    port = port or default_port()
    if not _port_free(port):
        raise LocalAirflowError(f"port {port} on {HOST} is already in use: stop what uses it "
                                f"(`make airflow-stop`), or choose another with --port / TERRITOIRE_AIRFLOW_PORT")
    env = environment(port)
    home = Path(env["AIRFLOW_HOME"])
    logs = home / "local"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"Starting Airflow on {home} (logs: {logs}) ...", flush=True)
    _ensure_metadata(env, logs)
    login = password(home)
    procs = _start(env, logs)
    pid_file().write_text(str(os.getpid()), encoding="utf-8")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _wait_healthy(procs, port, logs)
        print(f"Airflow UI: http://{HOST}:{port}/  login: {USER}  password: {login}", flush=True)
        print("Stop it with Ctrl-C or `make airflow-stop`.", flush=True)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
        dead = next(name for name, p in procs.items() if p.poll() is not None)
        raise LocalAirflowError(f"Airflow's {dead} stopped: see {logs / (dead + '.log')}")
    except KeyboardInterrupt:
        print("Stopping Airflow ...", flush=True)
        return 0
    finally:
        _stop(procs)
        pid_file().unlink(missing_ok=True)
        print("Airflow stopped.", flush=True)


def stop() -> int:
    """Stop the Airflow that `territoire airflow` started (its pid file says which process)."""
    path = pid_file()
    if not path.is_file():
        print("No Airflow started by `territoire airflow` is running.")
        return 0
    pid = int(path.read_text(encoding="utf-8").strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        print("No Airflow started by `territoire airflow` is running (a stale pid file was removed).")
        return 0
    # `territoire airflow` removes its pid file once every process it started has stopped.
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not path.exists() or not _running(pid):
            path.unlink(missing_ok=True)
            print("Airflow stopped.")
            return 0
        time.sleep(0.5)
    raise LocalAirflowError(f"Airflow (process {pid}) did not stop within {STOP_TIMEOUT} s: stop it with `kill {pid}`")


def _running(pid: int) -> bool:
    """Whether `pid` is alive (a process that ended but was not yet reaped by its parent is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
