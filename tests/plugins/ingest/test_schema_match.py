"""Schema match: a file carrying none of its schema's fields (or fewer than the share the catalog sets)
is refused with did-you-mean; header drift is a warning in the batch's details; a file is never loaded
over a raw table whose columns it does not share. Files are SYNTHETIC."""

from __future__ import annotations

import pytest
from ingest_helpers import fetch_all, make_resource, write_schema

from territoire.ingest.loader import LoadError

pytestmark = pytest.mark.integration


def _schema(tmp_path):
    return write_schema(tmp_path, [{"name": "code_commune", "type": "string"},
                                   {"name": "population", "type": "integer"},
                                   {"name": "superficie", "type": "number"},
                                   {"name": "nom_commune", "type": "string"}])


def _csv(tmp_path, text: str, name: str = "synthetique.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_sharing_no_field_with_its_schema_is_invalid_with_did_you_mean(loader, tmp_path, warehouse_url):
    path = _csv(tmp_path, "codecommune;pop;surface_km2\n69123;522250;47,87\n")
    r = make_resource(path, schema=_schema(tmp_path))
    with pytest.raises(LoadError) as info:
        loader.load(r, path)
    message = str(info.value)
    assert "synthetique.csv): line 1: the file does not match schema" in message
    assert "carries 0 of the 4 fields" in message and "code_commune ? (en-tête « codecommune »)" in message
    assert fetch_all(warehouse_url, "select status from ingest.load_batches where resource = %s", (r.name,)) == [
        ("failed",)]


def test_the_share_of_schema_fields_is_set_in_the_catalog(loader, tmp_path):
    path = _csv(tmp_path, "code_commune;pop;surface;nom\n69123;522250;47,87;Lyon\n")
    lenient = make_resource(path, schema=_schema(tmp_path))
    assert loader.load(lenient, path).status == "succeeded"  # one field of four is enough by default
    demanding = make_resource(path, schema=_schema(tmp_path), options={"min_schema_fields": 0.75})
    with pytest.raises(LoadError, match=r"at least 75% of its fields expected\)\. The header carries 1 of the 4"):
        loader.load(demanding, path)


def test_header_drift_is_a_warning_in_the_details(loader, tmp_path, warehouse_url, messages):
    path = _csv(tmp_path, "Code Commune;POPULATION;superficie;nom_communes\n69123;522250;47,87;Lyon\n")
    result = loader.load(make_resource(path, schema=_schema(tmp_path)), path)
    (warnings,), = fetch_all(warehouse_url, "select details -> 'header_warnings' from ingest.load_batches "
                                            "where batch_id = %s", (result.batch_id,))
    found = {(w["kind"], w["field"], w["header"]) for w in warnings}
    assert found == {("header-drift", "code_commune", "Code Commune"), ("header-drift", "population", "POPULATION"),
                     ("header-renamed", "nom_commune", "nom_communes")}
    assert result.rows_loaded == 1
    assert any("« Code Commune » est lue comme le champ « code_commune »" in m for m in messages)


def test_a_file_is_never_loaded_over_a_raw_table_it_shares_no_column_with(loader, tmp_path, warehouse_url):
    first = _csv(tmp_path, "code;valeur\na;1\n", "premier.csv")
    r = make_resource(first)
    loader.load(r, first)
    other = _csv(tmp_path, "identifiant;montant\nx;2\n", "autre.csv")
    with pytest.raises(LoadError, match=r"autre.csv\): line 1: the file shares no column with raw\.test__r\d+"):
        loader.load(r, other)
    assert fetch_all(warehouse_url, f'select code, valeur from raw."{r.raw_table}"') == [("a", "1")]
    assert loader.load(r, other, force=True).status == "succeeded"  # on purpose
