"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

Every CSV meant to be opened in a spreadsheet (published files, conformity reports) writes its text
cells through `neutralise`: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
prefixed with a single quote, which spreadsheets show but do not evaluate. Numbers written by the
platform itself (a negative amount) are not text cells and are left alone by the callers.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """The cell, with a leading `'` when a spreadsheet would read it as a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell
