"""Ingestion DAGs, one per source of catalog/sources.yml (`ingest_<source id>`).

Generated, never copy-pasted: add a source to the catalog and its DAG appears. See
docs/catalog.md. (One file defines several DAGs, so dag_id != file name here, on purpose.)
"""

from territoire.dag_factory import build_ingestion_dags

globals().update(build_ingestion_dags())
