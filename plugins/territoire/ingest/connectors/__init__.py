"""Connectors: fetch a catalog resource into the landing zone. `fetch` is the only entry point.

    from territoire.ingest.connectors import fetch
    result = fetch(resource)               # location of the current profile (TERRITOIRE_PROFILE)
    for t in result.load_targets():        # one per raw table (several for a GTFS feed)
        loader.load(resource, t.path, table=t.table, fmt=t.format, sha256=t.sha256,
                    location=result.location)

Load even on `result.not_modified` (then `landed` is the previously archived file): the loader's
ledger skips unchanged content, while skipping on a 304 would lose a load that failed after its fetch.

The connector is the location's `connector` field: `local`, `http`, `opendatasoft`, `udata`, `gtfs`
(see docs/connectors.md). Every failure raises a `FetchError` subclass whose message names the
source, resource, URL, HTTP status and what to do.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path

import httpx

from territoire.catalog import Location, Resource
from territoire.ingest import landing
from territoire.ingest.connectors import archive, gtfs, opendatasoft, udata
from territoire.ingest.connectors.base import (
    ConfigurationError,
    DeadlineExceededError,
    EmptyBodyError,
    FetchError,
    FetchResult,
    GTFSFeedError,
    HTTPStatusError,
    InvalidZipError,
    LoadTarget,
    NetworkError,
    NoMatchingResourceError,
    RedirectLoopError,
    SourceFileNotFoundError,
    TooLargeError,
    TruncatedBodyError,
    UnexpectedContentError,
    UnsafeArchiveError,
)
from territoire.ingest.connectors.http import RetryPolicy, Target, download, get_json, make_client
from territoire.ingest.connectors.local import fetch_local

__all__ = [
    "ConfigurationError", "DeadlineExceededError", "EmptyBodyError", "FetchError", "FetchResult", "GTFSFeedError", "HTTPStatusError",
    "InvalidZipError", "LoadTarget", "NetworkError", "NoMatchingResourceError", "RedirectLoopError", "RetryPolicy",
    "SourceFileNotFoundError", "TooLargeError", "TruncatedBodyError", "UnexpectedContentError", "UnsafeArchiveError", "fetch",
]

log = logging.getLogger("territoire.ingest.connectors")


def _need(target: Target, loc: Location, field: str) -> str:
    value = getattr(loc, field)
    if not value:
        raise ConfigurationError(
            f"connector {loc.connector!r} needs the location field {field!r}", source_id=target.source_id,
            resource=target.resource, hint=f"add `{field}` to this location in catalog/sources.yml",
        )
    return value


def fetch(
    resource: Resource,
    *,
    profile: str | None = None,
    force: bool = False,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
) -> FetchResult:
    """Fetch `resource` (its location for `profile`, default TERRITOIRE_PROFILE) into the landing zone.

    `force` skips the conditional request (downloads even when the server would answer 304).
    `policy` overrides the retry policy (default: `RetryPolicy.from_env()`); `client` lets a caller
    reuse one `httpx.Client` for many resources.
    """
    loc = resource.location(profile)
    fmt = "gtfs" if loc.connector == "gtfs" else resource.format
    # With `member`, what travels is a ZIP (checked as such); the member keeps the declared format.
    target = Target(resource.source_id, resource.name, "zip" if loc.member and fmt != "gtfs" else fmt,
                    max_bytes=_max_download_bytes(resource))
    policy = policy or RetryPolicy.from_env()
    own_client = client is None and loc.connector != "local" and not (loc.connector == "gtfs" and not loc.url)
    if own_client:
        client = make_client(policy)  # one connection pool for the API call and the download
    try:
        result = _fetch(target, loc, fmt, force=force, policy=policy, client=client)
    finally:
        if own_client and client is not None:
            client.close()

    if fmt == "gtfs" and result.landed is not None:
        files = gtfs.extract_landed(result.landed, source_id=target.source_id, resource=target.resource)
        return dataclasses.replace(result, files=files)
    if loc.member and result.landed is not None:
        return dataclasses.replace(result, format=fmt,
                                   files={loc.member: _extract_member(target, result, loc.member)})
    return result


def _fetch(target: Target, loc: Location, fmt: str, *, force: bool, policy: RetryPolicy,
           client: httpx.Client | None) -> FetchResult:
    kw = {"force": force, "policy": policy, "client": client}

    if loc.connector == "local":
        result = fetch_local(target, _local_path(target, loc))
    elif loc.connector == "http":
        result = download(target, _need(target, loc, "url"), params=loc.params or None, **kw)
    elif loc.connector == "opendatasoft":
        url = opendatasoft.export_url(_need(target, loc, "base_url"), _need(target, loc, "dataset"), fmt,
                                      source_id=target.source_id, resource=target.resource)
        result = download(target, url, params=opendatasoft.export_params(loc.params), **kw)
    elif loc.connector == "udata":
        api = udata.dataset_url(loc.base_url, _need(target, loc, "dataset"))
        payload = get_json(target, api, policy=policy, client=client)
        chosen = udata.pick_resource(target, payload, url=api, resource_id=loc.resource,
                                     title=loc.resource_title, fmt=loc.resource_format)
        log.info("%s/%s: data.gouv.fr dataset %s -> resource %r (%s, modified %s)", target.source_id,
                 target.resource, loc.dataset, chosen.get("title"), chosen.get("id"), chosen.get("last_modified"))
        result = download(target, chosen["url"], **kw)
    elif loc.connector == "gtfs":
        if loc.url:
            result = download(target, loc.url, params=loc.params or None, **kw)
        else:
            result = fetch_local(target, _local_path(target, loc))
    else:  # the catalog validates connectors; this guards a Location built by hand
        raise ConfigurationError(
            f"unknown connector {loc.connector!r}", source_id=target.source_id, resource=target.resource,
            hint="use one of local, http, opendatasoft, udata, gtfs",
        )
    return result


def _max_download_bytes(resource: Resource) -> int:
    """The source's `max_download_bytes` (catalog), or the default for a resource built by hand."""
    from territoire.catalog import CatalogError, load_catalog
    from territoire.ingest.connectors.http import DEFAULT_MAX_BYTES

    try:
        return load_catalog().get(resource.source_id).max_download_bytes
    except (KeyError, CatalogError, FileNotFoundError):
        return DEFAULT_MAX_BYTES


def _local_path(target: Target, loc: Location) -> Path:
    _need(target, loc, "path")
    path = loc.resolved_path()
    assert path is not None
    return path


def _extract_member(target: Target, result: FetchResult, member: str) -> Path:
    """A zip resource with a `member`: extract that file once per content, next to the archive."""
    assert result.landed is not None
    d = landing.resource_dir(target.source_id, target.resource)
    final = d / f"{result.landed.sha256}.extracted" / archive.normalise_name(member)
    if final.is_file():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=landing.temp_prefix("extract"), dir=d))
    try:
        extracted = archive.extract_member(result.landed.path, member, tmp, source_id=target.source_id,
                                           resource=target.resource)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(extracted, final)  # per file, so other members extracted earlier stay valid
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
