"""`make demo`: the whole pipeline on the shipped sample data, through Airflow, then a summary.

Stages: warehouse (embedded PostgreSQL unless WAREHOUSE_URL is set) -> Airflow metadata (SQLite)
-> `airflow dags test` of each ingestion DAG -> transform_warehouse (dbt via Cosmos) ->
publish_open_data (quality gate, publication, exports, reports) -> summary.
Full Airflow logs go to var/demo/logs/; the terminal shows which stage and task is running.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from territoire import airflow_env, dbt, settings, warehouse
from territoire.catalog import load_catalog
from territoire.datasets import load_datasets

TASK_LINE = re.compile(r"(Marking task as (SUCCESS|FAILED|SKIPPED|UP_FOR_RETRY)|Task instance .* (success|failed)"
                       r"|state=(success|failed|skipped|up_for_retry))", re.I)


def say(text: str = "") -> None:
    print(text, flush=True)


def airflow(args: list[str], env: dict, log_file: Path, show: re.Pattern | None = None) -> int:
    exe = str(Path(sys.executable).with_name("airflow"))
    with open(log_file, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([exe, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if show is not None:
                m = re.search(r"task_id=([\w.\-]+).*?state=(\w+)|Running task (\S+)", line)
                if m and ("state=" in line and "success" in line or "failed" in line):
                    say(f"      {m.group(1) or m.group(3)}: {m.group(2) or ''}")
        return proc.wait()


def dags_test(dag_id: str, env: dict, logs: Path) -> bool:
    started = time.monotonic()
    log_file = logs / f"{dag_id}.log"
    code = airflow(["dags", "test", dag_id, "2026-11-25"], env, log_file)
    text = log_file.read_text(encoding="utf-8", errors="replace")
    failed = sorted(set(re.findall(r"task_id=([\w.\-]+)[^\n]*?(?:state=failed|Marking task as FAILED)", text)))
    ok = code == 0 and "state=failed" not in text.split("DagRun Finished")[-1] if "DagRun Finished" in text else code == 0
    status = "ok" if ok and not failed else "FAILED"
    say(f"    {dag_id}: {status} in {time.monotonic() - started:.0f}s (log: {log_file})")
    for task_id in failed:
        say(f"      failed task: {task_id}")
    return ok and not failed


def summary(url: str) -> None:
    with warehouse.connect(url) as conn:
        say("\nRaw tables (rows loaded, rows quarantined, last batch):")
        for table, loaded, rejected, status in conn.execute(
            """select distinct on (raw_table) raw_table, rows_loaded, rows_rejected, status
               from ingest.load_batches where status in ('succeeded', 'failed')
               order by raw_table, batch_id desc"""):
            say(f"  raw.{table:<45} {loaded or 0:>9} rows  {rejected or 0:>6} rejected  {status}")
        say("\nQuality gate (last run per dataset):")
        rows = conn.execute(
            """select distinct on (dataset_id) dataset_id, verdict, checks_passed, checks_total, published
               from quality.validation_runs order by dataset_id, finished_at desc""").fetchall()
        for dataset_id, verdict, passed, total, published in rows:
            say(f"  {dataset_id:<40} {verdict:<9} {passed}/{total} checks  {'published' if published else 'NOT published'}")
        say("\nPublished tables (schema `published`, read by analysts):")
        for (table,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'published' order by 1"):
            n = conn.execute(f'select count(*) from published."{table}"').fetchone()[0]
            say(f"  published.{table:<38} {n:>9} rows")
        indicators = conn.execute(
            "select to_regclass('published.indicateurs_territoriaux') is not null").fetchone()[0]
        if indicators:
            say("\nIndicators built (published.indicateurs_territoriaux):")
            for name, levels, n in conn.execute(
                    """select indicateur, string_agg(distinct niveau, ', '), count(*)
                       from published.indicateurs_territoriaux group by 1 order by 1"""):
                say(f"  {name:<55} {n:>7} values  ({levels})")
    pub = settings.publication_dir()
    say(f"\nPublication folder: {pub}")
    for dataset_id in load_datasets():
        folder = pub / "datasets" / dataset_id
        if folder.exists():
            files = ", ".join(sorted(p.name for p in folder.iterdir()))
            say(f"  {folder}/  ({files})")
    for label, path in (("Quality report (managers, French)", pub / "qualite" / "rapport.html"),
                        ("Great Expectations Data Docs", pub / "qualite" / "data_docs" / "index.html"),
                        ("DCAT catalogue", pub / "catalogue.jsonld"),
                        ("dbt docs (analysts)", pub / "docs" / "index.html")):
        if path.exists():
            say(f"  {label}: {path}")
    say(f"\nWarehouse: {warehouse.parse_url(url).url()}  (psql \"{url}\")")


def main() -> int:
    total = time.monotonic()
    say("==> 1/6 Warehouse")
    url = warehouse.get_url()
    warehouse.ensure_schemas(url)
    say(f"    PostgreSQL: {warehouse.parse_url(url).host} / database {warehouse.parse_url(url).dbname}")
    say("==> 2/6 dbt manifest (Cosmos reads it to render one Airflow task per model)")
    dbt.parse(url)
    env = airflow_env.environment(url)
    logs = settings.var_dir() / "demo" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say("==> 3/6 Airflow metadata database (SQLite)")
    if airflow(["db", "migrate"], env, logs / "airflow-db-migrate.log") != 0:
        say(f"    airflow db migrate failed: see {logs / 'airflow-db-migrate.log'}")
        return 1
    sources = [s.id for s in load_catalog()]
    say(f"==> 4/6 Ingestion: {len(sources)} sources, one DAG each")
    ok = True
    for source_id in sources:
        ok &= dags_test(f"ingest_{source_id}", env, logs)
    say("==> 5/6 Warehouse build: transform_warehouse (dbt through Cosmos)")
    ok &= dags_test("transform_warehouse", env, logs)
    say("==> 6/6 Quality gate and publication: publish_open_data")
    ok &= dags_test("publish_open_data", env, logs)
    summary(url)
    say(f"\nDemo finished in {time.monotonic() - total:.0f}s: {'everything passed' if ok else 'SOME STAGES FAILED (see above)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
