"""Rows of a dataset: filtered pages (keyset), group-by aggregates, and the whole result as a file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from territoire.api import formats, query
from territoire.api.catalog import Table
from territoire.api.http import cache_headers, is_head, not_modified
from territoire.api.models import NOT_MODIFIED, PROBLEMS, AggregateResult, RowsPage
from territoire.api.problems import ProblemError, bad_parameter, too_large
from territoire.api.state import ApiState, State, base_url
from territoire.api.values import dumps, row_objects

router = APIRouter(prefix="/api/datasets", tags=["lignes"], responses={**PROBLEMS, **NOT_MODIFIED})

DatasetId = Annotated[str, Path(description="Dataset id (see /api/datasets)", max_length=200)]
FILTERS_DOC = ("Filters: any `<column>__<operator>=<value>` query parameter, operators eq, ne, lt, le, gt, ge, "
               "in (comma-separated values), contains (text, case-insensitive), isnull (true/false). "
               "Values are typed by the column (numbers with a point, dates YYYY-MM-DD).")
PAGE_RESERVED = ("columns", "sort", "page_size", "after")
AGG_RESERVED = ("group_by", "agg", "sort")
EXPORT_RESERVED = ("columns", "sort", "format")


def _params(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def _single(request: Request, name: str) -> None:
    if len(request.query_params.getlist(name)) > 1:
        raise bad_parameter(name, f"Le paramètre {name} est donné plusieurs fois.",
                            f"Parameter {name} is given more than once.")


def _json(body: dict, headers: dict[str, str], columns: list | None = None) -> Response:
    return Response(dumps(body, columns), media_type="application/json", headers=headers)


def _table(state: ApiState, dataset_id: str) -> Table:
    return state.catalog.table(dataset_id)


@router.get("/{dataset_id}/rows", response_model=RowsPage, summary="Rows of a dataset, filtered, sorted, paginated",
            description="Keyset pagination without depth limit: follow `links.next`. " + FILTERS_DOC)
def rows(request: Request, state: State, dataset_id: DatasetId,
         columns: Annotated[str | None, Query(description="Comma-separated columns to return (default: all)",
                                              max_length=10_000)] = None,
         sort: Annotated[str | None, Query(description="Column to sort on, `-column` for descending",
                                           max_length=200)] = None,
         page_size: Annotated[int, Query(ge=1, le=10_000, description="Rows per page (at most 10,000)")] = 100,
         after: Annotated[str | None, Query(description="Cursor from a `next` link", max_length=20_000)] = None) -> Response:
    table = _table(state, dataset_id)
    if cached := not_modified(request, table.version):
        return cached
    for name in PAGE_RESERVED:
        _single(request, name)
    page = query.Page(table, query.parse_columns(table, columns, state.config), query.parse_sort(table, sort),
                      query.parse_filters(table, _params(request), PAGE_RESERVED, state.config),
                      min(page_size, state.config.max_page_size))
    if after:
        page.after = query.decode_cursor(after, page.key)
    statement, params = query.page_query(page)
    with state.pool.connection() as conn:
        fetched = conn.execute(statement, params).fetchall()
    return _json(_page_body(request, state, page, fetched), cache_headers(table.version), page.columns)


def _page_body(request: Request, state: ApiState, page: query.Page, fetched: list) -> dict:
    names = [c.name for c in page.selected]
    rows = fetched[:page.size]
    next_link = None
    if len(fetched) > page.size:
        last = dict(zip(names, rows[-1], strict=True))
        cursor = query.encode_cursor([last[c.name] for c in page.key])
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"] + [("after", cursor)]
        next_link = f"{base_url(request, state)}{request.url.path}?{urlencode(params)}"
    sort = [("-" if page.sort.descending else "") + c.name for c in page.key]
    return {
        "data": row_objects(page.columns, rows),
        "meta": {"dataset": page.table.id, "page_size": page.size, "returned": len(rows), "sort": sort,
                 "filters": [f.describe() for f in page.filters], "version": page.table.version.etag.strip('"')},
        "links": {"self": str(request.url), "next": next_link},
    }


@router.get("/{dataset_id}/aggregate", response_model=AggregateResult,
            summary="Group-by aggregates (count, sum, avg, min, max) on any column",
            description="`agg` is repeated: `count`, `count:<column>`, `sum:<column>`, `avg:<column>`, "
                        "`min:<column>`, `max:<column>`. At most 5 group-by columns, 20 aggregates and 10,000 "
                        "groups (add filters beyond). " + FILTERS_DOC)
def aggregate(request: Request, state: State, dataset_id: DatasetId,
              group_by: Annotated[str | None, Query(description="Comma-separated columns to group by",
                                                    max_length=2_000)] = None,
              agg: Annotated[list[str] | None, Query(description="Aggregates, e.g. `count`, `sum:population`",
                                                     max_length=200)] = None,
              sort: Annotated[str | None, Query(description="Output column or aggregate alias to sort on, "
                                                            "`-name` for descending", max_length=200)] = None) -> Response:
    table = _table(state, dataset_id)
    if cached := not_modified(request, table.version):
        return cached
    _single(request, "group_by")
    _single(request, "sort")
    config = state.config
    grouping = query.Grouping(table, query.parse_group_by(table, group_by, config),
                              query.parse_aggregates(table, agg or [], config),
                              query.parse_filters(table, _params(request), AGG_RESERVED, config), None,
                              config.max_groups)
    grouping.sort = query.parse_group_sort(sort, grouping.output)
    statement, params = query.grouping_query(grouping)
    with state.pool.connection() as conn:
        fetched = conn.execute(statement, params).fetchall()
    if len(fetched) > config.max_groups:
        raise too_large("group_by", config.max_groups,
                        f"Le regroupement donne plus de {config.max_groups} groupes : ajoutez des filtres ou "
                        "regroupez par moins de colonnes.",
                        f"The grouping gives more than {config.max_groups} groups: add filters or group by "
                        "fewer columns.")
    names = grouping.output
    body = {
        "data": [dict(zip(names, row, strict=True)) for row in fetched],
        "meta": {"dataset": table.id, "group_by": [c.name for c in grouping.group_by],
                 "aggregates": [a.alias for a in grouping.aggregates],
                 "filters": [f.describe() for f in grouping.filters], "groups": len(fetched),
                 "max_groups": config.max_groups},
    }
    return _json(body, cache_headers(table.version))


@router.get("/{dataset_id}/export", summary="The whole filtered result as CSV, JSON, GeoJSON or Parquet",
            description="Streamed, no row limit. CSV text cells that a spreadsheet would read as a formula get "
                        "a leading `'`. GeoJSON only for geographic datasets. " + FILTERS_DOC,
            responses={200: {"content": {"text/csv": {}, "application/json": {}, "application/geo+json": {},
                                         "application/vnd.apache.parquet": {}},
                             "description": "The file, streamed"}})
def export(request: Request, state: State, dataset_id: DatasetId,
           format: Annotated[Literal["csv", "json", "geojson", "parquet"],
                             Query(description="File format (geojson: geographic datasets only)")] = "csv",
           columns: Annotated[str | None, Query(description="Comma-separated columns (default: all)",
                                                max_length=10_000)] = None,
           sort: Annotated[str | None, Query(description="Column to sort on, `-column` for descending",
                                             max_length=200)] = None) -> Response:
    table = _table(state, dataset_id)
    allowed = formats.formats_of(table)
    if format not in allowed:
        raise bad_parameter("format", f"Format {format!r} indisponible pour {table.id}.",
                            f"Format {format!r} is not available for {table.id}.", allowed=allowed)
    if cached := not_modified(request, table.version):
        return cached
    for name in EXPORT_RESERVED:
        _single(request, name)
    exporter = formats.Export(state.pool, table, query.parse_columns(table, columns, state.config),
                              query.parse_sort(table, sort),
                              query.parse_filters(table, _params(request), EXPORT_RESERVED, state.config),
                              state.config.export_timeout_ms)
    headers = {**cache_headers(table.version),
               "Content-Disposition": f'attachment; filename="{table.id}.{format}"'}
    if is_head(request):
        return Response(media_type=formats.MEDIA_TYPES[format], headers=headers)
    if format == "csv":
        exporter.formula_columns = state.formula_columns.of(table)
    if not state.export_slots.acquire(blocking=False):
        raise ProblemError(503, "telechargements-en-cours", ("Trop de téléchargements en cours",
                                                             "Too many downloads in progress"),
                           (f"{state.config.max_exports} téléchargements complets sont déjà en cours ; réessayez "
                            "dans un instant, ou demandez des pages (/rows).",
                            f"{state.config.max_exports} whole downloads are already streaming; retry in a moment, "
                            "or ask for pages (/rows)."),
                           headers={"Retry-After": "10"}, limit=state.config.max_exports)
    return StreamingResponse(_releasing(getattr(exporter, format)(), state.export_slots),
                             media_type=formats.MEDIA_TYPES[format], headers=headers)


def _releasing(chunks: Iterator[bytes], slot: threading.BoundedSemaphore) -> Iterator[bytes]:
    """The export's chunks; its slot is given back when it ends, fails or the client goes away."""
    try:
        yield from chunks
    finally:
        slot.release()
