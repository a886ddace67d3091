"""Readers: turn a landed file into a `StagedInput` the loader can COPY (CSV bytes) or insert row by row.

One reader per format family; `open_input` picks it from the declared (or given) format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from territoire.catalog import Resource
from territoire.ingest import parsing
from territoire.naming import normalise_columns


class InputError(ValueError):
    """The file cannot be read as the format it was given as."""


@dataclass
class StagedInput:
    columns: list[str]          # normalised column names
    headers: list[str]          # as published
    fast_chunks: Callable[[], Iterator[bytes]] | None  # CSV bytes for server-side parsing, if possible
    copy_options: str           # COPY options for the fast path
    # (line, values) for the careful path; a `parsing.BadRecord` instead of values is quarantined.
    rows: Callable[[], Iterator[tuple[int, list[str | None] | parsing.BadRecord]]]
    description: dict
    header_lines: int = 1
    # Rows known bad before reading (lines in another encoding): (line, rule, message, raw line).
    pre_rejected: list[tuple[int, str, str, str]] = field(default_factory=list)
    # fast_chunks with `,` -> `.` in the fields at the given positions (of a row of the given width),
    # optionally of a byte range only (start, end, unquoted: see parsing.iter_decimal_point_chunks);
    # raises parsing.NotRewritable when the bytes do not allow it. None when not even to be tried.
    decimal_point_chunks: Callable[..., Iterator[bytes]] | None = None


def _csv_input(path: Path, resource: Resource) -> StagedInput:
    opts = resource.options
    dialect = parsing.sniff_csv(path, delimiter=opts.get("delimiter"), encoding=opts.get("encoding"))
    columns = normalise_columns(dialect.header)
    delim = dialect.delimiter.replace("'", "''")
    pre: list[tuple[int, str, str, str]] = []
    if dialect.bad_lines:
        wanted = set(dialect.bad_lines)
        with open(path, "rb") as f:
            for n, raw in enumerate(f, start=1):
                if n in wanted:
                    pre.append((n, "encoding",
                                f"ligne {n} : écrite en {dialect.other_encoding} alors que le reste du fichier est en "
                                f"{dialect.encoding} ; ré-enregistrer le fichier dans un seul encodage (UTF-8)",
                                raw.decode(dialect.other_encoding or "utf-8", errors="replace").rstrip("\r\n")[:2000]))
    return StagedInput(
        columns=columns, headers=dialect.header,
        # A file mixing encodings cannot be converted by PostgreSQL as one stream: careful path only.
        fast_chunks=None if dialect.bad_lines else (lambda: parsing.iter_byte_chunks(path, dialect)),
        copy_options=(f"format csv, delimiter E'{delim if delim != chr(9) else chr(92) + 't'}', null '', "
                      f"encoding '{dialect.postgres_encoding}'"),
        rows=lambda: parsing.iter_csv_rows(path, dialect),
        description={"encoding": dialect.encoding, "delimiter": dialect.delimiter, "format": "csv",
                     **({"mixed_encoding_lines": len(dialect.bad_lines)} if dialect.bad_lines else {})},
        header_lines=parsing.header_line_count(path),
        pre_rejected=pre,
        decimal_point_chunks=(lambda columns, width, start=None, end=None, unquoted=False:
                              parsing.iter_decimal_point_chunks(path, dialect, columns, width, start, end,
                                                                unquoted))
        if not dialect.bad_lines and parsing.can_rewrite_decimal_points(dialect, len(columns)) else None,
    )


def _json_records(path: Path, fmt: str, lines: bool = False) -> Iterator[tuple[int, dict | parsing.BadRecord]]:
    """The records of a JSON, NDJSON or GeoJSON file, streamed (never the whole file in memory).
    `lines`: the file holds several JSON values one after the other, read as NDJSON."""
    text_encoding = parsing.detect_encoding(path)
    if fmt == "ndjson" or lines:
        yield from parsing.iter_json_lines(path, text_encoding)
        return
    yield from parsing.iter_json_document(path, text_encoding)


def _json_input(path: Path, resource: Resource, fmt: str) -> StagedInput:
    def collect_keys(lines: bool) -> dict[str, None]:
        keys: dict[str, None] = {}
        for _, record in _json_records(path, fmt, lines):
            if isinstance(record, dict):
                for k in record:
                    keys.setdefault(str(k), None)
        return keys

    # The first pass (the columns) also tells how to read the file: one JSON document, or several
    # values one after the other (NDJSON-like, blank lines...), read line by line.
    lines = fmt == "ndjson"
    try:
        keys = collect_keys(lines)
    except parsing.ExtraJSONData:
        lines = True
        keys = collect_keys(lines)
    headers = list(keys)
    if not headers:
        raise parsing.ParseError(f"{path}: no records found")
    columns = normalise_columns(headers)

    def rows() -> Iterator[tuple[int, list[str | None] | parsing.BadRecord]]:
        for line, record in _json_records(path, fmt, lines):
            if not isinstance(record, dict):
                yield line, record if isinstance(record, parsing.BadRecord) else parsing.BadRecord(
                    "json", f"ligne {line} : un objet JSON était attendu", str(record)[:2000])
                continue
            values = []
            for k in headers:
                v = record.get(k)
                if v is None:
                    values.append(None)
                elif isinstance(v, (dict, list)):
                    values.append(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
                elif isinstance(v, bool):
                    values.append("true" if v else "false")
                else:
                    values.append(str(v))
            yield line, values

    return StagedInput(columns=columns, headers=headers, fast_chunks=None, copy_options="", rows=rows,
                       description={"format": fmt})


def open_input(path: Path, resource: Resource, fmt: str | None = None) -> StagedInput:
    fmt = fmt or resource.format
    if fmt == "csv":
        return _csv_input(path, resource)
    if fmt in ("json", "ndjson", "geojson"):
        return _json_input(path, resource, fmt)
    raise InputError(f"{resource.source_id}/{resource.name}: the loader cannot read format {fmt!r} ({path})")
