"""The business-rule tests share one warehouse holding the territory reference (loaded once)."""

from __future__ import annotations

import pytest
from rules_helpers import load_references


@pytest.fixture(scope="session")
def cog_warehouse(warehouse_url) -> str:
    """The session warehouse with the COG, the EPCI and the département contours loaded."""
    load_references(warehouse_url)
    return warehouse_url
