"""Rows of a dataset: typed filters, sort, column selection and keyset pagination, checked against
the same questions asked of PostgreSQL directly."""

from __future__ import annotations

import psycopg
import pytest


def _all_pages(client, path: str, params: dict) -> list[dict]:
    rows, url, pages = [], path, 0
    response = client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["data"]
        pages += 1
        assert pages < 1000
        if not body["links"]["next"]:
            return rows
        response = client.get(body["links"]["next"])


def _sql(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_a_filtered_page_is_what_postgresql_answers(client, warehouse_url):
    response = client.get("/api/datasets/fct_points_de_charge/rows",
                          params={"code_departement__eq": "90", "puissance_nominale_kw__ge": "20", "page_size": 500})
    assert response.status_code == 200
    got = [r["id_pdc_itinerance"] for r in response.json()["data"]]
    expected = [r[0] for r in _sql(warehouse_url, "select id_pdc_itinerance from published.fct_points_de_charge "
                                   "where code_departement = '90' and puissance_nominale_kw >= 20 order by 1")]
    assert got == expected and len(got) > 10


@pytest.mark.parametrize(("params", "where"), [
    ({"nombre_prises__ne": "2"}, "nombre_prises is distinct from 2"),
    ({"nombre_prises__lt": "3"}, "nombre_prises < 3"),
    ({"nombre_prises__le": "3"}, "nombre_prises <= 3"),
    ({"nombre_prises__gt": "2"}, "nombre_prises > 2"),
    ({"code_commune__in": "90010,25056"}, "code_commune in ('90010', '25056')"),
    ({"nom_operateur__contains": "OP1"}, "strpos(lower(nom_operateur), 'op1') > 0"),
    ({"coordonnees_verifiees__eq": "false"}, "not coordonnees_verifiees"),
    ({"date_maj__ge": "2024-01-20"}, "date_maj >= date '2024-01-20'"),
    ({"puissance_nominale_kw__gt": "10.5", "puissance_nominale_kw__lt": "40"},
     "puissance_nominale_kw > 10.5 and puissance_nominale_kw < 40"),
])
def test_every_operator(client, warehouse_url, params, where):
    rows = _all_pages(client, "/api/datasets/fct_points_de_charge/rows", {**params, "page_size": 1000})
    expected = _sql(warehouse_url, f"select id_pdc_itinerance from published.fct_points_de_charge where {where} "
                    "order by 1")
    assert [r["id_pdc_itinerance"] for r in rows] == [r[0] for r in expected]
    assert 0 < len(rows) < 250


def test_isnull(client):
    nulls = client.get("/api/datasets/dim_territoire/rows", params={"superficie_km2__isnull": "true"}).json()["data"]
    assert [r["code_commune"] for r in nulls] == ["90065"]
    others = client.get("/api/datasets/dim_territoire/rows", params={"superficie_km2__isnull": "false"}).json()
    assert len(others["data"]) == 4


@pytest.mark.parametrize("sort", ["puissance_nominale_kw", "-puissance_nominale_kw", "date_maj", "-nom_operateur",
                                  None])
def test_keyset_pagination_walks_every_row_once_in_order(client, warehouse_url, sort):
    params = {"page_size": 7, "code_departement__ne": "75"}
    if sort:
        params["sort"] = sort
    rows = _all_pages(client, "/api/datasets/fct_points_de_charge/rows", params)
    column = (sort or "id_pdc_itinerance").lstrip("-")
    direction = "desc" if sort and sort.startswith("-") else "asc"
    expected = _sql(warehouse_url, f"select id_pdc_itinerance from published.fct_points_de_charge where "
                    f"code_departement <> '75' order by {column} {direction}, id_pdc_itinerance {direction}")
    assert [r["id_pdc_itinerance"] for r in rows] == [r[0] for r in expected]


@pytest.mark.parametrize("sort", ["superficie_km2", "-superficie_km2"])
def test_pagination_on_a_column_with_nulls_loses_nothing(client, sort):
    rows = _all_pages(client, "/api/datasets/dim_territoire/rows", {"page_size": 1, "sort": sort})
    codes = [r["code_commune"] for r in rows]
    assert sorted(codes) == ["01001", "25056", "75056", "90010", "90065"]
    assert codes[-1] == "90065"  # the commune without superficie comes last, both ways
    values = [r["superficie_km2"] for r in rows[:-1]]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_column_selection_and_the_cursor_without_the_key(client):
    first = client.get("/api/datasets/fct_points_de_charge/rows",
                       params={"columns": "nom_operateur,nombre_prises", "page_size": 100}).json()
    assert set(first["data"][0]) == {"nom_operateur", "nombre_prises"}
    second = client.get(first["links"]["next"]).json()
    assert len(second["data"]) == 100 and set(second["data"][0]) == {"nom_operateur", "nombre_prises"}


def test_personal_and_technical_columns_are_never_served(client):
    body = client.get("/api/datasets/fct_points_de_charge/rows", params={"page_size": 1}).json()
    assert "contact_operateur" not in body["data"][0]
    response = client.get("/api/datasets/fct_points_de_charge/rows", params={"contact_operateur__isnull": "false"})
    assert response.status_code == 400
    assert "contact_operateur" not in response.json()["allowed"]
    response = client.get("/api/datasets/fct_points_de_charge/rows", params={"columns": "contact_operateur"})
    assert response.status_code == 400


def test_a_deep_page_is_reached_by_its_cursor(client):
    """No depth cap: the cursor of the last page works as well as the first one."""
    rows = _all_pages(client, "/api/datasets/fct_points_de_charge/rows", {"page_size": 13})
    assert len(rows) == 250
    assert len({r["id_pdc_itinerance"] for r in rows}) == 250


@pytest.mark.parametrize(("params", "status", "parameter"), [
    ({"page_size": "10001"}, 422, "page_size"),
    ({"page_size": "0"}, 422, "page_size"),
    ({"nombre_prises__eq": "deux"}, 400, "nombre_prises__eq"),
    ({"date_maj__lt": "01/02/2024"}, 400, "date_maj__lt"),
    ({"nombre_prises__between": "1"}, 400, "nombre_prises__between"),
    ({"colonne_inconnue__eq": "1"}, 400, "colonne_inconnue__eq"),
    ({"sort": "inconnue"}, 400, "sort"),
    ({"columns": "id_pdc_itinerance,inconnue"}, 400, "columns"),
    ({"nombre_prises__contains": "2"}, 400, "nombre_prises__contains"),
    ({"after": "pas-un-curseur"}, 400, "after"),
    ({"code_commune__in": ",".join(["1"] * 1001)}, 422, "code_commune__in"),
    ({"pagesize": "10"}, 400, "pagesize"),
])
def test_bad_parameters_are_problems_naming_the_parameter(client, params, status, parameter):
    response = client.get("/api/datasets/fct_points_de_charge/rows", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["parameter"] == parameter
    assert problem["detail"] and problem["title"]


def test_unknown_operator_lists_the_operators(client):
    problem = client.get("/api/datasets/dim_territoire/rows", params={"code_commune__like": "9"}).json()
    assert problem["allowed"] == ["eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "isnull"]


def test_page_size_limit_is_explained(client):
    problem = client.get("/api/datasets/dim_territoire/rows", params={"page_size": 20000}).json()
    assert problem["limit"] == 10000
    assert "10000" in problem["detail"].replace(" ", "").replace(",", "") or "10 000" in problem["detail"]


def test_ne_keeps_empty_cells(client):
    """`ne` means "not this value": a commune without superficie is not 17.1 km² either."""
    data = client.get("/api/datasets/dim_territoire/rows", params={"superficie_km2__ne": "17.1"}).json()["data"]
    assert sorted(r["code_commune"] for r in data) == ["01001", "25056", "75056", "90065"]


def test_too_many_filters_is_refused_with_the_limit(client):
    params = [("nombre_prises__ge", "0")] * 51
    response = client.get("/api/datasets/fct_points_de_charge/rows", params=params)
    assert response.status_code == 422
    assert response.json()["parameter"] == "filters" and response.json()["limit"] == 50
