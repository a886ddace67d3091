"""Reading files as French open-data portals publish them.

Detects the encoding (UTF-8, UTF-8 with BOM, CP1252 - never CP1250 or plain Latin-1, which garble
or lose `œ`, `€`), files mixing two encodings (the lines in the minority encoding are named so the
loader can quarantine them), the delimiter (`;`, `,`, tab, `|`) and the header, and gives the loader
what it needs to stream the file into PostgreSQL. Also reads JSON that is neither valid JSON nor
strict NDJSON (one object per line with blank lines and trailing spaces, as FIWARE exports are).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DELIMITERS = (";", ",", "\t", "|")
SAMPLE_BYTES = 256 * 1024
CHUNK = 1 << 20


class ParseError(ValueError):
    """A file cannot be read as the format it claims; the message names the file and line."""


@dataclass(frozen=True)
class CsvDialect:
    encoding: str  # a Python codec name: utf-8, utf-8-sig or cp1252
    delimiter: str
    header: list[str]
    has_bom: bool = False
    # A file mixing encodings: the physical lines written in `other_encoding` (each read in its own
    # encoding and reported; one that does not decode in it either is quarantined).
    bad_lines: tuple[int, ...] = ()
    other_encoding: str | None = None
    # The header record's own encoding: in a file mixing encodings the header may be in the other one.
    header_encoding: str | None = None

    @property
    def postgres_encoding(self) -> str:
        """The COPY `encoding` option: PostgreSQL converts the bytes itself (no Python on the fast path)."""
        return "WIN1252" if self.encoding == "cp1252" else "UTF8"


@dataclass(frozen=True)
class EncodingInfo:
    encoding: str                   # utf-8, utf-8-sig or cp1252
    bom: bool = False
    bad_lines: tuple[int, ...] = ()  # lines written in `other_encoding` (mixed files only)
    other_encoding: str | None = None


# A valid UTF-8 multi-byte sequence in a file that is not valid UTF-8 means the file mixes both
# encodings: in CP1252 French text such byte pairs read as "Ã©", "â€™" and practically never occur.


def inspect_encoding(path: Path) -> EncodingInfo:
    """UTF-8 (with or without BOM) if the whole file decodes as UTF-8; CP1252 if no line is UTF-8;
    otherwise a mixed file: the majority encoding wins and the other lines are listed.

    The whole file is checked, in chunks, because a single accented character deep in a file
    decides it. No statistical detector: one guessed CP1250 on a short French CP1252 sample and
    garbled it. CP1252 rather than Latin-1: it is what Windows tools write and it keeps `œ`, `€`.
    A UTF-8 BOM says nothing about the bytes after it (tools prepend it to CP1252 text): it is set
    aside (`bom`) and the rest is judged on its own.
    """
    with open(path, "rb") as f:
        bom = f.read(3) == codecs.BOM_UTF8
        f.seek(3 if bom else 0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return EncodingInfo("utf-8-sig" if bom else "utf-8", bom)
        except UnicodeDecodeError:
            pass
        f.seek(3 if bom else 0)
        scratch = _Scratch()
        while chunk := f.read(CHUNK):
            if _holds_utf8_sequence(chunk, scratch):
                break
        else:
            return EncodingInfo("cp1252", bom)
        utf8_lines, cp_lines = _classify_lines(f, bom)
    if len(utf8_lines) >= len(cp_lines):
        return EncodingInfo("utf-8-sig" if bom else "utf-8", bom, tuple(cp_lines), "cp1252")
    return EncodingInfo("cp1252", bom, tuple(utf8_lines), "utf-8")


def _classify_lines(f, bom: bool) -> tuple[list[int], list[int]]:
    """(UTF-8 lines, CP1252 lines) among the lines holding non-ASCII bytes (the BOM aside)."""
    f.seek(0)
    utf8_lines, cp_lines = [], []
    for n, line in enumerate(f, start=1):
        if n == 1 and bom:
            line = line[3:]
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_lines.append(n)
        except UnicodeDecodeError:
            cp_lines.append(n)
    return utf8_lines, cp_lines


def line_ranges(lines: Sequence[int], limit: int = 12) -> str:
    """`3-5, 9, 12-40`: sorted line numbers as ranges, for messages; past `limit` ranges, how many more (`+46`)."""
    out: list[str] = []
    start = prev = None
    for n in sorted(lines):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(f"{start}-{prev}" if prev != start else str(start))
        start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    more = f", … (+{len(out) - limit})" if len(out) > limit else ""
    return ", ".join(out[:limit]) + more


class _Scratch:
    """Arrays reused from chunk to chunk: a fresh 1 MiB numpy array per operation costs more in page
    faults than the operation itself."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or len(array) < size:
            array = self._arrays[name] = np.empty(max(size, CHUNK), dtype=dtype)
        return array[:size]


def _holds_utf8_sequence(chunk: bytes, scratch: _Scratch) -> bool:
    """Whether the bytes hold a valid UTF-8 multi-byte sequence. Decoding with errors="ignore" drops the
    CP1252 bytes and keeps such sequences as non-ASCII characters; it is only run on a chunk where a
    UTF-8 lead byte is followed by a continuation byte (found by numpy, 10x faster than decoding every
    chunk: in CP1252 French text that pair is rare)."""
    a = np.frombuffer(chunk, dtype=np.uint8)
    m = len(a) - 1
    pair = np.greater_equal(a[:-1], 0xC2, out=scratch.get("lead", m, bool))
    pair &= np.equal(np.bitwise_and(a[1:], 0xC0, out=scratch.get("bits", m, np.uint8)), 0x80,
                     out=scratch.get("continuation", m, bool))
    if not pair.any():
        return False
    return not chunk.decode("utf-8", errors="ignore").isascii()


def detect_encoding(path: Path) -> str:
    return inspect_encoding(path).encoding


def detect_delimiter(lines: list[str], path: Path | str = "") -> str:
    """The candidate that splits the first lines into the same number (> 1) of fields most consistently."""
    best, best_score = None, (0, 0)
    for d in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=d))
        except csv.Error:
            continue
        rows = [r for r in rows if r]
        if not rows:
            continue
        width = len(rows[0])
        if width < 2:
            continue
        consistent = sum(1 for r in rows if len(r) == width)
        score = (consistent, width)
        if score > best_score:
            best, best_score = d, score
    if best is None and lines and not lines[0].lstrip().startswith(("<", "{", "[")):
        return ","  # a one-column file (a list of codes): no delimiter appears, any will do
    if best is None:
        raise ParseError(f"{path}: line 1: cannot find the delimiter (tried ; , tab |): is this a CSV file?")
    return best


# Real files hold fields far above the csv module's 128 KiB default (geometries, long texts):
# without this the sniffer silently skips the right delimiter and blames the header.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _check_text(path: Path) -> None:
    """Refuse, with a diagnosis, what is not a text table: UTF-16, binary data (spreadsheets, archives)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ParseError(f"{path}: line 1: the file is UTF-16 text (\"Unicode text\" of some Windows tools), not "
                         f"UTF-8 or CP1252: re-save it as CSV UTF-8")
    first = head.split(b"\n", 1)[0]
    controls = sum(first.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    # A stray NUL inside one value is a damaged cell (the loader quarantines its row); control bytes
    # in the very first line are a binary file (XLS, ZIP, gzip...).
    if b"\x00" in first or controls >= 2:
        raise ParseError(f"{path}: line 1: NUL or control bytes: this looks like binary data (a spreadsheet, an "
                         f"archive), not a CSV file; export it as CSV (UTF-8, ';' or ',')")


def sniff_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> CsvDialect:
    path = Path(path)
    if path.stat().st_size == 0:
        raise ParseError(f"{path}: the file is empty (0 bytes)")
    _check_text(path)
    info = EncodingInfo(encoding) if encoding else inspect_encoding(path)
    enc = info.encoding
    header_bytes, header_lines = _header_record(path)
    header_encoding = _header_encoding(info)
    with open(path, "rb") as f:
        head = f.read(header_bytes)
        rest = f.read(SAMPLE_BYTES)
    # The header in its own encoding, the BOM dropped whatever follows it; the sample's other lines
    # in the file's encoding.
    sample = (head[3:] if head.startswith(codecs.BOM_UTF8) else head).decode(header_encoding, errors="replace") \
        + rest.decode(enc, errors="replace")
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        raise ParseError(f"{path}: the file holds only blank lines")
    delim = delimiter or detect_delimiter(lines, path)
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delim), None)
    except csv.Error as exc:
        raise ParseError(f"{path}: line 1: the header cannot be read as CSV ({exc}): is this a CSV file?") from exc
    if not header or not any(h.strip() for h in header):
        raise ParseError(f"{path}: line 1: the header is empty")
    # The header is never a data row, whatever its encoding: only lines after it can be quarantined.
    bad_lines = tuple(n for n in info.bad_lines if n > header_lines)
    return CsvDialect(encoding=enc, delimiter=delim, header=[h.strip() for h in header], has_bom=info.bom,
                      bad_lines=bad_lines, other_encoding=info.other_encoding if bad_lines else None,
                      header_encoding=header_encoding)


def _header_encoding(info: EncodingInfo) -> str:
    """The header record's encoding: the file's, unless the file mixes encodings and the header is
    written in the other one."""
    if not info.bad_lines or info.bad_lines[0] != 1 or not info.other_encoding:
        return info.encoding
    return "utf-8" if info.other_encoding == "utf-8" else "cp1252"


def other_encoding_line(raw: bytes, dialect: CsvDialect) -> str | None:
    """A line of a mixed file written in the other encoding, decoded in it; None when it does not decode
    there either (bytes CP1252 leaves undefined): then the loader quarantines it."""
    try:
        return raw.decode(dialect.other_encoding or "utf-8")
    except UnicodeDecodeError:
        return None


def _mixed_lines(path: Path, dialect: CsvDialect) -> Iterator[str]:
    """Physical lines, each decoded in its own encoding: the file's, or the other one for the lines
    written in it (a line that decodes in neither becomes blank: the loader quarantines it by number),
    so csv line numbers stay exact."""
    bad = set(dialect.bad_lines)
    header_lines = header_line_count(path)
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            if n in bad:
                text = other_encoding_line(raw, dialect)
                yield "\n" if text is None else text
            else:
                yield raw.decode(dialect.header_encoding or dialect.encoding if n <= header_lines
                                 else dialect.encoding.replace("utf-8-sig", "utf-8"))


def iter_csv_rows(path: Path, dialect: CsvDialect) -> Iterator[tuple[int, list[str]]]:
    """(physical line number, fields) for each data row; line 1 is the header. Blank lines are skipped."""
    with open(path, encoding=dialect.encoding, errors="strict", newline="") as f:
        by_line = dialect.bad_lines or (dialect.header_encoding or dialect.encoding) != dialect.encoding
        reader = csv.reader(_mixed_lines(path, dialect) if by_line else f, delimiter=dialect.delimiter)
        next(reader, None)
        start = reader.line_num + 1
        try:
            for row in reader:
                if row and any(v != "" for v in row):
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ParseError(f"{path}: line {reader.line_num}: not readable as CSV ({exc}); check the quotes and "
                             f"that the file is text") from exc


_TRAILING_NEWLINES = re.compile(rb"(\r\n|\n|\r)[\r\n]*\Z")


def _header_record(path: Path) -> tuple[int, int]:
    """(bytes, physical lines) of the header record: one line unless a header field holds a quoted
    newline, so lines are read until the quotes balance."""
    with open(path, "rb") as f:
        header = f.readline()
        lines = 1
        while header.count(b'"') % 2 == 1:
            more = f.readline()
            if not more:
                break
            header += more
            lines += 1
        return f.tell(), lines


def data_offset(path: Path) -> int:
    """The byte offset where the data records start: after the header record."""
    return _header_record(path)[0]


def iter_byte_chunks(path: Path, dialect: CsvDialect, start: int | None = None,
                     end: int | None = None) -> Iterator[bytes]:
    """The file's bytes after the header record, as published (PostgreSQL converts the encoding);
    or only those in [start, end) (a part of the file for a parallel COPY; `end` None: to the end).

    Blank lines at the very end of the file are dropped (COPY would read them as a record of one empty
    field); the last record keeps its own line terminator, so CRLF files stay consistently CRLF.
    """
    with open(path, "rb") as f:
        f.seek(data_offset(path) if start is None else start)
        left = None if end is None else end - f.tell()
        pending = b""
        while chunk := f.read(CHUNK if left is None else min(CHUNK, left)):
            if left is not None:
                left -= len(chunk)
            if pending:
                yield pending
            pending = chunk
        at_end = end is None or f.tell() >= path.stat().st_size
        if pending and at_end:
            m = _TRAILING_NEWLINES.search(pending)
            if m:
                pending = pending[:m.start()] + m.group(1)
            if not pending.strip(b"\r\n"):
                pending = b""
        if pending:
            yield pending


def split_at_lines(path: Path, parts: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges of the data records, about equal, each starting at a line start; fewer
    than `parts` when the file is too small or its lines too long. Only valid for bytes holding no
    quote (a quoted field may hold a newline)."""
    start, size = data_offset(path), path.stat().st_size
    cuts = [start]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(max(start + (size - start) * k // parts, cuts[-1]))
            f.readline()  # to the next line start
            if f.tell() >= size or f.tell() <= cuts[-1]:
                break
            cuts.append(f.tell())
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def count_lines(path: Path, start: int, end: int) -> int:
    """Line feeds in the bytes [start, end) of the file."""
    n = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            left -= len(chunk)
            n += int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == _NL))  # 5x bytes.count
    return n


class NotRewritable(Exception):
    """`iter_decimal_point_chunks` met bytes it cannot split into fields by itself (quotes, ragged lines)."""


def can_rewrite_decimal_points(dialect: CsvDialect, width: int) -> bool:
    """Whether `iter_decimal_point_chunks` may be tried: a one-byte delimiter that is not `,` (a `,`-separated
    file quotes its decimal commas) and more than one column (a one-column file may hold blank lines)."""
    d = dialect.delimiter
    return width > 1 and len(d) == 1 and d.isascii() and d not in ',"\r\n'


_NL, _COMMA, _DOT = 10, 44, 46


def _rewrite_lines(block: bytes, delim: int, width: int, numbers: np.ndarray | None,
                   scratch: _Scratch | None = None, watcher=None) -> bytes:
    """One block of whole lines (the last may lack its line feed), split into fields by vectorised byte
    searches (numpy: ~2 ms a MiB, against ~10 ms for `bytes.split` line by line): `,` -> `.` in the fields
    flagged in `numbers` (a boolean per position); the lines as sent go to `watcher` (proofs.Watcher).
    Raises NotRewritable."""
    a = np.frombuffer(block, dtype=np.uint8)
    scratch = scratch or _Scratch()
    mask = scratch.get("mask", len(a), bool)
    nl = np.flatnonzero(np.equal(a, _NL, out=mask))
    if not block.endswith(b"\n"):
        nl = np.append(nl, len(a))
    n = len(nl)
    if n == 0:
        return block
    w1 = width - 1
    dl = np.flatnonzero(np.equal(a, delim, out=mask))
    if len(dl) != n * w1:
        raise NotRewritable(f"a line of another number of fields than the header's {width}")
    grid = dl.reshape(n, w1)  # row i: the delimiters of line i, if every line has w1 of them
    starts = np.empty(n, dtype=nl.dtype)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    # Each row lies inside its line and the total is n * w1: then every line has exactly w1 delimiters.
    if (grid[:, 0] < starts).any() or (grid[:, -1] > nl).any():
        raise NotRewritable(f"a line of another number of fields than the header's {width}")
    out = None
    if numbers is not None:
        commas = np.flatnonzero(np.equal(a, _COMMA, out=mask))
        if len(commas):
            before = np.searchsorted(dl, commas)  # delimiters before each comma
            line, field = np.divmod(before, w1)
            # field 0 of `line`, or the last field of the line before (then the comma precedes its end)
            last = (field == 0) & (line > 0) & (commas < nl[np.maximum(line - 1, 0)])
            field[last] = w1
            hits = commas[numbers[field]]
            if len(hits):
                out = scratch.get("out", len(a), np.uint8)
                out[:] = a
                out[hits] = _DOT
    if watcher is not None:
        watcher.add(a if out is None else out, starts, nl, grid)
    return block if out is None else out.tobytes()


def iter_decimal_point_chunks(path: Path, dialect: CsvDialect, columns: list[int], width: int,
                              start: int | None = None, end: int | None = None, unquoted: bool = False,
                              watcher=None) -> Iterator[bytes]:
    """`iter_byte_chunks` with every `,` of the fields at positions `columns` turned into `.`: exactly
    what `replace(value, ',', '.')` gives, done here, on the client's core, while PostgreSQL parses the
    previous chunk (a STORED generated column doing it costs the server ~0.7 s a million rows).

    Only bytes whose fields are certain are rewritten: a chunk holding no `,` (or with no `columns`)
    goes as it is; otherwise every line must split into exactly `width` fields and no `"` may have been
    seen so far (a quoted field can hold delimiters and newlines). When that does not hold, `NotRewritable` is raised and the caller
    falls back to letting PostgreSQL do it. `,` `;` `"` and newlines are ASCII, which never occurs inside
    a multi-byte UTF-8 character, and CP1252 is single-byte: bytes are safe to rewrite as bytes.

    `start`, `end`: only that byte range (a part of a parallel COPY, see `split_at_lines`). `unquoted`:
    any `"` raises NotRewritable, even in a chunk passed as it is (a part boundary is only a record
    boundary when no field is quoted).

    `watcher` (proofs.Watcher): given every block's lines as sent, to prove the rules as they go by; told
    to give up when the lines cannot be split for sure (it then proves nothing).

    Used only by the fast COPY (fastcopy.py), which can be switched off.
    """
    delim = ord(dialect.delimiter)
    numbers = None
    if columns:
        numbers = np.zeros(width, dtype=bool)
        numbers[list(columns)] = True
    quoted = False
    pending = b""
    scratch = _Scratch()

    def emit(block: bytes) -> bytes:
        nonlocal quoted
        has_quote = b'"' in block
        if has_quote and unquoted:
            raise NotRewritable("quoted fields")
        quoted = quoted or has_quote
        if quoted and watcher is not None:
            watcher.give_up("quoted fields")
        if numbers is None or b"," not in block:  # nothing to rewrite
            _watch(block)
            return block
        if quoted:
            raise NotRewritable("quoted fields")
        return _rewrite_lines(block, delim, width, numbers, scratch, watcher)

    def _watch(block: bytes) -> None:
        if watcher is None or quoted or not block:
            return
        try:
            _rewrite_lines(block, delim, width, None, scratch, watcher)
        except NotRewritable as exc:  # the COPY may still take the bytes: only the proofs stop
            watcher.give_up(str(exc))

    for chunk in iter_byte_chunks(path, dialect, start, end):
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no newline in the chunk (a huge field, or CR-only line ends)
            if len(data) > 8 * CHUNK:
                raise NotRewritable("no line feed in 8 MiB")
            pending = data
            continue
        pending = data[cut:]
        yield emit(data[:cut])
    if pending:
        yield emit(pending)


def header_line_count(path: Path) -> int:
    """How many physical lines the header record spans (1 unless a header field holds a newline)."""
    return _header_record(path)[1]


@dataclass(frozen=True)
class BadRecord:
    """A record the reader could not parse; the loader quarantines it by line under `rule` (READER_RULES)."""

    rule: str
    message: str
    raw: str


# The rules of the reading side (records refused before any schema check), as the conformity report
# explains them: (title, explanation, fix).
READER_RULES: dict[str, tuple[str, str, str]] = {
    "field-count": ("Nombre de champs incorrect", "La ligne n'a pas autant de champs que l'en-tête.",
                    "Vérifier le séparateur et les guillemets de la ligne."),
    "encoding": ("Ligne dans un autre encodage", "Le fichier mélange deux encodages.",
                 "Ré-enregistrer le fichier entièrement en UTF-8."),
    "json": ("JSON invalide", "L'enregistrement n'est pas du JSON valide.",
             "Corriger la syntaxe de l'enregistrement JSON."),
    "nul-byte": ("Octet NUL dans un texte", "Le texte contient un octet NUL (\\0), signe d'un fichier endommagé.",
                 "Ré-exporter le fichier depuis la source."),
    "geometry": ("Géométrie invalide", "Une coordonnée n'est pas un nombre fini dans les bornes du WGS 84.",
                 "Écrire les coordonnées en nombres finis, longitude puis latitude en degrés WGS 84."),
}


def iter_json_lines(path: Path, encoding: str) -> Iterator[tuple[int, dict | BadRecord]]:
    """JSON values one after the other, each numbered by the line it starts on: NDJSON, and what real
    exports hold besides: blank lines, trailing spaces, CRLF, values pretty-printed over several lines,
    several values on one line (`{...}{...}`), RFC 7464 record separators. A value that never parses
    is a BadRecord, and reading goes on at the next line."""
    buffer: list[str] = []
    start = 0
    with open(path, encoding=encoding, newline="") as f:
        for n, line in enumerate(f, start=1):
            text = line.replace("\x1e", " ").strip()
            if n == 1:
                text = text.lstrip("\ufeff")
            if not buffer:
                if not text:
                    continue
                start = n
            buffer.append(text)
            values, rest, error = _decode_values("\n".join(buffer))
            for value in values:
                yield start, value
            if values:
                start = n  # what is left began on this line
            if error is None:
                buffer = [rest] if rest else []
                continue
            # Keep reading only while the value is plausibly unfinished (an open brace).
            if error.msg.startswith(("Expecting", "Unterminated")) and error.pos >= len(rest) - 1 and \
                    len(buffer) < 1000:
                buffer = [rest]
                continue
            yield start, BadRecord("json", f"ligne {start} : JSON invalide ({error.msg})", rest[:2000])
            buffer = []
        if buffer:
            yield start, BadRecord("json", f"ligne {start} : JSON incomplet en fin de fichier",
                                   "\n".join(buffer)[:2000])


_DECODER = json.JSONDecoder()


def _decode_values(text: str) -> tuple[list, str, json.JSONDecodeError | None]:
    """(the JSON values `text` starts with, the text after them, the error that stopped decoding)."""
    values, pos = [], 0
    while pos < len(text):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            rest = text[pos:]
            return values, rest, json.JSONDecodeError(exc.msg, rest, exc.pos - pos)
        values.append(value)
        pos = _JSON_WS.match(text, pos).end()
    return values, "", None


# ---------------------------------------------------------------------------------------------
# JSON documents, streamed: a file is never held whole in memory.


class ExtraJSONData(ParseError):
    """Several JSON values one after the other (NDJSON-like): read it line by line instead."""


# The keys under which portals put their records: Opendatasoft `results`, udata `data`, GeoJSON
# `features`, and the usual others.
RECORD_KEYS = ("features", "results", "records", "data", "items")
_JSON_WS = re.compile(r"[ \t\n\r]*")
JSON_CHUNK = 1 << 20
MAX_JSON_RECORD = 64 << 20


class _JSONStream:
    """Reads JSON values one at a time from a text file, keeping only the current chunk in memory."""

    def __init__(self, f, path: Path):
        self.f, self.path = f, path
        self.buf, self.pos, self.line = "", 0, 1  # `line`: line number of buf[0]
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.f.read(JSON_CHUNK)
        if not data:
            self.eof = True
            return False
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf, self.pos = self.buf[self.pos:] + data, 0
        return True

    def where(self, pos: int | None = None) -> int:
        return self.line + self.buf.count("\n", 0, self.pos if pos is None else pos)

    def peek(self) -> str:
        while True:
            self.pos = _JSON_WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "the end of the file"
            raise ParseError(f"{self.path}: line {self.where()}: not valid JSON: expected "
                             f"{' or '.join(repr(x) for x in chars)}, found {found}")
        self.pos += 1
        return c

    def value(self):
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Cut by the end of the chunk, or really broken? Read on only in the first case.
                cut = exc.pos >= len(self.buf) - 1 or exc.msg.startswith("Unterminated string")
                if cut and len(self.buf) - self.pos < MAX_JSON_RECORD and self._fill():
                    continue
                if cut and not self.eof:
                    raise ParseError(f"{self.path}: line {self.where()}: a JSON value larger than "
                                     f"{MAX_JSON_RECORD >> 20} MiB") from None
                raise ParseError(f"{self.path}: line {self.where(exc.pos)}: not valid JSON: {exc.msg}"
                                 + (" (the file ends in the middle of a value: truncated?)" if cut else "")) from None
            if end >= len(self.buf) and self._fill():  # a number may go on in the next chunk
                continue
            self.pos = end
            return value


def _as_record(value, features: bool) -> dict | list:
    """A record (an object), or a row of an array of arrays (the reader pairs it with the header row)."""
    if features and isinstance(value, dict) and ("properties" in value or value.get("type") == "Feature"):
        record = dict(value.get("properties") or {})
        record["geometry"] = value.get("geometry")
        return record
    return value if isinstance(value, (dict, list)) else {"value": value}


def iter_json_document(path: Path, encoding: str) -> Iterator[tuple[int, dict]]:
    """The records of a JSON file, streamed: a top-level array, or an object holding them under one
    of RECORD_KEYS (GeoJSON features become their properties plus `geometry`), or a single object.
    Records are numbered from 1 in file order. Raises ParseError (naming the line) on invalid JSON,
    ExtraJSONData when values follow one another (NDJSON-like)."""
    with open(path, encoding=encoding) as f:
        s = _JSONStream(f, path)
        first = s.peek()
        if first == "[":
            s.pos += 1
            yield from _iter_json_array(s, features=False)
        elif first == "{":
            s.pos += 1
            other: dict = {}
            streamed = False
            if s.peek() != "}":
                while True:
                    line = s.where()
                    key = s.value()
                    if not isinstance(key, str):
                        raise ParseError(f"{path}: line {line}: not valid JSON: an object key must be a string")
                    s.expect(":")
                    if not streamed and key in RECORD_KEYS and s.peek() == "[":
                        s.pos += 1
                        yield from _iter_json_array(s, features=key == "features")
                        streamed = True
                    else:
                        value = s.value()
                        if not streamed:  # the object is the record only when it holds no record list
                            other[key] = value
                    if s.expect(",}") == "}":
                        break
            else:
                s.pos += 1
            if not streamed:
                yield 1, other
        elif first == "":
            raise ParseError(f"{path}: line 1: empty JSON file")
        else:
            s.value()
            raise ParseError(f"{path}: line 1: expected a JSON array of records or an object")
        if s.peek():
            raise ExtraJSONData(f"{path}: line {s.where()}: more JSON after the first value")


def _iter_json_array(s: _JSONStream, features: bool) -> Iterator[tuple[int, dict]]:
    if s.peek() == "]":
        s.pos += 1
        return
    n = 0
    while True:
        n += 1
        yield n, _as_record(s.value(), features)
        if s.expect(",]") == "]":
            return
