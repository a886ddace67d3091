"""The pipeline commands of the `territoire` CLI are wired, refuse an unexplained override, and backfill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from territoire.catalog import load_catalog
from territoire.cli import build_parser, main


def test_pipeline_commands_are_registered():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    for name in ("sources", "load", "validate", "db", "demo", "dbt", "publish", "report", "analysts", "push",
                 "backfill", "summary", "quality-scaffold"):
        assert name in commands


def test_an_override_needs_a_name_and_a_reason(capsys):
    assert main(["publish", "dim_territoire", "--override-by", "alice"]) == 2
    assert "--override-by and --reason go together" in capsys.readouterr().err


def _territoire(args: list[str], env: dict) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("territoire"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_backfill_from_the_command_line_is_idempotent(fresh_database, tmp_path):
    """`territoire backfill` (the installed command, in its own process) reprocesses the SINOE source for
    three yearly dates: the first date loads, every later one finds the same content and loads nothing."""
    env = {**os.environ, "WAREHOUSE_URL": fresh_database, "TERRITOIRE_VAR_DIR": str(tmp_path / "var")}
    env.pop("TERRITOIRE_LANDING_DIR", None)
    first = _territoire(["backfill", "sinoe", "2024-01-01", "2026-01-01"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "3 logical date(s)" in first.stdout
    again = _territoire(["backfill", "sinoe", "2024-01-01", "2026-01-01"], env)
    assert again.returncode == 0, again.stderr[-2000:]
    with psycopg.connect(fresh_database) as conn:
        statuses = [s for (s,) in conn.execute("select status from ingest.load_batches order by batch_id")]
    resources = len(load_catalog().get("sinoe").resources)
    assert statuses.count("succeeded") == resources
    assert statuses.count("skipped_unchanged") == 5 * resources

    dry = _territoire(["backfill", "sinoe", "2024-01-01", "2025-01-01", "--dry-run"], env)
    assert dry.returncode == 0 and "2 logical date(s)" in dry.stdout
    unknown = _territoire(["backfill", "nope", "2024-01-01", "2025-01-01"], env)
    assert unknown.returncode == 2 and "unknown source 'nope'" in unknown.stderr
