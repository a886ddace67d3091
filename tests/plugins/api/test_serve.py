"""`territoire serve` on a loopback port: it creates its read-only role when no login is given, and serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
import pytest

from territoire.api.role import drop_api_role


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(warehouse_url, api_role, api_datasets_path):
    role = f"territoire_api_v{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERRITOIRE_API")}
    env.update(WAREHOUSE_URL=warehouse_url, TERRITOIRE_API_ROLE=role, TERRITOIRE_DATASETS=str(api_datasets_path))
    server = subprocess.Popen([sys.executable, "-m", "territoire.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(base + "/api/datasets", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield base, role
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
        drop_api_role(warehouse_url, role)
        assert "Traceback" not in output, output


def test_serve_answers_on_loopback_as_its_own_role(served, warehouse_url):
    base, role = served
    datasets = httpx.get(base + "/api/datasets").json()["data"]
    assert {d["id"] for d in datasets} == {"dim_territoire", "fct_points_de_charge", "indicateurs_territoriaux"}
    rows = httpx.get(base + "/api/datasets/dim_territoire/rows", params={"code_departement__eq": "90"}).json()
    assert [r["code_commune"] for r in rows["data"]] == ["90010", "90065"]
    assert rows["links"]["self"].startswith(base)
    with psycopg.connect(warehouse_url) as conn:
        users = {u for (u,) in conn.execute("select usename from pg_stat_activity where application_name = "
                                            "'territoire-api' and datname = current_database()").fetchall()}
    # (Other tests' clients may be connected as the session's API role too: never as the owner.)
    assert role in users
    assert all(u.startswith("territoire_api") for u in users)
