"""The analysts' documentation: every published dataset is listed in the dbt docs (source `published`),
and every column of its model has a description in the dbt YAML (copied as a PostgreSQL comment)."""

from __future__ import annotations

import yaml

from territoire import settings
from territoire.datasets import load_datasets
from territoire.publication.metadata import dbt_docs


def test_published_source_lists_every_dataset():
    path = settings.dbt_project_dir() / "models" / "published" / "_published__sources.yml"
    source = yaml.safe_load(path.read_text(encoding="utf-8"))["sources"][0]
    assert source["schema"] == "published"
    assert [t["name"] for t in source["tables"]] == list(load_datasets())


def test_every_published_model_is_documented():
    overview = (settings.dbt_project_dir() / "models" / "overview.md").read_text(encoding="utf-8")
    assert "{% docs __overview__ %}" in overview and "published" in overview
    for dataset in load_datasets().values():
        docs = dbt_docs(dataset.id)
        assert len(docs["description"]) > 40, dataset.id
        missing = [c for c, text in docs["columns"].items() if len(text) < 3]
        assert docs["columns"] and not missing, (dataset.id, missing)
