"""Ingestion: connectors fetch a catalog resource into the landing zone, readers open the landed
file, the loader checks it against its Table Schema and swaps it into `raw`.

The rest of the platform (DAG factory, CLI, pipeline) calls ingestion through
`territoire.pipeline.ingest_resource` and the `Loader` class.
"""
