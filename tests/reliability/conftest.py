"""Fixtures of the reliability suite (helpers are in reliability_helpers.py)."""

from __future__ import annotations

import pytest
from e2e.conftest import isolated_var  # noqa: F401 - the lead's fixture: var/ in a temp folder
from support.http_server import http_server  # noqa: F401 - the loopback HTTP server fixture


@pytest.fixture
def var_dir(isolated_var):  # noqa: F811
    return isolated_var
