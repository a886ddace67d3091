"""The CeleryExecutor stack runs tasks on two workers (scheduler, dag-processor, api-server, Redis).

A throwaway DAG, written by the test into a temporary folder, fans out into parallel tasks; the
test triggers it with `airflow dags trigger`, waits (bounded) for the run to succeed through the
REST API, and checks from the task instances' `hostname` that both workers ran some of them.
The pipeline DAGs are not used yet: this proves the distributed setup itself.
"""

from __future__ import annotations

import textwrap
import time

import pytest
from celery_stack import CeleryStack, postgres_answers, redis_answers

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(420)]

FANOUT = 8

DAG_FILE = textwrap.dedent(
    f'''
    """Throwaway DAG of the CeleryExecutor stack test (tests/deploy/test_celery_stack.py)."""
    import time

    import pendulum
    from airflow.sdk import dag, task


    @dag(
        dag_id="stack_fanout",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={{"owner": "platform", "retries": 0}},
        tags=["test"],
    )
    def stack_fanout():
        @task
        def work(n: int) -> int:
            # Long enough that one worker's slots fill up and the other worker takes the rest.
            time.sleep(3)
            return n * n

        @task
        def total(values: list[int]) -> int:
            assert sorted(values) == [n * n for n in range({FANOUT})], values
            return sum(values)

        total(work.expand(n=list(range({FANOUT}))))


    stack_fanout()
    '''
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for reason in (postgres_answers(), redis_answers()):
        if reason:
            pytest.skip(reason)
    dags = tmp_path_factory.mktemp("stack_dags")
    (dags / "stack_fanout.py").write_text(DAG_FILE, encoding="utf-8")
    with CeleryStack(dags_folder=dags) as running:
        yield running
    # Everything it started is gone.
    for name, proc in running.processes.items():
        assert proc.poll() is not None, f"{name} (pid {proc.pid}) still runs after stop()"


def test_tasks_run_on_both_celery_workers(stack):
    started = time.monotonic()
    stack.wait_for_dag("stack_fanout", timeout=90)
    run_id = stack.trigger("stack_fanout")
    state = stack.wait_for_run("stack_fanout", run_id, timeout=240)
    tis = stack.task_instances("stack_fanout", run_id)
    assert state == "success", {(ti["task_id"], ti.get("map_index")): ti["state"] for ti in tis}
    assert len(tis) == FANOUT + 1
    assert {ti["state"] for ti in tis} == {"success"}
    hosts = {ti["hostname"] for ti in tis}
    assert hosts == set(stack.workers), f"tasks ran on {hosts}, expected both workers {stack.workers}"
    # Every mapped task ran through the executor, on the queue the workers serve.
    assert {ti["queue"] for ti in tis} == {stack.queue}
    print(f"run {run_id}: {len(tis)} tasks on {sorted(hosts)} in {time.monotonic() - started:.1f}s")
