"""create_app() serves the portal's router (territoire.portal.router) beside the API."""

from __future__ import annotations

import sys
import types

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from territoire.api import create_app
from territoire.api.config import ApiConfig

CONFIG = ApiConfig(database_url="postgresql://nobody@127.0.0.1:1/none")


def test_the_portal_router_is_served_beside_the_api(monkeypatch):
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def home() -> str:
        return "<h1>Portail</h1>"

    monkeypatch.setitem(sys.modules, "territoire.portal", types.SimpleNamespace(router=router))
    client = TestClient(create_app(CONFIG, datasets={}))
    assert client.get("/").text == "<h1>Portail</h1>"
    assert client.get("/api/openapi.json").status_code == 200
