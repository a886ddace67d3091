"""Helpers for the ingestion tests (a uniquely named module: several test folders have a conftest)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import psycopg

from territoire.catalog import Location, Resource

PROJECT = Path(__file__).resolve().parents[3]
SAMPLES = PROJECT / "data" / "samples"
SHARED = PROJECT.parent / "shared" / "data"
MALFORMED = PROJECT / "tests" / "fixtures" / "malformed"
SCHEMAS = PROJECT / "catalog" / "schemas"

_names = itertools.count(1)


def make_resource(path: Path | str, *, name: str | None = None, fmt: str = "csv", schema: Path | str | None = None,
                  options: dict | None = None, primary_key: tuple[str, ...] = (), source_id: str = "test") -> Resource:
    """A catalog resource built directly; each call gets its own raw table unless `name` is given."""
    return Resource(source_id=source_id, name=name or f"r{next(_names)}", format=fmt,
                    locations={"demo": Location("local", path=str(path))},
                    schema=str(schema) if schema else None, options=options or {}, primary_key=primary_key)


def write_schema(folder: Path, fields: list[dict], **extra) -> Path:
    path = folder / f"schema_{next(_names)}.json"
    path.write_text(json.dumps({"fields": fields, **extra}, ensure_ascii=False), encoding="utf-8")
    return path


def fetch_all(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def rejections(url: str, batch_id: int) -> set[tuple]:
    """{(line, column, rule)} of a batch's quarantine."""
    return set(fetch_all(url, "select line_number, column_name, rule from ingest.rejected_rows where batch_id = %s",
                         (batch_id,)))
