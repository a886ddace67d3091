"""Reading files as French open-data portals publish them.

Detects the encoding (UTF-8, UTF-8 with BOM, CP1252), the delimiter (`;`, `,`, tab, `|`) and the
header, and gives the loader what it needs to stream the file into PostgreSQL.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as UTF-8, else CP1252.

    The whole file is checked, in chunks, because a single accented character deep in a file
    decides it. CP1252 rather than Latin-1: it is what Windows tools write and it keeps `œ`, `€`.
    """
    with open(path, "rb") as f:
        head = f.read(3)
        bom = head == codecs.BOM_UTF8
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig" if bom else "utf-8"


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
    if best is None:
        raise ParseError(f"{path}: line 1: cannot find the delimiter (tried ; , tab |): is this a CSV file?")
    return best


def sniff_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> CsvDialect:
    path = Path(path)
    if path.stat().st_size == 0:
        raise ParseError(f"{path}: the file is empty (0 bytes)")
    enc = encoding or detect_encoding(path)
    with open(path, encoding=enc, errors="replace", newline="") as f:
        sample = f.read(SAMPLE_BYTES)
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        raise ParseError(f"{path}: the file holds only blank lines")
    delim = delimiter or detect_delimiter(lines, path)
    header = next(csv.reader(io.StringIO(sample), delimiter=delim), None)
    if not header or not any(h.strip() for h in header):
        raise ParseError(f"{path}: line 1: the header is empty")
    return CsvDialect(encoding=enc, delimiter=delim, header=[h.strip() for h in header], has_bom=enc == "utf-8-sig")


def iter_csv_rows(path: Path, dialect: CsvDialect) -> Iterator[tuple[int, list[str]]]:
    """(physical line number, fields) for each data row; line 1 is the header. Blank lines are skipped."""
    with open(path, encoding=dialect.encoding, errors="strict", newline="") as f:
        reader = csv.reader(f, delimiter=dialect.delimiter)
        next(reader, None)
        start = reader.line_num + 1
        try:
            for row in reader:
                if row and any(v != "" for v in row):
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ParseError(f"{path}: line {reader.line_num}: {exc}") from exc


def iter_text_chunks(path: Path, dialect: CsvDialect) -> Iterator[bytes]:
    """The file's content after the header, re-encoded to UTF-8, in chunks (for COPY ... FROM STDIN)."""
    with open(path, encoding=dialect.encoding, newline="") as f:
        # Skip the header record: a header may hold a quoted newline, so read lines until the
        # quotes balance.
        header = f.readline()
        while header.count('"') % 2 == 1:
            more = f.readline()
            if not more:
                break
            header += more
        while chunk := f.read(CHUNK):
            yield chunk.encode("utf-8")
