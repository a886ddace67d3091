"""Portal push against a fake udata server on 127.0.0.1: auth, payloads, updates, no duplicates."""

from __future__ import annotations

import json

import psycopg
import pytest

from territoire.publication.export import export_dataset
from territoire.publication.portal import PortalConfig, PortalError, _from_connection_uri, push_dataset

pytestmark = pytest.mark.integration

PORTAL = {"dataset": "points-de-test-synthetique", "organization": "org-territoire"}
FILES = ["pub_test_points.csv", "pub_test_points-tableur.csv", "pub_test_points.geojson", "pub_test_points.parquet",
         "datapackage.json"]


def test_push_creates_then_updates_without_duplicates(fresh_database, publication_dir, points, udata_portal):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    ds = points_dataset(portal=PORTAL)
    folder = export_dataset(ds, fresh_database).folder

    first = push_dataset(ds)
    assert first.created and sorted(first.resources_created) == sorted(FILES)
    assert all(c.authorised for c in udata_portal.writes())
    [portal_ds] = udata_portal.live()
    assert portal_ds["title"] == ds.title and portal_ds["organization"] == {"id": "org-territoire"}
    assert portal_ds["license"] == "lov2" and portal_ds["frequency"] == "weekly"
    assert portal_ds["tags"] == ["recharge", "test"]
    assert portal_ds["temporal_coverage"] == {"start": "2021-01-15", "end": "2024-06-30"}
    assert portal_ds["spatial"] == {"granularity": "fr:commune"}
    assert portal_ds["extras"]["territoire:dataset"] == "pub_test_points"
    resources = {r["title"]: r for r in portal_ds["resources"]}
    assert sorted(resources) == sorted(FILES)
    for name, res in resources.items():
        assert udata_portal.files[res["id"]] == (folder / name).read_bytes()
        assert res["format"] in ("csv", "geojson", "parquet", "json") and res["mime"]
    ids = {name: r["id"] for name, r in resources.items()}

    # Unchanged: nothing is written at all.
    writes = len(udata_portal.writes())
    again = push_dataset(ds)
    assert not again.created and not again.metadata_updated and again.portal_id == first.portal_id
    assert sorted(again.resources_unchanged) == sorted(FILES)
    assert len(udata_portal.writes()) == writes

    # Changed data: same dataset and resources, files replaced in place.
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("update published.pub_test_points set nom = 'Lyon huitième' where id_point = 'P1'")
    export_dataset(ds, fresh_database)
    third = push_dataset(ds)
    assert not third.created and not third.resources_created
    assert sorted(third.resources_updated) == sorted(FILES)  # every file (and the package) changed
    [portal_ds] = udata_portal.live()
    assert {r["title"]: r["id"] for r in portal_ds["resources"]} == ids
    csv_id = ids["pub_test_points.csv"]
    assert "Lyon huitième".encode() in udata_portal.files[csv_id]
    replaced = [c.path for c in udata_portal.writes()[writes:] if c.path.endswith("/upload/")]
    assert f"/api/1/datasets/{first.portal_id}/resources/{csv_id}/upload/" in replaced


def test_push_finds_an_existing_dataset_by_slug_or_title(fresh_database, publication_dir, points, udata_portal):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    by_hand = udata_portal.add_dataset("Jeu existant", "org-territoire")
    ds = points_dataset(portal={"dataset": by_hand["slug"], "organization": "org-territoire"})
    export_dataset(ds, fresh_database)
    result = push_dataset(ds)
    assert not result.created and result.metadata_updated and result.portal_id == by_hand["id"]
    assert len(udata_portal.live()) == 1 and udata_portal.live()[0]["title"] == ds.title

    # The slug in datasets.yml is stale and the local state is lost: found by its title in the organisation.
    (publication_dir / "portal" / "pub_test_points.json").unlink()
    stale = points_dataset(portal={"dataset": "ancien-slug", "organization": "org-territoire"})
    assert push_dataset(stale).portal_id == by_hand["id"]
    assert len(udata_portal.live()) == 1


def test_remote_mode_links_the_public_urls(fresh_database, publication_dir, points, udata_portal, monkeypatch):
    make_points_table, points_dataset = points
    monkeypatch.setenv("TERRITOIRE_PUBLIC_BASE_URL", "https://data.example.fr/opendata")
    make_points_table(fresh_database)
    ds = points_dataset(portal=PORTAL)
    export_dataset(ds, fresh_database)
    push_dataset(ds)
    push_dataset(ds)
    [portal_ds] = udata_portal.live()
    urls = sorted(r["url"] for r in portal_ds["resources"])
    assert urls == sorted(f"https://data.example.fr/opendata/datasets/pub_test_points/{f}" for f in FILES)
    assert all(r["filetype"] == "remote" and r["checksum"]["type"] == "sha256" for r in portal_ds["resources"])
    assert not udata_portal.files  # nothing uploaded


def test_wrong_key_and_missing_configuration(fresh_database, publication_dir, points, udata_portal, monkeypatch):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    ds = points_dataset(portal=PORTAL)
    export_dataset(ds, fresh_database)
    with pytest.raises(PortalError, match=r"answered 401.*udata_portal"):
        push_dataset(ds, config=PortalConfig(udata_portal.url, "wrong-key"))
    assert not udata_portal.live()
    monkeypatch.delenv("TERRITOIRE_UDATA_API_KEY")
    with pytest.raises(PortalError, match="no API key"):
        push_dataset(ds)
    monkeypatch.setenv("AIRFLOW_CONN_UDATA_PORTAL", json.dumps(
        {"conn_type": "http", "host": udata_portal.url, "password": "synthetic-api-key-xxxxxxxx"}))
    assert push_dataset(ds).created
    with pytest.raises(PortalError, match="'organization'"):
        push_dataset(points_dataset(portal={"dataset": "x"}))


def test_connection_uri_forms():
    assert _from_connection_uri("https://:s3cr%2Ft@www.data.gouv.fr") == PortalConfig("https://www.data.gouv.fr", "s3cr/t")
    assert _from_connection_uri("http://:k@127.0.0.1:8080/") == PortalConfig("http://127.0.0.1:8080", "k")
    assert _from_connection_uri("https://www.data.gouv.fr") is None  # no key
