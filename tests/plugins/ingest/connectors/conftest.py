"""Fixtures for connector tests: the loopback HTTP server, a private landing zone, fast retries."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/support is a plain folder of helpers (tests/ is not a package): make it importable.
TESTS_DIR = Path(__file__).resolve().parents[2]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from support.http_server import LocalHTTPServer, Reply, http_server  # noqa: E402,F401

from territoire.ingest.connectors import RetryPolicy  # noqa: E402


@pytest.fixture
def fast() -> RetryPolicy:
    """Real retries with tiny delays, so fault tests stay fast."""
    return RetryPolicy(attempts=3, backoff=0.01, factor=2.0, max_delay=0.1, max_retry_after=5.0,
                       connect_timeout=2.0, read_timeout=0.5)

