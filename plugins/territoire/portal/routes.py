"""The portal's pages: server-rendered HTML in French, no JavaScript needed, every asset local.

`router` is included by the API's `create_app()`; it serves `/`, `/jeux-de-donnees/...`,
`/territoires/...`, `/qualite/...`, `/glossaire` and `/static/portal/...`.
"""

from __future__ import annotations

import functools
import json
import logging
import re

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from territoire import settings
from territoire.portal import catalogue, db, preview, territories, ui, visuals
from territoire.quality import report

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
STATIC_FILES = {"territoire.css": "text/css; charset=utf-8"}
# Pages may not be framed by another site; types are never sniffed. (No script policy: the pages have
# no script, and the browser tests inject axe-core.)
SECURITY_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin"}
NAV = (("/", "Accueil"), ("/jeux-de-donnees/", "Jeux de données"), ("/territoires/", "Ma commune en chiffres"),
       ("/qualite/", "Qualité des données"), ("/api/docs", "API"), ("/glossaire", "Glossaire"))


def _nav(current: str) -> list[dict]:
    return [{"href": href, "label": label, "current": href == current} for href, label in NAV]


def page(template: str, current: str, status_code: int = 200, **context) -> HTMLResponse:
    html = ui.render(template, nav=_nav(current), css_href="/static/portal/territoire.css", home_href="/",
                     **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def not_found(message: str) -> HTMLResponse:
    return page("erreur.html", "", status_code=404, page_title="Page introuvable", message=message)


def reads_the_warehouse(view):
    """A page that needs the warehouse answers 503 in French, not a bare 500, while it is unreachable."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except psycopg.OperationalError as exc:
            log.error("portal: the warehouse is unreachable: %s", exc)
            response = page("erreur.html", "", status_code=503, page_title="Données momentanément indisponibles",
                            message="La base de données ne répond pas. Réessayez dans quelques minutes ; les "
                                    "fichiers publiés restent téléchargeables.")
            response.headers["Retry-After"] = "60"
            return response
    return wrapper


def _views(conn) -> list[catalogue.DatasetView]:
    return catalogue.views(db.published_columns(conn))


@router.get("/static/portal/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("introuvable", status_code=404, media_type="text/plain; charset=utf-8")
    return FileResponse(ui.STATIC / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "public, max-age=3600"})


@router.get("/", response_class=HTMLResponse)
@reads_the_warehouse
def home(q: str = "") -> HTMLResponse:
    with db.read_only() as conn:
        views = _views(conn)
    return page("accueil.html", "/", page_title="Accueil", q=q, views=[v for v in views if v.published],
                results=catalogue.search(views, q) if q else None)


@router.get("/jeux-de-donnees/", response_class=HTMLResponse)
@reads_the_warehouse
def datasets(q: str = "") -> HTMLResponse:
    with db.read_only() as conn:
        views = _views(conn)
    return page("catalogue.html", "/jeux-de-donnees/", page_title="Jeux de données", q=q,
                results=catalogue.search(views, q))


@router.get("/jeux-de-donnees/{dataset_id}", response_class=HTMLResponse)
@reads_the_warehouse
def dataset(dataset_id: str, request: Request) -> HTMLResponse:
    with db.read_only() as conn:
        views = _views(conn)
        view = next((v for v in views if v.id == dataset_id and v.published), None)
        if view is None:
            declared = next((v for v in views if v.id == dataset_id), None)
            return not_found(f"« {declared.dataset.title} » est déclaré mais pas encore publié : le rapport "
                             "qualité dit pourquoi." if declared else
                             f"Aucun jeu de données publié ne porte l'identifiant « {dataset_id} ».")
        query, rows = _preview(conn, view, dict(request.query_params))
        geo = _optional(conn, visuals.point_map, view)
        series = _optional(conn, visuals.time_series, view)
    base = str(request.base_url).rstrip("/")
    return page("jeu.html", "/jeux-de-donnees/", page_title=view.dataset.title, view=view, query=query,
                rows=rows, geo=geo, series=series, api=view.api_examples(base), operators=preview.OPERATORS,
                schema=view.schema(), downloads=view.downloads(), expected=preview.EXPECTED)


def _preview(conn, view: catalogue.DatasetView, params: dict[str, str]):
    """(query as understood, page of rows or None); a value that does not fit is explained, not applied."""
    query = preview.read_query(params, view.columns)
    try:
        return query, preview.fetch(conn, view.id, view.columns, query, view.dataset.sort_columns)
    except preview.BadFilter as exc:
        query.errors.append(str(exc))
        query.value = ""
        return query, preview.fetch(conn, view.id, view.columns, query, view.dataset.sort_columns)
    except psycopg.errors.QueryCanceled:
        conn.rollback()
        query.errors.append("Ce filtre demande trop de temps : affinez-le, ou utilisez l'API ou les fichiers.")
        return query, None


def _optional(conn, draw, view):
    """A map or a chart too slow to draw is left out (the table and the downloads still hold the data)."""
    try:
        return draw(conn, view)
    except psycopg.errors.QueryCanceled:
        conn.rollback()
        return None


@router.get("/jeux-de-donnees/{dataset_id}/fichiers/{name}")
def download(dataset_id: str, name: str) -> Response:
    view = next((v for v in catalogue.views({}) if v.id == dataset_id), None)
    path = view.download_path(name) if view else None
    if path is None:
        return not_found(f"Le fichier « {name} » n'est pas publié pour ce jeu de données.")
    return FileResponse(path, filename=name)


@router.get("/territoires/", response_class=HTMLResponse)
@reads_the_warehouse
def territory_search(q: str = "") -> HTMLResponse:
    results = []
    if q.strip():
        with db.read_only() as conn:
            results = territories.search(conn, q) if _has_table(conn, territories.TERRITORY_TABLE) else []
    return page("territoires.html", "/territoires/", page_title="Ma commune en chiffres", q=q, results=results)


def _has_table(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"published.{table}",)).fetchone()[0]


@router.get("/territoires/{niveau}/{code}", response_class=HTMLResponse)
@reads_the_warehouse
def territory(niveau: str, code: str) -> HTMLResponse:
    if niveau not in territories.CHAINS:
        return not_found(f"« {niveau} » n'est pas un niveau de territoire (commune, epci, departement, region).")
    with db.read_only() as conn:
        chain = territories.places(conn, niveau, code) if _has_table(conn, territories.TERRITORY_TABLE) else None
        if not chain:
            return not_found(f"Aucun territoire « {code} » de niveau {niveau} dans le référentiel publié.")
        rows = (territories.indicators(conn, chain) if _has_table(conn, territories.INDICATORS_TABLE) else [])
        links = territories.data_links(conn, [v for v in _views(conn) if v.published], chain[0])
    return page("territoire.html", "/territoires/", page_title=f"{chain[0].nom} en chiffres", place=chain[0],
                chain=chain, rows=rows, links=links, levels=territories.LEVELS)


@router.get("/qualite/", response_class=HTMLResponse)
def quality_report() -> HTMLResponse:
    state = catalogue.quality_state()
    if not state.get("genere_le"):
        return page("erreur.html", "/qualite/", page_title="Qualité des données",
                    message="Le rapport qualité n'a pas encore été établi (commande `territoire report`).")
    html = report.render(state, css_href="/static/portal/territoire.css", nav=_nav("/qualite/"),
                         detail_href="/qualite/controles/{run_id}", home_href="/")
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/qualite/controles/{run_id}", response_class=HTMLResponse)
def quality_run(run_id: str) -> HTMLResponse:
    state = catalogue.quality_state()
    found = next(((e, r) for e in state.get("jeux", []) for r in e["historique"] if r["run_id"] == run_id), None)
    path = settings.publication_dir() / "qualite" / "controles" / f"{run_id}.json"
    if not RUN_ID.match(run_id) or found is None or not path.is_file():
        return not_found(f"Aucun contrôle « {run_id} » dans le dernier rapport qualité.")
    checks = json.loads(path.read_text(encoding="utf-8"))
    return HTMLResponse(report.render_run(*found, checks, css_href="/static/portal/territoire.css",
                                          nav=_nav("/qualite/"), report_href="/qualite/"), headers=SECURITY_HEADERS)


@router.get("/glossaire", response_class=HTMLResponse)
def glossary() -> HTMLResponse:
    return page("glossaire.html", "/glossaire", page_title="Glossaire")
