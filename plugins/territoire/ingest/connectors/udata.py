"""data.gouv.fr (udata API v1): from a dataset id or slug to its latest matching resource.

`GET {base_url}/api/1/datasets/{dataset}/` lists the dataset's resources (files). The connector keeps
those matching the location's `resource` (a resource id), `resource_title` (case-insensitive,
shell-style wildcards: `*2024*.csv`) and `resource_format` (`csv`, `zip`, ...); with none of the three,
the resource's catalog format. The most recently modified match wins; its `url` is then downloaded
like any http resource.
"""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from typing import Any

from territoire.ingest.connectors.base import NoMatchingResourceError, UnexpectedContentError
from territoire.ingest.connectors.http import Target

DEFAULT_BASE_URL = "https://www.data.gouv.fr"
# What data.gouv.fr writes in a resource's `format` for each catalog format.
FORMAT_ALIASES = {
    "csv": {"csv", "csv.gz"},
    "json": {"json"},
    "ndjson": {"ndjson", "jsonl", "json"},
    "geojson": {"geojson", "json"},
    "zip": {"zip"},
    "gtfs": {"gtfs", "zip"},
}


def dataset_url(base_url: str | None, dataset: str) -> str:
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/api/1"):
        base = base[: -len("/api/1")]
    return f"{base}/api/1/datasets/{dataset}/"


def _when(resource: dict[str, Any]) -> datetime:
    for key in ("last_modified", "created_at"):
        value = resource.get(key)
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def pick_resource(
    target: Target,
    payload: Any,
    *,
    url: str,
    resource_id: str | None = None,
    title: str | None = None,
    fmt: str | None = None,
) -> dict[str, Any]:
    """The latest resource of a dataset payload matching id/title/format (see module doc)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("resources"), list):
        raise UnexpectedContentError(
            "the data.gouv.fr API answer has no `resources` list", source_id=target.source_id,
            resource=target.resource, url=url, hint="check `base_url` (it must be a udata portal) and `dataset`",
        )
    resources = [r for r in payload["resources"] if isinstance(r, dict) and r.get("url")]
    formats = {fmt.lower()} if fmt else (FORMAT_ALIASES.get(target.format, {target.format})
                                         if not (resource_id or title) else None)

    def matches(r: dict[str, Any]) -> bool:
        if resource_id and r.get("id") != resource_id:
            return False
        if title and not fnmatch.fnmatchcase((r.get("title") or "").lower(), title.lower()):
            return False
        return not (formats and (r.get("format") or "").lower() not in formats)

    found = [r for r in resources if matches(r)]
    if not found:
        wanted = ", ".join(f"{k} {v!r}" for k, v in (("id", resource_id), ("title", title),
                           ("format", fmt or (sorted(formats) if formats else None))) if v)
        listing = "; ".join(
            f"{r.get('title')!r} (format {r.get('format')!r}, modified {r.get('last_modified')}, id {r.get('id')})"
            for r in resources[:20]
        ) or "no downloadable resource"
        raise NoMatchingResourceError(
            f"dataset {payload.get('slug') or payload.get('id')!r} has no resource matching {wanted}; "
            f"it has: {listing}",
            source_id=target.source_id, resource=target.resource, url=url,
            hint="adjust resource_title / resource_format / resource in catalog/sources.yml to one of these",
        )
    return max(found, key=_when)
