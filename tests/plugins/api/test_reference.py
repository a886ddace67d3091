"""`/api/docs`: the OpenAPI document rendered by the server in the portal's layout, with nothing fetched
from another host, accessible (axe-core) at desktop and phone widths."""

from __future__ import annotations

import re

import pytest

from territoire.api import create_app
from tests.support.accessibility import heading_problems
from tests.support.asgi_server import serve
from tests.support.browser import axe_violations, open_page, scrolls_sideways


def test_the_reference_lists_every_operation_with_its_parameters_and_an_example(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    document = client.get("/api/openapi.json").json()
    assert "/api/docs" not in document["paths"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f"<code>{method.upper()} {path}</code>" in page.text
            for parameter in operation.get("parameters", []):
                assert f"<code>{parameter['name']}</code>" in page.text
    # Examples use a dataset of the catalog and a real territory level.
    assert "curl &#39;http://testserver/api/datasets/dim_territoire/rows&#39;" in page.text
    assert "string (une de : commune, epci, departement, region)" in page.text
    # Nothing from another host, no script: it reads without the internet and without JavaScript.
    assert "<script" not in page.text
    assert re.findall(r'(?:src|href)="(https?://[^"]*)"', page.text) == []
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"


@pytest.fixture(scope="module")
def api_server(api_config):
    """The whole API app (portal and reference included) on a real uvicorn on a loopback port."""
    with serve(create_app(api_config)) as base:
        yield base


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 390])
def test_the_reference_is_accessible_at_desktop_and_phone_width(api_server, width):
    with open_page(api_server + "/api/docs", width=width) as page:
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(api_server) else None)
        page.reload()
        assert outside == []
        assert axe_violations(page) == []
        assert not scrolls_sideways(page)
        assert heading_problems(page) == []
