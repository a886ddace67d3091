"""Names the platform derives from what publishers write (headers, ids)."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
IDENTIFIER_MAX = 63  # PostgreSQL truncates identifiers longer than this


def normalise_column(header: str, position: int) -> str:
    """`Code Insee 2024 Région` -> `code_insee_2024_region`; empty -> `column_<position>` (1-based)."""
    text = unicodedata.normalize("NFKD", header.replace("\ufeff", "")).encode("ascii", "ignore").decode()
    text = _NON_ALNUM.sub("_", text.lower()).strip("_")
    if not text:
        return f"column_{position}"
    if text[0].isdigit():
        text = "c_" + text
    return text[:IDENTIFIER_MAX]


def normalise_columns(headers: list[str]) -> list[str]:
    """Normalise every header and make the names unique (`x`, `x_2`, `x_3`), also after truncation to
    PostgreSQL's 63 bytes: a suffix replaces the end of a long name instead of being cut away."""
    used: set[str] = set()
    names = []
    for i, header in enumerate(headers, start=1):
        name = normalise_column(header, i)
        if name.startswith("_"):
            name = ("c" + name)[:IDENTIFIER_MAX]  # leading underscore is reserved for technical columns
        base, n = name, 1
        while name in used:
            n += 1
            suffix = f"_{n}"
            name = base[:IDENTIFIER_MAX - len(suffix)] + suffix
        used.add(name)
        names.append(name)
    return names


def raw_table(source_id: str, resource: str) -> str:
    return f"{source_id}__{resource}"


def quote_ident(name: str) -> str:
    """Quote a PostgreSQL identifier (names come from files: never trust them)."""
    return '"' + name.replace('"', '""') + '"'
