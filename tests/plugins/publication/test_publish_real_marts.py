"""Every dataset of catalog/datasets.yml, built by dbt from the shipped samples, exported with its
metadata: the files agree with the table and with datapackage.json, personal columns are absent,
secrecy holds, a re-export is byte-identical, the catalogue lists them all, analysts can read them.
(The quality gate itself is tested in tests/plugins/quality and tests/e2e.)"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import uuid

import psycopg
import pyarrow.parquet as pq
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS

from territoire import dbt, settings, warehouse
from territoire.datasets import load_datasets
from territoire.publication import metadata, secrecy
from territoire.publication.export import export_dataset
from territoire.publication.publish import publish_table
from territoire.publication.roles import drop_login_role, ensure_analyst_roles

sys.path.insert(0, str(settings.PROJECT_ROOT / "tests" / "dbt"))
from demo_loading import load_demo  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def published(admin_url, tmp_path_factory):
    """Demo samples loaded, marts built, every declared dataset published and exported."""
    name = f"territoire_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    p = warehouse.parse_url(admin_url)
    url = warehouse.ConnectionParts(p.host, p.port, p.user, p.password, name).url()
    folder = tmp_path_factory.mktemp("publication")
    mp = pytest.MonkeyPatch()
    mp.setenv("TERRITOIRE_PUBLICATION_DIR", str(folder))
    mp.delenv("TERRITOIRE_PUBLIC_BASE_URL", raising=False)
    try:
        warehouse.ensure_schemas(url)
        load_demo(url)
        datasets = load_datasets()
        # seeds and models only: dbt's data tests are the warehouse suite's job
        select = [f"+{d}" for d in datasets]
        dbt.run(["build", "--select", *select, "--resource-type", "model", "--resource-type", "seed"], url, capture=True, target_path=tmp_path_factory.mktemp("target"))
        results = {}
        for ds in datasets.values():
            publish_table(ds, f"test-{ds.id}", url)
            results[ds.id] = export_dataset(ds, url)
        yield url, folder, datasets, results
    finally:
        mp.undo()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_every_dataset_is_exported_with_consistent_metadata(published):
    url, folder, datasets, results = published
    with psycopg.connect(url) as conn:
        for ds in datasets.values():
            out = folder / "datasets" / ds.id
            pkg = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
            rows = conn.execute(f"select count(*) from published.{ds.id}").fetchone()[0]
            assert rows > 0 and pkg["rows"] == rows == results[ds.id].rows
            with open(out / f"{ds.id}.csv", encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                header = next(reader)
                assert sum(1 for _ in reader) == rows
            fields = pkg["resources"][0]["schema"]["fields"]
            assert [f["name"] for f in fields] == header == pq.read_table(out / f"{ds.id}.parquet").column_names
            assert not set(header) & set(ds.personal_columns)
            assert pkg["resources"][0]["schema"]["primaryKey"] == list(ds.primary_key)
            assert all(f.get("description") for f in fields), f"{ds.id}: a column has no description"
            assert pkg["licenses"][0]["name"] == metadata.licence_of(ds).name
            assert pkg["temporal"].get("start") and pkg["temporal"].get("end")
            for res in pkg["resources"]:
                data = (out / res["path"]).read_bytes()
                assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            if ds.geometry:
                geo = json.loads((out / f"{ds.id}.geojson").read_text(encoding="utf-8"))
                assert len(geo["features"]) == rows
            assert secrecy.violations(conn, ds) == {}
    assert metadata.licence_of(datasets["indicateurs_territoriaux"]).id == "odbl-1.0"


def test_reexport_is_byte_identical(published):
    url, folder, datasets, results = published
    for ds in datasets.values():
        again = export_dataset(ds, url)
        assert not again.changed and again.version_folder == results[ds.id].version_folder


def test_catalogue_lists_every_dataset(published):
    _, folder, datasets, _ = published
    g = Graph().parse(folder / "catalogue.ttl", format="turtle")
    ids = {str(o) for o in g.objects(None, DCTERMS.identifier)}
    assert set(datasets) <= ids
    base = folder.resolve().as_uri()
    for ds in datasets:
        assert list(g.objects(URIRef(f"{base}/datasets/{ds}"), DCTERMS.license))


def test_analyst_reads_every_published_table(published, monkeypatch):
    url, _, datasets, _ = published
    login = f"analyste_test_{uuid.uuid4().hex[:8]}"
    ensure_analyst_roles(url, login=login, password="synthetic-test-password")
    try:
        p = warehouse.parse_url(url)
        with psycopg.connect(warehouse.ConnectionParts(p.host, p.port, login, "", p.dbname).url()) as conn:
            for ds in datasets:
                assert conn.execute(f"select count(*) from published.{ds}").fetchone()[0] > 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from raw.cog__communes")
    finally:
        drop_login_role(login, url)
