"""dbt docs published into the publication folder (runs dbt for real: slow)."""

from __future__ import annotations

import json

import pytest

from territoire import settings
from territoire.publication.dbt_docs import publish_dbt_docs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_dbt_docs_are_browsable_from_the_publication_folder(fresh_database, publication_dir):
    manifest_before = (settings.dbt_project_dir() / "target" / "manifest.json")
    stamp = manifest_before.stat().st_mtime_ns if manifest_before.exists() else None
    index = publish_dbt_docs(fresh_database)
    assert index == publication_dir / "docs" / "index.html" and (publication_dir / "docs").is_symlink()
    html = index.read_text(encoding="utf-8")
    # the static page embeds the manifest: it opens from file:// without a web server
    assert "dim_territoire" in html and len(html) > 100_000
    manifest = json.loads((publication_dir / "docs" / "manifest.json").read_text(encoding="utf-8"))
    assert "model.territoire.dim_territoire" in manifest["nodes"]
    assert json.loads((publication_dir / "docs" / "catalog.json").read_text(encoding="utf-8"))["metadata"]
    # the project's own target/ (read by Cosmos) was not touched
    if stamp is not None:
        assert manifest_before.stat().st_mtime_ns == stamp
