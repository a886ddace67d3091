"""Security: what comes from files cannot inject SQL; no secret in logs, in the ledger or in the repository.

(The compose stack's "no default admin password" is proven by the deploy helper's
tests/deploy/test_docker_compose.py::test_no_default_admin_password and
::test_checker_catches_secrets_with_defaults_or_in_clear: not duplicated here.)
"""

from __future__ import annotations

import csv
import json
import logging
import re
import secrets
import subprocess
import uuid

import psycopg
import pytest
from reliability_helpers import PROJECT, tree_digest

from territoire import pipeline, settings, warehouse
from territoire.catalog import Location, Resource
from territoire.ingest.loader import Loader, LoadError

pytestmark = [pytest.mark.integration]

HOSTILE_HEADER = 'a"; drop table raw.victime; --'
HOSTILE_VALUES = ["'); drop table raw.victime; --", 'x"; delete from ingest.load_batches; --', "l'eau;\"vive\"",
                  "$$; select pg_sleep(10); $$", "\\'; truncate raw.victime; --"]


def _resource(path, name: str, schema=None, fmt: str = "csv") -> Resource:
    return Resource(source_id="securite", name=name, format=fmt, locations={"demo": Location("local", path=str(path))},
                    schema=str(schema) if schema else None)


def test_headers_and_values_from_a_file_are_data_not_sql(fresh_database, tmp_path, monkeypatch):
    url = fresh_database
    monkeypatch.setenv("TERRITOIRE_LANDING_DIR", str(tmp_path / "landing"))
    with warehouse.connect(url, autocommit=True) as conn:
        conn.execute("create table raw.victime (x int)")
        conn.execute("insert into raw.victime values (1)")
    path = tmp_path / "hostile.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=",", quoting=csv.QUOTE_ALL)
        w.writerow([HOSTILE_HEADER, "valeur", 'b"); drop schema ingest cascade; --'])
        for i, v in enumerate(HOSTILE_VALUES):
            w.writerow([v, str(i), v[::-1]])
    # A Table Schema whose constraint values carry quotes too (enum, pattern): checked as values.
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"fields": [
        {"name": HOSTILE_HEADER, "type": "string", "constraints": {"pattern": "^.*'.*$|^x.*$|^\\$.*$|^l.*$|^\\\\.*$"}},
        {"name": "valeur", "type": "integer", "constraints": {"enum": ["0", "1", "2", "3", "4"]}},
    ]}), encoding="utf-8")
    loader = Loader(url, progress=lambda m: None)
    result = loader.load(_resource(path, "fichier", schema), path)
    assert result.status == "succeeded" and result.rows_loaded == len(HOSTILE_VALUES), result
    # Same hostile file through the careful path (a ragged row makes PostgreSQL's COPY refuse it).
    ragged = tmp_path / "hostile_ragged.csv"
    ragged.write_text(path.read_text(encoding="utf-8") + '"only one field"\n', encoding="utf-8")
    careful = loader.load(_resource(ragged, "fichier_lent"), ragged, quarantine_threshold=0.5)
    assert careful.rows_rejected == 1 and careful.rows_loaded == len(HOSTILE_VALUES)
    # JSON keys are identifiers too.
    js = tmp_path / "hostile.json"
    js.write_text(json.dumps([{HOSTILE_HEADER: v, "k'); drop table raw.victime; --": i}
                              for i, v in enumerate(HOSTILE_VALUES)]), encoding="utf-8")
    loader.load(_resource(js, "json", fmt="json"), js)

    with warehouse.connect(url) as conn:
        assert conn.execute("select x from raw.victime").fetchall() == [(1,)]
        assert conn.execute("select count(*) from ingest.load_batches").fetchone()[0] == 3
        for table in ("securite__fichier", "securite__fichier_lent"):
            cols = [c for (c,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s "
                "order by ordinal_position", (table,))]
            assert cols[:3] == ["a_drop_table_raw_victime", "valeur", "b_drop_schema_ingest_cascade"], cols
            values = [v for (v,) in conn.execute(f"select a_drop_table_raw_victime from raw.{table} "
                                                 "order by _line_number")]
            assert values == HOSTILE_VALUES  # byte for byte, quotes and semicolons included
        json_values = [v for (v,) in conn.execute("select a_drop_table_raw_victime from raw.securite__json "
                                                  "order by _line_number")]
        assert json_values == HOSTILE_VALUES
        assert "k_drop_table_raw_victime" in [c for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_name = 'securite__json'")]
        # The ledger keeps the header as published, as data.
        details = conn.execute("select details from ingest.load_batches where raw_table = 'securite__fichier'"
                               ).fetchone()[0]
        assert details["headers"]["a_drop_table_raw_victime"] == HOSTILE_HEADER


@pytest.fixture
def password_warehouse(admin_url):
    """A database owned by a login role with a password; yields (url, password). Both dropped after."""
    role = f"territoire_sec_{uuid.uuid4().hex[:8]}"
    password = "Pw-" + secrets.token_urlsafe(18)
    name = f"territoire_s_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # As the compose stack's warehouse role: CREATEROLE (build_reports manages the analyst roles), no
        # superuser.
        conn.execute(psycopg.sql.SQL("create role {} login createrole password {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(password)))
        if conn.execute("select 1 from pg_roles where rolname = 'territoire_analyst'").fetchone():
            # Cluster-wide, created as superuser by another test: what the role would have, had it created it.
            conn.execute(psycopg.sql.SQL("grant territoire_analyst to {} with admin option").format(
                psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("create database {} owner {}").format(
            psycopg.sql.Identifier(name), psycopg.sql.Identifier(role)))
    p = warehouse.parse_url(admin_url)
    url = warehouse.ConnectionParts(p.host, p.port, role, password, name).url()
    warehouse.ensure_schemas(url)
    yield url, password
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("drop role if exists {}").format(psycopg.sql.Identifier(role)))


@pytest.mark.slow
def test_no_password_in_logs_ledger_or_files(password_warehouse, var_dir, tmp_path, caplog, capfd, monkeypatch):
    url, password = password_warehouse
    monkeypatch.setenv("WAREHOUSE_URL", url)
    caplog.set_level(logging.DEBUG)
    listening = [logging.getLogger(n) for n in ("territoire", "great_expectations", "airflow")]
    for lg in listening:  # Airflow's logging setup may stop propagation to the root logger
        lg.addHandler(caplog.handler)
    from territoire import dbt
    from territoire.catalog import load_catalog
    from territoire.quality.gate import QualityGateFailed

    try:
        for resource in load_catalog().get("cog").resources:
            pipeline.ingest_resource("cog", resource.name, url=url)
        proc = dbt.run(["run", "--select", "+dim_territoire"], url, capture=True)
        published = pipeline.publish_dataset("dim_territoire", url=url)
        assert published.verdict == "passed"
        # A failing load (a file without data rows), and a blocked publication (a dataset not built).
        resource = load_catalog().get("cog").resource("regions")
        bad = tmp_path / "regions.csv"
        bad.write_text("REG,CHEFLIEU,TNCC,NCC,NCCENR,LIBELLE\n", encoding="utf-8")
        with pytest.raises(LoadError) as failed:
            Loader(url).load(resource, bad)
        with pytest.raises((QualityGateFailed, Exception)) as blocked:
            pipeline.publish_dataset("fct_points_de_charge", url=url)
        pipeline.build_reports(url)
    finally:
        for lg in listening:
            lg.removeHandler(caplog.handler)
    out, err = capfd.readouterr()
    with warehouse.connect(url) as conn:
        ledger = json.dumps(conn.execute("select error, details::text, location, landing_path "
                                         "from ingest.load_batches").fetchall(), default=str)
        quality = json.dumps(conn.execute("select * from quality.validation_runs").fetchall(), default=str)
    texts = {"caplog": caplog.text, "stdout/stderr": out + err, "dbt output": proc.stdout + (proc.stderr or ""),
             "load error": str(failed.value), "gate error": str(blocked.value), "ledger": ledger,
             "quality history": quality}
    assert "no data rows" in texts["load error"] and "no data rows" in ledger
    assert len(caplog.text) > 1000  # the loads and the gate did log
    for where, text in texts.items():
        assert password not in text, f"the warehouse password appears in {where}"
    for path, _ in tree_digest(settings.var_dir()).items():
        full = settings.var_dir() / path.removesuffix(" ->")
        if full.is_file() and full.stat().st_size < 50_000_000:
            assert password.encode() not in full.read_bytes(), f"the password is written in {full}"


SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@"),
    "Fernet key": re.compile(r"(?i)fernet[_-]?key\s*[:=]\s*['\"]?([A-Za-z0-9_-]{43}=)"),
    "AWS key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
# What a URL password may be in tracked files: a placeholder, a variable, or documented fakes.
PLACEHOLDER = re.compile(r"^(\$\{?[A-Z_]+.*|\{[a-z_]+\}|<[^>]+>|\*+|x+|pass(word)?|secret|changeme|\.\.\.|"
                         r"user:pass|%s|%\(.*\)s|PASSWORD|pw|p|pwd|motdepasse|mot_de_passe)$", re.I)


# Deliberate fake secrets in negative tests (each proves a checker rejects it): file -> exact match.
ALLOWED = {
    ("tests/deploy/test_docker_compose.py", "postgresql+psycopg2://airflow:" + "airflow@"):
        "the deploy checker's negative test: a clear-text default password must be refused",
}


def _tracked_text_files() -> list:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True).stdout
    files = []
    for name in names.decode().split("\0"):
        path = PROJECT / name
        if name and path.is_file() and path.stat().st_size < 5_000_000:
            data = path.read_bytes()
            if b"\0" not in data[:8192]:
                files.append((name, data.decode("utf-8", errors="replace")))
    return files


def test_the_repository_holds_no_secret():
    found = []
    files = _tracked_text_files()
    assert len(files) > 50
    for name, text in files:
        for what, pattern in SECRET_PATTERNS.items():
            for m in pattern.finditer(text):
                value = m.group(1) if m.groups() else m.group(0)
                if what == "password in a URL" and (PLACEHOLDER.match(value) or "{" in value or "$" in value):
                    continue
                if (name, m.group(0)) in ALLOWED:
                    continue
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{name}:{line}: {what}: {m.group(0)[:80]}")
    assert not found, "secret-looking strings in tracked files:\n" + "\n".join(found)


def test_the_secret_scan_catches_what_it_looks_for():
    url_pw = "postgresql://territoire:" + "Zq8vR2mN4x" + "@db:5432/territoire"
    fernet = "FERNET_KEY=" + "A" * 43 + "="
    key = "-----BEGIN " + "PRIVATE KEY-----"
    assert SECRET_PATTERNS["password in a URL"].search(url_pw).group(1) == "Zq8vR2mN4x"
    assert SECRET_PATTERNS["Fernet key"].search(fernet)
    assert SECRET_PATTERNS["private key"].search(key)
    placeholder = "postgresql://user:${WAREHOUSE_PASSWORD}@db/x"
    assert "$" in SECRET_PATTERNS["password in a URL"].search(placeholder).group(1)
