"""Small helpers to write SQL text from schema values (never from unchecked names: see naming.quote_ident)."""

from __future__ import annotations

from typing import Any

DIGITS = "'0123456789'"
# A value longer than this is no number anyone can cast (a corrupted cell, a field swallowed by a quote).
MAX_DIGITS = 100


def lit(value: Any) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def anchored(pattern: str) -> str:
    """Table Schema patterns match the whole value (XML Schema semantics); PostgreSQL's `~` searches."""
    return f"^(?:{pattern})$"
