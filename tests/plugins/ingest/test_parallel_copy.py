"""Parallel COPY: a large CSV file is sent in parts over several connections. It must give exactly
what one COPY gives (rows, values, line numbers, quarantine), fall back when the bytes cannot be cut
(quotes), and leave nothing behind when it fails or is killed."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from ingest_helpers import (
    SAMPLES,
    SCHEMAS,
    fetch_all,
    kill_at,
    make_resource,
    rejections,
    start_loader,
    wait_for_dead_sessions,
    write_schema,
)

from territoire import settings
from territoire.ingest.loader import Loader, QuarantineThresholdExceeded

pytestmark = pytest.mark.integration

ENEDIS = SAMPLES / "energy" / "enedis_conso_residentielle_par_adresse_lyon8_2018-2023.csv"
ENEDIS_SCHEMA = SCHEMAS / "energie" / "enedis_consommation_residentielle_adresse.json"


def _rows(url: str, table: str) -> list[tuple]:
    """Every value of a raw table but the batch and load time, in line order."""
    columns = [c for (c,) in fetch_all(url, "select attname from pg_attribute where attrelid = %s::regclass and "
                                            "attnum > 0 and not attisdropped order by attnum", (f'raw."{table}"',))
               if c not in ("_batch_id", "_loaded_at")]
    return fetch_all(url, f'select {", ".join(chr(34) + c + chr(34) for c in columns)} from raw."{table}" '
                          f"order by _line_number")


def _details(url: str, batch_id: int) -> dict:
    return fetch_all(url, "select details from ingest.load_batches where batch_id = %s", (batch_id,))[0][0]


def _leftovers(url: str) -> list[tuple]:
    return fetch_all(url, "select schemaname, tablename from pg_tables where schemaname in ('ingest', 'raw') "
                          "and tablename like '\\_load\\_%%'")


def test_real_file_in_parts_equals_one_copy(warehouse_url):
    """The real Enedis extract (9,312 rows, decimal points, no quotes) loaded by one connection and by
    three: same rows, same values, same line numbers; the ledger says how it was COPYed."""
    one = Loader(warehouse_url, progress=lambda m: None, parallel=1)
    three = Loader(warehouse_url, progress=lambda m: None, parallel=3, parallel_min_bytes=0)
    r1 = make_resource(ENEDIS, schema=ENEDIS_SCHEMA)
    r3 = make_resource(ENEDIS, schema=ENEDIS_SCHEMA)
    a, b = one.load(r1, ENEDIS), three.load(r3, ENEDIS)
    assert a.status == b.status == "succeeded" and a.rows_loaded == b.rows_loaded == 9312
    assert _details(warehouse_url, a.batch_id)["copy_connections"] == 1
    assert _details(warehouse_url, b.batch_id)["copy_connections"] == 3
    rows = _rows(warehouse_url, r3.raw_table)
    assert rows == _rows(warehouse_url, r1.raw_table)
    assert rows[0][-1] == 2 and rows[-1][-1] == 9313  # _line_number: the physical line in the file
    assert _leftovers(warehouse_url) == []


def _synthetic(path: Path, rows: int, bad: dict[int, str] | None = None, quoted: set[int] = frozenset()) -> Path:
    """SYNTHETIC rows: code;commune;valeur with decimal commas; `bad` replaces the commune code of the
    given data rows (0-based); `quoted` rows get a quoted name holding a `;`."""
    bad = bad or {}
    with open(path, "w", encoding="cp1252", newline="") as f:
        f.write("code;nom;commune;valeur\r\n")
        for i in range(rows):
            name = f'"Lieu-dit {i}; écart"' if i in quoted else f"Lieu-dit {i}, écart"
            f.write(f"C{i};{name};{bad.get(i, f'{69000 + i % 400:05d}')};{i % 97},{i % 10}\r\n")
    return path


def _schema(tmp_path: Path) -> Path:
    return write_schema(tmp_path, [{"name": "code", "type": "string", "constraints": {"required": True}},
                                   {"name": "nom", "type": "string"},
                                   {"name": "commune", "type": "string", "constraints": {"pattern": "^[0-9]{5}$"}},
                                   {"name": "valeur", "type": "number", "constraints": {"minimum": 0}}],
                        primaryKey=["code"])


def test_parts_keep_decimal_commas_text_and_line_numbers(warehouse_url, tmp_path):
    path = _synthetic(tmp_path / "synthetique.csv", 20_000)
    r1, r4 = make_resource(path, schema=_schema(tmp_path)), make_resource(path, schema=_schema(tmp_path))
    Loader(warehouse_url, progress=lambda m: None, parallel=1).load(r1, path)
    result = Loader(warehouse_url, progress=lambda m: None, parallel=4, parallel_min_bytes=0).load(r4, path)
    assert _details(warehouse_url, result.batch_id)["copy_connections"] == 4
    rows = _rows(warehouse_url, r4.raw_table)
    assert rows == _rows(warehouse_url, r1.raw_table)
    assert rows[12_345] == ("C12345", "Lieu-dit 12345, écart", f"{69000 + 12345 % 400:05d}", "26.5", 12_347)


def test_a_broken_value_in_a_later_part_is_quarantined_at_its_line(warehouse_url, tmp_path):
    """The parallel attempt finds the file not clean and gives way to the detailed check, which names
    the line of the value (here in the last of three parts) exactly."""
    path = _synthetic(tmp_path / "synthetique.csv", 30_000, bad={27_000: "69A12"})
    r = make_resource(path, schema=_schema(tmp_path))
    result = Loader(warehouse_url, progress=lambda m: None, parallel=3, parallel_min_bytes=0).load(r, path)
    assert result.rows_loaded == 29_999 and result.rows_rejected == 1
    assert rejections(warehouse_url, result.batch_id) == {(27_002, "commune", "pattern")}
    assert _leftovers(warehouse_url) == []


def test_quotes_in_a_later_part_fall_back_to_one_copy(warehouse_url, tmp_path):
    """A part can only start at a record boundary when no field is quoted: a quote anywhere sends the
    load back to a single COPY, which PostgreSQL parses quotes and all."""
    path = _synthetic(tmp_path / "synthetique.csv", 20_000, quoted={19_000})
    r1, r2 = make_resource(path, schema=_schema(tmp_path)), make_resource(path, schema=_schema(tmp_path))
    messages: list[str] = []
    Loader(warehouse_url, progress=lambda m: None, parallel=1).load(r1, path)
    result = Loader(warehouse_url, progress=messages.append, parallel=2, parallel_min_bytes=0).load(r2, path)
    assert result.rows_loaded == 20_000
    assert any("quoted fields" in m for m in messages)
    assert _details(warehouse_url, result.batch_id)["copy_connections"] == 1
    assert _rows(warehouse_url, r2.raw_table) == _rows(warehouse_url, r1.raw_table)
    assert _rows(warehouse_url, r2.raw_table)[19_000][1] == "Lieu-dit 19000; écart"
    assert _leftovers(warehouse_url) == []


def test_duplicate_keys_across_parts_are_found(warehouse_url, tmp_path):
    path = _synthetic(tmp_path / "synthetique.csv", 20_000)
    data = path.read_bytes()
    assert b"\r\nC19990;" in data
    path.write_bytes(data.replace(b"\r\nC19990;", b"\r\nC5;", 1))
    r = make_resource(path, schema=_schema(tmp_path))
    result = Loader(warehouse_url, progress=lambda m: None, parallel=2, parallel_min_bytes=0).load(r, path)
    assert result.rows_rejected == 1 and rejections(warehouse_url, result.batch_id) == {(19_992, "code", "unique")}


@pytest.mark.parametrize("rows, quarantined", [
    # "1,5" is stored as "1.5": the key repeats once the decimal comma is rewritten
    (["a;1,5", "b;2,5", "c;1.5"], {(4, "mesure", "unique")}),
    (["a;1,5", "b;2,5", "c;3.5"], set()),
    # a quoted field: the client cannot be sure of the fields, PostgreSQL rewrites the commas
    (['"a;x";1,5', "b;2,5", "c;1,5"], {(4, "mesure", "unique")}),
    (['"a;x";1', "b;2", "c;3"], set()),
])
def test_keys_are_compared_as_stored(warehouse_url, tmp_path, rows, quarantined):
    path = tmp_path / "mesures.csv"
    path.write_text("nom;mesure\n" + "\n".join(rows) + "\n", encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": "nom", "type": "string"}, {"name": "mesure", "type": "number"}],
                          primaryKey=["mesure"])
    result = Loader(warehouse_url, progress=lambda m: None).load(make_resource(path, schema=schema), path,
                                                                 quarantine_threshold=0.5)
    assert rejections(warehouse_url, result.batch_id) == quarantined


def test_a_load_failing_after_the_parts_leaves_nothing(warehouse_url, tmp_path):
    path = _synthetic(tmp_path / "synthetique.csv", 10_000, bad={i: "x" for i in range(0, 10_000, 10)})
    r = make_resource(path, schema=_schema(tmp_path))
    with pytest.raises(QuarantineThresholdExceeded):
        Loader(warehouse_url, progress=lambda m: None, parallel=2, parallel_min_bytes=0).load(
            r, path, quarantine_threshold=0.05)
    assert _leftovers(warehouse_url) == []
    assert fetch_all(warehouse_url, "select to_regclass(%s) is null", (f'raw."{r.raw_table}"',)) == [(True,)]


@pytest.mark.slow
def test_killed_after_the_parts_were_committed(fresh_database, tmp_path):
    """Killed once the other connection has committed its part: the raw table still holds the previous
    load, the committed part waits outside raw (ingest._load_<batch>) and the next load removes it."""
    url = fresh_database
    path = _synthetic(tmp_path / "synthetique.csv", 1_000_000)
    r = make_resource(path)
    small = _synthetic(tmp_path / "small.csv", 3)
    Loader(url, progress=lambda m: None).load(r, small)
    proc = start_loader(url, path, r.name, tmp_path / "landing", parallel=2)
    kill_at(proc, "parts COPYed at once")  # the other connection has committed its part
    wait_for_dead_sessions(url)
    assert fetch_all(url, f'select count(*) from raw."{r.raw_table}"') == [(3,)]
    (batch,), = fetch_all(url, "select max(batch_id) from ingest.load_batches")
    assert _leftovers(url) == [("ingest", f"_load_{batch}")]
    rerun = Loader(url, progress=lambda m: None, parallel=2, parallel_min_bytes=0).load(r, path)
    assert rerun.rows_loaded == 1_000_000 and _leftovers(url) == []
    assert fetch_all(url, "select status, left(error, 11) from ingest.load_batches order by batch_id") == [
        ("succeeded", None), ("interrupted", "interrupted"), ("succeeded", None)]
    assert fetch_all(url, f'select min(_line_number), max(_line_number) from raw."{r.raw_table}"') == [
        (2, 1_000_001)]


def test_parallelism_setting_is_checked(monkeypatch):
    monkeypatch.setenv("TERRITOIRE_LOAD_PARALLELISM", "deux")
    with pytest.raises(ValueError, match="TERRITOIRE_LOAD_PARALLELISM='deux'"):
        settings.load_parallelism()
    monkeypatch.setenv("TERRITOIRE_LOAD_PARALLELISM", "1")
    assert settings.load_parallelism() == 1


def test_without_more_connections_one_copy_does_it(warehouse_url, tmp_path, monkeypatch):
    """The warehouse refuses the extra connections (max_connections, a pooler's limit): the load goes on
    with one COPY of the same rewritten bytes and says so."""
    from territoire.ingest import loader as loader_module

    path = _synthetic(tmp_path / "synthetique.csv", 5_000)
    r1, r2 = make_resource(path, schema=_schema(tmp_path)), make_resource(path, schema=_schema(tmp_path))
    Loader(warehouse_url, progress=lambda m: None, parallel=1).load(r1, path)
    messages: list[str] = []
    parallel = Loader(warehouse_url, progress=messages.append, parallel=2, parallel_min_bytes=0)
    real_connect = loader_module.warehouse.connect
    opened: list[dict] = []

    def connect(url=None, **kwargs):  # the load's own connection opens; the next one is refused
        opened.append(kwargs)
        if len(opened) > 1:
            raise psycopg.OperationalError("FATAL:  sorry, too many clients already")
        return real_connect(url, **kwargs)

    monkeypatch.setattr(loader_module.warehouse, "connect", connect)
    result = parallel.load(r2, path)
    assert result.status == "succeeded" and result.rows_loaded == 5_000
    assert any("could not be opened (FATAL:  sorry, too many clients already); one connection COPYs the file" in m
               for m in messages)
    assert _details(warehouse_url, result.batch_id)["copy_connections"] == 1
    assert _details(warehouse_url, result.batch_id)["decimal_commas"] == "rewritten while streaming"
    assert _rows(warehouse_url, r2.raw_table) == _rows(warehouse_url, r1.raw_table)
    assert _leftovers(warehouse_url) == []


def test_a_quoted_file_with_a_key_is_copied_once(warehouse_url, tmp_path):
    """No number to rewrite, a key, quoted fields holding `;` and `,`: the client cannot split the lines
    for sure, so it gives up its proofs and fingerprints, but the bytes go on as they are in the same
    COPY (no second reading of the file); PostgreSQL checks the rules and the key."""
    path = tmp_path / "adresses.csv"
    path.write_text('code;adresse\nA;"2, rue Haute; bât. B"\nB;rue Basse\nA;"3, place Neuve"\n', encoding="utf-8")
    schema = write_schema(tmp_path, [{"name": "code", "type": "string"}, {"name": "adresse", "type": "string"}],
                          primaryKey=["code"])
    messages: list[str] = []
    result = Loader(warehouse_url, progress=messages.append).load(make_resource(path, schema=schema), path,
                                                                  quarantine_threshold=0.5)
    assert rejections(warehouse_url, result.batch_id) == {(4, "code", "unique")}
    assert not any("cannot split" in m for m in messages), messages
