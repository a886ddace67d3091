"""Helpers for the business-rule tests (a uniquely named module: several test folders have helpers).

Synthetic rows are built in the tests from the real files' headers (and the IRVE schema's own valid
example), each injected defect named where it is made: they are labelled synthetic, never presented as
producer data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg

from territoire.catalog import load_catalog
from territoire.ingest.loader import Loader
from territoire.naming import normalise_columns, quote_ident

PROJECT = Path(__file__).resolve().parents[4]
SAMPLES = PROJECT / "data" / "samples"
SHARED = PROJECT.parent / "shared" / "data"
SCHEMAS = PROJECT / "catalog" / "schemas"
# The territory reference the territorial rules read: COG 2026, BANATIC EPCI, IGN département contours.
REFERENCES = [("cog", "communes"), ("cog", "mouvements_communes"), ("cog", "departements"), ("cog", "regions"),
              ("cog", "collectivites_outremer"), ("cog", "epci"), ("ign_adminexpress", "departements")]


def catalog_resource(source_id: str, name: str):
    return load_catalog().get(source_id).resource(name)


def load_references(url: str) -> None:
    loader = Loader(url, progress=lambda m: None, reports=False)
    for source_id, name in REFERENCES:
        r = catalog_resource(source_id, name)
        loader.load(r, r.location("demo").resolved_path())


def write_csv(path: Path, header: list[str], rows: list[dict], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def stage(conn: psycopg.Connection, table: str, rows: list[dict]) -> list[str]:
    """A staged table as the loader leaves it: text columns with normalised names, `_line_number` (the
    header is line 1). Returns the column names."""
    header = list(rows[0])
    columns = normalise_columns(header)
    conn.execute(f"drop table if exists {table}")
    conn.execute(f"create table {table} ({', '.join(quote_ident(c) + ' text' for c in columns)}, "
                 f"_line_number integer)")
    with conn.cursor().copy(f"copy {table} from stdin") as copy:
        for i, row in enumerate(rows, start=2):
            copy.write_row([*(row[h] for h in header), i])
    return columns


def quarantine(url: str, batch_id: int) -> list[tuple]:
    """[(line, column, rule, level, message)] of a batch, in line order."""
    with psycopg.connect(url) as conn:
        return conn.execute("select line_number, column_name, rule, level, message from ingest.rejected_rows "
                            "where batch_id = %s order by line_number, column_name, rule", (batch_id,)).fetchall()


def by_rule(rows: list[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[2], []).append(row)
    return out


def report_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def new_batch(conn: psycopg.Connection, source_id: str, resource: str) -> int:
    """A ledger row for rules applied outside a load (tests staging their own table)."""
    from territoire.ingest.loader import ensure_ingest_tables

    ensure_ingest_tables(conn)
    return conn.execute("insert into ingest.load_batches (source_id, resource, raw_table, status) "
                        "values (%s, %s, %s, 'running') returning batch_id",
                        (source_id, resource, f"{source_id}__{resource}")).fetchone()[0]
