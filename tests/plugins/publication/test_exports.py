"""Exports of a published table: CSV, Parquet, GeoJSON, datapackage.json, atomic and deterministic."""

from __future__ import annotations

import csv
import hashlib
import json

import psycopg
import pyarrow.parquet as pq
import pytest

from territoire.datasets import load_datasets
from territoire.publication import metadata
from territoire.publication.export import export_dataset
from territoire.publication.secrecy import SecrecyError

pytestmark = pytest.mark.integration


def test_export_writes_every_format_with_metadata(fresh_database, publication_dir, points):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    ds = points_dataset()
    result = export_dataset(ds, fresh_database)
    folder = publication_dir / "datasets" / ds.id
    assert folder.is_symlink() and result.rows == 3
    assert sorted(p.name for p in folder.iterdir()) == [
        "datapackage.json", "pub_test_points-tableur.csv", "pub_test_points.csv", "pub_test_points.geojson",
        "pub_test_points.parquet"]

    with open(folder / "pub_test_points.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    # personal and technical columns never leave the warehouse
    assert "contact_email" not in header and "_loaded_at" not in header
    assert [r[0] for r in rows[1:]] == ["P1", "P2", "P3"]  # sorted by the key
    assert rows[3][header.index("nom")] == "Vieux-Port, quai « nord »"
    assert rows[1][header.index("date_mise_en_service")] == "2021-01-15"
    assert b"example.org" not in (folder / "pub_test_points.csv").read_bytes()

    table = pq.read_table(folder / "pub_test_points.parquet")
    assert table.column_names == header and "contact_email" not in table.column_names

    geo = json.loads((folder / "pub_test_points.geojson").read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 3
    by_id = {f["properties"]["id_point"]: f for f in geo["features"]}
    assert by_id["P3"]["geometry"] == {"type": "Point", "coordinates": [5.3698, 43.2965]}
    assert by_id["P2"]["geometry"] is None  # no coordinates: kept, geometry null
    assert "contact_email" not in by_id["P1"]["properties"]

    pkg = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert pkg["profile"] == "data-package"  # a GeoJSON resource is not tabular
    assert pkg["licenses"][0]["name"] == "etalab-2.0"
    assert pkg["temporal"] == {"start": "2021-01-15", "end": "2024-06-30"}
    assert pkg["spatial"]["bbox"] == [4.8694, 43.2965, 5.3698, 45.7339]
    assert pkg["spatial"]["departements"] == ["13", "69", "90"]
    assert pkg["accrualPeriodicityUri"].endswith("/frequency/WEEKLY")
    assert any("IRVE" in s["title"] or "recharge" in s["title"] for s in pkg["sources"])
    by_name = {r["path"]: r for r in pkg["resources"]}
    assert set(by_name) == {"pub_test_points.csv", "pub_test_points-tableur.csv", "pub_test_points.parquet",
                            "pub_test_points.geojson"}
    for path, res in by_name.items():
        data = (folder / path).read_bytes()
        res = {**res, **res.get("integrity", {})}  # Parquet: size and hash apart (frictionless cannot check them)
        assert res["bytes"] == len(data) and res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    schema = by_name["pub_test_points.csv"]["schema"]
    fields = {f["name"]: f for f in schema["fields"]}
    assert [f["name"] for f in schema["fields"]] == header
    assert schema["primaryKey"] == ["id_point"]
    assert fields["id_point"]["constraints"] == {"required": True, "unique": True}
    assert fields["puissance_kw"]["type"] == "number" and fields["puissance_kw"]["unit"] == "kW"
    assert fields["puissance_kw"]["description"] == "Puissance nominale du point de charge."
    assert fields["nombre_logements"]["type"] == "integer"
    assert fields["date_mise_en_service"]["type"] == "date"
    assert fields["consommation_mwh"]["unit"] == "MWh" and "secret" in fields["consommation_mwh"]["secrecy"]
    assert pkg["excludedColumns"] == {"personal": ["contact_email"]}

    # the spreadsheet CSV: BOM, `;`, decimal comma, same rows; and frictionless validates the package
    french = (folder / "pub_test_points-tableur.csv").read_bytes()
    assert french.startswith(b"\xef\xbb\xbf" + ";".join(header).encode())
    french_rows = list(csv.reader(french.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert len(french_rows) == len(rows)
    p1 = french_rows[1][header.index("puissance_kw")]
    assert p1 == "7,4" and rows[1][header.index("puissance_kw")] == "7.4"
    tableur = by_name["pub_test_points-tableur.csv"]
    assert tableur["dialect"]["delimiter"] == ";" and tableur["encoding"] == "utf-8-sig"
    from frictionless import Package

    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["resourcePath", "rowNumber", "fieldName", "type", "note"])


def test_reexport_is_byte_identical_and_change_switches_version(fresh_database, publication_dir, points):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    ds = points_dataset()
    first = export_dataset(ds, fresh_database)
    before = {p.name: p.read_bytes() for p in first.version_folder.iterdir()}
    second = export_dataset(ds, fresh_database)
    assert not second.changed and second.version_folder == first.version_folder
    assert {p.name: p.read_bytes() for p in second.version_folder.iterdir()} == before

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("update published.pub_test_points set nom = 'Lyon huitième' where id_point = 'P1'")
    third = export_dataset(ds, fresh_database)
    assert third.changed and third.version_folder != first.version_folder
    pkg = json.loads((third.folder / "datapackage.json").read_text(encoding="utf-8"))
    old_pkg = json.loads(before["datapackage.json"])
    assert pkg["resources"][0]["hash"] != old_pkg["resources"][0]["hash"]
    assert (publication_dir / "datasets" / ds.id).resolve() == third.version_folder.resolve()


def test_secrecy_violation_blocks_export_and_keeps_previous_files(fresh_database, publication_dir, points):
    make_points_table, points_dataset = points
    make_points_table(fresh_database)
    ds = points_dataset()
    good = export_dataset(ds, fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        # 9 dwellings: the consumption must stay masked
        conn.execute("update published.pub_test_points set consommation_mwh = 10.25 where id_point = 'P1'")
    with pytest.raises(SecrecyError, match=r"nombre_logements < 10.*consommation_mwh"):
        export_dataset(ds, fresh_database)
    assert (publication_dir / "datasets" / ds.id).resolve() == good.version_folder.resolve()
    assert not list((publication_dir / "datasets" / ".versions").glob(".*partial"))


def test_odbl_source_makes_the_dataset_odbl(fresh_database, publication_dir, points):
    make_points_table, points_dataset = points
    make_points_table(fresh_database, "pub_test_velo")
    ds = points_dataset("pub_test_velo", sources=("velo_paris", "cog"), licence="etalab-2.0")
    result = export_dataset(ds, fresh_database)
    pkg = json.loads((result.folder / "datapackage.json").read_text(encoding="utf-8"))
    assert pkg["licenses"][0]["name"] == "ODbL-1.0"
    assert [c["title"] for c in pkg["contributors"] if c["role"] == "author"] == ["Ville de Paris", "INSEE"]


def test_doubtful_points_that_cannot_be_in_france_have_no_geometry(fresh_database, publication_dir, points):
    """IRVE flags coordinates it doubts; a flagged point with longitude = latitude (the real defect of
    the IRVE file) or outside France gets a null geometry in the GeoJSON, its properties unchanged. A
    flagged point that is plausible, and an unflagged one, keep theirs."""
    make_points_table, points_dataset = points
    make_points_table(fresh_database, "pub_test_doutes")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("alter table published.pub_test_doutes add column coordonnees_verifiees boolean")
        conn.execute("insert into published.pub_test_doutes (id_point, longitude, latitude, coordonnees_verifiees) "
                     "values ('D1', 41.951899, 41.951899, false), ('D2', 45.2, 5.7, false), "
                     "('D3', 2.35, 48.85, false), ('D4', 41.951899, 41.951899, true)")
    ds = points_dataset("pub_test_doutes", geometry={"longitude": "longitude", "latitude": "latitude",
                                                     "verified": "coordonnees_verifiees"})
    folder = export_dataset(ds, fresh_database).folder
    by_id = {f["properties"]["id_point"]: f
             for f in json.loads((folder / "pub_test_doutes.geojson").read_text(encoding="utf-8"))["features"]}
    assert by_id["D1"]["geometry"] is None and by_id["D1"]["properties"]["longitude"] == 41.951899
    assert by_id["D2"]["geometry"] is None  # swapped coordinates: in the Caucasus
    assert by_id["D3"]["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
    # not flagged by the producer: published as given (the quality gate's error-level checks cover it)
    assert by_id["D4"]["geometry"] == {"type": "Point", "coordinates": [41.951899, 41.951899]}
    assert by_id["P3"]["geometry"] == {"type": "Point", "coordinates": [5.3698, 43.2965]}
    assert len(by_id) == 7


def test_a_synthetic_demo_source_is_named_as_such(fresh_database, publication_dir, points, monkeypatch):
    """The demo reads a SYNTHETIC GTFS feed (`synthetic: true` on its demo location): a dataset built on
    it says so in its sources in the demo profile, and not in production, where the real feed is read."""
    make_points_table, points_dataset = points
    make_points_table(fresh_database, "pub_test_transport")
    ds = points_dataset("pub_test_transport", sources=("transport", "cog"), licence="etalab-2.0")
    for profile, flagged in (("demo", True), ("production", False)):
        monkeypatch.setenv("TERRITOIRE_PROFILE", profile)
        pkg = json.loads((export_dataset(ds, fresh_database).folder / "datapackage.json").read_text(encoding="utf-8"))
        titles = {s["title"].split(" (")[0]: s["title"] for s in pkg["sources"]}
        assert ("SYNTHÉTIQUES" in titles["Offre de transport public"]) is flagged, titles
        assert not any("SYNTHÉTIQUES" in t for name, t in titles.items() if name != "Offre de transport public")
        # ... and so does its DCAT entry (adms:versionNotes), which harvesters read
        from rdflib import Graph, Namespace

        from territoire.publication.dcat import write_catalogue

        ttl = next(p for p in write_catalogue(publication_dir) if p.suffix == ".ttl")
        notes = [str(o) for o in Graph().parse(ttl).objects(None, Namespace("http://www.w3.org/ns/adms#").versionNotes)]
        assert (len(notes) == 1 and "SYNTHÉTIQUES" in notes[0]) is flagged, notes


def test_licence_ouverte_by_default_odbl_when_a_source_requires_it(tmp_path):
    from territoire.datasets import load_datasets as load

    path = tmp_path / "datasets.yml"
    path.write_text(
        "datasets:\n"
        "  - {id: sans_licence, title: t, description: d, sources: [irve, cog], primary_key: [id]}\n"
        "  - {id: avec_odbl, title: t, description: d, sources: [atmo_occitanie], primary_key: [id]}\n",
        encoding="utf-8")
    datasets = load(path)
    assert datasets["sans_licence"].licence == "etalab-2.0"
    assert metadata.licence_of(datasets["sans_licence"]).id == "etalab-2.0"
    assert metadata.licence_of(datasets["avec_odbl"]).id == "odbl-1.0"


def test_every_declared_dataset_has_consistent_publication_metadata():
    """Licence, frequency, sources and producers resolve for every dataset of catalog/datasets.yml."""
    datasets = load_datasets()
    assert datasets
    for ds in datasets.values():
        assert metadata.licence_of(ds).url.startswith("https://")
        assert metadata.frequency_of(ds)[0].startswith(metadata.EU_FREQUENCY)
        assert metadata.producers_of(ds)
        odbl = any(s.licence == "odbl-1.0" for s in metadata.sources_of(ds))
        assert (metadata.licence_of(ds).id == "odbl-1.0") == odbl
        for col in ds.personal_columns:
            assert col not in ds.primary_key, f"{ds.id}: personal column {col} cannot be the key"


def test_column_docs_from_dbt_yml_when_no_manifest(monkeypatch, tmp_path):
    """Without target/manifest.json, descriptions come from the models' yml files, vars rendered."""
    from territoire import settings

    project = tmp_path / "dbt"
    (project / "models" / "marts").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: t\nvars:\n  cog_millesime: 2026\n", encoding="utf-8")
    (project / "models" / "marts" / "_m.yml").write_text(
        "version: 2\nmodels:\n  - name: m\n    description: COG {{ var('cog_millesime') }}\n"
        "    columns:\n      - name: code_commune\n        description: >\n          Code INSEE\n"
        "          (COG {{ var('cog_millesime') }}).\n", encoding="utf-8")
    monkeypatch.setattr(settings, "dbt_project_dir", lambda: project)
    docs = metadata.dbt_docs("m")
    assert docs == {"description": "COG 2026", "columns": {"code_commune": "Code INSEE (COG 2026)."}}
    assert metadata.dbt_docs("absent") == {"description": "", "columns": {}}


def test_geojson_from_a_geometry_column_and_refused_coordinates(fresh_database, publication_dir, points):
    from territoire.datasets import Dataset
    from territoire.publication.geojson import GeometryError

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table published.pub_test_zones (code text primary key, geometrie text, jsonb_geom jsonb)")
        conn.execute("""insert into published.pub_test_zones values
            ('z1', '{"type":"Polygon","coordinates":[[[5.0,45.0],[5.1,45.0],[5.1,45.1],[5.0,45.0]]]}', null),
            ('z2', null, null)""")
    ds = Dataset(id="pub_test_zones", title="Zones (synthétique)", description="d", licence="etalab-2.0",
                 sources=("ign_adminexpress",), primary_key=("code",), geometry={"geojson": "geometrie"},
                 temporal_coverage={"start": "2018-01-01", "end": "2018-12-31"})
    result = export_dataset(ds, fresh_database)
    geo = json.loads((result.folder / "pub_test_zones.geojson").read_text(encoding="utf-8"))
    assert [f["geometry"] and f["geometry"]["type"] for f in geo["features"]] == ["Polygon", None]
    assert "geometrie" not in geo["features"][0]["properties"]  # the geometry is not repeated as text
    assert "geometrie" in (result.folder / "pub_test_zones.csv").read_text(encoding="utf-8").splitlines()[0]

    make_points_table, points_dataset = points
    make_points_table(fresh_database, "pub_test_swapped")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        # Lambert 93 metres where degrees are expected
        conn.execute("update published.pub_test_swapped set longitude = 842000, latitude = 6519000 "
                     "where id_point = 'P3'")
    with pytest.raises(GeometryError, match=r"row 3 .*longitude/latitude.*not a WGS 84"):
        export_dataset(points_dataset("pub_test_swapped"), fresh_database)
    assert not (publication_dir / "datasets" / "pub_test_swapped").exists()
    with pytest.raises(GeometryError, match="field 'geometry'.*column\\(s\\) lon"):
        export_dataset(points_dataset("pub_test_zones", primary_key=("code",), temporal_coverage={},
                                      geometry={"longitude": "lon", "latitude": "lat"}, secrecy=[]),
                       fresh_database)
