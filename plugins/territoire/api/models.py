"""Pydantic models of every response: the contract the OpenAPI document states and the tests fuzz."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

Value = Any  # a cell: number, text, boolean, ISO 8601 date or null


class Links(BaseModel):
    self: str
    next: str | None = Field(None, description="The next page (keyset cursor), null on the last page")


class Filter(BaseModel):
    column: str
    operator: str
    value: Value


class PageMeta(BaseModel):
    dataset: str
    page_size: int
    returned: int
    sort: list[str] = Field(description="Order of the rows: the sort column then the dataset's key")
    filters: list[Filter]
    version: str = Field(description="The published version (the ETag without quotes)")


class RowsPage(BaseModel):
    data: list[dict[str, Value]]
    meta: PageMeta
    links: Links


class AggregateMeta(BaseModel):
    dataset: str
    group_by: list[str]
    aggregates: list[str]
    filters: list[Filter]
    groups: int
    max_groups: int


class AggregateResult(BaseModel):
    data: list[dict[str, Value]]
    meta: AggregateMeta


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Table Schema type")
    format: str | None = None
    postgresql_type: str
    description: str | None = None
    unit: str | None = None
    filters: list[str] = Field(description="Operators this column accepts")


class Licence(BaseModel):
    id: str
    title: str
    url: str


class QualityRun(BaseModel):
    run_id: str
    verdict: str
    finished_at: datetime
    checks_total: int
    checks_passed: int
    row_count: int | None = None
    published: bool
    overridden: bool = Field(description="Published despite failed warning-level checks, by a recorded decision "
                                         "(who decided is kept in the managers' report, not published)")
    override_reason: str | None = None
    failed_checks: list[dict[str, Value]] = []


class QualityStatus(BaseModel):
    available: bool = Field(description="False when the quality history cannot be read")
    latest: QualityRun | None = None


class DatasetSummary(BaseModel):
    id: str
    title: str
    description: str
    licence: str
    keywords: list[str]
    geographic: bool
    links: dict[str, str]


class DatasetList(BaseModel):
    data: list[DatasetSummary]


class DatasetMetadata(DatasetSummary):
    licence_detail: Licence | None = None
    producers: list[str]
    publisher: str
    accrual_periodicity: str
    spatial_coverage: str
    primary_key: list[str]
    formats: list[str]
    columns: list[ColumnInfo]
    quality: QualityStatus
    published_at: datetime
    version: str


class QualityHistory(BaseModel):
    dataset: str
    available: bool
    runs: list[QualityRun]


class SearchHit(BaseModel):
    id: str
    title: str
    description: str
    score: float
    matched: list[str] = Field(description="Where the words were found: title, keywords, description, columns")
    columns: list[str] = Field(description="Columns whose name matches")
    links: dict[str, str]


class SearchResult(BaseModel):
    query: str
    data: list[SearchHit]


class TerritoryDataset(BaseModel):
    id: str
    title: str
    column: str
    rows: int = Field(description="Rows of this territory (at most `rows_cap`)")
    rows_cap: int
    links: dict[str, str]


class Territory(BaseModel):
    niveau: str
    code: str
    nom: str | None = None
    parents: dict[str, dict[str, str | None]]
    communes: int | None = None
    population_municipale: int | None = None
    indicators: list[dict[str, Value]]
    indicators_available: bool
    datasets: list[TerritoryDataset]


class Problem(BaseModel):
    """RFC 9457 problem document; extension members name what to fix."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    parameter: str | None = Field(None, description="The parameter at fault")
    allowed: list[Any] | None = Field(None, description="The values the parameter accepts")
    limit: float | None = Field(None, description="The limit that was exceeded")


class ProblemType(BaseModel):
    type: str
    fr: str
    en: str


def _problem(description: str) -> dict:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PROBLEMS = {
    400: _problem("Unknown column, operator or parameter, or a value of the wrong type"),
    404: _problem("Unknown dataset or territory"),
    422: _problem("A limit is exceeded (page size, groups, values, query time)"),
    429: _problem("Too many requests from this client: see Retry-After"),
    503: _problem("The warehouse is busy or unreachable: see Retry-After"),
}
NOT_MODIFIED = {304: {"description": "Not modified: the client's copy is the published version"}}
