"""The reference tables business rules read (COG, EPCI, contours, the other files of a GTFS feed), and
copying them into another database: `territoire validate` checks a file in a scratch database, which
gets the warehouse's references first so territorial rules run there too (or say why they cannot)."""

from __future__ import annotations

import re

import psycopg

from territoire.ingest.rules.declarations import Declaration
from territoire.ingest.rules.model import RULES

# Read by some rules beyond their `needs`: overseas collectivities (commune codes), commune contours.
_ALSO = {"commune_unknown": ("raw.cog__collectivites_outremer",),
         "far_from_commune": ("raw.ign_adminexpress__communes_%",)}
_NAME = re.compile(r"^raw\.[a-z0-9_%]+$")


def reference_tables(decls: list[Declaration]) -> list[str]:
    """`raw.<table>` names (or `raw.<prefix>%` patterns) the declarations read, in a stable order."""
    names: list[str] = []
    for d in decls:
        rule = RULES[d.rule]
        wanted = [n.split("|")[0] for n in rule.needs] + list(_ALSO.get(d.rule, ()))
        if d.rule == "references" and d.params.get("to"):
            wanted.append(str(d.params["to"]))
        names.extend(n for n in wanted if _NAME.match(n) and n not in names)
    return names


def copy_references(source: psycopg.Connection, target: psycopg.Connection, names: list[str]) -> list[str]:
    """Copy the named tables that exist in `source` into `target` (same name, same columns). Returns the
    tables copied; a table missing from `source` is left out (the rule that needs it then reports it)."""
    copied = []
    for table in _existing(source, names):
        columns = source.execute(
            "select format('%%I %%s', column_name, data_type) from information_schema.columns "
            "where table_schema = 'raw' and table_name = %s order by ordinal_position", (table,)).fetchall()
        target.execute(f'create table if not exists raw."{table}" ({", ".join(c for c, in columns)})')
        with source.cursor().copy(f'copy raw."{table}" to stdout') as out, \
                target.cursor().copy(f'copy raw."{table}" from stdin') as into:
            for block in out:
                into.write(block)
        copied.append(f"raw.{table}")
    return copied


def _existing(conn: psycopg.Connection, names: list[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        pattern = name.split(".", 1)[1]
        for (table,) in conn.execute(
                "select tablename from pg_tables where schemaname = 'raw' and tablename like %s "
                "and tablename not like %s order by 1", (pattern, "%\\_\\_new")).fetchall():
            if table not in found:
                found.append(table)
    return found
