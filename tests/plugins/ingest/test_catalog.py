"""Catalog validation: a typo gives an error naming the file, the entry and the field."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from territoire.catalog import CatalogError, load_catalog, parse_catalog

GOOD = """
version: 1
defaults: {licence: etalab-2.0, schedule: "@monthly", quarantine_threshold: 0.05}
sources:
  - id: velo
    domain: mobilite
    title: Comptages vélo
    producer: Ville de Paris
    licence: odbl-1.0
    resources:
      - name: compteurs
        format: csv
        schema: scdl_subventions/schema.json
        location:
          demo: {connector: local, path: data/samples/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv}
          production: {connector: http, url: "https://opendata.paris.fr/x.csv"}
"""


def _parse(text: str, tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_catalog(path)


def test_good_catalog(tmp_path):
    cat = _parse(GOOD, tmp_path)
    assert _parse(GOOD.replace('schedule: "@monthly"', 'schedule: "30 6 * * 1-5"'), tmp_path).get("velo").schedule \
        == "30 6 * * 1-5"
    r = cat.get("velo").resource("compteurs")
    assert r.raw_table == "velo__compteurs" and r.location("production").url == "https://opendata.paris.fr/x.csv"
    assert cat.get("velo").quarantine_threshold == 0.05 and cat.get("velo").schedule == "@monthly"


@pytest.mark.parametrize("change, expected", [
    (("    title: Comptages vélo", "    titel: Comptages vélo"),
     r"source #1 \('velo'\): unknown field 'titel' \(did you mean 'title'\?"),
    (("connector: local,", "connector: locale,"),
     r"source #1 \('velo'\), resource #1 \('compteurs'\), location 'demo': field 'connector' is 'locale', "
     r"expected one of .* \(did you mean 'local'\?\)"),
    (("          demo: {connector: local, path: data/samples/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv}\n"
      "          production: {connector: http, url: \"https://opendata.paris.fr/x.csv\"}\n", ""),
     r"resource #1 \('compteurs'\): missing required field 'location'"),
    (("connector: http, url:", "connector: http, path:"),
     r"location 'production': connector 'http' needs field 'url'"),
    (("schema: scdl_subventions/schema.json", "schema: scdl_subventions/shema.json"),
     r"resource #1 \('compteurs'\): field 'schema' names 'scdl_subventions/shema.json', not found in .*catalog/schemas"),
    (("        format: csv", "        format: xslx"),
     r"resource #1 \('compteurs'\): field 'format' is 'xslx'"),
    (("    domain: mobilite", "    domain: mobility"), r"field 'domain' is 'mobility'.*did you mean 'mobilite'"),
    (("    producer: Ville de Paris\n", ""), r"source #1 \('velo'\): missing required field 'producer'"),
    (("    licence: odbl-1.0\n", "    licence: odbl-1.0\n    schedule: \"@monthyl\"\n"),
     r"source #1 \('velo'\): field 'schedule' is '@monthyl', expected one of .*did you mean '@monthly'"),
    (("    licence: odbl-1.0\n", "    licence: odbl-1.0\n    schedule: \"0 6 * *\"\n"),
     r"source #1 \('velo'\): field 'schedule' is '0 6 \* \*', not a cron expression"),
    (("    licence: odbl-1.0\n", "    licence: odbl-1.0\n    schedule: \"0 25 * * *\"\n"),
     r"field 'schedule' is '0 25 \* \* \*', not a cron expression"),
    (("          production: {connector: http", "          prodution: {connector: http"),
     r"resource #1 \('compteurs'\), field 'location': field 'profile' is 'prodution'.*did you mean 'production'"),
])
def test_typos_name_the_entry_and_the_field(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    with pytest.raises(CatalogError, match=expected) as info:
        _parse(GOOD.replace(old, new), tmp_path)
    assert "sources.yml" in str(info.value)


def test_duplicate_source_id(tmp_path):
    data = yaml.safe_load(GOOD)
    data["sources"].append(dict(data["sources"][0]))
    with pytest.raises(CatalogError, match=r"source #2 \('velo'\): duplicate source id 'velo'"):
        parse_catalog(data, tmp_path / "sources.yml")


def test_duplicate_resource_and_threshold_range(tmp_path):
    data = yaml.safe_load(GOOD)
    data["sources"][0]["resources"].append(dict(data["sources"][0]["resources"][0]))
    with pytest.raises(CatalogError, match=r"resource #2 \('compteurs'\): duplicate resource name"):
        parse_catalog(data, tmp_path / "sources.yml")
    data = yaml.safe_load(GOOD)
    data["sources"][0]["quarantine_threshold"] = 5
    with pytest.raises(CatalogError, match="quarantine_threshold' must be between 0 and 1"):
        parse_catalog(data, tmp_path / "sources.yml")


def test_invalid_yaml_names_the_file(tmp_path):
    with pytest.raises(CatalogError, match="sources.yml: not valid YAML"):
        _parse("sources: [\n  - id: x\n", tmp_path)


def test_the_shipped_catalog_is_valid():
    cat = load_catalog()
    assert len(cat.sources) >= 1
    for source in cat:
        for r in source.resources:
            assert r.schema is None or r.schema_path().is_file()
