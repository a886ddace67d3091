"""The `territoire` command line, run as users run it (the installed console script, a real warehouse)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from ingest_helpers import MALFORMED, PROJECT, SAMPLES, SCHEMAS, fetch_all

from territoire.cli import build_parser, resolve_schema

pytestmark = pytest.mark.integration

TERRITOIRE = PROJECT / ".venv" / "bin" / "territoire"


def run(*args, env=None, check=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(TERRITOIRE), *args], capture_output=True, text=True, cwd=PROJECT,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check is not None:
        assert proc.returncode == check, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def catalog(tmp_path) -> Path:
    """A small catalog of its own: a clean source and a source whose file breaks its schema."""
    path = tmp_path / "sources.yml"
    (tmp_path / "valeurs.csv").write_text("code;valeur\na;1\nb;deux\nc;3\nd;quatre\n", encoding="utf-8")
    (tmp_path / "valeurs.json").write_text('{"fields": [{"name": "code", "constraints": {"required": true}}, '
                                           '{"name": "valeur", "type": "integer"}]}', encoding="utf-8")
    path.write_text(textwrap.dedent(f"""
        version: 1
        sources:
          - id: velo
            domain: mobilite
            title: Comptages vélo (test)
            producer: Ville de Paris
            licence: odbl-1.0
            quarantine_threshold: 0.0
            resources:
              - name: compteurs
                format: csv
                location:
                  demo: {{connector: local, path: {SAMPLES}/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv}}
          - id: subventions
            domain: subventions
            title: Subventions (test)
            producer: Ville de Poitiers
            licence: etalab-2.0
            quarantine_threshold: 0.1
            resources:
              - name: valeurs
                format: csv
                schema: {tmp_path}/valeurs.json
                location:
                  demo: {{connector: local, path: {tmp_path}/valeurs.csv}}
        """), encoding="utf-8")
    return path


def test_parser_has_room_for_more_commands():
    parser = build_parser()
    args = parser.parse_args(["load", "cog", "--resource", "communes", "--force"])
    assert (args.source, args.resource, args.force, args.func.__name__) == ("cog", "communes", True, "cmd_load")
    assert parser.parse_args(["db", "init"]).func.__name__ == "cmd_db_init"


def test_resolve_schema_by_name():
    assert resolve_schema("scdl_subventions") == SCHEMAS / "scdl_subventions" / "schema.json"
    assert resolve_schema("territoire/cog_communes") == SCHEMAS / "territoire" / "cog_communes.json"
    with pytest.raises(FileNotFoundError, match="several match"):
        resolve_schema("schema.json")


def test_db_init_then_sources_then_load(warehouse_url, catalog, tmp_path):
    env = {"WAREHOUSE_URL": warehouse_url, "TERRITOIRE_LANDING_DIR": str(tmp_path / "landing")}
    run("db", "init", env=env, check=0)
    out = run("--catalog", str(catalog), "sources", env=env, check=0).stdout
    assert "velo  [mobilite]" in out and "raw.velo__compteurs" in out and "never loaded" in out
    load = run("--catalog", str(catalog), "load", "velo", env=env, check=0)
    assert "velo/compteurs -> raw.velo__compteurs: succeeded, 21 rows loaded" in load.stdout
    assert "conformity report:" in load.stdout and "fetched" in load.stderr
    again = run("--catalog", str(catalog), "load", "velo", env=env, check=0)
    assert "skipped_unchanged" in again.stdout
    out = run("--catalog", str(catalog), "sources", env=env, check=0).stdout
    assert "skipped_unchanged" in out
    # Above the threshold: exit code 1, a message naming the source, the rows and the rule.
    failed = run("--catalog", str(catalog), "load", "subventions", env=env, check=1)
    assert "subventions/valeurs" in failed.stderr and "2 of 4 rows (50.0%)" in failed.stderr
    assert "above the threshold" in failed.stderr and "valeur/type:integer: 2 rows (e.g. line 3: 'deux')" in failed.stderr
    # --file loads a given file instead; unknown source / resource are usage errors (exit 2).
    ok = run("--catalog", str(catalog), "load", "velo", "--resource", "compteurs", "--file",
             str(MALFORMED / "pipe_delimited.csv"), "--force", env=env, check=0)
    assert "succeeded, 2 rows loaded" in ok.stdout
    assert fetch_all(warehouse_url, "select nom from raw.velo__compteurs order by _line_number") == [
        ("Marseille",), ("Toulouse",)]
    assert "unknown source 'nope'" in run("--catalog", str(catalog), "load", "nope", env=env, check=2).stderr
    assert "has no resource 'x'" in run("--catalog", str(catalog), "load", "velo", "-r", "x", env=env, check=2).stderr


def test_validate_reports_and_exit_codes(warehouse_url, tmp_path):
    env = {"WAREHOUSE_URL": warehouse_url}
    bad = run("validate", str(SCHEMAS / "scdl_subventions" / "exemple_invalide_erreurs_cellules.csv"),
              "--schema", "scdl_subventions", "--html", str(tmp_path / "r.html"), "--csv", str(tmp_path / "r.csv"),
              env=env, check=1)
    # The schema's Validata custom checks (SIRET) run too: its SIRETs rounded by a spreadsheet are errors.
    assert "Lignes lues : 29 ; valides : 0 ; en erreur : 29" in bad.stdout
    assert "ligne 7, idAttribuant [pattern] : '218601946'" in bad.stdout
    assert bad.stdout.rstrip().endswith("NON VALIDE")
    assert "Rapport de conformité" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == 1 + 15 + 33
    good_schema = tmp_path / "s.json"
    good_schema.write_text('{"fields": [{"name": "code", "type": "integer"}, {"name": "nom"}, '
                           '{"name": "pop", "type": "integer", "constraints": {"minimum": 0}}]}')
    good = run("validate", str(MALFORMED / "pipe_delimited.csv"), "--schema", str(good_schema), env=env, check=0)
    assert good.stdout.rstrip().endswith("VALIDE") and "en erreur : 0" in good.stdout
    # No scratch database is left behind.
    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    assert fetch_all(admin, "select datname from pg_database where datname like 'territoire_validate_%%'") == []
    assert run("validate", "nope.csv", "--schema", "scdl_subventions", env=env, check=2)
