"""DCAT-AP catalogue of the published datasets: `<publication>/catalogue.jsonld` and `catalogue.ttl`.

Built from the `datapackage.json` of every folder in `<publication>/datasets/` (the package is the
single description of what was exported), with rdflib. It carries what DCAT-AP requires and what
data.gouv.fr harvests:

- catalogue: title, description, publisher, language, homepage, datasets;
- dataset: identifier, title, description, publisher, creators (producers), keywords, licence,
  temporal coverage (dct:PeriodOfTime), spatial coverage (EU country + dct:Location with a bbox),
  accrual periodicity (EU frequency vocabulary), contact point, distributions;
- distribution: title, access and download URL, IANA media type, EU file type, licence, byte size,
  sha256 checksum.

Download URLs start with `TERRITOIRE_PUBLIC_BASE_URL` (e.g. `https://data.example.fr/opendata`,
the URL under which the publication folder is served); without it, with the `file://` URI of the
publication folder, which is right for a local browse but not for harvesting.

Every linked resource is typed as DCAT-AP 3 expects (`dct:MediaType`, `dct:MediaTypeOrExtent`,
`dct:LinguisticSystem`, `dct:Location`, `dct:Standard`, `foaf:Document`, `vcard:Kind`,
`spdx:ChecksumAlgorithm`), and each source is described as the `dcat:Dataset` it is (title,
description, producer, landing page = the producer's page), never as a bare homepage. A dataset
declaring `hvd_category` in datasets.yml carries the High-Value Datasets properties
(`dcatap:hvdCategory`, `dcatap:applicableLegislation` = Regulation (EU) 2023/138 on the dataset
and its distributions). The tests validate the catalogue with the official SEMIC shapes (pyshacl).

No blank nodes (their labels change at each run) and JSON-LD arrays sorted: an unchanged
publication gives byte-identical catalogue files.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

from territoire import settings

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_COUNTRY = "http://publications.europa.eu/resource/authority/country/"
EU_LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
IANA = "https://www.iana.org/assignments/media-types/"
FILE_TYPES = {"csv": "CSV", "parquet": "PARQUET", "geojson": "GEOJSON", "json": "JSON"}
COUNTRIES = {"france": "FRA"}
GEOSPARQL = Namespace("http://www.opengis.net/ont/geosparql#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
# Commission Implementing Regulation (EU) 2023/138 laying down a list of specific high-value datasets
HVD_LEGISLATION = "http://data.europa.eu/eli/reg_impl/2023/138/oj"

# Every URI minted here resolves once the publication folder is served at TERRITOIRE_PUBLIC_BASE_URL:
# datasets are their folder, distributions their file, the other nodes a fragment of this document.
CATALOGUE_FILE = "catalogue.jsonld"
CATALOGUE_TITLE = "Catalogue des données ouvertes territoriales"
CATALOGUE_DESCRIPTION = ("Jeux de données publiés par la plateforme territoire après contrôle qualité : "
                         "fichiers CSV, Parquet, GeoJSON et leur description Data Package.")


def public_base_url(publication: Path | None = None) -> str:
    """Where the publication folder is reachable: `TERRITOIRE_PUBLIC_BASE_URL`, else its file:// URI."""
    base = os.environ.get("TERRITOIRE_PUBLIC_BASE_URL")
    if base:
        return base.rstrip("/")
    return (publication or settings.publication_dir()).resolve().as_uri().rstrip("/")


def published_packages(publication: Path | None = None) -> list[dict]:
    """The datapackage.json of each published dataset, sorted by id."""
    root = (publication or settings.publication_dir()) / "datasets"
    packages = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            pkg = folder / "datapackage.json"
            if folder.name.startswith(".") or not pkg.is_file():
                continue
            packages.append(json.loads(pkg.read_text(encoding="utf-8")))
    return packages


def _slug(text: str) -> str:
    return quote(text.lower().replace(" ", "-"), safe="-_")


def build_graph(packages: list[dict], base: str | None = None) -> Graph:
    base = base or public_base_url()
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("spdx", SPDX),
                       ("skos", SKOS), ("locn", LOCN), ("adms", ADMS), ("dcatap", DCATAP), ("eli", ELI)):
        g.bind(prefix, ns)
    catalogue = URIRef(f"{base}/{CATALOGUE_FILE}")
    g.add((catalogue, RDF.type, DCAT.Catalog))
    g.add((catalogue, DCTERMS.title, Literal(CATALOGUE_TITLE, lang="fr")))
    g.add((catalogue, DCTERMS.description, Literal(CATALOGUE_DESCRIPTION, lang="fr")))
    g.add((catalogue, DCTERMS.language, _typed(g, EU_LANGUAGE + "FRA", DCTERMS.LinguisticSystem)))
    g.add((catalogue, FOAF.homepage, _typed(g, f"{base}/", FOAF.Document)))
    catalogue_publisher = os.environ.get("TERRITOIRE_PUBLISHER") or "Plateforme territoire"
    g.add((catalogue, DCTERMS.publisher, _agent(g, base, catalogue_publisher)))
    contact_email = os.environ.get("TERRITOIRE_CONTACT_EMAIL")
    for pkg in packages:
        ds_id = pkg["id"]
        ds = URIRef(f"{base}/datasets/{ds_id}")
        g.add((catalogue, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(ds_id)))
        g.add((ds, DCTERMS.title, Literal(pkg["title"], lang="fr")))
        g.add((ds, DCTERMS.description, Literal(pkg["description"], lang="fr")))
        for kw in pkg.get("keywords") or []:
            g.add((ds, DCAT.keyword, Literal(kw, lang="fr")))
        publisher = next((c["title"] for c in pkg.get("contributors", []) if c.get("role") == "publisher"),
                         catalogue_publisher)
        g.add((ds, DCTERMS.publisher, _agent(g, base, publisher)))
        for c in pkg.get("contributors", []):
            if c.get("role") == "author":
                g.add((ds, DCTERMS.creator, _agent(g, base, c["title"])))
        contact = URIRef(f"{base}/{CATALOGUE_FILE}#contact-{_slug(publisher)}")
        g.add((contact, RDF.type, VCARD.Organization))
        g.add((contact, RDF.type, VCARD.Kind))
        g.add((contact, VCARD.fn, Literal(publisher)))
        if contact_email:
            g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{contact_email}")))
        g.add((ds, DCAT.contactPoint, contact))
        licence = pkg["licenses"][0]
        licence_uri = URIRef(licence["path"])
        g.add((licence_uri, RDF.type, DCTERMS.LicenseDocument))
        g.add((licence_uri, DCTERMS.title, Literal(licence["title"])))
        g.add((licence_uri, DCTERMS.identifier, Literal(licence["name"])))
        g.add((ds, DCTERMS.license, licence_uri))  # dataset level: what data.gouv.fr reads
        g.add((ds, DCTERMS.accrualPeriodicity, URIRef(pkg["accrualPeriodicityUri"])))
        g.add((URIRef(pkg["accrualPeriodicityUri"]), RDF.type, DCTERMS.Frequency))
        temporal = pkg.get("temporal") or {}
        if temporal:
            period = URIRef(f"{ds}#temporal")
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            if temporal.get("start"):
                g.add((period, DCAT.startDate, Literal(temporal["start"], datatype=XSD.date)))
            if temporal.get("end"):
                g.add((period, DCAT.endDate, Literal(temporal["end"], datatype=XSD.date)))
            g.add((ds, DCTERMS.temporal, period))
        _spatial(g, ds, pkg.get("spatial") or {})
        for src in pkg.get("sources") or []:
            g.add((ds, DCTERMS.source, _source_dataset(g, base, src, licence_uri)))
        synthetic = [src["title"] for src in pkg.get("sources") or [] if src.get("synthetic")]
        if synthetic:  # a demo built on made-up files: a harvester must not take it for the producer's data
            g.add((ds, ADMS.versionNotes, Literal(
                "Contient des données SYNTHÉTIQUES (démonstration), pas celles du producteur : "
                + " ; ".join(synthetic), lang="fr")))
        g.add((ds, DCAT.landingPage, _typed(g, f"{base}/datasets/{ds_id}/", FOAF.Document)))
        hvd = pkg.get("hvdCategory")
        if hvd:
            hvd = hvd if isinstance(hvd, dict) else {"uri": hvd}  # a package written before the label
            category = _typed(g, hvd["uri"], SKOS.Concept)
            if hvd.get("title"):
                g.add((category, SKOS.prefLabel, Literal(hvd["title"], lang="fr")))
            g.add((ds, DCATAP.hvdCategory, category))
            g.add((ds, DCATAP.applicableLegislation, _typed(g, HVD_LEGISLATION, ELI.LegalResource)))
        for res in pkg.get("resources", []):
            _distribution(g, base, ds, ds_id, res, licence_uri, pkg["title"], hvd=bool(hvd))
        _distribution(g, base, ds, ds_id, {"path": "datapackage.json", "format": "json",
                                            "mediatype": "application/json"}, licence_uri, pkg["title"],
                      conforms_to="https://specs.frictionlessdata.io/data-package/", hvd=bool(hvd))
    return g


def _typed(g: Graph, uri: str, rdf_class: URIRef) -> URIRef:
    """A linked resource with the class DCAT-AP gives its range (the shapes check it)."""
    node = URIRef(uri)
    g.add((node, RDF.type, rdf_class))
    return node


def _source_dataset(g: Graph, base: str, src: dict, licence: URIRef) -> URIRef:
    """A source as the dataset it is (`dct:source` ranges over dcat:Dataset), its page as landing page."""
    node = URIRef(f"{base}/{CATALOGUE_FILE}#source-{_slug(src.get('id') or src['title'])}")
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.title, Literal(src["title"], lang="fr")))
    g.add((node, DCTERMS.description, Literal(
        src.get("description") or f"Source des données : {src['title']}.", lang="fr")))
    if src.get("producer"):
        g.add((node, DCTERMS.publisher, _agent(g, base, src["producer"])))
    if src.get("path"):
        g.add((node, DCAT.landingPage, _typed(g, src["path"], FOAF.Document)))
    return node


def _agent(g: Graph, base: str, name: str) -> URIRef:
    agent = URIRef(f"{base}/{CATALOGUE_FILE}#agent-{_slug(name)}")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(name)))
    return agent


def _spatial(g: Graph, ds: URIRef, spatial: dict) -> None:
    name = spatial.get("name")
    country = COUNTRIES.get((name or "").lower())
    if country:
        g.add((ds, DCTERMS.spatial, _typed(g, EU_COUNTRY + country, DCTERMS.Location)))
    location = URIRef(f"{ds}#spatial")
    g.add((location, RDF.type, DCTERMS.Location))
    if name:
        g.add((location, SKOS.prefLabel, Literal(name, lang="fr")))
    bbox = spatial.get("bbox")
    if bbox:
        w, s, e, n = bbox
        wkt = f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"
        g.add((location, DCAT.bbox, Literal(wkt, datatype=GEOSPARQL.wktLiteral)))
    g.add((ds, DCTERMS.spatial, location))


def _distribution(g: Graph, base: str, ds: URIRef, ds_id: str, res: dict, licence: URIRef, title: str,
                  conforms_to: str | None = None, hvd: bool = False) -> None:
    fmt = res["format"]
    url = URIRef(f"{base}/datasets/{ds_id}/{res['path']}")
    dist = URIRef(f"{ds}#distribution-{res['path']}")
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCTERMS.title, Literal(f"{title} ({res['path']})", lang="fr")))
    g.add((url, RDF.type, RDFS.Resource))  # the HVD profile checks the class of the access URL
    g.add((dist, DCAT.accessURL, url))
    g.add((dist, DCAT.downloadURL, url))
    g.add((dist, DCAT.mediaType, _typed(g, IANA + res["mediatype"], DCTERMS.MediaType)))
    g.add((dist, DCTERMS.format, _typed(g, EU_FILE_TYPE + FILE_TYPES.get(fmt, fmt.upper()),
                                        DCTERMS.MediaTypeOrExtent)))
    if hvd:
        g.add((dist, DCATAP.applicableLegislation, _typed(g, HVD_LEGISLATION, ELI.LegalResource)))
    g.add((dist, DCTERMS.license, licence))
    integrity = {**res, **(res.get("integrity") or {})}  # Parquet keeps its size and hash apart
    if "bytes" in integrity:
        g.add((dist, DCAT.byteSize, Literal(integrity["bytes"], datatype=XSD.nonNegativeInteger)))
    if str(integrity.get("hash", "")).startswith("sha256:"):
        checksum = URIRef(f"{ds}#checksum-{res['path']}")
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, _typed(g, str(SPDX.checksumAlgorithm_sha256), SPDX.ChecksumAlgorithm)))
        g.add((checksum, SPDX.checksumValue, Literal(integrity["hash"].split(":", 1)[1], datatype=XSD.hexBinary)))
        g.add((dist, SPDX.checksum, checksum))
    if conforms_to:
        g.add((dist, DCTERMS.conformsTo, _typed(g, conforms_to, DCTERMS.Standard)))


def _sorted_jsonld(value):
    """Sort JSON-LD arrays and keys: RDF has no order, and a stable one gives stable bytes."""
    if isinstance(value, dict):
        return {k: _sorted_jsonld(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_sorted_jsonld(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    return value


def serialise(g: Graph) -> tuple[bytes, bytes]:
    """(JSON-LD, Turtle) bytes of the graph."""
    context = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "vcard": str(VCARD),
               "spdx": str(SPDX), "skos": str(SKOS), "xsd": str(XSD), "dcatap": str(DCATAP),
               "eli": str(ELI)}
    doc = json.loads(g.serialize(format="json-ld", context=context, auto_compact=True))
    doc = _sorted_jsonld(doc)
    jsonld = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    turtle = g.serialize(format="turtle").encode("utf-8")
    return jsonld, turtle


@contextmanager
def _lock(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".catalogue.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two exports finishing together: one rebuild after the other
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def write_catalogue(publication: Path | None = None) -> list[Path]:
    """(Re)write catalogue.jsonld and catalogue.ttl from the published datapackages, atomically."""
    folder = publication or settings.publication_dir()
    with _lock(folder):
        g = build_graph(published_packages(folder), public_base_url(folder))
        jsonld, turtle = serialise(g)
        paths = [folder / "catalogue.jsonld", folder / "catalogue.ttl"]
        _atomic_write(paths[0], jsonld)
        _atomic_write(paths[1], turtle)
    return paths


def build_catalogue(url: str | None = None) -> Path:
    """Rebuild the catalogue (for `pipeline.build_reports`); returns the JSON-LD path. `url` is unused:
    the catalogue is built from the published datapackage.json files, not from the warehouse."""
    return write_catalogue()[0]
