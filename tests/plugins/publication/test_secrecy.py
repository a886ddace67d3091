"""Statistical secrecy: the dbt macro on a hand-made (synthetic) input around the threshold, and the
SQL check the gate and the export rely on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from territoire import dbt, settings, warehouse
from territoire.datasets import Dataset
from territoire.publication import secrecy

pytestmark = pytest.mark.integration

# Synthetic aggregates: units just below, at, just above the threshold, none and unknown.
HAND_MADE = """
with agregats (code_iris, nombre_logements, consommation_totale_mwh, consommation_moyenne_mwh) as (
    values ('693880101', 9, 31.5, 3.5),
           ('693880102', 10, 35.0, 3.5),
           ('693880103', 11, 44.0, 4.0),
           ('693880104', 0, 0.0, null),
           ('693880105', null, 12.0, 12.0)
)
select
    code_iris,
    nombre_logements,
    {{ statistical_secrecy('nombre_logements', 10, ['consommation_totale_mwh', 'consommation_moyenne_mwh'],
                           flag='secret_statistique') }}
from agregats
"""

RULE = {"count_column": "nombre_logements", "threshold": 10,
        "masked_columns": ["consommation_totale_mwh", "consommation_moyenne_mwh"]}


@pytest.fixture(scope="module")
def macro_project(tmp_path_factory) -> Path:
    """A minimal dbt project holding the real macro file (parsing the whole project takes far longer)."""
    root = tmp_path_factory.mktemp("secrecy_dbt")
    (root / "macros").mkdir()
    shutil.copy(settings.dbt_project_dir() / "macros" / "statistical_secrecy.sql", root / "macros")
    (root / "dbt_project.yml").write_text(
        "name: secrecy_macro_test\nversion: '1.0'\nconfig-version: 2\nprofile: territoire\n"
        "macro-paths: [macros]\nmodel-paths: [models]\n", encoding="utf-8")
    return root


def compile_inline(project: Path, sql: str, url: str) -> str:
    """Compile `sql` with the project's macros: dbt in-process (a dbt process costs ~20 s of imports)."""
    from dbt.cli.main import dbtRunner

    saved = {k: os.environ.get(k) for k in warehouse.dbt_env(url)}
    os.environ.update(warehouse.dbt_env(url))
    try:
        messages: list[str] = []
        res = dbtRunner(callbacks=[lambda event: messages.append(event.info.msg)]).invoke(["compile", "--quiet", "--inline", sql, "--project-dir", str(project),
                                  "--profiles-dir", str(settings.dbt_project_dir()), "--no-partial-parse"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if not res.success:
        raise dbt.DbtError(f"dbt compile failed: {res.exception}\n" + "\n".join(map(str, messages)))
    return res.result.results[0].node.compiled_code.strip()


def test_macro_masks_below_threshold_only(fresh_database, macro_project):
    compiled = compile_inline(macro_project, HAND_MADE, fresh_database)
    assert "{{" not in compiled and "case when nombre_logements >= 10" in compiled
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        rows = {r[0]: r[1:] for r in conn.execute(compiled + " order by 1").fetchall()}
        assert rows["693880101"] == (9, None, None, True)  # just below: masked
        assert [float(v) for v in rows["693880102"][1:3]] == [35.0, 3.5] and rows["693880102"][3] is False
        assert [float(v) for v in rows["693880103"][1:3]] == [44.0, 4.0] and rows["693880103"][3] is False
        assert rows["693880104"] == (0, None, None, True)
        assert rows["693880105"] == (None, None, None, True)  # unknown number of units: masked

        # The table built by the macro satisfies the declared rule; the raw aggregates do not.
        ds = Dataset(id="pub_test_secret", title="t", description="d", licence="etalab-2.0", sources=("enedis",),
                     primary_key=("code_iris",), secrecy=[RULE])
        conn.execute(f"create table audit.pub_test_secret as {compiled}")
        assert secrecy.violations(conn, ds, schema="audit") == {}
        conn.execute("drop table audit.pub_test_secret")
        raw = HAND_MADE.split("select\n")[0] + "select * from agregats"
        conn.execute(f"create table audit.pub_test_secret as {raw}")
        broken = secrecy.violations(conn, ds, schema="audit")
        assert list(broken.values()) == [3]  # 9, 0 and unknown dwellings with visible consumption
        with pytest.raises(secrecy.SecrecyError, match="3 row"):
            secrecy.check(conn, ds, schema="audit")


def test_macro_without_flag_keeps_the_column_set(fresh_database, macro_project):
    compiled = compile_inline(
        macro_project,
        "select n, {{ statistical_secrecy('n', 5, ['v']) }} from (values (4, 1.0), (5, 2.0)) as t (n, v)",
        fresh_database)
    with psycopg.connect(fresh_database) as conn:
        cur = conn.execute(compiled + " order by n")
        assert [d.name for d in cur.description] == ["n", "v"]
        assert [(n, None if v is None else float(v)) for n, v in cur.fetchall()] == [(4, None), (5, 2.0)]


@pytest.mark.parametrize("args", ["'n', 0, ['v']", "'n', 10, 'v'", "'n', 2.5, ['v']"])
def test_macro_refuses_malformed_rules(fresh_database, macro_project, args):
    with pytest.raises(dbt.DbtError, match="statistical_secrecy"):
        compile_inline(macro_project, f"select {{{{ statistical_secrecy({args}) }}}} from (values (1, 1)) as t (n, v)",
                       fresh_database)


def test_declared_rules_are_validated():
    ds = Dataset(id="x", title="t", description="d", licence="etalab-2.0", sources=("enedis",),
                 primary_key=("k",), secrecy=[{"count_column": "n", "threshold": "10", "masked_columns": ["v"]}])
    with pytest.raises(secrecy.SecrecyError, match="dataset 'x', secrecy rule #1: 'threshold'"):
        secrecy.rules(ds)
