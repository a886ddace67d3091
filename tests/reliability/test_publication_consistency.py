"""A publication killed at any step is completed or rolled back by the next run: the published table, the
open-data files and the DCAT catalogue then describe the same version (checksums compared), and no
temporary folder is left. The next run here is a publication whose quality gate fails: the previous one is
completed all the same, before the gate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hardening_helpers import make_audit_table, rows, synthetic_dataset

from territoire import pipeline
from territoire.publication import consistency
from territoire.quality.gate import QualityGateFailed

HERE = Path(__file__).resolve().parent
NAME = "hard_conso_points"

# Where the publication process dies (os._exit: no `finally`, no clean-up), in the order of the steps.
STEPS = {
    "before_swap": "territoire.publication.publish:take_swap_lock",      # in the swap transaction
    "before_commit": "territoire.publication.consistency:started",       # swap done, not committed
    "after_commit": "territoire.publication.export:export_dataset",      # table new, files old
    "mid_export": "territoire.publication.export:write_parquet",         # half a version folder
    "before_link": "territoire.publication.export:switch_link",          # version folder complete
    "before_catalogue": "territoire.publication.dcat:write_catalogue",   # files new, catalogue old
    "before_journal": "territoire.publication.consistency:finished",     # everything new, not recorded
}
ROLLED_BACK = {"before_swap", "before_commit"}

SCRIPT = textwrap.dedent("""
    import importlib, os, sys
    from types import SimpleNamespace
    sys.path.insert(0, sys.argv[4])
    from hardening_helpers import synthetic_dataset
    from territoire import pipeline
    from territoire.quality import gate

    step, url, name = sys.argv[1:4]
    module, attr = step.split(":")
    setattr(importlib.import_module(module), attr, lambda *a, **k: os._exit(9))
    gate.audit = lambda dataset_id, url: SimpleNamespace(verdict="passed", run_id="run-killed")
    gate.check_publishable = lambda *a, **k: None
    pipeline.get_dataset = lambda dataset_id: synthetic_dataset(name)
    pipeline.publish_dataset(name, url=url)
    sys.exit(3)  # the step was never reached
""")


def _passed(dataset_id, url):
    return SimpleNamespace(verdict="passed", run_id="run-ok")


def _blocked(*args, **kwargs):
    raise QualityGateFailed("the gate of this run fails (synthetic)")


@pytest.fixture
def publication(tmp_path, monkeypatch, warehouse_url):
    folder = tmp_path / "publication"
    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(folder))
    monkeypatch.setattr(pipeline, "get_dataset", lambda dataset_id: synthetic_dataset(NAME))
    monkeypatch.setattr("territoire.quality.gate.audit", _passed)
    monkeypatch.setattr("territoire.quality.gate.check_publishable", lambda *a, **k: None)
    return folder


def _killed_at(step: str, url: str) -> int:
    env = {**os.environ, "WAREHOUSE_URL": url}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, STEPS[step], url, NAME, str(HERE)], env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode


def _temporary(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith(".tmp"))


@pytest.mark.parametrize("step", list(STEPS))
def test_a_publication_killed_at_any_step_is_completed_or_rolled_back(step, warehouse_url, publication, monkeypatch):
    dataset = synthetic_dataset(NAME)
    make_audit_table(warehouse_url, NAME, factor=1)
    pipeline.publish_dataset(NAME, url=warehouse_url)
    assert consistency.check(dataset, warehouse_url) == []
    make_audit_table(warehouse_url, NAME, factor=2)  # the next version

    assert _killed_at(step, warehouse_url) == 9, "the publication did not reach the step"
    expected = 50 if step in ROLLED_BACK else 100
    assert rows(warehouse_url, f"select max(valeur) from published.{NAME}") == [(expected,)]

    # The next run's gate fails: nothing new is published, but the interrupted publication is finished.
    monkeypatch.setattr("territoire.quality.gate.check_publishable", _blocked)
    with pytest.raises(QualityGateFailed):
        pipeline.publish_dataset(NAME, url=warehouse_url)
    assert consistency.check(dataset, warehouse_url) == []
    assert rows(warehouse_url, f"select max(valeur) from published.{NAME}") == [(expected,)]
    assert NAME not in dict(consistency.pending(warehouse_url))
    assert _temporary(publication) == []


def test_the_check_sees_files_behind_the_table(warehouse_url, publication):
    dataset = synthetic_dataset(NAME)
    make_audit_table(warehouse_url, NAME, factor=1)
    pipeline.publish_dataset(NAME, url=warehouse_url)
    with __import__("psycopg").connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"update published.{NAME} set valeur = valeur + 1 where code = '00001'")
    problems = consistency.check(dataset, warehouse_url)
    assert len(problems) == 1 and "is not the published table" in problems[0]


def test_temporary_folders_and_superseded_docs_are_cleaned(tmp_path, monkeypatch):
    import time

    root = tmp_path / "publication"
    monkeypatch.setenv("TERRITOIRE_PUBLICATION_DIR", str(root))
    versions = root / "datasets" / ".versions"
    versions.mkdir(parents=True)
    dead = versions / f".{NAME}.999999999.partial"  # a killed export (no such process)
    live = versions / f".{NAME}.{os.getpid()}.partial"  # an export in progress
    for folder in (dead, live):
        folder.mkdir()
        (folder / "x.csv").write_text("a\n")
    (root / ".catalogue.jsonld.999999999.tmp").write_text("{}")
    docs = root / ".docs-versions"
    for i, name in enumerate(["old1", "old2", "previous", "current"]):
        (docs / name).mkdir(parents=True)
        (docs / name / "index.html").write_text(name)
        os.utime(docs / name, (time.time() - 100 + i, time.time() - 100 + i))
    (root / "docs").symlink_to(docs / "current")
    removed = consistency.clean_temporary()
    assert not dead.exists() and live.exists() and not (root / ".catalogue.jsonld.999999999.tmp").exists()
    assert sorted(p.name for p in docs.iterdir()) == ["current", "previous"]
    assert len(removed) == 4


def test_published_csv_text_cells_never_run_as_formulas(warehouse_url, publication):
    make_audit_table(warehouse_url, NAME)
    with __import__("psycopg").connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"""update audit.{NAME} set nom = '=HYPERLINK("http://x.invalid","clic")' where code = '00001'""")
        conn.execute(f"update audit.{NAME} set nom = '@SUM(A1:A2)', valeur = -5 where code = '00002'")
    pipeline.publish_dataset(NAME, url=warehouse_url)
    text = (publication / "datasets" / NAME / f"{NAME}.csv").read_text(encoding="utf-8")
    assert "00001,\"'=HYPERLINK(\"\"http://x.invalid\"\",\"\"clic\"\")\",1" in text
    assert "00002,'@SUM(A1:A2),-5" in text  # the number stays a number
