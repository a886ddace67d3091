"""The local connector, and catalog entries for every connector going through `fetch`."""

from __future__ import annotations

import hashlib
import textwrap

import pytest
import yaml
from support.connectors import make_resource
from support.http_server import SAMPLES

from territoire.catalog import parse_catalog
from territoire.ingest.connectors import ConfigurationError, EmptyBodyError, SourceFileNotFoundError, fetch

SUBSIDIES = "data/samples/subsidies/raw_csv/DEP_Lot_Subventions_2017_DONNEES.xlsx_pour_exemple.csv"


def test_local_file_relative_to_the_project_root(fast, landing_dir):
    result = fetch(make_resource("local", source_id="subventions", name="lot", path=SUBSIDIES), policy=fast)
    original = (SAMPLES.parent.parent / SUBSIDIES).read_bytes()  # cp1252 bytes, archived untouched
    assert result.landed.path.read_bytes() == original
    assert result.landed.sha256 == hashlib.sha256(original).hexdigest()
    assert result.location.endswith(SUBSIDIES) and not result.not_modified
    assert result.landed.path.parent == landing_dir / "subventions" / "lot"
    assert fetch(make_resource("local", source_id="subventions", name="lot", path=SUBSIDIES),
                 policy=fast).same_as_previous


def test_local_absolute_path_and_checks(tmp_path, fast):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(EmptyBodyError, match="empty"):
        fetch(make_resource("local", path=str(empty)), policy=fast)
    with pytest.raises(SourceFileNotFoundError) as err:
        fetch(make_resource("local", source_id="cog", name="communes", path="data/samples/nope.csv"), policy=fast)
    assert "'cog'" in str(err.value) and "data/samples/nope.csv" in str(err.value)
    assert "catalog/sources.yml" in str(err.value)


def test_missing_location_field_is_a_configuration_error(fast):
    with pytest.raises(ConfigurationError, match="needs the location field 'url'"):
        fetch(make_resource("http"), policy=fast)


def test_profile_selects_the_location(http_server, fast):
    catalog = parse_catalog(yaml.safe_load(textwrap.dedent(f"""
        sources:
          - id: velo
            domain: mobilite
            title: Comptages vélo
            producer: Ville de Paris
            licence: odbl-1.0
            resources:
              - name: comptages
                format: csv
                location:
                  demo: {{connector: local, path: data/samples/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv}}
                  production: {{connector: http, url: "{http_server.file_url('bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv')}"}}
              - name: departements
                format: json
                location:
                  production:
                    connector: opendatasoft
                    base_url: {http_server.base_url}
                    dataset: departements
                    params: {{refine: {{code: "01"}}}}
              - name: navette
                format: gtfs
                location:
                  demo: {{connector: gtfs, path: data/samples/transport/synthetic_gtfs.zip}}
        """)), SAMPLES / "inline.yml")
    source = catalog.get("velo")
    demo = fetch(source.resource("comptages"), profile="demo", policy=fast)
    prod = fetch(source.resource("comptages"), profile="production", policy=fast)
    assert demo.landed.sha256 == prod.landed.sha256
    assert demo.location.startswith("/") and prod.location.startswith("http://127.0.0.1:")
    assert http_server.hits("/files/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv") == 1
    feed = fetch(source.resource("navette"), profile="demo", policy=fast)
    assert "velo__stop_times" in feed.tables()
    with pytest.raises(Exception, match="no location for profile 'demo'"):
        fetch(source.resource("departements"), profile="demo", policy=fast)


def test_every_demo_location_of_the_shipped_catalog_fetches(fast):
    from territoire.catalog import load_catalog

    fetched = 0
    for source in load_catalog():
        for resource in source.resources:
            if "demo" not in resource.locations:
                continue
            result = fetch(resource, profile="demo", policy=fast)
            assert result.landed.path.is_file() and result.landed.size > 0
            targets = result.load_targets()
            assert targets and all(t.path.is_file() for t in targets)
            if resource.format == "gtfs":
                assert {f"{source.id}__stops", f"{source.id}__stop_times"} <= {t.table for t in targets}
            else:
                assert [t.table for t in targets] == [resource.raw_table]
            fetched += 1
    assert fetched > 0
