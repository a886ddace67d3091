"""Files refused before any load are in the ledger like any other: a `failed` batch naming the file
archived in the landing zone and why it was refused.

    from territoire.ingest import refusals
    result = refusals.fetch_recorded(resource, force=force)     # instead of connectors.fetch

An archive refused as unsafe (path traversal, link, zip bomb) is archived by the connector
(`FetchError.landed`); `fetch_recorded` then writes its batch before raising the error again.
"""

from __future__ import annotations

import logging

from territoire import warehouse
from territoire.catalog import Resource

log = logging.getLogger(__name__)


def record_refused(resource: Resource, exc, url: str | None = None) -> int | None:
    """Insert the `failed` batch of a file refused by its connector; returns its id (None when the
    error carries no archived file, or the ledger cannot be written: the fetch error matters more)."""
    from territoire.ingest.loader import ensure_ingest_tables

    landed = getattr(exc, "landed", None)
    if landed is None:
        return None
    try:
        with warehouse.connect(url, autocommit=True) as conn:
            with conn.transaction():
                ensure_ingest_tables(conn)
            return conn.execute(
                """insert into ingest.load_batches (source_id, resource, raw_table, location, landing_path,
                       file_sha256, file_size, rows_read, rows_loaded, rows_rejected, status, finished_at, error,
                       details)
                   values (%s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 'failed', clock_timestamp(), %s,
                           jsonb_build_object('refused_by', 'connector', 'error_class', %s::text))
                   returning batch_id""",
                (resource.source_id, resource.name, resource.raw_table, exc.url or str(landed.path),
                 str(landed.path), landed.sha256, landed.size, str(exc)[:4000], type(exc).__name__),
            ).fetchone()[0]
    except Exception as err:  # noqa: BLE001 - never hide the refusal behind a ledger problem
        log.warning("%s/%s: the refusal could not be written to the ledger: %s", resource.source_id,
                    resource.name, err)
        return None


def fetch_recorded(resource: Resource, *, url: str | None = None, **kwargs):
    """`connectors.fetch`, recording in the ledger a file the connector refused as unsafe."""
    from territoire.ingest.connectors import FetchError, fetch

    try:
        return fetch(resource, **kwargs)
    except FetchError as exc:
        record_refused(resource, exc, url)
        raise
