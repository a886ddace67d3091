"""One command line, `territoire`: every command is there, the old entry points are gone, output is quiet,
failures are one line with a non-zero exit, `summary` reads the project's Airflow home, `sources` shows
GTFS tables, `db stop` stops the embedded server."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from territoire.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("sources", "load", "validate", "db", "demo", "dbt", "publish", "report", "catalogue", "docs",
            "analysts", "push", "backfill", "summary", "airflow", "new-source", "quality-scaffold")


def territoire(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("territoire"))
    return subprocess.run([exe, *args], env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=timeout)


def test_every_command_is_in_the_one_entry_point():
    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - no public accessor
    assert set(COMMANDS) <= set(commands)
    assert not (ROOT / "plugins" / "territoire" / "publication" / "__main__.py").exists()
    from territoire import operations

    assert not hasattr(operations, "main")
    help_text = territoire(["--help"]).stdout
    for name in COMMANDS:
        assert name in help_text


def test_an_unknown_source_is_one_line_and_exit_2():
    result = territoire(["load", "no_such_source"])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no_such_source" in result.stderr


def test_an_unexpected_failure_is_one_line_and_exit_1(tmp_path):
    """A warehouse that does not answer, a missing file: one line naming the problem (no traceback), exit 1;
    -v shows the traceback."""
    env = {**os.environ, "WAREHOUSE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    missing = tmp_path / "nothing.json"
    result = territoire(["db", "init"], env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # An unreachable warehouse is named by host, port and database, never with a password.
    assert result.stderr.startswith("territoire: cannot connect to the warehouse (host 127.0.0.1, port 1, "
                                    "database none"), result.stderr
    result = territoire(["new-source", "abc", "--file", str(missing), "--domain", "air"], env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"territoire: new-source: sample file not found: {missing} (run with -v for details)"
    verbose = territoire(["-v", "new-source", "abc", "--file", str(missing), "--domain", "air"], env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def _airflow_metadata(home: Path) -> Path:
    """A real Airflow metadata database (Airflow's own schema) in `home`."""
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    subprocess.run([sys.executable, "-c", "from airflow.utils import db; db.initdb()"], env=env, check=True,
                   capture_output=True, timeout=600)
    return home / "airflow.db"


def _add_failed_run(db: Path, dag_id: str) -> None:
    """One failed run, as the scheduler records it (Airflow's own columns)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "insert into dag_run (dag_id, run_id, state, run_type, logical_date, start_date, end_date, run_after, "
            "clear_number, log_template_id, updated_at, span_status) values (?, ?, 'failed', 'manual', "
            "datetime('now', '-1 hour'), datetime('now', '-1 hour'), datetime('now', '-50 minutes'), "
            "datetime('now', '-1 hour'), 0, 1, datetime('now'), 'not_started')",
            (dag_id, f"manual__{dag_id}"))


@pytest.mark.integration
def test_summary_reads_the_project_airflow_home_and_says_when_it_cannot(warehouse_url, tmp_path):
    env = {**os.environ, "WAREHOUSE_URL": warehouse_url, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    env.pop("AIRFLOW_HOME", None)
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    # No Airflow home yet (no demo run): exit 1 and one line saying what to do.
    nothing = territoire(["summary"], env, timeout=120)
    assert nothing.returncode == 1, nothing.stdout + nothing.stderr
    assert "no Airflow metadata database at" in nothing.stderr and "make demo" in nothing.stderr
    # An empty file where the database should be: unreadable, exit 1.
    home = tmp_path / "var" / "airflow"
    home.mkdir(parents=True)
    (home / "airflow.db").write_bytes(b"")
    empty = territoire(["summary"], env, timeout=120)
    assert empty.returncode == 1 and "cannot read Airflow's runs" in empty.stderr
    # The project's home (var/airflow, not ~/airflow) with a failed run: listed, exit 0, in seconds.
    (home / "airflow.db").unlink()
    _add_failed_run(_airflow_metadata(home), "ingest_sinoe")
    read = territoire(["summary", "--lang", "en"], env, timeout=120)
    assert read.returncode == 0, read.stderr
    assert "1 failed Airflow run(s)" in read.stdout and "ingest_sinoe manual__ingest_sinoe" in read.stdout


@pytest.mark.integration
def test_sources_shows_every_gtfs_table_with_its_batch(fresh_database, tmp_path):
    env = {**os.environ, "WAREHOUSE_URL": fresh_database, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    loaded = territoire(["load", "transport"], env)
    assert loaded.returncode == 0, loaded.stderr
    listing = territoire(["sources"], env).stdout
    # The feed's eight files each have their table and batch; the optional GTFS files it lacks are
    # listed too, never loaded.
    transport = [line for line in listing.splitlines() if "raw.transport__" in line]
    loaded = [line for line in transport if "succeeded" in line]
    assert len(loaded) == 8, listing
    assert all("never loaded" in line for line in transport if line not in loaded)
    assert "never loaded" in listing  # the other sources


@pytest.mark.integration
def test_commands_are_quiet_by_default(fresh_database, tmp_path):
    """No library chatter (Airflow, pgserver, GX, dbt) on a load; -v lets it through."""
    env = {**os.environ, "WAREHOUSE_URL": fresh_database, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    result = territoire(["load", "sinoe"], env)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert len(out.strip().splitlines()) <= 8, out
    for noise in ("[info", "DEBUG", "Running commandline", "great_expectations", "Warning"):
        assert noise not in out


def _gone(pid: int, wait: float = 15) -> bool:
    """The process ended (and was reaped, or is a zombie waiting for it) within `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_db_stop_stops_the_embedded_server_and_says_so():
    """`make clean-warehouse` runs `territoire db stop`: the embedded server stops, also when run as root
    (pgserver then runs PostgreSQL as the `pgserver` user)."""
    # Not under pytest's tmp_path: as root, pgserver opens the folders above pgdata to its own user, and
    # another pytest session may close pytest's root folder again meanwhile.
    folder = Path(tempfile.mkdtemp(prefix="territoire-db-stop-"))
    pgdata = folder / "pgdata"
    env = {**os.environ, "TERRITOIRE_EMBEDDED_PGDATA": str(pgdata)}
    env.pop("WAREHOUSE_URL", None)
    try:
        started = subprocess.run([sys.executable, "-c", "from territoire import warehouse; print(warehouse.get_url())"],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stderr
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        stopped = territoire(["db", "stop"], env, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert "is stopped" in stopped.stdout
        assert not (pgdata / "postmaster.pid").exists()
        assert _gone(pid)
        again = territoire(["db", "stop"], env, timeout=120)
        assert again.returncode == 0 and "is not running" in again.stdout
    finally:
        territoire(["db", "stop"], env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
