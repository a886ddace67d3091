"""The portal while the warehouse does not answer: a French page with 503, never a bare 500."""

from __future__ import annotations

import socket

from fastapi import FastAPI
from fastapi.testclient import TestClient

from territoire.portal import router


def test_pages_say_the_data_is_unavailable_while_the_warehouse_is_down(monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TERRITOIRE_PORTAL_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{port}/absent")
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        for path in ("/", "/jeux-de-donnees/", "/jeux-de-donnees/dim_territoire", "/territoires/?q=belfort",
                     "/territoires/commune/90010"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "La base de données ne répond pas" in response.text and response.headers["retry-after"] == "60"
        assert client.get("/glossaire").status_code == 200  # what needs no data still works
