"""dbt docs beside the open data: `<publication>/docs/` (models, columns, lineage, tests).

`dbt docs generate --static` writes a self-contained `static_index.html` (manifest and catalog
embedded) that a browser opens straight from the folder (file://), where the classic `index.html`
cannot fetch its JSON. We publish it as `index.html`, with `manifest.json` and `catalog.json` for
tools, switched into place like the datasets (a link to a new version folder).

dbt writes into a temporary target path, so the project's `target/` (read by Cosmos) is untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from territoire import dbt, settings
from territoire.publication.export import switch_link

FILES = {"static_index.html": "index.html", "manifest.json": "manifest.json", "catalog.json": "catalog.json"}


def publish_dbt_docs(url: str | None = None) -> Path:
    """Generate the dbt docs against the warehouse and publish them; returns `<publication>/docs/index.html`."""
    publication = settings.publication_dir()
    versions = publication / ".docs-versions"
    versions.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dbt-docs-", dir=versions) as tmp:
        target = Path(tmp) / "target"
        dbt.run(["docs", "generate", "--static"], url, capture=True, target_path=target)
        staging = Path(tmp) / "docs"
        staging.mkdir()
        for src, dest in FILES.items():
            if not (target / src).is_file():
                raise dbt.DbtError(f"`dbt docs generate --static` did not write {src} in {target}")
            shutil.copyfile(target / src, staging / dest)
        h = hashlib.sha256()
        for name in sorted(FILES.values()):
            h.update((staging / name).read_bytes())
        final = versions / h.hexdigest()[:16]
        if not final.exists():
            staging.rename(final)
    link = publication / "docs"
    previous = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a plain folder left by hand: replaced by the managed link
    switch_link(link, final)
    for old in versions.iterdir():
        if old.is_dir() and old.resolve() not in (final.resolve(), previous) and not old.name.startswith("dbt-docs-"):
            shutil.rmtree(old, ignore_errors=True)
    return link / "index.html"


if __name__ == "__main__":
    print(publish_dbt_docs(os.environ.get("WAREHOUSE_URL")))
