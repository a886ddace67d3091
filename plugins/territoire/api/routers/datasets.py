"""The datasets: list, metadata (schema, licence, quality), quality history, DCAT, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from territoire.api import metadata
from territoire.api.http import cache_headers
from territoire.api.models import (
    NOT_MODIFIED,
    PROBLEMS,
    DatasetList,
    DatasetMetadata,
    QualityHistory,
    SearchResult,
)
from territoire.api.problems import ProblemError
from territoire.api.state import State, base_url

router = APIRouter(prefix="/api", tags=["jeux de données"], responses=PROBLEMS)

DatasetId = Annotated[str, Path(description="Dataset id (see /api/datasets)", max_length=200)]


@router.get("/datasets", response_model=DatasetList, summary="The published datasets")
def list_datasets(request: Request, state: State) -> dict:
    base = base_url(request, state)
    return {"data": [metadata.summary(base, t) for t in state.catalog.tables().values()]}


@router.get("/datasets/{dataset_id}", response_model=DatasetMetadata,
            summary="A dataset: description, licence, producers, schema with units, quality status")
def dataset(request: Request, state: State, dataset_id: DatasetId) -> Response:
    # No ETag here: the quality status changes with every validation run, published or not.
    table = state.catalog.table(dataset_id)
    body = DatasetMetadata.model_validate(metadata.metadata(base_url(request, state), state.catalog, table))
    return JSONResponse(body.model_dump(mode="json"))


@router.get("/datasets/{dataset_id}/quality", response_model=QualityHistory,
            summary="Quality history: each validation run, its verdict and the checks that failed")
def quality(request: Request, state: State, dataset_id: DatasetId,
            limit: Annotated[int, Query(ge=1, le=500, description="Number of runs, newest first")] = 50) -> dict:
    table = state.catalog.table(dataset_id)
    return {"dataset": table.id, "available": state.catalog.quality_readable,
            "runs": metadata.quality_runs(state.catalog, table.id, limit)}


@router.get("/datasets/{dataset_id}/dcat", summary="The DCAT-AP description of the dataset (JSON-LD)",
            responses={200: {"content": {"application/ld+json": {}}, "description": "JSON-LD graph"}, **NOT_MODIFIED})
def dcat(request: Request, state: State, dataset_id: DatasetId) -> Response:
    from territoire.publication.dcat import build_graph, published_packages, serialise

    table = state.catalog.table(dataset_id)
    packages = [p for p in published_packages() if p.get("name") in (table.id, table.id.replace("_", "-"))]
    if not packages:
        raise ProblemError(404, "dcat-absent", ("Description DCAT absente", "No DCAT description"),
                           (f"{table.id} n'a pas encore de fichiers publiés : sa description DCAT naît avec eux.",
                            f"{table.id} has no published files yet: its DCAT description comes with them."),
                           parameter="dataset")
    jsonld, _ = serialise(build_graph(packages))
    return Response(jsonld, media_type="application/ld+json", headers=cache_headers(table.version))


@router.get("/search", response_model=SearchResult,
            summary="Search the datasets by title, description, keywords and column names")
def search(request: Request, state: State,
           q: Annotated[str, Query(min_length=1, max_length=200, description="Words, accents optional")]) -> dict:
    return {"query": q, "data": metadata.search(base_url(request, state), state.catalog.tables(), q)}
