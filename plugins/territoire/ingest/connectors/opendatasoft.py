"""Opendatasoft portals (Explore API v2.1), used by many collectivités (data.<ville>.fr, ...).

The export endpoint streams the whole dataset in one response, with no pagination limit:
`{base_url}/api/explore/v2.1/catalog/datasets/{dataset}/exports/{format}`. Query parameters come
from the location's `params` (`where`, `refine`, `exclude`, `select`, `timezone`, `delimiter`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from territoire.ingest.connectors.base import ConfigurationError

API_PATH = "/api/explore/v2.1"
# Catalog format -> export format name in the API (NDJSON is called JSON Lines there).
EXPORT_FORMATS = {"csv": "csv", "json": "json", "geojson": "geojson", "ndjson": "jsonl"}


def export_url(base_url: str, dataset: str, fmt: str, *, source_id: str = "-", resource: str = "-") -> str:
    """The export URL; `base_url` is the portal root (`https://data.example.fr`), with or without the
    `/api/explore/v2.1` suffix."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigurationError(
            f"format {fmt!r} cannot be exported by an Opendatasoft portal", source_id=source_id,
            resource=resource, hint=f"use one of {', '.join(sorted(EXPORT_FORMATS))} in catalog/sources.yml",
        )
    base = base_url.rstrip("/")
    if base.endswith(API_PATH):
        base = base[: -len(API_PATH)]
    return f"{base}{API_PATH}/catalog/datasets/{quote(dataset, safe='')}/exports/{EXPORT_FORMATS[fmt]}"


def export_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Catalog `params` -> query parameters. A list repeats the parameter; a mapping under `refine` or
    `exclude` becomes `facet:value` pairs (`refine: {annee: "2024"}` -> `refine=annee:2024`); booleans
    are `true`/`false` as the API expects."""
    out: list[tuple[str, str]] = []

    def text(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    for key, value in (params or {}).items():
        if isinstance(value, Mapping):
            for facet, facet_value in value.items():
                values = facet_value if isinstance(facet_value, list) else [facet_value]
                out.extend((key, f"{facet}:{text(v)}") for v in values)
        elif isinstance(value, list):
            out.extend((key, text(v)) for v in value)
        elif value is not None:
            out.append((key, text(value)))
    return out
