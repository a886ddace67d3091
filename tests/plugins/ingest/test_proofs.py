"""The client's proofs (territoire.ingest.proofs) only ever prove: whatever a proof accepts, PostgreSQL's
one-scan check accepts too. Each value below (plain ones, and the forms a cast tolerates or a spreadsheet
writes) goes through the real line splitting of the fast COPY and the proofs of the rule model, and
through the real one-scan check in PostgreSQL; the values are synthetic edge cases."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import psycopg
import pytest

from territoire.ingest import parsing, proofs
from territoire.ingest.schema import Schema, build_fast_check, client_proofs, load_schema

_SCHEMAS = Path(tempfile.mkdtemp(prefix="territoire-proofs-"))
_NUMBER = itertools.count()


def _schema(fields: list[dict]) -> Schema:
    path = _SCHEMAS / f"schema_{next(_NUMBER)}.json"
    path.write_text(json.dumps({"fields": fields}), encoding="utf-8")
    return load_schema(path)

CASES: list[tuple[dict, list[str], list[str]]] = [
    # (field, values the client must prove, values it may leave to PostgreSQL)
    ({"type": "integer", "constraints": {"minimum": 2011, "maximum": 2030}},
     ["2011", "2020", "2030", "02020"],
     ["2010", "2031", "-2020", "+2020", " 2020", "2020 ", "2e3", "2020.0", "0x7E4", "2_020", "٢٠٢٠",
      "99999999999999999999"]),
    ({"type": "integer", "constraints": {"minimum": 0}},
     ["0", "7", "123456789012345678"], ["-1", "-0", "1234567890123456789", "1.5", "1 000"]),
    ({"type": "integer"}, ["42", ""], ["4.2", "x", "- 4"]),
    ({"type": "number"}, ["0", "1.5", "00012.500", "123456789012345678901234567890"],
     [".5", "5.", "1.2.3", "-1", "1e3", "NaN", "Infinity", "inf", " 1", "1,5", "0x10"]),
    ({"type": "number", "constraints": {"minimum": 0, "maximum": 100}},
     ["0", "99.5", "100"],
     ["100.0000000001", "100.00000000000001", "-0", "-0.0", "1e2", "100.5", "123456789012345678.5"]),
    ({"type": "number", "constraints": {"minimum": 2.5}}, ["2.6", "3"], ["2.5", "2.4", "2.5000000000000001"]),
    ({"type": "string", "constraints": {"pattern": "^[0-9]{5}$"}},
     ["69123", "01001", ""], ["6912", "691234", "6912a", " 6912", "+6912", "-6912", "0x1F3", "1_234", "69123 "]),
    ({"type": "string", "constraints": {"pattern": "^\\d{2,3}$"}}, ["12", "123"], ["1", "1234", "1 "]),
    ({"type": "string", "constraints": {"enum": ["B", "T", "Église"]}}, ["B", "Église", ""],
     ["b", "BB", "B ", " B", "Eglise", "église"]),
    ({"type": "string", "constraints": {"required": True}}, ["x", " "], [""]),
    ({"type": "string"}, ["anything at all", ""], []),
]


def _proved(schema: Schema, values: list[str], encoding: str) -> list[bool]:
    """Whether the client proves column `v` for each value alone, through the real splitting
    (`parsing._rewrite_lines`) and the schema's proofs."""
    proved = []
    for value in values:
        watcher = proofs.Watcher(client_proofs(schema, ["v", "x"]), [], encoding, 2)
        parsing._rewrite_lines(f"{value};x\n".encode(encoding), ord(";"), 2, None, watcher=watcher)
        proved.append(0 in watcher.proved_columns())
    return proved


@pytest.fixture(scope="module")
def sql(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


def _accepted(conn, schema: Schema, value: str) -> bool:
    """What PostgreSQL's one-scan check says of the value (as COPY stores it: empty -> NULL)."""
    check = build_fast_check(schema, ["v", "x"], decimal_points_rewritten=True)
    assert check is not None
    aggregates = ", ".join(check.aggregates) or "true"
    try:
        with conn.transaction():
            row = conn.execute(f"select {aggregates} from (select nullif(%s, '') as v, 'x' as x) t", (value,)).fetchone()
    except psycopg.errors.DataError:
        return False
    return check.clean(row)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize(("field", "plain", "tricky"), CASES)
def test_a_proof_only_proves_what_postgresql_accepts(sql, field, plain, tricky, encoding):
    schema = _schema([{"name": "v", **field}, {"name": "x", "type": "string"}])
    values = [v for v in plain + tricky if _encodable(v, encoding)]
    proved = _proved(schema, values, encoding)
    for value, is_proved in zip(values, proved, strict=True):
        if is_proved:
            assert _accepted(sql, schema, value), f"{field}: the client proved {value!r}, PostgreSQL refuses it"
    # The plain values are proved (or the proofs would be a test that cannot fail).
    assert [v for v, p in zip(values, proved, strict=True) if v in plain and not p] == []


def _encodable(value: str, encoding: str) -> bool:
    try:
        value.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _watch(text: str, width: int, proofs_by_column: dict, keys: list[list[int]], encoding: str = "utf-8",
           block_lines: int = 3) -> proofs.Watcher:
    """Stream `text` through the real splitting in blocks of `block_lines` lines."""
    watcher = proofs.Watcher(proofs_by_column, keys, encoding, width)
    lines = text.encode(encoding).splitlines(keepends=True)
    for k in range(0, len(lines), block_lines):
        parsing._rewrite_lines(b"".join(lines[k:k + block_lines]), ord(";"), width, None, watcher=watcher)
    return watcher


def test_keys_distinct_repeated_and_null():
    assert _watch("1;a\n2;b\n3;c\n4;d\n", 2, {}, [[0]]).distinct_keys() == [True]
    assert _watch("1;a\n2;b\n3;c\n1;d\n", 2, {}, [[0]]).distinct_keys() == [False]  # across blocks
    assert _watch(";a\n;b\n3;c\n", 2, {}, [[0]]).distinct_keys() == [True]  # NULLs never repeat a key
    # Longer than 8 bytes (hashed), and a key of two columns.
    assert _watch("identifiant-0001;a\nidentifiant-0002;b\n", 2, {}, [[0]]).distinct_keys() == [True]
    assert _watch("identifiant-0001;a\nidentifiant-0001;b\n", 2, {}, [[0]]).distinct_keys() == [False]
    assert _watch("1;a\n1;b\n2;a\n", 2, {}, [[0, 1]]).distinct_keys() == [True]
    assert _watch("1;a\n1;b\n1;a\n", 2, {}, [[0, 1]]).distinct_keys() == [False]
    # "ab" + "c" and "a" + "bc" are different keys.
    assert _watch("ab;c\na;bc\n", 2, {}, [[0, 1]]).distinct_keys() == [True]


def test_crlf_line_ends_are_not_part_of_the_last_value():
    code = {1: [proofs.digit_code(5, 5)]}
    assert _watch("a;69123\r\nb;01001\r\n", 2, code, []).proved_columns() == {1}
    assert _watch("a;69123\r\nb;0100\r\n", 2, code, []).proved_columns() == set()


def test_what_stops_the_proofs(monkeypatch):
    watcher = _watch("1;a\n2;b\n", 2, {0: [proofs.plain_integers()]}, [[0]])
    watcher.give_up("quoted fields")
    assert watcher.proved_columns() == set() and watcher.distinct_keys() == [False]
    assert not _watch("1;a\n;\n", 2, {}, []).no_empty_record()
    assert _watch("1;a\n;b\n", 2, {}, []).no_empty_record()
    monkeypatch.setattr(proofs, "KEY_LIMIT", 4)  # memory stays bounded: past the limit, PostgreSQL decides
    limited = _watch("1;a\n2;b\n3;c\n4;d\n5;e\n", 2, {}, [[0]], block_lines=2)
    assert limited.distinct_keys() == [False] and limited.keys_reason
    long_key = "x" * (proofs.KEY_MAX_WIDTH + 1)
    assert _watch(f"{long_key};a\n", 2, {}, [[0]]).distinct_keys() == [False]


def test_a_quoted_file_proves_nothing(tmp_path):
    path = tmp_path / "quoted.csv"  # synthetic
    path.write_text('n;t\n1;"a"\n2;b\n', encoding="utf-8")
    dialect = parsing.sniff_csv(path)
    watcher = proofs.Watcher({0: [proofs.plain_integers()], 1: []}, [[0]], "utf-8", 2)
    list(parsing.iter_decimal_point_chunks(path, dialect, [], 2, watcher=watcher))
    assert watcher.reason == "quoted fields" and watcher.proved_columns() == set()


def test_the_rule_model_gives_the_proofs():
    schema = _schema([
        {"name": "annee", "type": "integer", "constraints": {"required": True, "minimum": 2011}},
        {"name": "code", "type": "string", "constraints": {"pattern": "^[0-9]{5}$"}},
        {"name": "jour", "type": "date"},  # no proof: PostgreSQL checks it
        {"name": "courriel", "type": "string", "format": "email"},
        {"name": "libre", "type": "string"},
    ])
    found = client_proofs(schema, ["annee", "code", "jour", "courriel", "libre", "autre"])
    assert sorted(found) == [0, 1, 4, 5] and len(found[0]) == 3 and found[4] == [] and found[5] == []
    assert client_proofs(schema, ["annee"], strict=True) == {}


def _csv(path: Path, rows: list[str]) -> Path:
    """A synthetic file with a number column (so that the fast COPY and its proofs run)."""
    path.write_text("id;code;mesure\n" + "".join(f"{r}\n" for r in rows), encoding="cp1252")
    return path


def _fields() -> list[dict]:
    return [{"name": "id", "type": "integer", "constraints": {"required": True}},
            {"name": "code", "type": "string", "constraints": {"pattern": "^[0-9]{5}$"}},
            {"name": "mesure", "type": "number", "constraints": {"minimum": 0}}]


def test_a_load_says_what_the_client_proved(loader, warehouse_url, tmp_path):
    from ingest_helpers import fetch_all, make_resource, write_schema

    path = _csv(tmp_path / "propre.csv", [f"{i};{69000 + i};{i},5" for i in range(1, 2001)])
    result = loader.load(make_resource(path, schema=write_schema(tmp_path, _fields(), primaryKey="id")), path)
    assert result.rows_loaded == 2000
    details = fetch_all(warehouse_url, "select details from ingest.load_batches where batch_id = %s",
                        (result.batch_id,))[0][0]
    assert details["client_proofs"] == {"columns": ["id", "code", "mesure"], "keys": [["id"]], "not_proved": None}
    assert details["checked_by"] == "one aggregate scan (clean file)"


def test_what_the_client_cannot_prove_postgresql_still_finds(loader, warehouse_url, tmp_path):
    """A repeated key, a negative measure and a code that lost its zero: the client proves neither the
    key nor those columns; PostgreSQL finds each, as with the fast COPY off."""
    from ingest_helpers import make_resource, rejections, write_schema

    rows = [f"{i};{69000 + i};{i},5" for i in range(1, 2001)]
    rows[10] = "5;69011;1,5"      # line 12 repeats the key of line 6
    rows[20] = "21;69021;-2,5"    # line 22: below the minimum
    rows[30] = "31;6903;1"        # line 32: four digits (a lost leading zero)
    path = _csv(tmp_path / "defauts.csv", rows)
    schema = write_schema(tmp_path, _fields(), primaryKey="id")
    found = []
    for fast in (True, False):
        from territoire.ingest.loader import Loader

        other = Loader(warehouse_url, progress=lambda m: None, reports=False, fast_copy=fast)
        result = other.load(make_resource(path, schema=schema), path, force=True, quarantine_threshold=0.5)
        found.append(rejections(warehouse_url, result.batch_id))
    assert found[0] == found[1] == {(12, "id", "unique"), (22, "mesure", "minimum"), (32, "code", "code-as-number")}
