"""platform_maintenance: every five minutes, what keeps the platform's promises after crashes and
against long analyst queries.

- the analysts' limits: a query running longer than 5 minutes is cancelled and a session idle in a
  transaction for 2 minutes is ended, whatever the analyst set in their session (checked every 10 s
  during the run; territoire.publication.roles.enforce_limits);
- loads left `running` by a dead worker are marked `interrupted` and their staging tables dropped
  (territoire.ingest.recovery.recover_all), also for sources that are not loaded again soon;
- scratch databases of `territoire validate` runs that died are dropped;
- a publication that stopped half-way is completed or rolled back, and temporary folders left in the
  publication folder are removed (territoire.publication.consistency.repair).
"""

from datetime import timedelta

from airflow.sdk import DAG, task

from territoire.dag_factory import DEFAULT_ARGS, START, _failure_callbacks

WATCH_SECONDS = 4 * 60 + 40  # the watchdog runs until just before the next run starts

with DAG(
    dag_id="platform_maintenance",
    description="Analyst limits watchdog, recovery of interrupted loads and publications, clean-up",
    schedule="*/5 * * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 0, "execution_timeout": timedelta(minutes=10),
                  "on_failure_callback": _failure_callbacks()},
    tags=["operations"],
    doc_md=__doc__ + """
**On call.** `watch_analysts` failing: the platform role lacks `pg_signal_backend` / `pg_read_all_stats`
(docs/analysts.md), so analyst limits are only role defaults until it is fixed. `recover` failing: the
warehouse is down or the ledger unreadable; the next run tries again. Its log lists what it recovered.
""",
) as dag:

    @task
    def watch_analysts() -> int:
        from territoire.publication.roles import watch_analysts as watch

        return len(watch(for_seconds=WATCH_SECONDS))

    @task
    def recover() -> dict:
        from territoire import maintenance

        return maintenance.recover_everything()

    watch_analysts()
    recover()
