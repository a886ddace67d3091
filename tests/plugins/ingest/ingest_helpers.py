"""Helpers for the ingestion tests (a uniquely named module: several test folders have a conftest)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg

from territoire.catalog import Location, Resource

PROJECT = Path(__file__).resolve().parents[3]
SAMPLES = PROJECT / "data" / "samples"
SHARED = PROJECT.parent / "shared" / "data"
MALFORMED = PROJECT / "tests" / "fixtures" / "malformed"
SCHEMAS = PROJECT / "catalog" / "schemas"

_names = itertools.count(1)


def make_resource(path: Path | str, *, name: str | None = None, fmt: str = "csv", schema: Path | str | None = None,
                  options: dict | None = None, primary_key: tuple[str, ...] = (), source_id: str = "test") -> Resource:
    """A catalog resource built directly; each call gets its own raw table unless `name` is given."""
    return Resource(source_id=source_id, name=name or f"r{next(_names)}", format=fmt,
                    locations={"demo": Location("local", path=str(path))},
                    schema=str(schema) if schema else None, options=options or {}, primary_key=primary_key)


def write_schema(folder: Path, fields: list[dict], **extra) -> Path:
    path = folder / f"schema_{next(_names)}.json"
    path.write_text(json.dumps({"fields": fields, **extra}, ensure_ascii=False), encoding="utf-8")
    return path


def fetch_all(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def rejections(url: str, batch_id: int) -> set[tuple]:
    """{(line, column, rule)} of a batch's quarantine."""
    return set(fetch_all(url, "select line_number, column_name, rule from ingest.rejected_rows where batch_id = %s",
                         (batch_id,)))


_LOADER_SCRIPT = textwrap.dedent("""
    import sys
    from territoire.catalog import Location, Resource
    from territoire.ingest.loader import Loader
    url, path, name = sys.argv[1:4]
    r = Resource(source_id="test", name=name, format="csv", locations={"demo": Location("local", path=path)})
    Loader(url, progress=lambda m: print(m, flush=True), progress_interval=0.0, reports=False).load(r, path)
""")


def start_loader(url: str, path: Path, name: str, landing: Path, parallel: int | None = None) -> subprocess.Popen:
    """A process loading `path` into resource `name` of source `test`, printing every progress message
    (stdout piped, text); `parallel`: COPY in that many parts whatever the file's size."""
    env = {**os.environ, "TERRITOIRE_LANDING_DIR": str(landing)}
    if parallel is not None:
        env |= {"TERRITOIRE_LOAD_PARALLELISM": str(parallel), "TERRITOIRE_LOAD_PARALLEL_MIN_BYTES": "0"}
    return subprocess.Popen([sys.executable, "-c", _LOADER_SCRIPT, url, str(path), name], stdout=subprocess.PIPE,
                            text=True, cwd=PROJECT, env=env)


def kill_at(proc: subprocess.Popen, marker: str) -> None:
    """SIGKILL the loader process `proc` (stdout piped, text) as soon as it prints a line holding `marker`."""
    try:
        for line in proc.stdout:
            if marker in line:
                break
        else:
            raise AssertionError(f"the loader never printed {marker!r}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_for_dead_sessions(url: str, timeout: float = 30) -> None:
    """Wait until the server has noticed the killed client and rolled its transaction back."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("select count(*) from pg_stat_activity where datname = current_database() "
                           "and pid <> pg_backend_pid()").fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.2)
