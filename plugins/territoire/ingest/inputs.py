"""Readers: turn a landed file into a `StagedInput` the loader can COPY (CSV bytes) or insert row by row.

`open_input` first reads what the file is (`detect.detect_format`: from its bytes, not its name), refuses
a file of another family than the declared format, then picks the reader: CSV/TSV, the JSON family
(a document, NDJSON, values one after another, GeoJSON, Opendatasoft exports), spreadsheets (converted
to CSV, see `spreadsheet`). Archives (ZIP, GTFS) are opened by the connectors, never here.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from territoire.catalog import Resource
from territoire.ingest import detect, parsing, spreadsheet
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
    # Rows known bad before reading (a line in no known encoding): (line, rule, message, raw line).
    pre_rejected: list[tuple[int, str, str, str]] = field(default_factory=list)
    # Rows read but reported (a line in the file's other encoding, read in it): same shape, level warning.
    read_warnings: list[tuple[int, str, str, str]] = field(default_factory=list)
    # fast_chunks with `,` -> `.` in the fields at the given positions (of a row of the given width),
    # optionally of a byte range only (start, end, unquoted: see parsing.iter_decimal_point_chunks), the
    # lines shown to a proofs.Watcher (watcher);
    # raises parsing.NotRewritable when the bytes do not allow it. None when not even to be tried.
    decimal_point_chunks: Callable[..., Iterator[bytes]] | None = None
    # Temporary files the reader made (a spreadsheet's CSV): removed by `close()`, or when the
    # StagedInput is garbage-collected.
    temporary: list[Path] = field(default_factory=list)

    def close(self) -> None:
        for p in self.temporary:
            p.unlink(missing_ok=True)
        self.temporary.clear()


# ---------------------------------------------------------------------------------------------
# Values the reader reports itself: NUL bytes in text, geometries that are not GeoJSON.


def _schema(resource: Resource):
    """The resource's Table Schema, or None (none declared, or unreadable: the loader reports that itself)."""
    if not resource.schema:
        return None
    from territoire.ingest.schema import SchemaError, load_schema

    try:
        return load_schema(resource.schema_path())
    except (SchemaError, OSError):
        return None


def _text_columns(resource: Resource, columns: list[str]) -> set[int]:
    """Positions of the columns read as text (no schema field, or a `string`/`any` one): a NUL byte
    there would be loaded unnoticed; in a typed column it already fails the type check."""
    schema = _schema(resource)
    return {i for i, c in enumerate(columns)
            if schema is None or (f := schema.field_for_column(c)) is None or f.type in ("string", "any")}


def _nul_problem(values: list, headers: list[str], text: set[int], line: int) -> parsing.BadRecord | None:
    if "\x00" not in "".join(v for v in values if isinstance(v, str)):  # one C-speed scan for the usual case
        return None
    for i in sorted(text):
        if i < len(values) and isinstance(values[i], str) and "\x00" in values[i]:
            shown = values[i].replace("\x00", "\\0")[:200]
            return parsing.BadRecord(
                "nul-byte", f"ligne {line}, colonne {headers[i]!r} : octet NUL (\\0) dans le texte '{shown}' : le "
                            f"fichier est probablement endommagé (copie ou export interrompu) ; le ré-exporter",
                "\t".join(v if isinstance(v, str) else "" for v in values).replace("\x00", "\\0")[:2000])
    return None


# ---------------------------------------------------------------------------------------------
# CSV, TSV


def _mixed_encoding_lines(path: Path, dialect: parsing.CsvDialect
                          ) -> tuple[list[tuple[int, str, str, str]], list[tuple[int, str, str, str]]]:
    """(lines quarantined, lines reported) of a file mixing encodings: a line in the other encoding is read
    in it and reported (level warning: its row is loaded); one that decodes in neither is quarantined."""
    wanted = set(dialect.bad_lines)
    ranges = parsing.line_ranges(dialect.bad_lines)
    other, usual = dialect.other_encoding, dialect.encoding.replace("utf-8-sig", "utf-8")
    rejected, reported = [], []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if n not in wanted:
                continue
            text = parsing.other_encoding_line(raw, dialect)
            if text is None:
                rejected.append((n, "encoding", f"ligne {n} : ni en {usual} ni en {other} (lignes dans un autre "
                                 f"encodage : {ranges}) ; ré-enregistrer le fichier dans un seul encodage (UTF-8)",
                                 raw.decode(other or "utf-8", errors="replace").rstrip("\r\n")[:2000]))
            else:
                reported.append((n, "encoding", f"ligne {n} : écrite en {other} alors que le reste du fichier est en "
                                 f"{usual} (lignes en {other} : {ranges}) ; lue dans son propre encodage. "
                                 f"Ré-enregistrer le fichier dans un seul encodage (UTF-8)",
                                 text.rstrip("\r\n")[:2000]))
    return rejected, reported


def _csv_input(path: Path, resource: Resource, line_of: Sequence[int] | None = None,
               declared: str = "csv") -> StagedInput:
    """`line_of`: the line number to give each record, in order, instead of its physical line.
    A resource declared `tsv` is tab-separated unless its options say otherwise."""
    opts = resource.options
    delimiter = opts.get("delimiter") or ("\t" if declared == "tsv" else None)
    dialect = parsing.sniff_csv(path, delimiter=delimiter, encoding=opts.get("encoding"))
    columns = normalise_columns(dialect.header)
    delim = dialect.delimiter.replace("'", "''")
    text = _text_columns(resource, columns)

    def rows() -> Iterator[tuple[int, list[str | None] | parsing.BadRecord]]:
        for k, (line, values) in enumerate(parsing.iter_csv_rows(path, dialect)):
            if line_of is not None:
                line = line_of[k]
            yield line, _nul_problem(values, dialect.header, text, line) or values

    description = {"encoding": dialect.encoding, "delimiter": dialect.delimiter,
                   "format": "tsv" if dialect.delimiter == "\t" else "csv"}
    if dialect.bad_lines:
        description |= {"mixed_encoding_lines": len(dialect.bad_lines),
                        "mixed_encoding_ranges": parsing.line_ranges(dialect.bad_lines),
                        "other_encoding": dialect.other_encoding}
    if dialect.header_encoding != dialect.encoding:
        description["header_encoding"] = dialect.header_encoding
    rejected, reported = _mixed_encoding_lines(path, dialect) if dialect.bad_lines else ([], [])
    return StagedInput(
        columns=columns, headers=dialect.header,
        # A file mixing encodings cannot be converted by PostgreSQL as one stream: careful path only.
        fast_chunks=None if dialect.bad_lines else (lambda: parsing.iter_byte_chunks(path, dialect)),
        copy_options=(f"format csv, delimiter E'{delim if delim != chr(9) else chr(92) + 't'}', null '', "
                      f"encoding '{dialect.postgres_encoding}'"),
        rows=rows,
        description=description,
        header_lines=parsing.header_line_count(path),
        pre_rejected=rejected, read_warnings=reported,
        decimal_point_chunks=(lambda columns, width, start=None, end=None, unquoted=False, watcher=None:
                              parsing.iter_decimal_point_chunks(path, dialect, columns, width, start, end,
                                                                unquoted, watcher))
        if not dialect.bad_lines and parsing.can_rewrite_decimal_points(dialect, len(columns)) else None,
    )


# ---------------------------------------------------------------------------------------------
# Spreadsheets: converted to a temporary CSV, then read as one (careful path: line numbers are the
# sheet's row numbers, which a CSV's physical lines are not).


def _spreadsheet_input(path: Path, resource: Resource, detected: detect.Detected) -> StagedInput:
    fields = _schema_field_names(resource)
    handle, name = tempfile.mkstemp(prefix=".sheet-", suffix=".csv")
    os.close(handle)
    tmp = Path(name)
    try:
        table = spreadsheet.to_csv(path, tmp, sheet=resource.options.get("sheet"), schema_fields=fields,
                                   header_row=resource.options.get("header_row"))
        staged = _csv_input(tmp, Resource(resource.source_id, resource.name, "csv", resource.locations,
                                          schema=resource.schema, options={"delimiter": ",", "encoding": "utf-8"}),
                            line_of=table.rows)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    staged.fast_chunks, staged.decimal_point_chunks = None, None
    staged.header_lines = table.header_row
    staged.description = {"format": detected.format, "encoding": "utf-8", "sheet": table.sheet,
                          "header_row": table.header_row}
    staged.temporary.append(tmp)
    weakref.finalize(staged, tmp.unlink, missing_ok=True)
    return staged


def _schema_field_names(resource: Resource) -> list[str]:
    schema = _schema(resource)
    return [f.name for f in schema.fields] if schema else []


# ---------------------------------------------------------------------------------------------
# JSON family


def flat_record(value) -> dict | None:
    """One record's columns, whatever the exporter's wrapping: a GeoJSON feature (its properties plus
    `geometry`), an Opendatasoft v1 record (`datasetid`, `recordid`, `fields`, `geometry`), an
    Opendatasoft v2.0 record (`record: {id, timestamp, fields}`), or a plain object. None if not an object."""
    if not isinstance(value, dict):
        return None
    if value.get("type") == "Feature" and ("properties" in value or "geometry" in value):
        record = dict(value.get("properties") or {})
        record.setdefault("geometry", value.get("geometry"))
        return record
    if isinstance(value.get("fields"), dict) and ("recordid" in value or "datasetid" in value):
        record = dict(value["fields"])
        for key in ("geometry", "recordid", "record_timestamp"):
            if key in value:
                record.setdefault(key, value[key])
        return record
    inner = value.get("record")
    if isinstance(inner, dict) and isinstance(inner.get("fields"), dict):
        record = dict(inner["fields"])
        record.setdefault("recordid", inner.get("id"))
        record.setdefault("record_timestamp", inner.get("timestamp"))
        return record
    return value


_GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                   "GeometryCollection"}


def geometry_problem(value, lon_lat: bool) -> str | None:
    """Why a GeoJSON geometry cannot be stored as such (a non-finite or non-numeric coordinate, a
    longitude/latitude out of range), or None."""
    if value.get("type") == "GeometryCollection":
        for g in value.get("geometries") or []:
            if isinstance(g, dict) and (problem := geometry_problem(g, lon_lat)):
                return problem
        return None
    return _positions_problem(value.get("coordinates"), lon_lat, depth=0)


def _positions_problem(coords, lon_lat: bool, depth: int) -> str | None:
    if not isinstance(coords, list) or depth > 4:
        return "coordonnées absentes ou mal imbriquées"
    if coords and not isinstance(coords[0], list):  # one position: [x, y] or [x, y, z]
        return _position_problem(coords, lon_lat)
    for c in coords:
        if problem := _positions_problem(c, lon_lat, depth + 1):
            return problem
    return None


def _position_problem(position: list, lon_lat: bool) -> str | None:
    if len(position) < 2:
        return f"position {position!r} : il faut au moins deux nombres"
    for v in position:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"coordonnée {v!r} : un nombre était attendu"
        if not math.isfinite(v):
            return f"coordonnée {v} : pas un nombre fini (NaN ou Infinity ne sont pas du JSON)"
    x, y = position[0], position[1]
    if lon_lat and not (-180 <= x <= 180 and -90 <= y <= 90):
        return (f"position [{x}, {y}] hors des degrés WGS 84 (longitude dans [-180, 180], latitude dans [-90, 90]) : "
                f"coordonnées projetées (Lambert 93 ?) ou inversées ; GeoJSON veut longitude, latitude en degrés")
    return None


def _json_value(v) -> str | None:
    """A value as raw text: scalars as written, nested values as JSON (ValueError on NaN/Infinity)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(v)
    return str(v)


class _JsonReader:
    """The records of a JSON-family file, as rows of the columns found in a first pass."""

    def __init__(self, path: Path, resource: Resource, detected: detect.Detected, lines: bool):
        self.path, self.resource, self.detected, self.lines = path, resource, detected, lines
        self.encoding = parsing.detect_encoding(path)
        # An array of arrays whose first row is all text (`[["code", "nom"], ["01001", "Ain"]]`): a table
        # with its header row, as frictionless reads JSON; records are then rows by position.
        self.header_row: list[str] | None = None

    def values(self) -> Iterator[tuple[int, object]]:
        if self.lines:
            yield from parsing.iter_json_lines(self.path, self.encoding)
        else:
            yield from parsing.iter_json_document(self.path, self.encoding)

    def keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for n, (_, value) in enumerate(self.values()):
            if n == 0 and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                self.header_row = value
                return list(value)
            record = flat_record(value)
            if record is not None:
                for k in record:
                    keys.setdefault(str(k), None)
        return list(keys)

    def rows(self, headers: list[str], text: set[int]) -> Iterator[tuple[int, list[str | None] | parsing.BadRecord]]:
        for n, (line, value) in enumerate(self.values()):
            if n == 0 and self.header_row is not None:
                continue
            yield line, (self.array_row(line, value, headers, text) if self.header_row is not None
                         else self.row(line, value, headers, text))

    def array_row(self, line: int, value, headers: list[str], text: set[int]) -> list[str | None] | parsing.BadRecord:
        if isinstance(value, parsing.BadRecord):
            return value
        if not isinstance(value, list):
            return parsing.BadRecord("json", f"ligne {line} : un tableau de valeurs était attendu, comme la ligne "
                                             f"d'en-tête", _raw(value))
        try:
            values = [_json_value(v) for v in value]
        except ValueError:
            return parsing.BadRecord("json", f"ligne {line} : valeur non finie (NaN, Infinity) : ce n'est pas du "
                                             f"JSON valide ; le producteur doit écrire null ou un nombre", _raw(value))
        return _nul_problem(values, headers, text, line) or values

    def row(self, line: int, value, headers: list[str], text: set[int]) -> list[str | None] | parsing.BadRecord:
        if isinstance(value, parsing.BadRecord):
            return value
        record = flat_record(value)
        if record is None:
            return parsing.BadRecord("json", f"ligne {line} : un objet JSON était attendu", str(value)[:2000])
        for k, v in record.items():
            if isinstance(v, dict) and v.get("type") in _GEOMETRY_TYPES and \
                    (problem := geometry_problem(v, self.detected.lon_lat)):
                return parsing.BadRecord("geometry", f"ligne {line}, colonne {k!r} : géométrie invalide : {problem}",
                                         _raw(record))
        try:
            values = [_json_value(record.get(k)) for k in headers]
        except ValueError:
            return parsing.BadRecord("json", f"ligne {line} : valeur non finie (NaN, Infinity) : ce n'est pas du "
                                             f"JSON valide ; le producteur doit écrire null ou un nombre", _raw(record))
        return _nul_problem(values, headers, text, line) or values


def _raw(record) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)[:2000]


def _json_input(path: Path, resource: Resource, detected: detect.Detected, declared: str) -> StagedInput:
    # Several values one after the other (NDJSON, or objects pretty-printed one after another) are
    # read line by line; a document is streamed; a document that turns out to be followed by more
    # JSON is read again line by line.
    reader = _JsonReader(path, resource, detected, lines=detected.format == "ndjson" or declared == "ndjson")
    try:
        headers = reader.keys()
    except parsing.ExtraJSONData:
        reader.lines = True
        headers = reader.keys()
    if not headers:
        raise parsing.ParseError(f"{path}: no records found (the file is {detected.what})")
    columns = normalise_columns(headers)
    text = _text_columns(resource, columns)

    return StagedInput(columns=columns, headers=headers, fast_chunks=None, copy_options="",
                       rows=lambda: reader.rows(headers, text),
                       description={"format": "ndjson" if reader.lines else detected.format,
                                    "shape": detected.what, "encoding": reader.encoding})


# ---------------------------------------------------------------------------------------------


def open_input(path: Path, resource: Resource, fmt: str | None = None) -> StagedInput:
    """The reader for `path`, after checking that its content is of the declared format's family
    (`fmt`, default the resource's format)."""
    declared = fmt or resource.format
    detected = detect.detect_format(path)
    try:
        detect.check_declared(declared, detected, str(path))
    except detect.FormatMismatch as exc:
        raise InputError(str(exc)) from None
    if detected.family == "csv":
        return _csv_input(path, resource, declared=declared)
    if detected.family == "json":
        return _json_input(path, resource, detected, declared)
    if detected.family == "spreadsheet":
        try:
            return _spreadsheet_input(path, resource, detected)
        except spreadsheet.SpreadsheetError as exc:
            raise InputError(str(exc)) from None
    raise InputError(f"{path}: the file is {detected.what}: the loader reads one table at a time; a GTFS feed "
                     f"is loaded through a source whose format is `gtfs` (`territoire load <source> --file F`), "
                     f"a ZIP holding one table through the location's `member`")
