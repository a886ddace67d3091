"""The whole pipeline run twice on the shipped samples gives the same warehouse and the same files.

What is compared: every table and view of `raw`, `audit` and `published` (row count and an md5 of all
rows, run-dependent columns excluded: see conftest.RUN_DEPENDENT_COLUMNS), and every byte of every file
under `<publication>/datasets/` (the open-data files users download). Not compared: the ledger and the
quality history (they record each run, by design), the managers' report and the DCAT catalogue (they
carry the date they were built).
"""

from __future__ import annotations

import logging

import pytest
from reliability_helpers import run_pipeline, table_fingerprints, tree_digest

from territoire import settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)


def test_the_pipeline_run_twice_gives_the_same_warehouse_and_byte_identical_files(fresh_database, var_dir):
    url = fresh_database
    first = run_pipeline(url)
    # Report on the day's state of the other parts (a blocked dataset is not this test's failure, but
    # it must be blocked the same way both times, and at least one dataset must get through).
    print(f"first run: published {first.published}; blocked {first.blocked}; dbt error: "
          f"{(first.dbt_error or 'none')[:500]}; timings {first.timings}")
    assert first.published, f"no dataset passed its gate: {first.blocked}"
    warehouse_before = table_fingerprints(url)
    datasets = settings.publication_dir() / "datasets"
    files_before = tree_digest(datasets)
    assert any(k.startswith("raw.") for k in warehouse_before)
    assert any(k.startswith("published.") for k in warehouse_before)
    assert {f.split("/")[0] for f in files_before} >= set(first.published)
    assert any(f.startswith(".versions/") for f in files_before)

    second = run_pipeline(url)
    print(f"timings: first {first.timings}, second {second.timings}")

    assert second.published == first.published
    assert second.blocked.keys() == first.blocked.keys()
    # The second ingestion found every file unchanged: the ledger says so, the raw tables kept their rows.
    assert {s["status"] for s in second.ingested} == {"skipped_unchanged"}, second.ingested
    warehouse_after = table_fingerprints(url)
    assert warehouse_after.keys() == warehouse_before.keys()
    changed = {k: (warehouse_before[k], warehouse_after[k]) for k in warehouse_before
               if warehouse_before[k] != warehouse_after[k]}
    assert not changed, f"tables that differ after the second run: {changed}"
    assert tree_digest(datasets) == files_before


def test_a_new_snapshot_loads_after_dbt_built_its_staging_view(fresh_database, var_dir, tmp_path):
    """Month 2 of a real deployment: the source changed, its staging view exists. The load must succeed."""
    from territoire import dbt, pipeline, warehouse
    from territoire.catalog import load_catalog
    from territoire.ingest.loader import Loader

    url = fresh_database
    pipeline.ingest_resource("cog", "regions", url=url)
    dbt.run(["run", "--select", "stg_cog__regions"], url, capture=True)
    source = settings.PROJECT_ROOT / "data/samples/territorial/insee_cog_2026/regions.csv"
    changed = tmp_path / "regions.csv"
    text = source.read_text(encoding="utf-8")
    assert "GUADELOUPE,Guadeloupe,Guadeloupe\n" in text
    changed.write_text(text.replace("GUADELOUPE,Guadeloupe,Guadeloupe\n", "GUADELOUPE,Guadeloupe,Guadeloupe (modifié)\n"),
                       encoding="utf-8")
    result = Loader(url, progress=lambda m: None).load(load_catalog().get("cog").resource("regions"), changed)
    assert result.status == "succeeded"
    with warehouse.connect(url) as conn:
        assert conn.execute("select count(*) from staging.stg_cog__regions where nom_region = 'Guadeloupe (modifié)'"
                            ).fetchone()[0] == 1
