"""What an analyst gets after the demo: a login whose password lives only in var/, a psql command that
never shows it, and the French column descriptions as comments on the published tables."""

from __future__ import annotations

import stat
import subprocess
import uuid

import psycopg
import pytest

from territoire.datasets import Dataset
from territoire.publication import analysts
from territoire.publication.publish import publish_table
from territoire.publication.roles import drop_login_role

pytestmark = pytest.mark.integration


def test_login_password_stays_in_var_and_psql_command_works(fresh_database, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TERRITOIRE_ANALYST_PASSWORD", raising=False)
    login = f"analyste_test_{uuid.uuid4().hex[:8]}"
    try:
        access = analysts.ensure_login(fresh_database, login=login)
        path = tmp_path / "var" / "analysts" / "pgpass"
        assert access.login_role == login and stat.S_IMODE(path.stat().st_mode) == 0o600
        password = path.read_text(encoding="utf-8").strip().rsplit(":", 1)[1]
        assert len(password) >= 24
        # a second run keeps the password (an analyst's saved connection goes on working)
        analysts.ensure_login(fresh_database, login=login)
        assert path.read_text(encoding="utf-8").strip().rsplit(":", 1)[1] == password
        command = analysts.psql_command(fresh_database, login)
        assert password not in command and str(path) in command
        out = subprocess.run(command + " -At -c 'select current_user'", shell=True, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == login, out.stderr
    finally:
        drop_login_role(login, fresh_database)


def test_publication_copies_the_column_comments(fresh_database):
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table audit.pub_test_comments (code text primary key, valeur integer)")
        conn.execute("comment on column audit.pub_test_comments.valeur is 'Valeur de l''indicateur.'")
    ds = Dataset(id="pub_test_comments", title="Titre", description="Description.", licence="etalab-2.0",
                 sources=("cog",), primary_key=("code",))
    publish_table(ds, "test-run", fresh_database)
    with psycopg.connect(fresh_database) as conn:
        comment = conn.execute("select col_description('published.pub_test_comments'::regclass, 2)").fetchone()[0]
        table = conn.execute("select obj_description('published.pub_test_comments'::regclass, 'pg_class')"
                             ).fetchone()[0]
    assert comment == "Valeur de l'indicateur." and table.startswith("Titre. Description.")
