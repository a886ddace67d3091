"""Airflow Assets of the platform: DAGs are chained by data, not by the clock.

Every raw table is an Asset updated by its ingestion DAG; the warehouse DAG is scheduled on them
and updates the `audit` marts Asset, on which the publication DAG is scheduled.
"""

from __future__ import annotations

from airflow.sdk import Asset

from territoire.catalog import Resource

# The standard GTFS files a feed may carry: each one lands in raw.<source>__<file stem>.
GTFS_FILES = ("agency", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates",
              "shapes", "frequencies", "transfers", "feed_info")


def raw_asset(table: str) -> Asset:
    return Asset(name=f"raw.{table}", uri=f"postgres://warehouse:5432/territoire/raw/{table}", group="raw")


def raw_tables(resource: Resource) -> list[str]:
    if resource.format == "gtfs" or resource.location().connector == "gtfs":
        return [f"{resource.source_id}__{name}" for name in GTFS_FILES]
    return [resource.raw_table]


AUDIT_MARTS = Asset(name="audit.marts", uri="postgres://warehouse:5432/territoire/audit/marts", group="audit")
PUBLISHED = Asset(name="published.datasets", uri="postgres://warehouse:5432/territoire/published/datasets",
                  group="published")
