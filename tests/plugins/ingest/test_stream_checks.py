"""What the client proves while it splits a file's lines (territoire.ingest.stream_checks): key fingerprints
(no key repeats) and field proofs (rules kept). They may only prove: whatever they cannot be sure of
is left to PostgreSQL, never guessed. The files here are SYNTHETIC, written for each case."""

from __future__ import annotations

import pytest

from territoire.ingest import parsing, stream_checks, tableschema


def _fingerprints(tmp_path, text: bytes, keys: list[list[int]], numbers: list[int] = (), width: int = 2,
                  parts: int = 1, **kw) -> stream_checks.KeyFingerprints:
    """The fingerprints of the key values of a file streamed as the loader streams it (in `parts`)."""
    path = tmp_path / "cles.csv"
    path.write_bytes(text)
    dialect = parsing.sniff_csv(path, encoding="utf-8")
    fp = stream_checks.KeyFingerprints(keys, **kw)
    for start, end in parsing.split_at_lines(path, parts) if parts > 1 else [(None, None)]:
        for _ in parsing.iter_decimal_point_chunks(path, dialect, list(numbers), width, start, end, watchers=[fp]):
            pass
    return fp


@pytest.mark.parametrize("rows, distinct", [
    (["A;1", "B;2", "C;3"], True),
    (["A;1", "B;2", "A;3"], False),          # a repeated key
    (["A;1", "A ;2", "a;3"], True),          # compared byte for byte, as PostgreSQL compares them with "C"
    (["A;1", ";2", ";3"], True),             # empty keys are NULL: they never clash
])
def test_key_fingerprints_tell_whether_a_key_repeats(tmp_path, rows, distinct):
    fp = _fingerprints(tmp_path, ("code;v\n" + "\n".join(rows) + "\n").encode(), [[0]])
    assert fp.distinct() == [distinct] and fp.lines == 3


def test_key_fingerprints_see_values_as_stored(tmp_path):
    """After `,` -> `.`, "1,5" and "1.5" are the same stored key; the CR of a CRLF line end is not part of
    the last field, so "7" before CRLF and "7" at the end of the file (no line end) repeat."""
    assert _fingerprints(tmp_path, b"v;n\r\n1,5;a\r\n1.5;b\r\n", [[0]], numbers=[0]).distinct() == [False]
    assert _fingerprints(tmp_path, b"v;n\r\n2,5;a\r\n1.5;b\r\n", [[0]], numbers=[0]).distinct() == [True]
    assert _fingerprints(tmp_path, b"n;code\r\na;7\r\nb;8\r\nc;7", [[1]]).distinct() == [False]
    assert _fingerprints(tmp_path, b"n;code\r\na;7\r\nb;8\r\nc;77", [[1]]).distinct() == [True]


def test_key_fingerprints_of_a_composite_key_and_of_parts(tmp_path):
    """("1", "23") and ("12", "3") are different keys; a key repeated across two parts of a parallel
    COPY (two threads' worth of blocks) is seen."""
    text = b"a;b;v\n1;23;x\n12;3;y\n"
    assert _fingerprints(tmp_path, text, [[0, 1]], width=3).distinct() == [True]
    assert _fingerprints(tmp_path, text + b"1;23;z\n", [[0, 1], [1]], width=3).distinct() == [False, False]
    many = b"code;v\n" + b"".join(b"K%d;%d\n" % (i, i) for i in range(200_000))
    assert _fingerprints(tmp_path, many, [[0]], parts=3).distinct() == [True]
    fp = _fingerprints(tmp_path, many + b"K7;x\n", [[0]], parts=3)
    assert fp.distinct() == [False] and fp.lines == 200_001


@pytest.mark.parametrize("text, kw, reason", [
    (b'code;v\n"A";1\nB;2\n', {}, "quoted fields"),
    (b"code;v\nA;1;x\nB;2\n", {}, "another number of fields"),
    (b"code;v\n" + b"x" * 300 + b";1\n", {}, "longer than 256 bytes"),
    (b"code;v\nA;1\nB;2\nC;3\n", {"limit": 2}, "more than 2 lines"),
])
def test_key_fingerprints_give_up_rather_than_guess(tmp_path, text, kw, reason):
    """When the client cannot be sure of the values (or memory would grow), the fingerprints say so and
    the loader asks PostgreSQL; the bytes still go through unchanged."""
    path = tmp_path / "f.csv"
    path.write_bytes(text)
    fp = stream_checks.KeyFingerprints([[0]], **kw)
    sent = b"".join(parsing.iter_decimal_point_chunks(path, parsing.sniff_csv(path, encoding="utf-8"), [], 2,
                                                      watchers=[fp]))
    assert sent == text[text.index(b"\n") + 1:]
    assert fp.distinct() is None and reason in fp.reason


def _proved(tmp_path, values: list[str], encoding: str = "utf-8", **field) -> bool:
    """Whether the client proves the rules of `field` (a Table Schema field, as keyword arguments) for a
    column holding `values`: first in one file, then last in a CRLF one, which must agree."""
    f = tableschema.Field(name="v", column="v", **field)
    digit_code = tableschema.digit_code_lengths(f.pattern) if f.pattern else None
    rules = stream_checks.column_rules(f, encoding, required=f.required, digit_code=digit_code)
    assert rules is not None
    verdicts = []
    for position, end in ((0, "\n"), (1, "\r\n")):
        rows = [f"{v};x" if position == 0 else f"x;{v}" for v in values]
        head = "v;x" if position == 0 else "x;v"
        path = tmp_path / f"valeurs_{position}.csv"
        path.write_bytes((end.join([head, *rows]) + end).encode(encoding))
        proofs = stream_checks.FieldProofs({position: rules})
        for _ in parsing.iter_decimal_point_chunks(path, parsing.sniff_csv(path, encoding=encoding), [], 2,
                                                   watchers=[proofs]):
            pass
        assert proofs.lines == len(values)
        verdicts.append(proofs.proved()[0] == {position})
    assert verdicts[0] == verdicts[1]
    return verdicts[0]


@pytest.mark.parametrize("values, field, proved", [
    (["1.5", "-0.5", "12", "0", "", "12345678901234567.25"], {"type": "number"}, True),
    (["1e3"], {"type": "number"}, False),       # valid, but not a plain decimal: PostgreSQL decides
    ([" 1"], {"type": "number"}, False),
    (["+4"], {"type": "number"}, False),
    (["1."], {"type": "number"}, False),
    ([".5"], {"type": "number"}, False),
    (["1..5"], {"type": "number"}, False),
    (["1.2.3"], {"type": "number"}, False),
    (["-"], {"type": "number"}, False),
    (["1-2"], {"type": "number"}, False),
    (["NaN"], {"type": "number"}, False),
    (["12,5"], {"type": "number"}, False),      # not rewritten here: a `,` is not a plain decimal
    (["0.5", "3"], {"type": "number", "minimum": 0}, True),
    (["-0.5"], {"type": "number", "minimum": 0}, False),
    (["12", "-3", "007", "123456789012345678"], {"type": "integer"}, True),
    (["1.0"], {"type": "integer"}, False),
    (["1234567890123456789"], {"type": "integer"}, False),   # 19 digits: PostgreSQL's int8 decides
    (["2011", "2030", "2020"], {"type": "integer", "minimum": 2011, "maximum": 2030}, True),
    (["2011", "2010"], {"type": "integer", "minimum": 2011, "maximum": 2030}, False),
    (["2031"], {"type": "integer", "minimum": 2011, "maximum": 2030}, False),
    (["203"], {"type": "integer", "minimum": 2011}, False),
    (["20300"], {"type": "integer", "maximum": 2030}, False),
    (["0", "12"], {"type": "integer", "minimum": 0}, True),
    (["-1"], {"type": "integer", "minimum": 0}, False),
    (["a", "b"], {"required": True}, True),
    (["a", ""], {"required": True}, False),
    (["B", "T", ""], {"enum": ("B", "T")}, True),
    (["B", "X"], {"enum": ("B", "T")}, False),
    (["BT"], {"enum": ("B", "T")}, False),
    (["b"], {"enum": ("B", "T")}, False),
    (["RESIDENTIEL", "PROFESSIONNEL"], {"enum": ("RESIDENTIEL", "PROFESSIONNEL")}, True),
    (["RESIDENTIELS"], {"enum": ("RESIDENTIEL", "PROFESSIONNEL")}, False),
    (["PROFESSIONNE"], {"enum": ("RESIDENTIEL", "PROFESSIONNEL")}, False),
    (["01234", "69123", ""], {"pattern": "^[0-9]{5}$"}, True),        # digit codes: empty or the digits
    (["1234"], {"pattern": "^[0-9]{5}$"}, False),
    (["123456"], {"pattern": "^[0-9]{5}$"}, False),
    (["-1234"], {"pattern": "^[0-9]{5}$"}, False),
    (["1234 "], {"pattern": "^[0-9]{5}$"}, False),
    (["12a45"], {"pattern": "^[0-9]{5}$"}, False),
    (["١٢٣٤٥"], {"pattern": "^[0-9]{5}$"}, False),                   # digits, but not ASCII ones
    (["200046977", "012345678"], {"pattern": "^\\d{9}$"}, True),
    (["2A004", "01"], {"pattern": "^\\d{2,5}$"}, False),
    (["12", "12345", "9" * 40], {"pattern": "^\\d+$"}, True),
    (["9" * 80], {"pattern": "^\\d+$"}, False),                     # longer than the client reads
])
def test_field_proofs_prove_only_what_is_certain(tmp_path, values, field, proved):
    assert _proved(tmp_path, values, **field) is proved


def test_field_proofs_compare_enumerations_in_the_file_encoding(tmp_path):
    assert _proved(tmp_path, ["Électricité", "Gaz"], "cp1252", enum=("Électricité", "Gaz"))
    assert not _proved(tmp_path, ["Electricité"], "cp1252", enum=("Électricité", "Gaz"))


@pytest.mark.parametrize("field", [
    {"type": "date"}, {"type": "string", "pattern": "^[A-Z]+$"}, {"type": "string", "maxLength": 5},
    {"type": "number", "maximum": 10}, {"type": "number", "minimum": 1}, {"type": "integer", "enum": (1, 2)},
])
def test_field_proofs_leave_other_rules_to_postgresql(field):
    f = tableschema.Field(name="v", column="v", **{{"maxLength": "max_length"}.get(k, k): v for k, v in field.items()})
    assert stream_checks.column_rules(f, "utf-8", required=False) is None


def test_field_proofs_see_empty_records(tmp_path):
    path = tmp_path / "vides.csv"
    for text, none_empty in ((b"a;b\n1;2\n;\n3;4\n", False), (b"a;b\r\n1;2\r\n;3\r\n", True)):
        path.write_bytes(text)
        proofs = stream_checks.FieldProofs({})
        for _ in parsing.iter_decimal_point_chunks(path, parsing.sniff_csv(path, encoding="utf-8"), [], 2,
                                                   watchers=[proofs]):
            pass
        assert proofs.proved() == (frozenset(), none_empty)
