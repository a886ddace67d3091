"""Airflow ingestion DAGs, one per source of catalog/sources.yml (`ingest_<source id>`).

Generated, never copy-pasted: add a source to the catalog and its DAG appears. See
docs/catalog.md. (One file defines several DAGs, so dag_id != file name here, on purpose.
The words "airflow" and "dag" in this file also let Airflow's safe-mode discovery parse it.)
"""

from territoire.dag_factory import build_ingestion_dags

globals().update(build_ingestion_dags())
