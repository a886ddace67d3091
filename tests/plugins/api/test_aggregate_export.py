"""Group-by aggregates and whole-result downloads (CSV, JSON, GeoJSON, Parquet)."""

from __future__ import annotations

import csv
import io
import json

import psycopg
import pyarrow.parquet as pq
import pytest

from tests.plugins.api.conftest import make_client


def test_group_by_matches_postgresql(client, warehouse_url):
    response = client.get("/api/datasets/fct_points_de_charge/aggregate", params=[
        ("group_by", "code_departement,nombre_prises"), ("agg", "count"), ("agg", "sum:puissance_nominale_kw"),
        ("agg", "avg:puissance_nominale_kw"), ("agg", "min:date_maj"), ("agg", "max:nom_operateur"),
        ("coordonnees_verifiees__eq", "true")])
    assert response.status_code == 200, response.text
    got = {(r["code_departement"], r["nombre_prises"]): r for r in response.json()["data"]}
    with psycopg.connect(warehouse_url) as conn:
        expected = conn.execute(
            "select code_departement, nombre_prises, count(*), sum(puissance_nominale_kw), avg(puissance_nominale_kw),"
            " min(date_maj), max(nom_operateur) from published.fct_points_de_charge where coordonnees_verifiees"
            " group by 1, 2").fetchall()
    assert len(got) == len(expected) == 12
    for dep, prises, count, total, mean, first, last in expected:
        row = got[(dep, prises)]
        assert row["count"] == count
        assert row["sum_puissance_nominale_kw"] == pytest.approx(float(total))
        assert row["avg_puissance_nominale_kw"] == pytest.approx(float(mean))
        assert row["min_date_maj"] == first.isoformat() and row["max_nom_operateur"] == last


def test_aggregate_sorted_by_an_alias(client):
    data = client.get("/api/datasets/fct_points_de_charge/aggregate",
                      params={"group_by": "code_commune", "agg": "count", "sort": "-count"}).json()["data"]
    assert [r["count"] for r in data] == sorted((r["count"] for r in data), reverse=True)


def test_aggregate_without_group_by_is_one_row(client):
    data = client.get("/api/datasets/dim_territoire/aggregate", params={"agg": "sum:population_municipale"}).json()
    assert data["data"] == [{"sum_population_municipale": 46443 + 4012 + 119198 + 859 + 2113705}]


@pytest.mark.parametrize(("params", "status", "parameter"), [
    ({"agg": "median:population_municipale"}, 400, "agg"),
    ({"agg": "sum:nom_commune"}, 400, "agg"),
    ({"agg": "sum"}, 400, "agg"),
    ({"group_by": "inconnue"}, 400, "group_by"),
    ({"group_by": "a,b,c,d,e,f"}, 422, "group_by"),
    ({"group_by": "code_region", "sort": "-total"}, 400, "sort"),
])
def test_bad_aggregates(client, params, status, parameter):
    response = client.get("/api/datasets/dim_territoire/aggregate", params=params)
    assert response.status_code == status, response.text
    assert response.json()["parameter"] == parameter


def test_too_many_groups_is_refused_with_the_limit(api_config):
    with make_client(api_config, max_groups=3) as small:
        response = small.get("/api/datasets/dim_territoire/aggregate", params={"group_by": "code_commune"})
    assert response.status_code == 422
    assert response.json()["limit"] == 3 and response.json()["parameter"] == "group_by"


def _csv(client, **params) -> list[dict]:
    response = client.get("/api/datasets/fct_points_de_charge/export", params={"format": "csv", **params})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="fct_points_de_charge.csv"' in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_export_is_the_whole_filtered_result(client):
    rows = _csv(client, code_departement__eq="90")
    assert len(rows) == 100
    assert {r["code_departement"] for r in rows} == {"90"}
    assert "contact_operateur" not in rows[0]
    assert {r["coordonnees_verifiees"] for r in rows} == {"true", "false"}
    assert [r["id_pdc_itinerance"] for r in rows] == sorted(r["id_pdc_itinerance"] for r in rows)


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(client):
    rows = _csv(client, id_pdc_itinerance__eq="FRS00007")
    assert rows[0]["nom_operateur"] == "'=HYPERLINK(\"x\")"


def test_json_export(client):
    response = client.get("/api/datasets/fct_points_de_charge/export",
                          params={"format": "json", "nombre_prises__eq": "3", "columns": "id_pdc_itinerance,date_maj"})
    rows = json.loads(response.content)
    assert len(rows) == 83 and set(rows[0]) == {"id_pdc_itinerance", "date_maj"}


def test_geojson_export(client):
    response = client.get("/api/datasets/fct_points_de_charge/export", params={"format": "geojson"})
    assert response.headers["content-type"] == "application/geo+json"
    collection = json.loads(response.content)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 250
    feature = collection["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [6.86, 47.64]}
    assert "contact_operateur" not in feature["properties"]


def test_geojson_only_for_geographic_datasets(client):
    response = client.get("/api/datasets/dim_territoire/export", params={"format": "geojson"})
    assert response.status_code == 400
    assert response.json()["allowed"] == ["csv", "json", "parquet"]


def test_parquet_export(client):
    response = client.get("/api/datasets/fct_points_de_charge/export",
                          params={"format": "parquet", "code_region__eq": "27"})
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == 150
    assert "contact_operateur" not in table.column_names
    assert table.schema.field("nombre_prises").type == "int32"


def test_downloads_at_once_are_bounded_and_their_slots_come_back(api_config):
    with make_client(api_config, max_exports=1) as api:
        slots = api.app.state.api.export_slots
        assert slots.acquire(blocking=False)  # a download streaming elsewhere
        try:
            refused = api.get("/api/datasets/dim_territoire/export", params={"format": "csv"})
        finally:
            slots.release()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
        assert refused.json()["limit"] == 1
        for _ in range(3):  # each finished download gives its slot back
            assert api.get("/api/datasets/dim_territoire/export", params={"format": "csv"}).status_code == 200


def test_only_columns_holding_a_formula_like_cell_are_guarded(client):
    """One scan per published version finds them; the others are copied as they are (COPY's full speed)."""
    from territoire.api import formats, query

    state = client.app.state.api
    table = state.catalog.table("fct_points_de_charge")
    assert state.formula_columns.of(table) == frozenset({"nom_operateur"})
    exporter = formats.Export(None, table, list(table.columns.values()), query.Sort(None), [], 0,
                              state.formula_columns.of(table))
    statement = exporter.csv_statement()[0].as_string()
    assert statement.count("case when left(") == 1 and '"nom_operateur"' in statement
    rows = _csv(client, id_pdc_itinerance__in="FRS00007,FRS00008")
    assert [r["nom_operateur"] for r in rows] == ["'=HYPERLINK(\"x\")", "op0"]


def test_when_the_scan_cannot_finish_every_text_column_is_guarded(client, monkeypatch):
    import psycopg

    from territoire.api.formats import FormulaColumns

    table = client.app.state.api.catalog.table("dim_territoire")

    class Cancelled:
        def __enter__(self):
            raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

        def __exit__(self, *exc):
            return False

    scanner = FormulaColumns(client.app.state.api.pool)
    monkeypatch.setattr(scanner.pool, "connection", lambda: Cancelled())
    assert scanner.of(table) == frozenset(c for c in table.columns if c.startswith(("code_", "nom_")))
