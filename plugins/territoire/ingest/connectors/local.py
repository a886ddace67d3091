"""Local files (the demo profile's samples, or a file dropped on shared storage): copied into the
landing zone so every load, local or remote, replays from the same archive."""

from __future__ import annotations

import logging
from pathlib import Path

from territoire.ingest import landing
from territoire.ingest.connectors.base import FetchResult, SourceFileNotFoundError
from territoire.ingest.connectors.http import Target, check_file, keep_refused

log = logging.getLogger("territoire.ingest.connectors")


def fetch_local(target: Target, path: Path) -> FetchResult:
    """Check `path` like a download (empty, HTML, broken ZIP) and archive it."""
    location = str(path)
    if not path.is_file():
        raise SourceFileNotFoundError(
            f"local file {path} does not exist", source_id=target.source_id, resource=target.resource,
            hint="fix the location's `path` in catalog/sources.yml (relative paths start at the project root)",
        )
    previous = landing.read_state(target.source_id, target.resource)
    with keep_refused(target, path, path.name):
        check_file(target, path, None, location, None)
    landed = landing.store(path, target.source_id, target.resource, path.name)
    landing.write_state(target.source_id, target.resource, landing.FetchState(
        location=location, sha256=landed.sha256, size=landed.size, path=str(landed.path),
        original_name=path.name, fetched_at=landing.now_iso(),
    ))
    same = previous is not None and previous.sha256 == landed.sha256
    log.info("%s/%s: archived %s (%d bytes, sha256 %s)", target.source_id, target.resource, path,
             landed.size, landed.sha256[:12])
    return FetchResult(
        source_id=target.source_id, resource=target.resource, location=location, landed=landed,
        not_modified=False, format=target.format, same_as_previous=same,
    )
