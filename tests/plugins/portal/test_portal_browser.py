"""Each page type of the portal in Debian's chromium, served by a real uvicorn on a loopback port:
axe-core (WCAG 2.1 AA) at 1,400 and 390 px, no sideways scroll on a phone, headings in order, a
table beside every chart and map, nothing fetched from another host, the filters with JavaScript
off, and the whole page by keyboard."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.accessibility import charts_without_table, heading_problems, tab_through
from tests.support.browser import axe_violations, open_page, scrolls_sideways

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES = ["/", "/?q=recharge", "/jeux-de-donnees/", "/jeux-de-donnees/fct_points_de_charge",
         "/jeux-de-donnees/fct_consommation_electrique", "/jeux-de-donnees/dim_territoire?colonne=population_municipale&operateur=gt&valeur=beaucoup",
         "/territoires/?q=bel", "/territoires/commune/90010", "/qualite/", "/glossaire", "/jeux-de-donnees/absent"]


def _outside_requests(page, base: str) -> list[str]:
    """Reload the page, recording every request to anything but the portal itself."""
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:")) else None)
    page.reload()
    return outside


@pytest.mark.parametrize("width", [1400, 390])
@pytest.mark.parametrize("path", PAGES)
def test_page_type_is_accessible_at_desktop_and_phone_width(portal_server, path, width):
    with open_page(portal_server + path, width=width) as page:
        assert _outside_requests(page, portal_server) == []
        assert axe_violations(page) == []
        assert not scrolls_sideways(page)
        assert heading_problems(page) == []
        assert charts_without_table(page) == []


def test_every_published_dataset_page_is_accessible_on_a_phone(portal_server, portal_site):
    """Whatever catalog/datasets.yml declares: each dataset's page, at 390 px."""
    from territoire import warehouse

    with warehouse.connect(portal_site["url"]) as conn:
        ids = [r[0] for r in conn.execute("select table_name from information_schema.tables "
                                          "where table_schema = 'published' order by 1")
               if r[0] in portal_site["datasets"]]
    with open_page(portal_server + "/jeux-de-donnees/", width=390) as page:
        for dataset_id in ids:
            page.goto(f"{portal_server}/jeux-de-donnees/{dataset_id}")
            assert axe_violations(page) == [], dataset_id
            assert not scrolls_sideways(page), dataset_id
            assert heading_problems(page) == [], dataset_id
            assert charts_without_table(page) == [], dataset_id


def test_run_detail_page_is_accessible(portal_server, client):
    link = re.search(r'href="(/qualite/controles/[^"#]+)"', client.get("/qualite/").text).group(1)
    for width in (1400, 390):
        with open_page(portal_server + link, width=width) as page:
            assert axe_violations(page) == [] and not scrolls_sideways(page) and heading_problems(page) == []


def test_dataset_page_shows_a_map_and_a_time_series_drawn_by_the_server(portal_server):
    with open_page(portal_server + "/jeux-de-donnees/fct_points_de_charge", javascript=False) as page:
        assert page.locator("svg.carte-points circle.lieu").count() > 100
    with open_page(portal_server + "/jeux-de-donnees/fct_consommation_electrique", javascript=False) as page:
        bars = page.locator("#evolution ~ figure svg rect.barre")
        rows = page.locator("#evolution ~ .tableau table tbody tr")
        assert bars.count() >= 2 and bars.count() == rows.count()


def test_filters_work_with_javascript_off_and_the_keyboard_only(portal_server):
    with open_page(portal_server + "/jeux-de-donnees/dim_territoire", javascript=False, width=390) as page:
        page.select_option("#colonne", "code_departement")
        page.select_option("#operateur", "eq")
        page.select_option("#tri", "population_municipale")
        page.select_option("#ordre", "desc")
        page.fill("#valeur", "90")
        with page.expect_navigation():
            page.locator("#valeur").press("Enter")
        query = parse_qs(urlparse(page.url).query)
        assert query["colonne"] == ["code_departement"] and query["valeur"] == ["90"]
        rows = page.locator("table.apercu tbody tr")
        assert rows.count() > 1
        assert rows.first.locator("td").nth(1).inner_text() == "Belfort"  # the most populated commune of the 90
        departements = page.locator("table.apercu tbody tr td:nth-child(6)").all_inner_texts()
        assert set(departements) == {"90"}
        assert not scrolls_sideways(page)


def test_territory_search_then_page_by_keyboard_with_javascript_off(portal_server):
    with open_page(portal_server + "/territoires/", javascript=False) as page:
        page.locator("input[name=q]").fill("belfort")
        with page.expect_navigation():
            page.locator("input[name=q]").press("Enter")
        page.get_by_role("link", name="Belfort", exact=True).focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/territoires/commune/90010")
        assert page.locator("h1").inner_text() == "Belfort en chiffres"


def test_every_control_is_reached_by_keyboard_with_a_visible_focus(portal_server):
    with open_page(portal_server + "/jeux-de-donnees/dim_territoire") as page:
        visited = tab_through(page, 60)
        assert visited[0]["text"] == "Aller au contenu"
        hrefs = {v["href"] for v in visited}
        assert {"/", "/jeux-de-donnees/", "/territoires/", "/qualite/", "/glossaire"} <= hrefs
        names = {v["name"] for v in visited}
        assert {"colonne", "operateur", "valeur", "tri", "ordre"} <= names
        assert all(v["outline"] for v in visited), [v for v in visited if not v["outline"]]
