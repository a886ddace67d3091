"""Clear failures and input hygiene: an unreachable warehouse or wrong credentials give one line naming
host, port and database (no password, no traceback) and a non-zero exit; scratch databases of dead
`validate` runs are dropped by the next run; a file loaded with --file is archived in the landing zone and
recorded in the ledger; catalog paths stay inside the allowed roots; derived identifiers fit 63 bytes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from hardening_helpers import csv_file, rows

from territoire import warehouse
from territoire.catalog import CatalogError, parse_catalog

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _territoire(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "territoire.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT, env={**os.environ, **env})


@pytest.mark.parametrize("case", ["nothing listens", "wrong credentials"])
def test_an_unreachable_warehouse_is_one_line(case, admin_url):
    secret = f"s3cret-{uuid.uuid4().hex[:6]}"
    p = warehouse.parse_url(admin_url)
    if case == "nothing listens":
        url = f"postgresql://postgres:{secret}@127.0.0.1:{_free_port()}/entrepot"
    else:  # a role that does not exist (trust authentication: the password is never the problem here)
        url = f"postgresql://personne_{uuid.uuid4().hex[:6]}:{secret}@{p.host}:{p.port}/entrepot"
    done = _territoire(["db", "init"], WAREHOUSE_URL=url)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    line = lines[0]
    assert "cannot connect to the warehouse" in line and "database entrepot" in line and "host 127.0.0.1" in line
    assert "port " in line and "What to do" in line
    assert secret not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_stale_validate_scratch_databases_are_dropped_by_the_next_run(admin_url, warehouse_url, tmp_path):
    dead = f"{warehouse.SCRATCH_PREFIX}999999999_{uuid.uuid4().hex[:6]}"  # no such process
    mine = f"{warehouse.SCRATCH_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"  # a run in progress
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in (dead, mine):
            conn.execute(f'create database "{name}"')
    try:
        from territoire import cli

        sample = csv_file(tmp_path / "sample.csv", 3)
        cli.main(["validate", str(sample), "--schema", "scdl_subventions"])  # the next run, whatever its verdict
        left = {n for (n,) in rows(admin_url, "select datname from pg_database where datname in (%s, %s)", (dead, mine))}
        assert left == {mine}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in (dead, mine):
                conn.execute(f'drop database if exists "{name}"')


def test_a_file_loaded_with_file_is_archived_and_recorded(fresh_database, tmp_path, monkeypatch):
    from territoire import cli

    warehouse_url = fresh_database  # a ledger of its own: no earlier batch of the session is read back
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    monkeypatch.delenv("TERRITOIRE_CATALOG", raising=False)  # the project's catalog, whatever ran before
    landing = tmp_path / "landing"
    monkeypatch.setenv("TERRITOIRE_LANDING_DIR", str(landing))
    given = PROJECT / "data" / "samples" / "territorial" / "insee_cog_2026" / "regions.csv"
    assert cli.main(["load", "cog", "--resource", "regions", "--file", str(given), "--force"]) == 0
    path, location, sha = rows(warehouse_url, "select landing_path, location, file_sha256 from ingest.load_batches "
                                              "where raw_table = 'cog__regions' order by batch_id desc limit 1")[0]
    kept = Path(path)
    assert kept.parent == landing / "cog" / "regions" and kept.read_bytes() == given.read_bytes()
    assert location == str(given) and kept.name.startswith(sha)


CATALOG = """
sources:
  - id: {id}
    domain: energie
    title: Test
    producer: test
    licence: etalab-2.0
    resources:
      - name: {name}
        format: csv
        {schema}
        location:
          demo: {{connector: local, path: "{path}"}}
"""


def _catalog(tmp_path, *, id="src", name="res", path="data/samples/irve/coordonnees_pdc_2024-12-04.csv", schema=""):
    import yaml

    return parse_catalog(yaml.safe_load(CATALOG.format(id=id, name=name, path=path, schema=schema)),
                         tmp_path / "catalog" / "sources.yml")


def test_catalog_paths_stay_inside_the_allowed_roots(tmp_path, monkeypatch):
    assert _catalog(tmp_path).sources[0].resources[0].location("demo").path
    for outside in ("/etc/passwd", "../../../../etc/passwd", str(tmp_path / "elsewhere" / "x.csv")):
        with pytest.raises(CatalogError, match="outside the folders the catalog may read.*TERRITOIRE_ALLOWED_ROOTS"):
            _catalog(tmp_path, path=outside)
    with pytest.raises(CatalogError, match="field 'schema' points to"):
        _catalog(tmp_path, schema="schema: ../../../../etc/passwd")
    monkeypatch.setenv("TERRITOIRE_ALLOWED_ROOTS", str(tmp_path / "elsewhere"))
    assert _catalog(tmp_path, path=str(tmp_path / "elsewhere" / "x.csv"))
    # The catalog's own folder is allowed (a catalog of its own, beside its files).
    assert _catalog(tmp_path, path=str(tmp_path / "catalog" / "x.csv"))


def test_ids_are_limited_so_every_derived_name_fits_63_bytes(tmp_path):
    ok = "a" * 20
    assert _catalog(tmp_path, id=ok, name="b" * 21)  # stg_ + 20 + __ + 21 + __replaced = 57
    with pytest.raises(CatalogError, match=r"too long.*63 bytes.*Shorten them by \d+ characters"):
        _catalog(tmp_path, id="a" * 30, name="b" * 30)
