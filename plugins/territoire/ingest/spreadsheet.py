"""Spreadsheets (.xlsx, .xls, .ods) read with python-calamine and written out as a UTF-8 CSV, which the
loader then validates like any CSV.

Producers' workbooks carry a title, a date or a logo row above the table: the header is the first row
that looks like one (all text, about as wide as the table), or the row naming most of the schema's
fields when the resource has a schema. Cells are written as the spreadsheet displays them: numbers
without binary float noise (`0.30000000000000004` -> `0.3`, Excel shows 15 significant digits),
whole numbers without `.0`, dates and times in ISO 8601, booleans as `true`/`false`.

Memory: calamine holds the chosen sheet's cells (it has no lazy reader): about 4.5 times the sheet's
XML (measured: 200,000 rows x 4 columns, 49 MB of XML, 224 MB peak). So a workbook whose sheet XML
inflates past `max_sheet_xml_bytes()` (default 128 MiB, env TERRITOIRE_SPREADSHEET_MAX_XML_BYTES) is
refused before it is opened, with the advice to export the sheet as CSV (streamed, no such limit). The
CSV is streamed to a temporary file, and each record's sheet row number is kept (4 bytes a row) so
that messages name the row a producer sees in their spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import os
import zipfile
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import python_calamine

from territoire.naming import normalise_column

HEADER_WINDOW = 50  # rows searched for the header
DEFAULT_MAX_SHEET_XML_BYTES = 128 << 20


def max_sheet_xml_bytes() -> int:
    value = os.environ.get("TERRITOIRE_SPREADSHEET_MAX_XML_BYTES")
    return int(value) if value else DEFAULT_MAX_SHEET_XML_BYTES


def check_size(path: Path) -> None:
    """Refuse an xlsx/ods whose largest sheet part inflates past the limit (see the module docstring)."""
    if not zipfile.is_zipfile(path):
        return  # .xls: at most 65,536 rows by its format
    with zipfile.ZipFile(path) as zf:
        largest = max((i.file_size for i in zf.infolist()
                       if i.filename.startswith("xl/worksheets/") or i.filename == "content.xml"), default=0)
    limit = max_sheet_xml_bytes()
    if largest > limit:
        raise SpreadsheetError(
            f"{path}: a sheet of this workbook holds {largest / 2**20:.1f} MiB of XML, above the "
            f"{limit / 2**20:.1f} MiB a spreadsheet may hold here (reading it would take about {4.5 * largest / 2**30:.1f} GiB "
            f"of memory); export the sheet as CSV (loaded streamed, without this limit), or raise "
            f"TERRITOIRE_SPREADSHEET_MAX_XML_BYTES")


class SpreadsheetError(ValueError):
    """The workbook cannot be read, or has no such sheet, or no table."""


@dataclass
class SheetTable:
    csv_path: Path     # the table as CSV: header on line 1, one record per non-empty row below it
    sheet: str
    header_row: int    # 1-based row of the header in the sheet
    rows: array        # the sheet row of each record of the CSV, in order


def cell_text(value) -> str:
    """A cell as the spreadsheet displays it (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        if value.microsecond:
            return value.isoformat(timespec="milliseconds")
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


def _number_text(value: float) -> str:
    if not math.isfinite(value):
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.15g}"
    if "e" in text:  # plain digits: `4.5032466E+13` is a spreadsheet's display, not the value
        text = format(Decimal(text), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


def choose_sheet(workbook: python_calamine.CalamineWorkbook, wanted: str | int | None, path: Path) -> str:
    names = list(workbook.sheet_names)
    if not names:
        raise SpreadsheetError(f"{path}: the workbook holds no sheet")
    if wanted is None:
        visible = [m.name for m in workbook.sheets_metadata
                   if m.visible == python_calamine.SheetVisibleEnum.Visible]
        return (visible or names)[0]
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit() and wanted not in names):
        index = int(wanted)
        if 1 <= index <= len(names):
            return names[index - 1]
    elif wanted in names:
        return wanted
    raise SpreadsheetError(f"{path}: no sheet {wanted!r} (the workbook has: {', '.join(repr(n) for n in names)}); "
                           f"fix the resource option `sheet` in catalog/sources.yml (a name, or a number from 1)")


def find_header(rows: Sequence[list[str]], schema_fields: Iterable[str] = ()) -> int:
    """Index in `rows` of the header row (see the module's docstring)."""
    wanted = {normalise_column(f, i) for i, f in enumerate(schema_fields)}
    if wanted:
        scores = [sum(1 for i, c in enumerate(row) if c and normalise_column(c, i) in wanted) for row in rows]
        if scores and max(scores) > 0:
            return scores.index(max(scores))
    filled = [sum(1 for c in row if c.strip()) for row in rows]
    widest = max(filled, default=0)
    need = max(2 if widest >= 2 else 1, math.ceil(0.6 * widest))
    wide = [i for i, n in enumerate(filled) if n >= need]
    # All text first; a header of years (`code, nom, 2019, 2020`) is still the first wide row.
    return next((i for i in wide if not any(_is_number(c) for c in rows[i] if c.strip())), wide[0] if wide else 0)


def _given_row(header_row: int, first_row: int, window: list[list[str]], path: Path) -> int:
    h = int(header_row) - first_row
    if not 0 <= h < len(window) or not any(c.strip() for c in window[h]):
        raise SpreadsheetError(f"{path}: the resource option `header_row: {header_row}` names an empty row or a row "
                               f"outside rows {first_row}-{first_row + len(window) - 1}; fix it in catalog/sources.yml")
    return h


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def to_csv(path: Path, dest: Path, *, sheet: str | int | None = None, schema_fields: Iterable[str] = (),
           header_row: int | None = None) -> SheetTable:
    """Write the table of `path`'s sheet (`sheet`, else the first visible one) as CSV into `dest`.
    `header_row`: the header's row number in the sheet (1-based), when the producer's layout defeats
    the search."""
    check_size(path)
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises several kinds (zip, xml, password...)
        raise SpreadsheetError(f"{path}: the spreadsheet cannot be opened ({type(exc).__name__}: {exc}); "
                               f"re-save it from the spreadsheet program, or export the sheet as CSV") from exc
    name = choose_sheet(workbook, sheet, path)
    data = workbook.get_sheet_by_name(name)
    first_row = (data.start or (0, 0))[0] + 1  # calamine's range starts at the first used cell
    rows = iter(data.iter_rows())
    window = [[cell_text(c) for c in row] for _, row in zip(range(HEADER_WINDOW), rows, strict=False)]
    if not any(any(c.strip() for c in row) for row in window):
        raise SpreadsheetError(f"{path}: sheet {name!r} is empty; name the sheet holding the table with the "
                               f"resource option `sheet`")
    h = find_header(window, schema_fields) if header_row is None else _given_row(header_row, first_row, window, path)
    header = window[h]
    width = max((i + 1 for i, c in enumerate(header) if c.strip()), default=1)
    numbers = array("I")
    with open(dest, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header[:width])
        records = ((first_row + h + 1 + k, row) for k, row in enumerate(window[h + 1:]))
        later = ((first_row + len(window) + k, [cell_text(c) for c in row]) for k, row in enumerate(rows))
        for number, row in itertools.chain(records, later):
            if not any(c.strip() for c in row):
                continue
            writer.writerow(_fit(row, width))
            numbers.append(number)
    return SheetTable(dest, name, first_row + h, numbers)


def _fit(row: list[str], width: int) -> list[str]:
    """The row at the header's width; cells beyond it are kept when they hold something (the loader
    then reports the row's field count)."""
    if len(row) <= width:
        return row + [""] * (width - len(row))
    if any(c.strip() for c in row[width:]):
        return row
    return row[:width]
