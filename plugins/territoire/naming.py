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
    """Normalise every header and make the names unique (`x`, `x_2`, `x_3`)."""
    seen: dict[str, int] = {}
    names = []
    for i, header in enumerate(headers, start=1):
        name = normalise_column(header, i)
        if name.startswith("_"):
            name = "c" + name  # leading underscore is reserved for technical columns
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        seen.setdefault(name, 1)
        names.append(name)
    return names


def raw_table(source_id: str, resource: str) -> str:
    return f"{source_id}__{resource}"


def quote_ident(name: str) -> str:
    """Quote a PostgreSQL identifier (names come from files: never trust them)."""
    return '"' + name.replace('"', '""') + '"'
