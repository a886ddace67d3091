"""`make airflow` (`territoire airflow`): the UI starts on a loopback port with a login that works, and
`make airflow-stop` (`territoire airflow --stop`) stops it and everything it started."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; output:\n{''.join(seen)}")


@pytest.mark.integration
@pytest.mark.slow
def test_airflow_starts_on_loopback_with_a_working_login_and_stops(warehouse_url, tmp_path):
    port = _free_port()
    exe = str(Path(sys.executable).with_name("territoire"))
    env = {**os.environ, "WAREHOUSE_URL": warehouse_url, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    for name in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.pop(name, None)
    proc = subprocess.Popen([exe, "airflow", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        m = _read_until(proc, r"Airflow UI: (http://127\.0\.0\.1:\d+/)  login: (\S+)  password: (\S+)", 600)
        url, user, password = m.groups()
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url + "api/v2/monitor/health", timeout=10) as r:
            assert r.status == 200
        token = urllib.request.Request(url + "auth/token", method="POST",
                                       data=json.dumps({"username": user, "password": password}).encode(),
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(token, timeout=30) as r:
            assert json.loads(r.read())["access_token"]
        # The project's Airflow home, not ~/airflow: its metadata database is the one the UI reads.
        assert (tmp_path / "var" / "airflow" / "airflow.db").is_file()

        stop = subprocess.run([exe, "airflow", "--stop"], env=env, capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        assert "Airflow stopped." in stop.stdout
        assert proc.wait(timeout=60) == 0
        assert not _answers(port)
        assert not (tmp_path / "var" / "airflow" / "territoire-airflow.pid").exists()
        nothing = subprocess.run([exe, "airflow", "--stop"], env=env, capture_output=True, text=True, timeout=60)
        assert nothing.returncode == 0 and "No Airflow" in nothing.stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
