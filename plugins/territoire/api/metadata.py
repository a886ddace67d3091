"""What the API says about a dataset: catalog metadata, schema with units, quality, search."""

from __future__ import annotations

import logging
import unicodedata

from territoire.api.catalog import PublishedCatalog, Table, read_sql
from territoire.api.formats import formats_of
from territoire.api.query import OPERATORS

log = logging.getLogger(__name__)

RUN_FIELDS = ("run_id", "verdict", "finished_at", "checks_total", "checks_passed", "row_count", "published",
              "overridden", "override_reason", "failed_checks")


def links(base: str, table: Table) -> dict[str, str]:
    root = f"{base}/api/datasets/{table.id}"
    out = {"self": root, "rows": f"{root}/rows", "aggregate": f"{root}/aggregate",
           "export_csv": f"{root}/export?format=csv", "quality": f"{root}/quality", "dcat": f"{root}/dcat"}
    return out


def summary(base: str, table: Table) -> dict:
    d = table.dataset
    return {"id": d.id, "title": d.title, "description": d.description, "licence": d.licence,
            "keywords": list(d.keywords), "geographic": table.geographic, "links": links(base, table)}


def operators_of(family: str) -> list[str]:
    if family == "other":
        return ["isnull"]
    return [o for o in OPERATORS if o != "contains" or family == "text"]


def columns_of(table: Table) -> list[dict]:
    from territoire.publication.datapackage import table_schema_type
    from territoire.publication.metadata import column_docs, dbt_docs

    try:
        dbt = dbt_docs(table.id)
    except (OSError, ValueError):  # the dbt docs are a nicety: a broken yml must not break the API
        log.warning("dbt docs of %s unreadable", table.id, exc_info=True)
        dbt = {"description": "", "columns": {}}
    out = []
    for column in table.columns.values():
        ts_type, ts_format = table_schema_type(column.pg_type)
        docs = column_docs(table.dataset, column.name, dbt)
        out.append({"name": column.name, "type": ts_type, "format": ts_format, "postgresql_type": column.pg_type,
                    "description": docs.get("description"), "unit": docs.get("unit"),
                    "filters": operators_of(column.family)})
    return out


def licence_and_producers(table: Table) -> tuple[dict | None, list[str], str]:
    from territoire.publication.metadata import MetadataError, licence_of, producers_of, publisher_of

    try:
        licence = licence_of(table.dataset)
        detail = {"id": licence.id, "title": licence.title, "url": licence.url}
        producers = producers_of(table.dataset)
    except (MetadataError, KeyError, OSError):
        log.warning("catalog metadata of %s incomplete", table.id, exc_info=True)
        detail, producers = None, []
    return detail, producers, publisher_of(table.dataset)


def quality_runs(catalog: PublishedCatalog, dataset_id: str, limit: int) -> list[dict]:
    if not catalog.quality_readable:
        return []
    with catalog.pool.connection() as conn:
        rows = conn.execute(read_sql("quality_runs.sql"), {"dataset_id": dataset_id, "limit": limit}).fetchall()
    return [dict(zip(RUN_FIELDS, row, strict=True)) for row in rows]


def metadata(base: str, catalog: PublishedCatalog, table: Table) -> dict:
    runs = quality_runs(catalog, table.id, 1)
    licence, producers, publisher = licence_and_producers(table)
    d = table.dataset
    return {
        **summary(base, table), "licence_detail": licence, "producers": producers, "publisher": publisher,
        "accrual_periodicity": d.accrual_periodicity, "spatial_coverage": d.spatial_coverage,
        "primary_key": list(d.primary_key), "formats": formats_of(table), "columns": columns_of(table),
        "quality": {"available": catalog.quality_readable, "latest": runs[0] if runs else None},
        "published_at": table.version.published_at, "version": table.version.etag.strip('"'),
    }


# ---- search -----------------------------------------------------------------------------------

WEIGHTS = {"title": 3.0, "keywords": 3.0, "columns": 2.0, "description": 1.0}


def fold(text: str) -> str:
    """Lowercase without accents: 'Électricité' and 'electricite' match."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_FOLDED: dict[tuple[str, int], dict[str, list[str]]] = {}


def _fields(table: Table) -> dict[str, list[str]]:
    """The searchable texts of a dataset, folded once per published version."""
    key = (table.id, table.version.table_oid)
    if key not in _FOLDED:
        for old in [k for k in _FOLDED if k[0] == table.id]:  # an earlier publication's
            del _FOLDED[old]
        d = table.dataset
        _FOLDED[key] = {"title": [fold(d.title)], "keywords": [fold(k) for k in d.keywords],
                        "description": [fold(d.description)],
                        "columns": [fold(c.replace("_", " ")) for c in table.columns]}
    return _FOLDED[key]


def search(base: str, tables: dict[str, Table], q: str) -> list[dict]:
    """Datasets where every word of `q` is found in the title, keywords, description or column names."""
    words = [w for w in fold(q).replace("_", " ").split() if w]
    hits = []
    for table in tables.values():
        fields = _fields(table)
        score, matched = 0.0, set()
        for word in words:
            found = [name for name, texts in fields.items() if any(word in t for t in texts)]
            if not found:
                break
            score += sum(WEIGHTS[n] for n in found)
            matched.update(found)
        else:
            if words:
                columns = [c for c in table.columns if any(w in fold(c.replace("_", " ")) for w in words)]
                hits.append({"id": table.id, "title": table.dataset.title, "description": table.dataset.description,
                             "score": score, "matched": sorted(matched), "columns": columns,
                             "links": links(base, table)})
    return sorted(hits, key=lambda h: (-h["score"], h["id"]))
