"""Ingestion: connectors fetch a catalog resource into the landing zone, readers open the landed
file, the loader checks it against its Table Schema and swaps it into `raw`.

The rest of the platform (DAG factory, CLI, pipeline) calls ingestion through
`territoire.pipeline.ingest_resource` and the `Loader` class (`loader.py`), whose stages live in
`header.py`, `staging.py`, `fastcopy.py`, `checking.py`, `swap.py` and `ledger.py`; the Table Schema
rules, one class per type and constraint, in `schema/`.
"""
