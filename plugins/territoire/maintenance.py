"""What the `platform_maintenance` DAG runs besides the analysts' watchdog: recovery after crashes.

- loads left `running` by a dead process -> `interrupted`, their staging tables dropped;
- scratch databases of `territoire validate` runs that died -> dropped;
- publications stopped after their swap -> completed; temporary publication folders -> removed.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def recover_everything(url: str | None = None) -> dict:
    from territoire import warehouse
    from territoire.ingest import recovery
    from territoire.publication import consistency

    url = url or warehouse.get_url()
    with warehouse.connect(url, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('ingest.load_batches') is not null").fetchone()[0]
        if exists:
            recovery.ensure(conn)  # a ledger older than the recovery columns
        interrupted = recovery.recover_all(conn) if exists else []
    outcome = {
        "interrupted_batches": interrupted,
        "scratch_databases_dropped": warehouse.drop_stale_scratch_databases(url),
        "publications": consistency.repair_all(url),
    }
    log.info("maintenance: %s", outcome)
    return outcome
