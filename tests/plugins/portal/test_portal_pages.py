"""The portal's pages on the demo's published data, through a bare FastAPI app (TestClient)."""

from __future__ import annotations

import math
import re
from html import unescape
from urllib.parse import quote

import psycopg
import pytest

from territoire import warehouse
from territoire.portal.charts import number_label

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def text(response) -> str:
    """The page's visible text, tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def sql(url: str, query: str, *params):
    with warehouse.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def published_ids(portal_site) -> list[str]:
    rows = sql(portal_site["url"], "select table_name from information_schema.tables where table_schema = 'published'")
    return sorted(r[0] for r in rows if r[0] in portal_site["datasets"])


def test_every_published_dataset_has_its_page_with_schema_downloads_and_api(client, portal_site):
    ids = published_ids(portal_site)
    assert len(ids) >= 4, portal_site["verdicts"]
    for dataset_id in ids:
        dataset = portal_site["datasets"][dataset_id]
        response = client.get(f"/jeux-de-donnees/{dataset_id}")
        assert response.status_code == 200, dataset_id
        page = text(response)
        assert dataset.title in page and "Licence" in page and "Mise à jour" in page
        columns = [r[0] for r in sql(portal_site["url"], "select column_name from information_schema.columns "
                                     "where table_schema = 'published' and table_name = %s", dataset_id)]
        schema = response.text.split('id="schema"')[1].split('id="apercu"')[0]
        assert all(f"<code>{c}</code>" in schema for c in columns), dataset_id
        assert f"/api/datasets/{dataset_id}/rows" in page
        assert f'href="/api/datasets/{dataset_id}/export?format=parquet"' in response.text
        # every download link serves the published file, byte for byte
        links = re.findall(rf'href="(/jeux-de-donnees/{dataset_id}/fichiers/[^"]+)"', response.text)
        assert any(link.endswith(".csv") for link in links) and any(link.endswith(".parquet") for link in links)
        folder = portal_site["publication"] / "datasets" / dataset_id
        for link in links:
            assert client.get(link).content == (folder / link.rsplit("/", 1)[1]).read_bytes()


def test_units_and_descriptions_from_the_catalog_are_in_the_schema(client):
    page = client.get("/jeux-de-donnees/fct_consommation_electrique").text
    row = re.search(r"<tr><td><code>consommation_totale_mwh</code></td>(.*?)</tr>", page).group(1)
    assert "MWh" in row and "secret statistique" in row


def test_search_across_titles_keywords_and_column_names(client):
    found = text(client.get("/", params={"q": "recharge"}))
    assert "Points de recharge pour véhicules électriques" in found
    assert "Référentiel des communes" not in found
    by_column = text(client.get("/jeux-de-donnees/", params={"q": "code_iris"}))
    assert "Consommation d'électricité résidentielle par IRIS" in by_column
    assert "Points de recharge" not in by_column
    accents = text(client.get("/jeux-de-donnees/", params={"q": "ELECTRICITE"}))
    assert "Consommation d'électricité" in accents
    nothing = text(client.get("/jeux-de-donnees/", params={"q": "zzzz introuvable"}))
    assert "0 résultat(s)" in nothing and "Aucun jeu ne contient" in nothing


def preview_rows(response) -> list[list[str]]:
    table = response.text.split('class="apercu"')[1].split("</table>")[0]
    body = table.split("<tbody>")[1]
    return [[unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in body.split("</tr>") if "<td>" in row]


def test_preview_filters_and_sorts_on_the_server(client, portal_site):
    one = client.get("/jeux-de-donnees/dim_territoire",
                     params={"colonne": "code_commune", "operateur": "eq", "valeur": "90010"})
    rows = preview_rows(one)
    assert len(rows) == 1 and rows[0][:2] == ["90010", "Belfort"]
    biggest = sql(portal_site["url"], "select nom_commune from published.dim_territoire "
                  "order by population_municipale desc nulls last limit 1")[0][0]
    sorted_rows = preview_rows(client.get("/jeux-de-donnees/dim_territoire",
                                          params={"tri": "population_municipale", "ordre": "desc"}))
    assert sorted_rows[0][1] == biggest and len(sorted_rows) == 50
    contains = preview_rows(client.get("/jeux-de-donnees/dim_territoire", params={
        "colonne": "nom_commune", "operateur": "contains", "valeur": "belfort"}))
    assert contains and all("belfort" in r[1].lower() for r in contains)
    expected = sql(portal_site["url"], "select count(*) from published.dim_territoire where population_municipale > 100000")[0][0]
    page = text(client.get("/jeux-de-donnees/dim_territoire", params={
        "colonne": "population_municipale", "operateur": "gt", "valeur": "100 000"}))
    assert f"{expected} ligne(s) correspondent au filtre" in page


def test_a_wrong_value_or_an_unknown_column_is_explained_in_french(client):
    wrong = text(client.get("/jeux-de-donnees/dim_territoire", params={
        "colonne": "population_municipale", "operateur": "gt", "valeur": "beaucoup"}))
    assert "« beaucoup » ne convient pas pour la colonne « population_municipale » : il faut un nombre entier" in wrong
    unknown = text(client.get("/jeux-de-donnees/dim_territoire", params={"colonne": "mot_de_passe", "valeur": "x"}))
    assert "La colonne « mot_de_passe » n'existe pas dans ce jeu de données." in unknown
    assert client.get("/jeux-de-donnees/n_existe_pas").status_code == 404
    assert client.get("/jeux-de-donnees/dim_territoire/fichiers/..%2F..%2Fetat.json").status_code == 404


@pytest.mark.parametrize("params", [
    {"colonne": 'code_commune" = \'90010\'; drop table published.dim_territoire; --', "valeur": "x"},
    {"tri": "code_commune; drop table published.dim_territoire", "valeur": "x"},
    {"colonne": "nom_commune", "operateur": "eq", "valeur": "x' or '1'='1"},
    {"colonne": "nom_commune", "operateur": "contains", "valeur": "%' ; drop table published.dim_territoire; --"},
    {"colonne": "nom_commune", "operateur": "; drop table published.dim_territoire", "valeur": "x"},
    {"page": "1; drop table published.dim_territoire"},
])
def test_injection_attempts_reach_no_sql(client, portal_site, params):
    before = sql(portal_site["url"], "select count(*) from published.dim_territoire")[0][0]
    response = client.get("/jeux-de-donnees/dim_territoire", params=params)
    assert response.status_code == 200
    if params.get("valeur", "").startswith(("x'", "%'")):
        assert "0 ligne(s) correspondent au filtre" in text(response)
    assert sql(portal_site["url"], "select count(*) from published.dim_territoire")[0][0] == before


def test_the_portal_connection_cannot_write(portal_site):
    from territoire.portal import db

    with db.read_only() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("create table published.portal_should_not_write (x int)")


def test_territory_page_compares_the_commune_with_its_territories_and_france(client, portal_site):
    url = portal_site["url"]
    response = client.get("/territoires/commune/90010")
    assert response.status_code == 200
    page = text(response)
    names = sql(url, "select nom_commune, nom_epci, nom_departement, nom_region from published.dim_territoire "
                "where code_commune = '90010'")[0]
    assert all(n in page for n in names) and "France" in page
    # a value of the commune as published, written the French way
    value = sql(url, "select valeur from published.indicateurs_territoriaux where niveau = 'commune' and "
                "code_territoire = '90010' order by indicateur, annee desc limit 1")[0][0]
    shown = number_label(float(value))
    assert shown in page and float(shown.replace(",", ".").replace("\u202f", "")) == pytest.approx(float(value), rel=0.01)
    # an indicator known above the commune but not for it says so, never shows 0
    assert "pas de donnée" in page
    assert "couverture" in page
    assert "/jeux-de-donnees/indicateurs_territoriaux?colonne=code_territoire" in response.text
    assert client.get("/territoires/commune/99999").status_code == 404
    assert client.get("/territoires/canton/90010").status_code == 404


def test_territory_search_ignores_accents_and_case(client):
    page = text(client.get("/territoires/", params={"q": "belfort"}))
    assert "Belfort" in page and "/territoires/commune/90010" in client.get("/territoires/", params={"q": "BELFORT"}).text
    assert "Aucune commune ne correspond" in text(client.get("/territoires/", params={"q": "qwxz"}))


def test_quality_report_and_run_pages_are_served_with_the_portal_navigation(client, portal_site):
    report = client.get("/qualite/")
    assert report.status_code == 200 and 'href="/jeux-de-donnees/"' in report.text
    run_links = re.findall(r'href="(/qualite/controles/[^"#]+)"', report.text)
    assert run_links
    run = client.get(run_links[0])
    assert run.status_code == 200 and "Contrôles respectés" in text(run)
    assert client.get("/qualite/controles/inconnu-123").status_code == 404
    assert client.get("/qualite/controles/..%2F..%2Fetat").status_code == 404


@pytest.mark.parametrize("path", ["/", "/jeux-de-donnees/", "/jeux-de-donnees/dim_territoire", "/territoires/",
                                  "/territoires/commune/90010", "/qualite/", "/glossaire"])
def test_every_page_links_the_catalogue_and_the_report_and_loads_nothing_from_elsewhere(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert 'href="/jeux-de-donnees/"' in response.text and 'href="/qualite/"' in response.text
    assert '<html lang="fr">' in response.text
    # assets (stylesheets, scripts, images) are local: only links to licences may leave the site
    assets = re.findall(r'<(?:link|script|img|source|iframe)\b[^>]*(?:href|src)="([^"]+)"', response.text)
    assert assets and all(a.startswith("/static/portal/") for a in assets)
    assert "<script" not in response.text  # every page works with JavaScript off
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_glossary_explains_the_acronyms(client):
    page = text(client.get("/glossaire"))
    for term in ("COG", "EPCI", "IRIS", "IRVE", "Secret statistique", "Couverture"):
        assert term in page


def test_the_stylesheet_is_served_locally(client):
    css = client.get("/static/portal/territoire.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http" not in css.text
    assert client.get("/static/portal/../routes.py").status_code == 404


def test_the_api_examples_of_each_page_answer_on_the_open_api(client, portal_site, monkeypatch):
    """Every API example the portal prints must work on the open API."""
    from fastapi.testclient import TestClient

    from territoire.api import app as app_module

    monkeypatch.setenv("TERRITOIRE_API_DATABASE_URL", portal_site["url"])
    # Every example of every dataset page, from one client: more than a reuser's burst (the rate limit
    # has tests of its own).
    monkeypatch.setenv("TERRITOIRE_API_RATE", "0")
    with TestClient(app_module.create_app()) as api:
        for dataset_id in published_ids(portal_site):
            page = unescape(client.get(f"/jeux-de-donnees/{dataset_id}").text)
            urls = re.findall(r"curl (?:-o \S+ )?'http://testserver(/api/[^']+)'", page)
            assert len(urls) >= 4
            first = sql(portal_site["url"], "select column_name from information_schema.columns where "
                        "table_schema = 'published' and table_name = %s order by ordinal_position limit 1",
                        dataset_id)[0][0]
            value = sql(portal_site["url"], f'select "{first}"::text from published.{dataset_id} '
                        f'where "{first}" is not null limit 1')[0][0]
            for url in urls:
                assert api.get(url.replace("VALEUR", quote(value, safe=""))).status_code == 200, url
            export = api.get(f"/api/datasets/{dataset_id}/export?format=parquet")
            assert export.status_code == 200


def test_france_is_the_ratio_of_the_sums_over_the_regions_never_a_mean_of_ratios(client, portal_site):
    url = portal_site["url"]
    indicator, year, numerator, denominator, multiplier = sql(url, """
        select indicateur, annee, sum(numerateur), sum(denominateur),
               max(valeur * denominateur / nullif(numerateur, 0))
        from published.indicateurs_territoriaux
        where niveau = 'region' and indicateur = 'points_de_charge_pour_10000_habitants' and categorie = 'total'
          and annee = (select max(annee) from published.indicateurs_territoriaux
                       where indicateur = 'points_de_charge_pour_10000_habitants')
        group by 1, 2""")[0]
    expected = float(numerator) / float(denominator) * 10 ** round(math.log10(float(multiplier)))
    page = client.get("/territoires/commune/90010").text
    row = re.search(r"<th scope=\"row\">Points de charge pour 10000 habitants</th>(.*?)</tr>", page, re.S).group(1)
    cells = re.findall(r'<td class="nombre">(.*?)</td>', row, re.S)
    france = unescape(re.sub(r"<br>.*", "", cells[-1], flags=re.S)).strip()
    assert float(france.replace("\u202f", "").replace(",", ".")) == pytest.approx(expected, rel=0.01)
    assert f"<td>{year}, " in row


@pytest.mark.parametrize("niveau, code_column, name_column", [
    ("departement", "code_departement", "nom_departement"), ("region", "code_region", "nom_region"),
    ("epci", "code_epci", "nom_epci")])
def test_every_level_of_territory_has_its_page(client, portal_site, niveau, code_column, name_column):
    code, name = sql(portal_site["url"], f"select {code_column}, {name_column} from published.dim_territoire "
                     f"where code_commune = '90010'")[0]
    response = client.get(f"/territoires/{niveau}/{code}")
    assert response.status_code == 200
    page = text(response)
    assert f"{name} en chiffres" in page and "France" in page
    assert "Points de charge pour 10000 habitants" in page or "pas de donnée" in page
