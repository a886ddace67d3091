"""Load every demo resource of the catalog into a warehouse, as the ingestion DAGs would.

GTFS feeds are extracted with `territoire.ingest.connectors.gtfs.extract_feed` and each file is loaded into
`raw.<source_id>__<stem>` (the GTFS table contract); other resources go to their raw table.
Also usable from the command line for a development database:

    .venv/bin/python tests/dbt/demo_loading.py postgresql://postgres@127.0.0.1:5432/dev_me
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from territoire.catalog import load_catalog
from territoire.ingest.connectors.gtfs import extract_feed
from territoire.ingest.loader import Loader
from territoire.naming import raw_table


def load_demo(url: str, *, progress=None) -> dict[str, int]:
    """Load each demo location; return `{raw table: rows loaded}`."""
    loader = Loader(url, progress=progress or (lambda _msg: None))
    loaded: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="territoire-demo-") as tmp:
        for source in load_catalog():
            for resource in source.resources:
                location = resource.location("demo")
                path = location.resolved_path()
                if resource.format == "gtfs":
                    files = extract_feed(path, Path(tmp) / source.id, source_id=source.id, resource=resource.name)
                    for stem, file in files.items():
                        table = raw_table(source.id, stem)
                        result = loader.load(resource, file, table=table, fmt="csv")
                        loaded[table] = result.rows_loaded
                else:
                    result = loader.load(resource, path)
                    loaded[resource.raw_table] = result.rows_loaded
    return loaded


if __name__ == "__main__":
    for table, rows in load_demo(sys.argv[1], progress=print).items():
        print(f"raw.{table}: {rows}")
