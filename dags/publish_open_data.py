"""publish_open_data: quality gate, then publication, of every dataset of catalog/datasets.yml.

For each dataset: run its Great Expectations suite on `audit.<id>`; if it passes, switch it into
`published` (one transaction) and export the open-data files; if it fails, the task fails, the
previous published version and files stay as they were, and the failure is in the quality history.
The reports (managers' quality report, DCAT catalogue, dbt docs, analysts' grants) are rebuilt at the end
whatever happened, then datasets declaring `portal:` are pushed to the udata portal when one is configured.
"""

from airflow.sdk import DAG, Param, task

from territoire import assets
from territoire.dag_factory import DEFAULT_ARGS, START, _failure_callbacks, published_dataset_ids

with DAG(
    dag_id="publish_open_data",
    description="Write-audit-publish: GX quality gate, atomic publication, open-data exports",
    schedule=[assets.AUDIT_MARTS],
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 0, "on_failure_callback": _failure_callbacks()},
    tags=["publication", "quality"],
    params={"overrides": Param({}, type="object", description=(
        'Publish despite failing WARNING-level checks, knowingly: {"<dataset>": {"by": "name", "reason": "why"}}. '
        "Recorded in quality.validation_runs and shown in the quality report. Error-level checks cannot be "
        "overridden."))},
    doc_md=__doc__ + """
**On call.** A failed `gate_and_publish__<id>` task: its log lists each failing check (column,
observed value, examples) and the Data Docs page. Nothing was published for that dataset. Fix the
data upstream (or the suite, if the rule is wrong), then re-run. Warning-level failures can be
published knowingly with `territoire publish <id> --override-by NAME --reason TEXT` (recorded).
""",
) as dag:

    @task(trigger_rule="all_done", outlets=[assets.PUBLISHED])
    def build_reports() -> dict:
        from territoire.pipeline import build_reports as build

        return build()

    @task(trigger_rule="one_failed")
    def fail_if_a_dataset_was_blocked() -> None:
        """Runs only when a gate failed: makes the DAG run fail (the reports above were still rebuilt)."""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("at least one dataset failed its quality gate and was not published: "
                                   "see the failed gate_and_publish__* tasks")

    @task(trigger_rule="all_done")
    def push_to_portal() -> list[str]:
        """Datasets declaring `portal:` are pushed to the udata portal (connection `udata_portal`; off when absent)."""
        from territoire.pipeline import push_to_portal as push

        return push()

    reports = build_reports()
    reports >> push_to_portal()
    blocked = fail_if_a_dataset_was_blocked()
    for dataset_id in published_dataset_ids():

        @task(task_id=f"gate_and_publish__{dataset_id}")
        def gate_and_publish(dataset: str, params: dict | None = None) -> dict:
            from territoire.pipeline import publish_dataset

            override = ((params or {}).get("overrides") or {}).get(dataset) or {}
            return publish_dataset(dataset, override_by=override.get("by"),
                                   override_reason=override.get("reason")).as_dict()

        gate_and_publish(dataset_id) >> [reports, blocked]
