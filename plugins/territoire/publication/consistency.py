"""The published table, the open-data files and the DCAT catalogue always describe the same version.

A publication has three steps: the swap of `published.<id>` (one transaction), the export of the
files (switched into place with one rename), the rewrite of the DCAT catalogue from the files. A
process killed between two of them would leave a new table under old files. So:

- the swap's transaction also records `exporting` in `quality.publication_journal` (`started`);
- once the files and the catalogue are written, the row becomes `done` (`finished`);
- the next publication of the dataset (before its own audit), and the `platform_maintenance` DAG
  for every dataset, complete a row left `exporting`: the files are exported again from the
  published table (the export is deterministic: same table, same bytes) and the catalogue rewritten.
  A publication killed before the swap committed changed nothing but temporary folders, which
  `clean_temporary` removes (with superseded dbt-docs versions).

`check` compares the three (the CSV's checksum against a fresh export of the table, the checksums
declared in datapackage.json and in the catalogue) and is what the tests assert.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from territoire import processes, settings, warehouse
from territoire.datasets import Dataset
from territoire.ingest.landing import sha256_file

log = logging.getLogger(__name__)

JOURNAL_SQL = Path(__file__).with_name("consistency.sql").read_text(encoding="utf-8")
# Temporary files of a publication in progress carry its process id: `.<id>.<pid>.partial`,
# `.<name>.<pid>.tmp`, `dbt-docs-*` (tempfile). Those of a dead process, or older than this, go.
STALE_AFTER = 6 * 3600


def ensure(conn: psycopg.Connection) -> None:
    conn.execute("create schema if not exists quality")
    conn.execute(JOURNAL_SQL)


def started(conn: psycopg.Connection, dataset_id: str, run_id: str) -> None:
    """In the swap's transaction: the table is (about to be) the new version; the files are not yet."""
    ensure(conn)
    conn.execute(
        """insert into quality.publication_journal (dataset_id, run_id, state) values (%s, %s, 'exporting')
           on conflict (dataset_id) do update set run_id = excluded.run_id, state = 'exporting',
               published_at = now(), exported_at = null, files_version = null""", (dataset_id, run_id))


def finished(dataset_id: str, version_folder: Path | str | None, url: str | None = None) -> None:
    """The files and the catalogue now describe the published table."""
    with warehouse.connect(url, autocommit=True) as conn:
        ensure(conn)
        conn.execute(
            """update quality.publication_journal set state = 'done', exported_at = now(), files_version = %s
               where dataset_id = %s""", (Path(version_folder).name if version_folder else None, dataset_id))


def pending(url: str | None = None) -> list[tuple[str, str]]:
    """(dataset id, run id) of the publications left half-way."""
    with warehouse.connect(url, autocommit=True) as conn:
        ensure(conn)
        return conn.execute("select dataset_id, run_id from quality.publication_journal where state = 'exporting' "
                            "order by dataset_id").fetchall()


def complete_interrupted(dataset: Dataset, url: str | None = None) -> bool:
    """Finish a publication of `dataset` that stopped after its swap (caller holds the dataset's
    publication lock). Returns True when there was one."""
    from territoire.publication.export import export_dataset

    clean_temporary()  # what a killed publication left, whichever step it reached
    todo = dict(pending(url))
    if dataset.id not in todo:
        return False
    log.warning("%s: the publication of run %s stopped after the table was published: exporting its files "
                "and catalogue now", dataset.id, todo[dataset.id])
    exported = export_dataset(dataset, url)  # also rewrites the DCAT catalogue
    finished(dataset.id, exported.version_folder, url)
    return True


def repair_all(url: str | None = None) -> dict[str, str]:
    """Complete every publication left half-way (the maintenance DAG); {dataset: outcome}."""
    from territoire.datasets import load_datasets
    from territoire.ingest.locks import LockBusy
    from territoire.publication.publish import dataset_lock

    outcome: dict[str, str] = {}
    known = load_datasets()
    for dataset_id, _ in pending(url):
        if dataset_id not in known:
            outcome[dataset_id] = "unknown dataset: left as is"
            continue
        try:
            with dataset_lock(dataset_id, url):  # a publication in progress finishes its own work
                outcome[dataset_id] = "completed" if complete_interrupted(known[dataset_id], url) else "done"
        except LockBusy:
            outcome[dataset_id] = "a publication is in progress"
    outcome.update(clean_temporary())
    return outcome


# --- temporary folders --------------------------------------------------------------------------

_PID = re.compile(r"\.(\d+)\.(?:partial|tmp)$")


def _dead_or_old(path: Path, now: float) -> bool:
    try:
        age = now - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    m = _PID.search(path.name)
    if m and not processes.alive(int(m.group(1))):
        return True
    return age > STALE_AFTER


def clean_temporary(publication: Path | None = None) -> dict[str, str]:
    """Remove what dead publications left in the publication folder (partial exports, temp links and
    files, dbt-docs work folders) and dbt-docs versions that are neither current nor the previous one."""
    root = publication or settings.publication_dir()
    now = time.time()
    removed: dict[str, str] = {}
    candidates = [*root.glob(".*.tmp"), *(root / "datasets").glob(".*.tmp"),
                  *(root / "datasets" / ".versions").glob(".*.partial"), *(root / ".docs-versions").glob("dbt-docs-*")]
    for p in candidates:
        if _dead_or_old(p, now) or (p.name.startswith("dbt-docs-") and now - p.lstat().st_mtime > 3600):
            _remove(p)
            removed[str(p)] = "removed (temporary, left by a stopped publication)"
    removed.update(_prune_docs(root))
    return removed


def _prune_docs(root: Path) -> dict[str, str]:
    versions, link = root / ".docs-versions", root / "docs"
    if not versions.is_dir() or not link.is_symlink():
        return {}
    current = link.resolve()
    done = sorted((p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("dbt-docs-")
                   and p.resolve() != current), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = {}
    for old in done[1:]:  # the newest superseded version stays: a reader may still be on it
        _remove(old)
        removed[str(old)] = "removed (superseded dbt-docs version)"
    return removed


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink(missing_ok=True)
    else:
        shutil.rmtree(p, ignore_errors=True)


# --- the check ----------------------------------------------------------------------------------

def check(dataset: Dataset, url: str | None = None, publication: Path | None = None) -> list[str]:
    """What disagrees between `published.<id>`, its files and the catalogue (empty: consistent)."""
    from territoire.publication.export import exported_columns, write_csv

    root = publication or settings.publication_dir()
    csv_path = root / "datasets" / dataset.id / f"{dataset.id}.csv"
    if not csv_path.is_file():
        return [f"{dataset.id}: no published CSV at {csv_path}"]
    with tempfile.TemporaryDirectory() as tmp, warehouse.connect(url) as conn:
        fresh = Path(tmp) / "fresh.csv"
        write_csv(conn, dataset, [n for n, _ in exported_columns(conn, dataset)], fresh)
        table_sha = sha256_file(fresh)
    problems = []
    files_sha = sha256_file(csv_path)
    if files_sha != table_sha:
        problems.append(f"{dataset.id}: the CSV file (sha256 {files_sha[:12]}) is not the published table "
                        f"(sha256 {table_sha[:12]})")
    package = json.loads((csv_path.parent / "datapackage.json").read_text(encoding="utf-8"))
    declared = {r.get("path"): str(r.get("hash", "")).removeprefix("sha256:") for r in package.get("resources", [])}
    if declared.get(csv_path.name) != files_sha:
        problems.append(f"{dataset.id}: datapackage.json declares sha256 {declared.get(csv_path.name)} for the CSV")
    catalogue = root / "catalogue.jsonld"
    if not catalogue.is_file() or files_sha not in catalogue.read_text(encoding="utf-8"):
        problems.append(f"{dataset.id}: the DCAT catalogue does not carry the CSV's checksum {files_sha[:12]}")
    return problems
