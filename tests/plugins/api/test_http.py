"""HTTP behaviour: conditional requests tied to the published version, CORS, rate limit, problems in
French and English."""

from __future__ import annotations

import time
from contextlib import contextmanager

from territoire import warehouse
from territoire.api.db import Pool
from territoire.datasets import load_datasets
from territoire.publication.publish import publish_table
from tests.plugins.api.conftest import make_client

ROWS = "/api/datasets/dim_territoire/rows"


def test_a_matching_etag_is_a_304_that_costs_no_query(client, monkeypatch):
    first = client.get(ROWS)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    state = client.app.state.api
    state.catalog.ttl = 3600  # the version is trusted: nothing may reach the warehouse

    @contextmanager
    def no_connection(self):
        raise AssertionError("a 304 must not touch the warehouse")
        yield

    monkeypatch.setattr(Pool, "connection", no_connection)
    try:
        again = client.get(ROWS, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
        since = client.get(ROWS, headers={"If-Modified-Since": modified})
        assert since.status_code == 304
    finally:
        state.catalog.ttl = 0.2


def test_another_etag_gets_the_rows(client):
    response = client.get(ROWS, headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200 and len(response.json()["data"]) == 5


def test_a_new_publication_changes_the_etag(client, warehouse_url, api_datasets_path):
    before = client.get(ROWS).headers["etag"]
    dataset = load_datasets(api_datasets_path)["dim_territoire"]
    with warehouse.transaction(warehouse_url) as conn:
        run_id = conn.execute("select run_id from quality.validation_runs where dataset_id = 'dim_territoire' "
                              "order by finished_at desc limit 1").fetchone()[0]
    publish_table(dataset, run_id, warehouse_url)  # the same rows, a new published table
    time.sleep(0.3)  # the catalog checks the version marker again after its ttl (0.2 s in the tests)
    response = client.get(ROWS, headers={"If-None-Match": before})
    assert response.status_code == 200
    assert response.headers["etag"] != before


def test_cors_is_open(client):
    response = client.get(ROWS, headers={"Origin": "https://reuser.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = client.options(ROWS, headers={"Origin": "https://reuser.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200 and "GET" in preflight.headers["access-control-allow-methods"]
    assert "ETag" in response.headers["access-control-expose-headers"]


def test_problems_speak_french_by_default_and_english_on_request(client):
    french = client.get("/api/datasets/inconnu/rows")
    english = client.get("/api/datasets/inconnu/rows", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert french.status_code == english.status_code == 404
    assert french.json()["title"] == "Jeu de données inconnu" and french.headers["content-language"] == "fr"
    assert english.json()["title"] == "Unknown dataset" and english.headers["content-language"] == "en"
    assert english.json()["allowed"] == ["dim_territoire", "fct_points_de_charge", "indicateurs_territoriaux"]
    assert english.json()["type"] == "/api/problemes/jeu-inconnu"


def test_writes_are_refused_as_problems(client):
    response = client.post(ROWS)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


def test_rate_limit_answers_429_with_retry_after(api_config):
    with make_client(api_config, rate=0.5, burst=3) as limited:
        statuses = [limited.get("/api/datasets").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        response = limited.get("/api/datasets", headers={"Accept-Language": "en"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry" in response.json()["detail"]


def test_metadata_quality_and_search(client):
    meta = client.get("/api/datasets/fct_points_de_charge").json()
    columns = {c["name"]: c for c in meta["columns"]}
    assert columns["puissance_nominale_kw"]["unit"] == "kW"
    assert columns["date_maj"]["type"] == "date" and "contains" not in columns["date_maj"]["filters"]
    assert meta["quality"]["latest"]["verdict"] == "warnings" and meta["geographic"]
    assert "geojson" in meta["formats"]
    history = client.get("/api/datasets/fct_points_de_charge/quality").json()
    assert history["runs"][0]["failed_checks"][0]["column"] == "code_commune"
    hits = client.get("/api/search", params={"q": "Électrique"}).json()["data"]
    assert [h["id"] for h in hits] == ["fct_points_de_charge"]
    by_column = client.get("/api/search", params={"q": "puissance"}).json()["data"]
    assert by_column[0]["columns"] == ["puissance_nominale_kw"]


def test_territory_pages(client):
    commune = client.get("/api/territoires/commune/90010").json()
    assert commune["nom"] == "Belfort" and commune["parents"]["departement"]["code"] == "90"
    assert commune["indicators"][0]["valeur"] == 10.77
    points = next(d for d in commune["datasets"] if d["id"] == "fct_points_de_charge")
    assert points["rows"] == 50
    rows = client.get(points["links"]["rows"].replace("http://testserver", "")).json()["data"]
    assert {r["code_commune"] for r in rows} == {"90010"}
    region = client.get("/api/territoires/region/27").json()
    assert region["communes"] == 3 and region["population_municipale"] == 46443 + 4012 + 119198
    assert client.get("/api/territoires/commune/99999").status_code == 404
    assert client.get("/api/territoires/canton/90").status_code == 422


def test_head_is_a_get_without_body(client):
    response = client.head(ROWS)
    assert response.status_code == 200 and response.headers["etag"] and not response.content
    export = client.head("/api/datasets/dim_territoire/export", params={"format": "parquet"})
    assert export.status_code == 200 and not export.content
    assert 'filename="dim_territoire.parquet"' in export.headers["content-disposition"]


def test_every_problem_type_explains_itself(client):
    from territoire.api.problems import PROBLEM_TYPES

    problem = client.get("/api/datasets/inconnu/rows").json()
    explained = client.get(problem["type"]).json()
    assert explained["type"] == problem["type"] and "allowed" in explained["en"]
    for slug in PROBLEM_TYPES:
        assert client.get(f"/api/problemes/{slug}").status_code == 200
    assert client.get("/api/problemes/nimporte-quoi").status_code == 404
