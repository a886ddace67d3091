"""operations_daily_summary: every morning, the failed runs and loads of the last day, and the late sources.

Reads Airflow's runs through its public REST API (connection `territoire_airflow_api`: the API server's
URL with a user allowed to read DAG runs) and the ledger `ingest.load_batches` (failed batches). The
summary, in French and English, is always written to this task's log, and sent through the alert
connection `territoire_alerts` (webhook) when it exists. See docs/operations.md.
"""

from datetime import timedelta

from airflow.sdk import DAG, task

from territoire.dag_factory import DEFAULT_ARGS, START, _failure_callbacks

with DAG(
    dag_id="operations_daily_summary",
    description="Daily summary of failed runs and loads, and sources behind their schedule",
    schedule="0 7 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1, "on_failure_callback": _failure_callbacks()},
    tags=["operations"],
    doc_md=__doc__ + """
**On call.** This DAG only reports. A failed `daily_summary` means it could not read the ledger (warehouse
down?) or send the webhook: its log still holds the summary text. Missing Airflow runs in the summary: the
connection `territoire_airflow_api` is missing or its user cannot read DAG runs (the text says so). What to
do about each failure listed: docs/operations.md.
""",
) as dag:

    @task
    def daily_summary(data_interval_start=None) -> dict:
        from datetime import UTC, datetime

        from territoire import operations

        since = data_interval_start or (datetime.now(UTC) - timedelta(days=1))
        last, schedules_error = None, None
        try:
            # A yearly source's last success may be a year old: look back far enough to find it.
            last = operations.last_successes(since - timedelta(days=400))
        except Exception as exc:  # noqa: BLE001 - the failures part of the summary still goes out, and says so
            schedules_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        summary = operations.failed_runs_summary(since, last_success=last, schedules_error=schedules_error)
        return {**operations.send_summary(summary), "failed_runs": len(summary.runs),
                "failed_loads": len(summary.batches), "late": [m.dag_id for m in summary.late]}

    daily_summary()
