"""A page of rows says, value for value, what the former JSON said (`to_json` cell by cell, then
`json.dumps`) of the same rows read directly: on the test datasets (the demo's marts in small) and on
a published table with a column of every type the demo and the benchmark publish, edge values
included."""

from __future__ import annotations

import hashlib
import json
import uuid

import psycopg
import pytest
from psycopg import sql

from territoire import warehouse
from territoire.api.catalog import Column, Version
from territoire.api.role import drop_api_role, ensure_api_role, role_url
from territoire.datasets import load_datasets
from tests.plugins.api.conftest import _publish, make_client
from tests.plugins.api.test_values import former

TYPES_YML = """
version: 1
datasets:
  - id: types_de_colonnes
    title: Un type de colonne par colonne (test synthétique)
    description: Les types des marts de la démonstration et de la table du benchmark, valeurs limites comprises.
    licence: etalab-2.0
    sources: [cog]
    primary_key: [code]
"""
TYPES_SQL = """
create table audit.types_de_colonnes (code text, petit smallint, entier integer, grand bigint, decimal numeric,
    montant numeric(12, 2), reel real, double double precision, vrai boolean, jour date,
    horodatage timestamp, instant timestamptz, geometrie jsonb, etiquettes text[]);
insert into audit.types_de_colonnes values
    ('a', 1, 42, 9223372036854775807, 3.7, 10.00, 0.1, -1.499, true, '2026-01-01', '2024-03-01 10:00:00.123',
     '2024-07-01 10:00:00+02', '{"type": "Point", "coordinates": [6.86, 47.64]}', '{x,y}'),
    ('b', null, null, null, null, null, null, null, null, null, null, null, null, null),
    ('c', -32768, -2147483648, -9223372036854775808, 'NaN', -0.5, 'Infinity', 'NaN', false, '0001-01-01',
     '1900-01-01 00:00:00', '1850-01-01 00:00:00+00:09:21', '{"grand": 123456789012345678901234567890}', '{}'),
    ('d', 0, 0, 0, 12345678901234567890.123456789, 0, '-Infinity', '-Infinity', true, '9999-12-31',
     '2024-02-29 23:59:59.999999', '2024-01-01 00:00:00+05:30', '[1, 2.50, null, true, "é\\"\\n"]', '{"a,b"}'),
    ('e"\\' || chr(1) || E'\\n\\té€😀', 7, 7, 7, 1e20, 1.5, 1e-5, 1e-5, null, '2024-02-29', null, null, 'null', null);
"""


@pytest.fixture(scope="module")
def types_client(api_config, warehouse_url, tmp_path_factory):
    """The table of every type, read by an API whose role lives in Paris time (an offset of 9 min 21 s
    in 1850): a role of its own, so that the other tests' connections keep theirs."""
    path = tmp_path_factory.mktemp("types") / "datasets.yml"
    path.write_text(TYPES_YML, encoding="utf-8")
    with warehouse.transaction(warehouse_url) as conn:
        conn.execute(TYPES_SQL)
    role = ensure_api_role(warehouse_url, role=f"territoire_api_tz{uuid.uuid4().hex[:8]}")
    with warehouse.transaction(warehouse_url) as conn:
        conn.execute(sql.SQL("alter role {} set timezone = 'Europe/Paris'").format(sql.Identifier(role)))
    _publish(warehouse_url, path)
    url = role_url(warehouse_url, role)
    with make_client(api_config, datasets_path=path, database_url=url) as client:
        yield client, url
    drop_api_role(warehouse_url, role)


def _pages(client, dataset_id: str) -> list[dict]:
    rows, response = [], client.get(f"/api/datasets/{dataset_id}/rows", params={"page_size": 7})
    while True:
        assert response.status_code == 200, response.text
        rows += response.json()["data"]
        if not response.json()["links"]["next"]:
            return rows
        response = client.get(response.json()["links"]["next"])


def _former_rows(url: str, dataset_id: str, key: list[str], exposed: list[str]) -> list[dict]:
    """The rows read directly, through a login of the API's role (its time zone), as the former JSON."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql.SQL("select {} from {} order by {}").format(
            sql.SQL(", ").join(map(sql.Identifier, exposed)), sql.Identifier("published", dataset_id),
            sql.SQL(", ").join(map(sql.Identifier, key))))
        names = [Column(d.name, "", False) for d in cur.description]
        return json.loads(former(names, cur.fetchall()))


def _check(client, url: str, dataset_id: str) -> list[dict]:
    dataset = load_datasets(client.app.state.api.config.datasets_path)[dataset_id]
    exposed = [c["name"] for c in client.get(f"/api/datasets/{dataset_id}").json()["columns"]]
    got = _pages(client, dataset_id)
    assert got == _former_rows(url, dataset_id, list(dataset.primary_key), exposed)
    assert got and list(got[0]) == exposed
    return got


@pytest.mark.parametrize("dataset_id", ["dim_territoire", "fct_points_de_charge", "indicateurs_territoriaux"])
def test_the_test_datasets_read_as_before(client, warehouse_url, api_role, dataset_id):
    _check(client, role_url(warehouse_url, api_role), dataset_id)


def test_every_column_type_reads_as_before(types_client):
    client, url = types_client
    rows = {r["code"]: r for r in _check(client, url, "types_de_colonnes")}
    assert rows["c"]["instant"] == "1850-01-01T00:00:00+00:09:21"  # local mean time, to the second
    assert rows["c"]["geometrie"] == {"grand": 123456789012345678901234567890}  # beyond orjson's 64 bits
    assert rows["c"]["decimal"] == "NaN" and rows["c"]["double"] is None  # as before
    assert rows["a"]["geometrie"] == {"type": "Point", "coordinates": [6.86, 47.64]}


def test_the_etag_changed_with_the_representation():
    # The values are the same, some bytes are not (orjson writes 1e-05 as 0.00001): a cache holding the
    # former bytes under their strong ETag must not be told 304 (catalog.REPRESENTATION).
    former_etag = '"' + hashlib.sha256(b"1:1:r").hexdigest()[:24] + '"'
    assert Version(1, "r", None).etag != former_etag
