"""The FastAPI application: the open tabular API under /api, and the portal's HTML pages when present."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from territoire.api import problems
from territoire.api.catalog import PublishedCatalog
from territoire.api.config import ApiConfig
from territoire.api.db import Pool
from territoire.api.http import HeadAsGet, RateLimit
from territoire.api.routers import datasets as dataset_routes
from territoire.api.routers import problems as problem_routes
from territoire.api.routers import reference, rows, territories
from territoire.api.state import ApiState
from territoire.datasets import Dataset, load_datasets

log = logging.getLogger(__name__)

DESCRIPTION = """API ouverte des données territoriales publiées (schéma `published`), en lecture seule.

Open, read-only API over the published territorial datasets: filtered rows with keyset pagination,
group-by aggregates, whole-result downloads (CSV, JSON, GeoJSON, Parquet), metadata and quality
history, search, and territory pages. Errors are RFC 9457 problem documents, in French or English
(`Accept-Language`). See docs/api.md.
"""


def _database_url(config: ApiConfig) -> str:
    if config.database_url:
        return config.database_url
    from territoire import warehouse
    from territoire.api.role import role_name, role_url

    return role_url(warehouse.get_url(), role_name())


def create_app(config: ApiConfig | None = None, datasets: dict[str, Dataset] | None = None) -> FastAPI:
    config = config or ApiConfig.from_env()
    datasets = datasets if datasets is not None else load_datasets(config.datasets_path)
    pool = Pool(_database_url(config), config.pool_size, statement_timeout_ms=config.statement_timeout_ms)
    state = ApiState(config, pool, PublishedCatalog(pool, datasets, config.version_ttl))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="territoire — API des données publiées", version="1.0.0", description=DESCRIPTION,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.api = state
    problems.install(app)
    for router in (dataset_routes.router, rows.router, territories.router, problem_routes.router, reference.router):
        app.include_router(router)
    _include_portal(app)
    _document_dataset_ids(app, sorted(datasets))
    # Added last, so they run first: the rate limit answers before any work, CORS decorates everything.
    if config.rate > 0:
        app.add_middleware(RateLimit, rate=config.rate, burst=config.burst)
    app.add_middleware(HeadAsGet)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD", "OPTIONS"],
                       allow_headers=["*"], max_age=86400,
                       expose_headers=["ETag", "Last-Modified", "Retry-After", "Content-Disposition",
                                       "Content-Language"])
    return app


def _document_dataset_ids(app: FastAPI, ids: list[str]) -> None:
    """List the catalog's dataset ids in the OpenAPI document (a dataset not yet published is a 404)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = build()
            for item in document["paths"].values():
                for parameter in item.get("get", {}).get("parameters", []):
                    if parameter["name"] == "dataset_id" and ids:
                        parameter["schema"]["enum"] = ids
        return app.openapi_schema

    app.openapi = openapi


def _include_portal(app: FastAPI) -> None:
    """The portal's HTML pages (`territoire.portal.router`), served beside the API."""
    from territoire.portal import router

    app.include_router(router)
