"""Benchmark the cost of orchestration: the whole pipeline through Airflow against the bare tools.

Both runs do the same work on the shipped samples, one after the other, on the same PostgreSQL
server, each in a fresh database and a fresh run folder (so neither finds the other's loads and
skips them):

- bare: `territoire load <source> --force` for every catalog source, one `territoire dbt build`,
  then `territoire publish` (quality gate, publication, exports, reports) with the demo's recorded
  overrides of the old samples' warning-level checks;
- orchestrated: `territoire demo`, i.e. the Airflow DAGs as `make demo` runs them
  (one run of each ingestion DAG, transform_warehouse through Cosmos, publish_open_data), including
  the creation of Airflow's metadata database and the dbt manifest.

    .venv/bin/python bench/bench_pipeline.py [--keep]

Prints `bench pipeline_bare: <s> s`, `bench pipeline_orchestrated: <s> s` and
`bench pipeline_orchestrated_vs_bare: <ratio> x` (target: <= 1.5). The machine's load average is
printed too: on a shared machine, compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from territoire import warehouse  # noqa: E402
from territoire.catalog import load_catalog  # noqa: E402

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


def admin_url() -> str:
    """The server on 127.0.0.1:5432 when it answers, else the embedded one."""
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=3):
            return LOCAL_SERVER
    except psycopg.Error:
        return warehouse.start_embedded()


def fresh_database(admin: str, label: str) -> str:
    return warehouse.create_database(admin, f"territoire_bench_{label}_{uuid.uuid4().hex[:6]}")


def run(cmd: list[str], env: dict, log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code != 0:
        raise SystemExit(f"bench pipeline: `{' '.join(cmd)}` failed (exit {code}); see {log}")


def environment(url: str, var_dir: Path) -> dict:
    env = dict(os.environ)
    env.update({"WAREHOUSE_URL": url, "TERRITOIRE_VAR_DIR": str(var_dir),
                "AIRFLOW_HOME": str(var_dir / "airflow"), "PYTHONPATH": str(ROOT / "plugins")})
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    return env


def bare(url: str, var_dir: Path, log: Path) -> float:
    from territoire.demo import DEMO_OVERRIDES

    env = environment(url, var_dir)
    territoire = str(BIN / "territoire")
    started = time.monotonic()
    run([territoire, "db", "init"], env, log)
    for source in load_catalog():
        run([territoire, "load", source.id, "--force"], env, log)
    run([territoire, "dbt", "build"], env, log)
    reason = "; ".join(DEMO_OVERRIDES.values())
    run([territoire, "publish", "--override-by", "bench", "--reason", reason], env, log)
    return time.monotonic() - started


def orchestrated(url: str, var_dir: Path, log: Path) -> float:
    env = environment(url, var_dir)
    started = time.monotonic()
    run([str(BIN / "territoire"), "demo"], env, log)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the two databases and run folders")
    args = parser.parse_args()
    admin = admin_url()
    work = Path(tempfile.mkdtemp(prefix="territoire-bench-pipeline-"))
    log = work / "bench.log"
    print(f"bench pipeline: load average before {os.getloadavg()[0]:.2f}; output in {log}", flush=True)
    urls = [fresh_database(admin, "bare"), fresh_database(admin, "orchestrated")]
    try:
        bare_s = bare(urls[0], work / "bare", log)
        print(f"bench pipeline_bare: {bare_s:.1f} s  (load average {os.getloadavg()[0]:.2f})", flush=True)
        orchestrated_s = orchestrated(urls[1], work / "orchestrated", log)
        print(f"bench pipeline_orchestrated: {orchestrated_s:.1f} s  (load average {os.getloadavg()[0]:.2f})",
              flush=True)
        print(f"bench pipeline_orchestrated_vs_bare: {orchestrated_s / bare_s:.2f} x  (target <= 1.5)")
    finally:
        if not args.keep:
            for url in urls:
                warehouse.drop_database(admin, warehouse.parse_url(url).dbname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
