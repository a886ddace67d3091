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
from rdflib import RDF, Graph, URIRef
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

COMMENTS = """select attname, col_description(attrelid, attnum) from pg_attribute
              where attrelid = %s::regclass and attnum > 0 and not attisdropped"""
SPECS = settings.PROJECT_ROOT.parent / "shared" / "specs" / "dcat-ap"


@pytest.fixture(scope="module")
def published(admin_url, tmp_path_factory):
    """Demo samples loaded, marts built, every declared dataset published and exported."""
    name = f"territoire_t_{uuid.uuid4().hex[:10]}"
    url = warehouse.create_database(admin_url, name)
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
        warehouse.drop_database(admin_url, name)


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
            if ds.temporal_coverage:  # a stop list has no period of its own
                assert pkg["temporal"].get("start") and pkg["temporal"].get("end"), ds.id
            for res in pkg["resources"]:
                data = (out / res["path"]).read_bytes()
                integrity = {**res, **res.get("integrity", {})}
                assert integrity["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            if ds.geometry:
                geo = json.loads((out / f"{ds.id}.geojson").read_text(encoding="utf-8"))
                assert len(geo["features"]) == rows
            assert secrecy.violations(conn, ds) == {}
            # the French descriptions of the dbt YAML, as comments analysts' tools show
            undocumented = [c for c, comment in conn.execute(COMMENTS, (f"published.{ds.id}",)).fetchall()
                            if not comment]
            assert not undocumented, f"published.{ds.id}: no comment on {undocumented}"
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


def test_every_datapackage_passes_frictionless(published):
    from frictionless import Package

    _, folder, datasets, _ = published
    for ds in datasets:
        report = Package(str(folder / "datasets" / ds / "datapackage.json")).validate()
        assert report.valid, (ds, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "note"])[:5])


def _shacl(data: Graph, *shapes: str) -> tuple[bool, str]:
    import pyshacl

    shapes_graph = Graph()
    for name in shapes:
        shapes_graph.parse(SPECS / name, format="turtle")
    conforms, _, text = pyshacl.validate(data, shacl_graph=shapes_graph, advanced=True, allow_warnings=True)
    return conforms, text


@pytest.mark.skipif(not SPECS.is_dir(), reason="the SEMIC DCAT-AP shapes are not next to the project")
def test_catalogue_passes_the_official_dcat_ap_shapes(published):
    from territoire.publication.dcat import build_graph, published_packages

    _, folder, datasets, _ = published
    conforms, text = _shacl(Graph().parse(folder / "catalogue.ttl", format="turtle"), "dcat-ap-SHACL.ttl")
    assert conforms, text[:3000]
    # High-value datasets: their own graph against the HVD profile, whose shapes target every
    # dcat:Dataset; their sources (datasets of other producers, not HVD ones here) are left out
    hvd = [{**p, "sources": []} for p in published_packages(folder) if p.get("hvdCategory")]
    assert {p["id"] for p in hvd} == {d for d, ds in datasets.items() if ds.hvd_category}
    conforms, text = _shacl(build_graph(hvd, "https://data.example.fr"), "hvd-SHACL.ttl")
    assert conforms, text[:3000]
    # the shapes can fail: a distribution without its media type class is reported
    broken = Graph().parse(folder / "catalogue.ttl", format="turtle")
    broken.remove((None, RDF.type, DCTERMS.MediaType))
    assert not _shacl(broken, "dcat-ap-SHACL.ttl")[0]


def test_every_public_uri_resolves(published, monkeypatch):
    """With TERRITOIRE_PUBLIC_BASE_URL set to where the folder is served, each URI the catalogue mints
    there answers 200 (fragments are parts of a document that does)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from urllib.request import urlopen

    from territoire.publication.dcat import write_catalogue

    _, folder, _, _ = published
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/opendata"
    try:
        monkeypatch.setenv("TERRITOIRE_PUBLIC_BASE_URL", base)
        (folder / "opendata").symlink_to(".", target_is_directory=True)
        write_catalogue()
        g = Graph().parse(folder / "catalogue.ttl", format="turtle")
        uris = {str(t).split("#")[0] for triple in g for t in triple
                if isinstance(t, URIRef) and str(t).startswith(base)}
        assert len(uris) > 50
        for uri in sorted(uris):
            with urlopen(uri, timeout=10) as response:  # raises on 404
                assert response.status == 200, uri
    finally:
        server.shutdown()
        (folder / "opendata").unlink(missing_ok=True)
        monkeypatch.delenv("TERRITOIRE_PUBLIC_BASE_URL")
        write_catalogue()


def test_secondary_secrecy_resists_subtraction(published):
    """SYNTHETIC change of the real Enedis sample: one IRIS of Lyon in 2023 brought down to 3 dwellings.
    The commune total is published (indicators): subtracting the published IRIS from it must not give
    that IRIS's consumption back. (Runs last: it rebuilds the Enedis marts of the shared database.)"""
    url, folder, datasets, _ = published
    with warehouse.transaction(url) as conn:
        raw = "raw.enedis__consommation_residentielle_adresse"
        iris = conn.execute(f"select code_iris from {raw} where annee = '2023' order by code_iris limit 1").fetchone()[0]
        conn.execute(f"update {raw} set nombre_de_logements = '0' where annee = '2023' and code_iris = %s", (iris,))
        conn.execute(f"update {raw} set nombre_de_logements = '3' where _line_number = (select min(_line_number) "
                     f"from {raw} where annee = '2023' and code_iris = %s)", (iris,))
    dbt.run(["build", "--select", "int_consommation_iris_secret+", "--full-refresh", "--resource-type", "model"],
            url, capture=True)
    for ds_id in ("fct_consommation_electrique", "indicateurs_territoriaux"):
        publish_table(datasets[ds_id], f"test-{ds_id}", url)
        export_dataset(datasets[ds_id], url)
    with psycopg.connect(url) as conn:
        total = conn.execute(
            "select numerateur from published.indicateurs_territoriaux where niveau = 'commune' and "
            "code_territoire = '69123' and annee = 2023 and indicateur = "
            "'consommation_electrique_residentielle_par_logement'").fetchone()[0]
        cells = conn.execute(
            "select p.code_iris, p.consommation_totale_mwh, p.secret_statistique, p.nombre_logements, "
            "i.consommation_totale_mwh from published.fct_consommation_electrique p "
            "join intermediate.int_consommation_iris_secret i using (annee, code_iris) "
            "where p.annee = 2023 and p.code_commune = '69123'").fetchall()
        masked = [c for c in cells if c[1] is None]
        remainder = total - sum(c[1] for c in cells if c[1] is not None)
        primary = [c for c in masked if c[2] == "primaire"]
        assert len(primary) == 1 and primary[0][3] == 3
        # the subtraction gives only the sum of two or more masked cells, over at least 10 dwellings
        assert len(masked) >= 2 and sum(c[3] for c in masked) >= 10
        assert remainder == sum(c[4] for c in masked) and remainder != primary[0][4]
        # ...whereas without the secondary cells the same subtraction would reveal the secret exactly
        secondary_values = sum(c[4] for c in masked if c[2] == "secondaire")
        assert remainder - secondary_values == primary[0][4]
        assert secrecy.violations(conn, datasets["fct_consommation_electrique"]) == {}
    pkg = json.loads((folder / "datasets" / "fct_consommation_electrique" / "datapackage.json").read_text("utf-8"))
    listed = {c["code_iris"]: c["secret"] for c in pkg["statisticalSecrecy"][0]["suppressedCells"] if c["annee"] == 2023}
    assert listed == {c[0]: c[2] for c in masked}
