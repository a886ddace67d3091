"""Opendatasoft (Explore v2.1 exports) and data.gouv.fr (udata) connectors, against the loopback server."""

from __future__ import annotations

import csv
import io
import json

import pytest
from support.connectors import make_resource
from support.http_server import SAMPLES, Reply

from territoire.ingest.connectors import (
    HTTPStatusError,
    NoMatchingResourceError,
    UnexpectedContentError,
    fetch,
)
from territoire.ingest.connectors.opendatasoft import export_params, export_url
from territoire.naming import normalise_columns

BIKES = SAMPLES / "bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv"
DATASET = "comptage-velo-donnees-compteurs"


def sample_rows() -> list[dict[str, str]]:
    """The sample as the fake portal exposes it: ODS field names (`nom_du_compteur`)."""
    with open(BIKES, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = normalise_columns(next(reader))
        return [dict(zip(header, r, strict=True)) for r in reader]


def test_export_url_and_params():
    assert export_url("https://data.example.fr/", "a b", "ndjson") == \
        "https://data.example.fr/api/explore/v2.1/catalog/datasets/a%20b/exports/jsonl"
    assert export_url("https://data.example.fr/api/explore/v2.1", "x", "csv") == \
        "https://data.example.fr/api/explore/v2.1/catalog/datasets/x/exports/csv"
    assert export_params({"delimiter": ";", "refine": {"annee": ["2023", "2024"], "dep": 31},
                          "exclude": ["a:b"], "with_bom": False}) == [
        ("delimiter", ";"), ("refine", "annee:2023"), ("refine", "annee:2024"), ("refine", "dep:31"),
        ("exclude", "a:b"), ("with_bom", "false")]


def test_opendatasoft_csv_export(http_server, fast):
    http_server.add_ods_dataset(DATASET, BIKES, delimiter=";", encoding="utf-8-sig")
    rows = sample_rows()
    counter = rows[0]["nom_du_compteur"]
    res = make_resource("opendatasoft", base_url=http_server.base_url, dataset=DATASET,
                        params={"delimiter": ";", "refine": {"nom_du_compteur": counter}, "timezone": "Europe/Paris"})
    result = fetch(res, policy=fast)
    path = f"/api/explore/v2.1/catalog/datasets/{DATASET}/exports/csv"
    [request] = http_server.requests_to(path)
    assert request.query == [("delimiter", ";"), ("refine", f"nom_du_compteur:{counter}"),
                             ("timezone", "Europe/Paris")]
    assert result.location.startswith(http_server.url(path) + "?delimiter=%3B&refine=")
    assert result.landed.original_name == f"{DATASET}.csv"
    text = result.landed.path.read_bytes().decode("utf-8-sig")
    got = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert got == [r for r in rows if r["nom_du_compteur"] == counter] and got


def test_opendatasoft_json_and_ndjson_exports(http_server, fast):
    http_server.add_ods_dataset(DATASET, BIKES, delimiter=";", encoding="utf-8-sig")
    as_json = fetch(make_resource("opendatasoft", fmt="json", name="j", base_url=http_server.base_url,
                                  dataset=DATASET), policy=fast)
    assert json.loads(as_json.landed.path.read_bytes()) == sample_rows()
    as_lines = fetch(make_resource("opendatasoft", fmt="ndjson", name="n", base_url=http_server.base_url,
                                   dataset=DATASET, params={"limit": 3}), policy=fast)
    assert http_server.hits(f"/api/explore/v2.1/catalog/datasets/{DATASET}/exports/jsonl") == 1
    lines = as_lines.landed.path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == sample_rows()[:3]


def test_opendatasoft_unknown_dataset(http_server, fast):
    res = make_resource("opendatasoft", base_url=http_server.base_url, dataset="nope", source_id="velo")
    with pytest.raises(HTTPStatusError) as err:
        fetch(res, policy=fast)
    assert err.value.status == 404 and "/datasets/nope/exports/csv" in str(err.value)
    assert "'velo'" in str(err.value)


def test_opendatasoft_bad_refine_is_a_400_not_retried(http_server, fast):
    http_server.add_ods_dataset(DATASET, BIKES, delimiter=";", encoding="utf-8-sig")
    res = make_resource("opendatasoft", base_url=http_server.base_url, dataset=DATASET,
                        params={"refine": {"no_such_field": "x"}})
    with pytest.raises(HTTPStatusError) as err:
        fetch(res, policy=fast)
    assert err.value.status == 400 and "params" in str(err.value)
    assert http_server.hits(f"/api/explore/v2.1/catalog/datasets/{DATASET}/exports/csv") == 1


def test_opendatasoft_export_failing_then_recovering(http_server, fast):
    http_server.add_ods_dataset(DATASET, BIKES, delimiter=";", encoding="utf-8-sig")
    path = f"/api/explore/v2.1/catalog/datasets/{DATASET}/exports/csv"
    http_server.script(path, Reply(status=503), Reply(status=429, headers={"Retry-After": "0"}))
    result = fetch(make_resource("opendatasoft", base_url=http_server.base_url, dataset=DATASET), policy=fast)
    assert http_server.hits(path) == 3 and result.landed.size > 0


def udata_payload(server) -> dict:
    # The shape of https://www.data.gouv.fr/api/1/datasets/<id>/ (fields the connector reads, and a few more).
    return {
        "id": "5f1b2c", "slug": "comptages-velo", "title": "Comptages vélo",
        "resources": [
            {"id": "r-old", "title": "comptages-2023.csv", "format": "csv", "type": "main",
             "url": server.url("/files/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv"),
             "last_modified": "2024-01-10T08:00:00.000000+00:00", "created_at": "2024-01-10T08:00:00"},
            {"id": "r-new", "title": "comptages-2024.csv", "format": "CSV", "type": "main",
             "url": server.url("/files/irve/coordonnees_pdc_2024-12-04.csv"),
             "last_modified": "2025-02-01T08:00:00.000000+00:00", "created_at": "2025-02-01T08:00:00"},
            {"id": "r-doc", "title": "documentation.pdf", "format": "pdf", "type": "documentation",
             "url": server.url("/files/doc.pdf"), "last_modified": "2026-01-01T00:00:00+00:00"},
            {"id": "r-geo", "title": "compteurs.geojson", "format": "geojson", "type": "main",
             "url": server.url("/files/territorial/etalab_decoupage_administratif/departements.json"),
             "last_modified": "2023-06-01T00:00:00+00:00"},
        ],
    }


def test_udata_picks_the_latest_matching_resource(http_server, fast):
    base = http_server.add_udata_dataset("comptages-velo", udata_payload(http_server))
    res = make_resource("udata", base_url=base, dataset="comptages-velo")  # default: the catalog format
    result = fetch(res, policy=fast)
    assert http_server.hits("/api/1/datasets/comptages-velo/") == 1
    assert result.location == http_server.url("/files/irve/coordonnees_pdc_2024-12-04.csv")
    assert result.landed.path.read_bytes() == (SAMPLES / "irve/coordonnees_pdc_2024-12-04.csv").read_bytes()


def test_udata_title_pattern_and_format(http_server, fast):
    base = http_server.add_udata_dataset("comptages-velo", udata_payload(http_server))
    old = fetch(make_resource("udata", base_url=base, dataset="comptages-velo", resource_title="*2023*"),
                policy=fast)
    assert old.location.endswith("paris_comptage_velo_donnees_compteurs_sample.csv")
    geo = fetch(make_resource("udata", fmt="geojson", name="geo", base_url=base, dataset="comptages-velo",
                              resource_format="geojson"), policy=fast)
    assert geo.location.endswith("departements.json")
    by_id = fetch(make_resource("udata", name="byid", base_url=base, dataset="comptages-velo", resource="r-old"),
                  policy=fast)
    assert by_id.landed.sha256 == old.landed.sha256


def test_udata_no_match_lists_what_exists(http_server, fast):
    base = http_server.add_udata_dataset("comptages-velo", udata_payload(http_server))
    res = make_resource("udata", base_url=base, dataset="comptages-velo", resource_title="budget*",
                        source_id="velo", name="comptages")
    with pytest.raises(NoMatchingResourceError) as err:
        fetch(res, policy=fast)
    message = str(err.value)
    assert "'velo'" in message and "'comptages'" in message and "title 'budget*'" in message
    for title in ("comptages-2023.csv", "comptages-2024.csv", "documentation.pdf"):
        assert title in message
    assert "/api/1/datasets/comptages-velo/" in message and "resource_title" in message


def test_udata_unknown_dataset_and_flaky_api(http_server, fast):
    with pytest.raises(HTTPStatusError) as err:
        fetch(make_resource("udata", base_url=http_server.base_url, dataset="absent"), policy=fast)
    assert err.value.status == 404
    base = http_server.add_udata_dataset("comptages-velo", udata_payload(http_server))
    http_server.script("/api/1/datasets/comptages-velo/", Reply(status=500))
    assert fetch(make_resource("udata", base_url=base, dataset="comptages-velo"), policy=fast).landed
    assert http_server.hits("/api/1/datasets/comptages-velo/") == 2


def test_udata_api_answering_html(http_server, fast):
    http_server.script("/api/1/datasets/x/", Reply(body=b"<html>login</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(UnexpectedContentError, match="did not answer JSON"):
        fetch(make_resource("udata", base_url=http_server.base_url, dataset="x"), policy=fast)
