"""The DCAT-AP catalogue: parsed back with rdflib, every dataset carries the mandatory properties."""

from __future__ import annotations

import pytest
from rdflib import RDF, Graph, URIRef
from rdflib.namespace import DCAT as DCAT_NS
from rdflib.namespace import DCTERMS, FOAF

from territoire.publication.dcat import EU_COUNTRY, write_catalogue
from territoire.publication.export import export_dataset

pytestmark = pytest.mark.integration

BASE = "https://data.example.fr/opendata"


def _one(g: Graph, s, p):
    values = list(g.objects(s, p))
    assert len(values) == 1, f"{s} {p}: expected one value, got {values}"
    return values[0]


def check_catalogue(g: Graph, expected_ids: set[str], base: str) -> None:
    catalogues = list(g.subjects(RDF.type, DCAT_NS.Catalog))
    assert len(catalogues) == 1
    cat = catalogues[0]
    for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher):
        assert list(g.objects(cat, p)), f"catalogue lacks {p}"
    datasets = set(g.objects(cat, DCAT_NS.dataset))
    assert {str(_one(g, d, DCTERMS.identifier)) for d in datasets} == expected_ids
    # the other dcat:Dataset nodes are the sources the published datasets are derived from
    sources = {o for d in datasets for o in g.objects(d, DCTERMS.source)}
    assert set(g.subjects(RDF.type, DCAT_NS.Dataset)) == datasets | sources
    for ds in datasets:
        assert str(_one(g, ds, DCTERMS.title)) and str(_one(g, ds, DCTERMS.description))
        publisher = _one(g, ds, DCTERMS.publisher)
        assert (publisher, RDF.type, FOAF.Agent) in g and str(_one(g, publisher, FOAF.name))
        licence = _one(g, ds, DCTERMS.license)
        assert str(licence).startswith("https://")
        assert str(_one(g, ds, DCTERMS.accrualPeriodicity)).startswith(
            "http://publications.europa.eu/resource/authority/frequency/")
        period = _one(g, ds, DCTERMS.temporal)
        assert list(g.objects(period, DCAT_NS.startDate)) and list(g.objects(period, DCAT_NS.endDate))
        assert URIRef(EU_COUNTRY + "FRA") in set(g.objects(ds, DCTERMS.spatial))
        assert len(list(g.objects(ds, DCAT_NS.keyword))) >= 1
        assert list(g.objects(ds, DCAT_NS.contactPoint))
        dists = list(g.objects(ds, DCAT_NS.distribution))
        formats = set()
        for dist in dists:
            url = str(_one(g, dist, DCAT_NS.downloadURL))
            assert url.startswith(f"{base}/datasets/{_one(g, ds, DCTERMS.identifier)}/")
            assert _one(g, dist, DCAT_NS.accessURL) == URIRef(url)
            assert str(_one(g, dist, DCAT_NS.mediaType)).startswith("https://www.iana.org/assignments/media-types/")
            assert _one(g, dist, DCTERMS.license) == licence
            formats.add(str(_one(g, dist, DCTERMS.format)).rsplit("/", 1)[1])
        assert {"CSV", "PARQUET", "JSON"} <= formats


def test_catalogue_round_trip(fresh_database, publication_dir, points, monkeypatch):
    make_points_table, points_dataset = points
    monkeypatch.setenv("TERRITOIRE_PUBLIC_BASE_URL", BASE + "/")
    make_points_table(fresh_database, "pub_test_a")
    make_points_table(fresh_database, "pub_test_b")
    export_dataset(points_dataset("pub_test_a"), fresh_database)
    export_dataset(points_dataset("pub_test_b", sources=("atmo_occitanie",), geometry=None,
                                  accrual_periodicity="monthly"), fresh_database)
    jsonld, ttl = publication_dir / "catalogue.jsonld", publication_dir / "catalogue.ttl"
    for path, fmt in ((jsonld, "json-ld"), (ttl, "turtle")):
        g = Graph().parse(path, format=fmt)
        check_catalogue(g, {"pub_test_a", "pub_test_b"}, BASE)
        b = URIRef(f"{BASE}/datasets/pub_test_b")
        assert str(_one(g, b, DCTERMS.license)) == "https://opendatacommons.org/licenses/odbl/1-0/"
        assert str(_one(g, b, DCTERMS.accrualPeriodicity)).endswith("/MONTHLY")
        a_formats = {str(o) for d in g.objects(URIRef(f"{BASE}/datasets/pub_test_a"), DCAT_NS.distribution)
                     for o in g.objects(d, DCTERMS.format)}
        assert any(f.endswith("/GEOJSON") for f in a_formats)
    # Both serialisations hold the same graph, and a rebuild gives the same bytes.
    assert Graph().parse(jsonld, format="json-ld").isomorphic(Graph().parse(ttl, format="turtle"))
    before = (jsonld.read_bytes(), ttl.read_bytes())
    write_catalogue()
    assert (jsonld.read_bytes(), ttl.read_bytes()) == before


def test_default_base_url_is_the_publication_folder(fresh_database, publication_dir, points):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    export_dataset(points_dataset(), fresh_database)
    g = Graph().parse(publication_dir / "catalogue.ttl", format="turtle")
    base = publication_dir.resolve().as_uri()
    check_catalogue(g, {"pub_test_points"}, base)
    url = next(str(o) for o in g.objects(None, DCAT_NS.downloadURL) if str(o).endswith("/pub_test_points.csv"))
    from urllib.parse import urlsplit
    from urllib.request import url2pathname
    assert open(url2pathname(urlsplit(url).path), "rb").read(9) == b"id_point,"


def test_command_line_rebuilds_an_empty_catalogue(publication_dir, capsys):
    from territoire.cli import main

    assert main(["catalogue"]) == 0
    g = Graph().parse(publication_dir / "catalogue.ttl", format="turtle")
    check_catalogue(g, set(), publication_dir.resolve().as_uri())
    assert main(["push"]) == 0 and "nothing to push" in capsys.readouterr().out
