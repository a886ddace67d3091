"""Shared fixtures: a real PostgreSQL warehouse per test session.

The server on 127.0.0.1:5432 (trust auth, user postgres) is used when it answers, as on the
development machines and CI; otherwise the embedded server from the `pgserver` wheel, so the suite
also passes on a laptop with nothing installed. Each session works in its own database, dropped
at the end.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from territoire import warehouse

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
        with psycopg.connect(LOCAL_SERVER, connect_timeout=3):
            return True
    except OSError:
        return False
    except psycopg.Error:
        return False


def _admin_url(tmp_root: Path) -> str:
    if os.environ.get("TERRITOIRE_TEST_EMBEDDED") != "1" and _local_server_answers():
        return LOCAL_SERVER
    import pgserver

    server = pgserver.get_server(tmp_root / "pgdata", cleanup_mode="stop")
    return server.get_uri()


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory) -> str:
    return _admin_url(tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="session")
def warehouse_url(admin_url) -> str:
    """A fresh warehouse database for this test session, with the platform's schemas."""
    name = f"territoire_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = warehouse.create_database(admin_url, name)
    previous = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    warehouse.ensure_schemas(url)
    yield url
    if previous is None:
        os.environ.pop("WAREHOUSE_URL", None)
    else:
        os.environ["WAREHOUSE_URL"] = previous
    warehouse.drop_database(admin_url, name)


@pytest.fixture
def fresh_database(admin_url):
    """A database of its own for one test (for tests that need an empty warehouse)."""
    name = f"territoire_t_{uuid.uuid4().hex[:10]}"
    url = warehouse.create_database(admin_url, name)
    warehouse.ensure_schemas(url)
    yield url
    warehouse.drop_database(admin_url, name)
