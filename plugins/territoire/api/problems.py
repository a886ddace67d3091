"""Errors as RFC 9457 problem documents (`application/problem+json`), in French or English.

Every error the API returns goes through `ProblemError`: a status, a short type slug, a title and a
detail in both languages, and extension members that let a program react (`parameter`, `allowed`,
`limit`...). The language follows `Accept-Language` (French unless English is preferred).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
# The `type` of a problem is a URI reference into this API: /api/problemes/<slug> explains it.
TYPE_BASE = "/api/problemes/"

# Every problem type the API answers with, and what a client can do about it (français, English).
PROBLEM_TYPES = {
    "parametre-invalide": ("Un paramètre est inconnu ou sa valeur n'a pas le bon type : `parameter` le nomme, "
                           "`allowed` donne les valeurs permises.",
                           "A parameter is unknown or its value has the wrong type: `parameter` names it, "
                           "`allowed` lists the values accepted."),
    "limite-depassee": ("La requête dépasse une limite (`limit`) : ajoutez des filtres ou demandez moins.",
                        "The request exceeds a limit (`limit`): add filters or ask for less."),
    "jeu-inconnu": ("Ce jeu de données n'est pas publié : `allowed` liste ceux qui le sont.",
                    "This dataset is not published: `allowed` lists those that are."),
    "territoire-inconnu": ("Aucune donnée publiée ne porte ce code de territoire.",
                           "No published data carries this territory code."),
    "dcat-absent": ("Les fichiers du jeu ne sont pas encore publiés : sa description DCAT viendra avec eux.",
                    "The dataset's files are not published yet: its DCAT description comes with them."),
    "introuvable": ("Cette adresse n'existe pas : voir /api/openapi.json.",
                    "This address does not exist: see /api/openapi.json."),
    "methode-non-permise": ("L'API est en lecture seule : GET et HEAD seulement.",
                            "The API is read-only: GET and HEAD only."),
    "trop-de-requetes": ("Trop de requêtes de votre adresse : attendez `Retry-After` secondes.",
                         "Too many requests from your address: wait `Retry-After` seconds."),
    "requete-trop-couteuse": ("La requête a dépassé la durée permise : ajoutez des filtres.",
                              "The query ran longer than allowed: add filters."),
    "entrepot-indisponible": ("L'entrepôt ne répond pas : réessayez après `Retry-After` secondes.",
                              "The warehouse does not answer: retry after `Retry-After` seconds."),
    "surcharge": ("Toutes les connexions sont occupées : réessayez après `Retry-After` secondes.",
                  "Every connection is busy: retry after `Retry-After` seconds."),
    "telechargements-en-cours": ("Trop de téléchargements complets en cours : réessayez après `Retry-After` "
                                 "secondes, ou lisez par pages.",
                                 "Too many whole downloads streaming: retry after `Retry-After` seconds, or read "
                                 "pages."),
    "erreur-http": ("Erreur HTTP.", "HTTP error."),
    "erreur-interne": ("Erreur inattendue, consignée dans le journal du serveur.",
                       "Unexpected error, recorded in the server log."),
}


class ProblemError(Exception):
    def __init__(self, status: int, slug: str, title: tuple[str, str], detail: tuple[str, str],
                 headers: dict[str, str] | None = None, **extensions: Any):
        super().__init__(detail[1])
        if slug not in PROBLEM_TYPES:
            raise ValueError(f"problem type {slug!r} is not declared in PROBLEM_TYPES")
        self.status = status
        self.slug = slug
        self.title = title  # (français, English)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def language(request: Request) -> str:
    """'fr' or 'en', from Accept-Language quality values (French by default)."""
    best, best_q = "fr", 0.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in ("fr", "en") and q > best_q:
            best, best_q = primary, q
    return best


def problem_response(request: Request, problem: ProblemError) -> Response:
    lang = language(request)
    i = 0 if lang == "fr" else 1
    body = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title[i],
        "status": problem.status,
        "detail": problem.detail[i],
        "instance": request.url.path,
        **problem.extensions,
    }
    headers = {"Content-Language": lang, "Vary": "Accept-Language", **problem.headers}
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=problem.status,
                    media_type=MEDIA_TYPE, headers=headers)


def bad_parameter(parameter: str, fr: str, en: str, allowed: list[str] | None = None, status: int = 400,
                  **extensions: Any) -> ProblemError:
    if allowed is not None:
        extensions["allowed"] = allowed
    return ProblemError(status, "parametre-invalide", ("Paramètre invalide", "Invalid parameter"),
                        (fr, en), parameter=parameter, **extensions)


def too_large(parameter: str, limit: int, fr: str, en: str) -> ProblemError:
    return ProblemError(422, "limite-depassee", ("Requête trop grande", "Request too large"), (fr, en),
                        parameter=parameter, limit=limit)


def unknown_dataset(dataset_id: str, known: list[str]) -> ProblemError:
    return ProblemError(
        404, "jeu-inconnu", ("Jeu de données inconnu", "Unknown dataset"),
        (f"Aucun jeu de données publié ne s'appelle {dataset_id!r}.",
         f"No published dataset is called {dataset_id!r}."),
        parameter="dataset", allowed=known)


async def _on_problem(request: Request, exc: ProblemError) -> Response:
    return problem_response(request, exc)


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        problem = ProblemError(404, "introuvable", ("Ressource introuvable", "Not found"),
                               ("Cette adresse n'existe pas dans l'API ; la liste est dans /api/openapi.json.",
                                "This address does not exist in the API; see /api/openapi.json."))
    elif exc.status_code == 405:
        problem = ProblemError(405, "methode-non-permise", ("Méthode non permise", "Method not allowed"),
                               ("L'API est en lecture seule : seules GET et HEAD sont acceptées.",
                                "The API is read-only: only GET and HEAD are accepted."),
                               headers=dict(exc.headers or {}))
    else:
        problem = ProblemError(exc.status_code, "erreur-http", (str(exc.detail), str(exc.detail)),
                               (str(exc.detail), str(exc.detail)), headers=dict(exc.headers or {}))
    return problem_response(request, problem)


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("query", "path")]
    parameter = ".".join(where) or "?"
    message = first.get("msg", "invalid value")
    limit = (first.get("ctx") or {}).get("le")
    extensions: dict[str, Any] = {"parameter": parameter}
    if limit is not None:
        extensions["limit"] = limit
    return problem_response(request, ProblemError(
        422, "parametre-invalide", ("Paramètre invalide", "Invalid parameter"),
        (f"Paramètre {parameter} : {message}.", f"Parameter {parameter}: {message}."), **extensions))


async def _on_timeout(request: Request, exc: Exception) -> Response:
    return problem_response(request, ProblemError(
        422, "requete-trop-couteuse", ("Requête trop coûteuse", "Query too expensive"),
        ("La requête a dépassé la durée permise par l'API ; ajoutez des filtres ou demandez moins de lignes.",
         "The query ran longer than the API allows; add filters or ask for fewer rows."),
        parameter="*"))


async def _on_database(request: Request, exc: Exception) -> Response:
    log.warning("warehouse error on %s: %s", request.url.path, exc)
    return problem_response(request, ProblemError(
        503, "entrepot-indisponible", ("Entrepôt indisponible", "Warehouse unavailable"),
        ("L'entrepôt de données ne répond pas ou refuse la lecture ; réessayez dans un instant.",
         "The data warehouse does not answer or refuses the read; try again in a moment."),
        headers={"Retry-After": "5"}))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    return problem_response(request, ProblemError(
        500, "erreur-interne", ("Erreur interne", "Internal error"),
        ("Une erreur inattendue s'est produite ; elle est consignée dans le journal du serveur.",
         "An unexpected error happened; it is recorded in the server log.")))


def install(app) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(psycopg.errors.QueryCanceled, _on_timeout)
    # A table not granted yet, a server restarting, a connection limit reached: the warehouse's state.
    for error in (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege):
        app.add_exception_handler(error, _on_database)
    app.add_exception_handler(Exception, _on_unexpected)
