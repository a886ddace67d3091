"""The first pipeline end to end: COG files -> raw -> dbt -> quality gate -> published files.

Runs the same functions the Airflow tasks call (the DAGs themselves run in `make demo`, and on two
Celery workers in tests/deploy/test_celery_pipeline.py), on the real INSEE COG 2026 samples, against
PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import shutil

import pyarrow.parquet as pq
import pytest
from support.pipeline import build_territory, ingest_sources

from territoire import pipeline, settings, warehouse
from territoire.catalog import load_catalog
from territoire.dbt import DbtError
from territoire.quality.gate import QualityGateFailed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def digest_tree(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def published_dim_territoire(url: str) -> tuple[dict, str]:
    """What is published of dim_territoire: (a digest of each file, an md5 of the published table's rows)."""
    with warehouse.connect(url) as conn:
        rows = conn.execute("select md5(string_agg(t::text, '|' order by code_commune)) "
                            "from published.dim_territoire t").fetchone()[0]
    return digest_tree(settings.publication_dir() / "datasets" / "dim_territoire"), rows


@pytest.fixture
def published_territory(fresh_database, isolated_var):
    url = fresh_database
    ingest_sources(url, ["cog"])
    build_territory(url)
    outcome = pipeline.publish_dataset("dim_territoire", url=url)
    return url, outcome


def test_cog_lands_raw_with_a_ledger_entry_per_file(published_territory):
    url, _ = published_territory
    with warehouse.connect(url) as conn:
        assert conn.execute("select count(*) from raw.cog__communes").fetchone()[0] == 37_496
        assert conn.execute("select count(*) from raw.cog__populations").fetchone()[0] == 34_900
        batches = conn.execute(
            "select resource, status, rows_loaded, file_sha256 from ingest.load_batches where source_id = 'cog'"
        ).fetchall()
    resources = {r.name for r in load_catalog().get("cog").resources}
    assert {b[0] for b in batches if b[1] == "succeeded"} == resources
    assert all(len(b[3]) == 64 for b in batches)


def test_dim_territoire_handles_the_cog_quirks(published_territory):
    url, outcome = published_territory
    assert outcome.verdict == "passed"
    with warehouse.connect(url) as conn:
        rows = dict(conn.execute("select code_commune, population_municipale from published.dim_territoire "
                                 "where code_commune in ('75056', '69123', '13055', '01001', '2A004')").fetchall())
        arrondissements = dict(conn.execute(
            """select left(com, 2), sum(pmun::int) from raw.cog__populations
               where com ~ '^(751|6938|132)' group by 1""").fetchall())
        total = conn.execute("select count(*), count(distinct code_commune) from published.dim_territoire").fetchone()
        corsica = conn.execute("select code_departement, code_region from published.dim_territoire "
                               "where code_commune = '2A004'").fetchone()
        mayotte = conn.execute("select count(*), min(population_municipale) from published.dim_territoire "
                               "where code_departement = '976'").fetchone()
    assert total == (34_875, 34_875)  # COM rows only: COMD/COMA/ARM are not communes
    # Paris, Lyon and Marseille: populations given by arrondissement, summed into the commune.
    assert rows["75056"] == arrondissements["75"]
    assert rows["69123"] == arrondissements["69"]
    assert rows["13055"] == arrondissements["13"]
    assert "01001" in rows  # leading zero kept
    assert corsica == ("2A", "94")
    assert mayotte[0] == 17 and mayotte[1] > 0  # Mayotte comes from its own file


def test_published_files_match_the_published_table(published_territory):
    url, outcome = published_territory
    folder = settings.publication_dir() / "datasets" / "dim_territoire"
    with open(folder / "dim_territoire.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == outcome.published_rows == 34_875
    assert rows[0]["code_commune"] == "01001"
    paris = next(r for r in rows if r["code_commune"] == "75056")
    table = pq.read_table(folder / "dim_territoire.parquet")
    assert table.num_rows == 34_875
    assert table.column("code_commune")[0].as_py() == "01001"
    idx = table.column("code_commune").to_pylist().index("75056")
    assert table.column("population_municipale")[idx].as_py() == int(paris["population_municipale"])


def test_republishing_unchanged_data_gives_byte_identical_files(published_territory):
    url, _ = published_territory
    folder = settings.publication_dir() / "datasets" / "dim_territoire"
    before = digest_tree(folder)
    again = pipeline.publish_dataset("dim_territoire", url=url)
    assert again.changed is False
    assert digest_tree(folder) == before


def test_a_corrupted_input_is_blocked_and_the_published_files_stay_as_they_were(published_territory, tmp_path):
    """A commune moved to a département that does not exist: dbt's tests and the gate both catch it."""
    url, _ = published_territory
    before = published_dim_territoire(url)
    source = settings.PROJECT_ROOT / "data/samples/territorial/insee_cog_2026/communes.csv"
    corrupted = tmp_path / "communes.csv"
    shutil.copy(source, corrupted)
    text = corrupted.read_text(encoding="utf-8")
    assert "COM,01001,84,01," in text
    corrupted.write_text(text.replace("COM,01001,84,01,", "COM,01001,84,96,", 1), encoding="utf-8")

    from territoire.ingest.loader import Loader

    resource = load_catalog().get("cog").resource("communes")
    Loader(url).load(resource, corrupted)
    with pytest.raises(DbtError, match="relationships_dim_territoire_code_departement"):
        build_territory(url)
    with pytest.raises(QualityGateFailed) as failure:
        pipeline.publish_dataset("dim_territoire", url=url)
    message = str(failure.value)
    assert "blocked" in message and "code_departement" in message

    assert published_dim_territoire(url) == before
    with warehouse.connect(url) as conn:
        last = conn.execute("select verdict, published from quality.validation_runs "
                            "where dataset_id = 'dim_territoire' order by finished_at desc limit 1").fetchone()
    assert last == ("blocked", False)


def test_a_duplicated_commune_code_is_quarantined_and_nothing_new_is_published(published_territory, tmp_path):
    """A real COM line of the COG communes file appended again (the commune 01001 twice).

    What happens end to end: the resource's primary key (TYPECOM, COM) makes the loader quarantine the
    repeat (rule `unique`, its line number); with the COG's quarantine threshold of 0 the load fails and
    raw.cog__communes keeps its previous batch. An operator who raises the threshold, as the error
    suggests, gets the first occurrence only: dbt and the gate then see no duplicate, and the published
    files stay byte-identical.
    """
    from territoire.ingest.loader import Loader, QuarantineThresholdExceeded

    url, _ = published_territory
    before = published_dim_territoire(url)
    with warehouse.connect(url) as conn:
        raw_batch_before = conn.execute("select distinct _batch_id from raw.cog__communes").fetchall()
    source = settings.PROJECT_ROOT / "data/samples/territorial/insee_cog_2026/communes.csv"
    data = source.read_bytes()
    lines = data.splitlines(keepends=True)
    duplicate = next(line for line in lines if line.startswith(b"COM,01001,"))
    assert data.endswith(b"\r\n") and lines.count(duplicate) == 1
    corrupted = tmp_path / "communes.csv"
    corrupted.write_bytes(data + duplicate)
    duplicate_line_number = len(lines) + 1  # physical line of the appended copy (line 1 is the header)

    resource = load_catalog().get("cog").resource("communes")
    with pytest.raises(QuarantineThresholdExceeded) as failure:
        Loader(url).load(resource, corrupted)
    message = str(failure.value)
    # The error names the source, file, key columns, rule and line, and says what to do.
    assert "cog/communes" in message and str(corrupted) in message
    assert f"typecom,com/unique: 1 rows (e.g. line {duplicate_line_number}" in message
    with warehouse.connect(url) as conn:
        batch = conn.execute("select batch_id, status, rows_read, rows_rejected from ingest.load_batches "
                             "where source_id = 'cog' and resource = 'communes' order by batch_id desc limit 1"
                             ).fetchone()
        rejected = conn.execute("select line_number, column_name, rule, value from ingest.rejected_rows "
                                "where batch_id = %s", (batch[0],)).fetchall()
        raw_after = conn.execute("select count(*), count(distinct (typecom, com)), "
                                 "array_agg(distinct _batch_id) from raw.cog__communes").fetchone()
    assert batch[1:] == ("failed", len(lines), 1)  # header + 37,496 rows + the copy = rows read
    assert rejected == [(duplicate_line_number, "typecom,com", "unique", "COM|01001")]
    # raw keeps the previous batch, untouched: 37,496 rows, one per (TYPECOM, COM).
    assert raw_after == (len(lines) - 1, len(lines) - 1, [b[0] for b in raw_batch_before])

    # Raising the threshold (what the error suggests) loads the file: the first occurrence only.
    loaded = Loader(url).load(resource, corrupted, quarantine_threshold=0.001)
    assert (loaded.status, loaded.rows_loaded, loaded.rows_rejected) == ("succeeded", len(lines) - 1, 1)
    with warehouse.connect(url) as conn:
        assert conn.execute("select rule, line_number from ingest.rejected_rows where batch_id = %s",
                            (loaded.batch_id,)).fetchall() == [("unique", duplicate_line_number)]
        assert conn.execute("select count(*), min(_line_number) from raw.cog__communes "
                            "where typecom = 'COM' and com = '01001'").fetchone() == (1, 2)
    # dbt's unique tests and the gate's unique-key rule see no duplicate: the dataset passes, and
    # nothing new is published (same rows, same bytes).
    build_territory(url)
    again = pipeline.publish_dataset("dim_territoire", url=url)
    assert (again.verdict, again.changed) == ("passed", False)
    assert published_dim_territoire(url) == before
    with warehouse.connect(url) as conn:
        counts = conn.execute("select count(*), count(distinct code_commune) from published.dim_territoire"
                              ).fetchone()
    assert counts[0] == counts[1]
