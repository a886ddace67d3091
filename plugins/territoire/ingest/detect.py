"""What a file is, read from its content rather than its name or the catalog's word for it.

Portals serve JSON under `.csv` names, spreadsheets as "CSV" downloads, error pages as data. The
readers (`inputs.open_input`) ask `detect_format` first, then refuse a file whose family differs from
the declared format with a message saying what the file is and what was declared.

Families: `csv` (CSV, TSV: the CSV reader finds the delimiter), `json` (a JSON document, NDJSON,
values one after another, GeoJSON, Opendatasoft exports: one tolerant reader adapts to the shape),
`spreadsheet` (xlsx, xls, ods), `archive` (a ZIP, a GTFS feed as a ZIP or a folder of `.txt` files).
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 64 * 1024

FAMILIES = {
    "csv": "csv", "tsv": "csv",
    "json": "json", "ndjson": "json", "geojson": "json",
    "xlsx": "spreadsheet", "xls": "spreadsheet", "ods": "spreadsheet", "spreadsheet": "spreadsheet",
    "zip": "archive", "gtfs": "archive",
}
SPREADSHEETS = ("xlsx", "xls", "ods")

# GTFS files that tell a feed from any other ZIP or folder (gtfs.org/schedule/reference).
GTFS_MARKERS = frozenset({"stops.txt", "stop_times.txt", "trips.txt", "routes.txt", "agency.txt"})

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .xls (and old .doc)
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_CRS = re.compile(r'"crs"\s*:\s*\{.*?"name"\s*:\s*"([^"]+)"', re.S)
_WGS84 = re.compile(r"CRS84|EPSG::?4326$|EPSG:4326$", re.I)


class FormatMismatch(ValueError):
    """The file's content is of another family than the declared format."""


@dataclass(frozen=True)
class Detected:
    format: str          # csv, json, ndjson, geojson, xlsx, xls, ods, zip, gtfs; or html, gzip, binary, empty
    what: str            # said to people: "a JSON array of records", "an Excel workbook (.xlsx)"
    crs: str | None = None  # a GeoJSON document's legacy `crs` name, when its head declares one

    @property
    def family(self) -> str:
        return FAMILIES.get(self.format, self.format)

    @property
    def lon_lat(self) -> bool:
        """Whether coordinates are longitude/latitude in degrees (GeoJSON's only CRS since RFC 7946)."""
        return self.crs is None or bool(_WGS84.search(self.crs))


def detect_format(path: Path) -> Detected:
    """The format of `path` (a file, or a folder holding a GTFS feed), from its first bytes."""
    path = Path(path)
    if path.is_dir():
        names = {p.name for p in path.iterdir() if p.is_file()}
        if names & GTFS_MARKERS:
            return Detected("gtfs", "a folder of GTFS files")
        return Detected("folder", "a folder that holds no GTFS file")
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return Detected("empty", "an empty file (0 bytes)")
    return _binary_format(path, head) or _text_format(head)


def _binary_format(path: Path, head: bytes) -> Detected | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(path)
    if head.startswith(_OLE2):
        return Detected("xls", "an Excel 97-2003 workbook (.xls)")
    if head.startswith(b"\x1f\x8b"):
        return Detected("gzip", "a gzip-compressed file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None  # text, refused with its own diagnosis by the CSV reader
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" in first_line or sum(first_line.count(bytes([b])) for b in range(32) if b not in (9, 10, 13)) >= 2:
        return Detected("binary", "binary data of an unknown kind")
    return None


def _zip_format(path: Path) -> Detected:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            mimetype = zf.read("mimetype").strip() if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError):
        return Detected("zip", "a ZIP archive (damaged or truncated)")
    if mimetype == _ODS_MIMETYPE:
        return Detected("ods", "an OpenDocument spreadsheet (.ods)")
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return Detected("xlsx", "an Excel workbook (.xlsx)")
    if {n.rsplit("/", 1)[-1] for n in names} & GTFS_MARKERS:
        return Detected("gtfs", "a GTFS feed (ZIP)")
    return Detected("zip", f"a ZIP archive ({len(names)} member(s))")


def _text_format(head: bytes) -> Detected:
    text = _decode_head(head).lstrip("\ufeff\x1e \t\r\n")
    if text[:1] == "<":
        lowered = text[:512].lower()
        page = "<html" in lowered or "<!doctype html" in lowered
        return Detected("html", "an HTML page (often a portal's error or login page)" if page else "an XML document")
    if text[:1] in ("[", "{"):
        json_kind = _json_format(text)
        if json_kind:
            return json_kind
    return Detected("csv", "delimited text (CSV)")


def _decode_head(head: bytes) -> str:
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # cut in the middle of a character by the head's end
            return head[:exc.start].decode("utf-8")
        return head.decode("cp1252", errors="replace")


def _json_format(text: str) -> Detected | None:
    """A JSON shape, or None when the text only starts like JSON (a CSV whose first cell is `[x]`)."""
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(text)
    except json.JSONDecodeError as exc:
        if exc.pos < len(text) - 1 and not exc.msg.startswith("Unterminated"):
            # Broken before the head ends: JSON only if it still reads as JSON up to there.
            return _broken_json(text, exc)
        return _json_head_shape(text)  # a document longer than the head
    rest = text[end:].lstrip(" \t\r\n\x1e")
    if rest[:1] in ("{", "["):
        same_line = "\n" not in text[end:end + len(text[end:]) - len(rest)]
        return Detected("ndjson", "JSON values one after another on the same line" if same_line
                        else "NDJSON (one JSON value per line)")
    if rest:
        return None
    return _json_value_shape(value, text)


def _broken_json(text: str, exc: json.JSONDecodeError) -> Detected | None:
    first_line = text.split("\n", 1)[0]
    if first_line.count(",") > first_line.count(":") + 1 or first_line.count(";") > first_line.count(":"):
        return None  # reads better as a delimited line
    return Detected("json", f"JSON that is not valid ({exc.msg} at character {exc.pos})")


def _json_head_shape(text: str) -> Detected:
    crs = _CRS.search(text)
    crs_name = crs.group(1) if crs else None
    if text[0] == "{" and ('"FeatureCollection"' in text or re.search(r'"features"\s*:\s*\[', text)):
        return Detected("geojson", "a GeoJSON FeatureCollection", crs_name)
    return Detected("json", _json_shape_words(text))


def _json_value_shape(value, text: str) -> Detected:
    if isinstance(value, dict) and (value.get("type") == "FeatureCollection" or isinstance(value.get("features"), list)):
        crs = (value.get("crs") or {}).get("properties", {}).get("name") if isinstance(value.get("crs"), dict) else None
        return Detected("geojson", "a GeoJSON FeatureCollection", crs)
    return Detected("json", _json_shape_words(text))


def _json_shape_words(text: str) -> str:
    head = text[:4096]
    if '"recordid"' in head and '"fields"' in head:
        return "an Opendatasoft export (records with datasetid, recordid, fields, geometry)"
    if text[0] == "{" and '"results"' in head and '"total_count"' in head:
        return "an Opendatasoft Explore v2.1 answer (total_count, results)"
    return "a JSON array of records" if text[0] == "[" else "a JSON object"


def check_declared(declared: str, detected: Detected, where: str) -> None:
    """Refuse a file whose content is not of the declared format's family, saying what it is."""
    if detected.format in _REMEDIES:
        what = "empty (0 bytes)" if detected.format == "empty" else detected.what
        raise FormatMismatch(f"{where}: the file is {what}, not {declared.upper()} data; {_REMEDIES[detected.format]}")
    declared_family = FAMILIES.get(declared, declared)
    if detected.family == declared_family:
        return
    what = ("not JSON (it reads as delimited text: CSV)" if detected.family == "csv" and declared_family == "json"
            else f"{detected.what}, a {_FAMILY_WORDS[detected.family]}")
    raise FormatMismatch(
        f"{where}: the file is {what}; the catalog declares {declared.upper()}: if the producer changed the "
        f"format, set `format: {detected.format}` in catalog/sources.yml; otherwise ask the producer for the "
        f"{declared.upper()} file")


_FAMILY_WORDS = {"csv": "CSV file", "json": "JSON file", "spreadsheet": "spreadsheet", "archive": "ZIP archive"}
_REMEDIES = {
    "empty": "the download or export produced nothing: fetch it again or ask the producer",
    "html": "the portal answered with a web page instead of the data: check the URL, or try again later",
    "gzip": "decompress it first (gunzip), or point the catalog at the uncompressed file",
    "binary": "export the data as CSV (UTF-8), JSON, or an xlsx/ods spreadsheet",
    "folder": "a folder is only read as a GTFS feed: give the data file itself",
}
