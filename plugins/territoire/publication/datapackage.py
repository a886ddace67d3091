"""`datapackage.json`: a Frictionless Data Package describing the exported files.

Profile `tabular-data-package` when every file is a table (CSV, Parquet), `data-package` when a
GeoJSON is included (a tabular package may hold tabular resources only). The spreadsheet CSV
(`-tableur.csv`: `;`, UTF-8 with BOM, decimal comma) is a resource of its own, with the same
schema but `decimalChar: ","`. The tests validate every package with frictionless.

Written last into the version folder, after the data files, so it can carry their sizes and
sha256. Field types come from the PostgreSQL types, descriptions from the dbt docs (or
`columns:` in datasets.yml), licence / sources / producers from the catalogs, and temporal and
spatial coverage from the data itself. No wall-clock value goes in: unchanged data gives
byte-identical metadata.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from territoire.datasets import Dataset
from territoire.ingest.landing import sha256_file
from territoire.naming import quote_ident
from territoire.publication import metadata

PROFILE = "tabular-data-package"
MIXED_PROFILE = "data-package"  # a GeoJSON resource is not tabular
MEDIA_TYPES = {
    "csv": "text/csv", "parquet": "application/vnd.apache.parquet", "geojson": "application/geo+json",
    "json": "application/json",
}


def table_schema_type(pg_type: str) -> tuple[str, str | None]:
    """(Table Schema type, format) of a PostgreSQL type."""
    t = pg_type.lower()
    if t in ("integer", "smallint", "bigint"):
        return "integer", None
    if t in ("double precision", "real") or t.startswith("numeric"):
        return "number", None
    if t == "boolean":
        return "boolean", None
    if t == "date":
        return "date", None
    if t.startswith("timestamp"):
        return "datetime", None
    if t.startswith("time"):
        return "time", None
    if t in ("json", "jsonb"):
        return "object", None
    if t.endswith("[]"):
        return "array", None
    if t == "uuid":
        return "string", "uuid"
    return "string", None


def table_schema(dataset: Dataset, columns: list[tuple[str, str]]) -> dict:
    docs = metadata.dbt_docs(dataset.id)
    fields = []
    for name, pg_type in columns:
        ftype, fmt = table_schema_type(pg_type)
        field: dict = {"name": name, "type": ftype}
        if fmt:
            field["format"] = fmt
        field.update(metadata.column_docs(dataset, name, docs))
        if name in dataset.primary_key:
            field["constraints"] = {"required": True}
            if len(dataset.primary_key) == 1:
                field["constraints"]["unique"] = True
        masked = [r for r in dataset.secrecy if name in (r.get("masked_columns") or [])]
        if masked:
            rule = masked[0]
            field["secrecy"] = (f"vide quand {rule['count_column']} < {rule['threshold']} "
                                f"(secret statistique)")
        fields.append(field)
    schema: dict = {"fields": fields, "missingValues": [""]}
    if dataset.primary_key:
        schema["primaryKey"] = list(dataset.primary_key)
    return schema


def _iso(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def temporal_coverage(conn, dataset: Dataset, column_names: list[str]) -> dict:
    """{start, end}: declared (`temporal_coverage: {start, end}`) or read from the data
    (`temporal_coverage: {column: annee}`: a year, date or timestamp column)."""
    tc = dataset.temporal_coverage or {}
    if "column" in tc:
        col = tc["column"]
        if col not in column_names:
            raise metadata.MetadataError(
                f"catalog/datasets.yml, dataset {dataset.id!r}, field 'temporal_coverage.column': "
                f"{col!r} is not a column of published.{dataset.id}")
        lo, hi = conn.execute(f"select min({quote_ident(col)}), max({quote_ident(col)}) "
                              f"from published.{quote_ident(dataset.id)}").fetchone()
        if isinstance(lo, int) and isinstance(hi, int):  # a year
            return {"start": f"{lo:04d}-01-01", "end": f"{hi:04d}-12-31"}
        return {k: v for k, v in (("start", _iso(lo)), ("end", _iso(hi))) if v}
    return {k: str(tc[k]) for k in ("start", "end") if tc.get(k)}


def spatial_coverage(conn, dataset: Dataset, column_names: list[str]) -> dict:
    out: dict = {"name": dataset.spatial_coverage}
    table = f"published.{quote_ident(dataset.id)}"
    g = dataset.geometry or {}
    if "longitude" in g and g["longitude"] in column_names:
        lon, lat = quote_ident(g["longitude"]), quote_ident(g["latitude"])
        row = conn.execute(f"select min({lon}), min({lat}), max({lon}), max({lat}) from {table} "
                           f"where {lon} between -180 and 180 and {lat} between -90 and 90").fetchone()
        if row[0] is not None:
            out["bbox"] = [round(float(x), 6) for x in row]
    for level in ("code_region", "code_departement"):
        if level in column_names:
            codes = [r[0] for r in conn.execute(
                f"select distinct {quote_ident(level)} from {table} where {quote_ident(level)} is not null "
                f"order by 1").fetchall()]
            out[level.removeprefix("code_") + "s"] = codes
    return out


def _file_info(path: Path) -> tuple[int, str]:
    return path.stat().st_size, sha256_file(path)


def build(conn, dataset: Dataset, columns: list[tuple[str, str]], folder: Path) -> dict:
    names = [n for n, _ in columns]
    licence = metadata.licence_of(dataset)
    eu_frequency, _ = metadata.frequency_of(dataset)
    schema = table_schema(dataset, columns)
    sources = metadata.sources_of(dataset)
    rows = conn.execute(f"select count(*) from published.{quote_ident(dataset.id)}").fetchone()[0]
    resources = [_resource(dataset, path, schema) for path in sorted(folder.iterdir())
                 if path.is_file() and path.suffix.lstrip(".") in MEDIA_TYPES and path.name != "datapackage.json"]
    tabular = all(r["profile"] == "tabular-data-resource" for r in resources)
    package: dict = {
        "profile": PROFILE if tabular else MIXED_PROFILE,
        "name": dataset.id.replace("_", "-"),
        "id": dataset.id,
        "title": dataset.title,
        "description": dataset.description,
        "keywords": list(dataset.keywords),
        "licenses": [{"name": licence.name, "path": licence.url, "title": licence.title}],
        "sources": [_source_entry(s) for s in sources],
        "contributors": ([{"title": p, "role": "author"} for p in metadata.producers_of(dataset)]
                         + [{"title": metadata.publisher_of(dataset), "role": "publisher"}]),
        "temporal": temporal_coverage(conn, dataset, names),
        "spatial": spatial_coverage(conn, dataset, names),
        "accrualPeriodicity": dataset.accrual_periodicity,
        "accrualPeriodicityUri": eu_frequency,
        "rows": rows,
        "resources": resources,
    }
    if dataset.personal_columns:
        package["excludedColumns"] = {"personal": sorted(dataset.personal_columns)}
    if dataset.secrecy:
        package["statisticalSecrecy"] = _secrecy(conn, dataset)
    if dataset.personal_data:
        package["personalData"] = [{"column": p["column"], "publishedWhen": p["published_when"],
                                    "reason": p["reason"]} for p in dataset.personal_data]
    if dataset.hvd_category:
        from territoire.datasets import HVD_CATEGORIES

        uri, label = HVD_CATEGORIES[dataset.hvd_category]
        package["hvdCategory"] = {"uri": uri, "title": label}
    return package


def _resource(dataset: Dataset, path: Path, schema: dict) -> dict:
    from territoire.publication.export import FRENCH_CSV_SUFFIX

    fmt = path.suffix.lstrip(".")
    french = path.name.endswith(FRENCH_CSV_SUFFIX)
    size, sha = _file_info(path)
    # resource names: lowercase letters, digits, `-._/` (Data Package spec)
    name = dataset.id.replace("_", "-") + ("-tableur" if french else "") + f"-{fmt}"
    resource: dict = {"name": name, "path": path.name, "format": fmt, "mediatype": MEDIA_TYPES[fmt],
                      "bytes": size, "hash": f"sha256:{sha}"}
    if fmt not in ("csv", "parquet"):
        return {**resource, "profile": "data-resource", "encoding": "utf-8"}
    if fmt == "parquet":
        # frictionless reads Parquet through pyarrow, not as bytes, so it cannot check `bytes` and
        # `hash` there (it reports them as mismatched): the same figures go under `integrity`.
        resource["integrity"] = {"bytes": resource.pop("bytes"), "hash": resource.pop("hash")}
    resource["profile"] = "tabular-data-resource"
    resource["schema"] = schema
    if french:
        resource["title"] = "CSV pour tableur (séparateur point-virgule, UTF-8 avec BOM, virgule décimale)"
        resource["encoding"] = "utf-8-sig"
        resource["dialect"] = {"delimiter": ";", "header": True, "lineTerminator": "\r\n", "quoteChar": '"'}
        resource["schema"] = {**schema, "fields": [
            {**f, "decimalChar": ","} if f["type"] == "number" else f for f in schema["fields"]]}
    elif fmt == "csv":
        resource["encoding"] = "utf-8"
        resource["dialect"] = {"delimiter": ",", "header": True, "lineTerminator": "\n", "quoteChar": '"'}
    return resource


def _secrecy(conn, dataset: Dataset) -> list[dict]:
    """Each rule, and the cells it hides in this version: key, primary or secondary, why."""
    from territoire.publication import secrecy

    cells = secrecy.suppressed_cells(conn, dataset)
    out = []
    for rule in secrecy.rules(dataset):
        entry: dict = {"count_column": rule.count_column, "threshold": rule.threshold,
                       "masked_columns": list(rule.masked_columns)}
        if rule.group_by:
            entry["secondary_within"] = list(rule.group_by)
        if rule.flag_column:
            entry["flag_column"] = rule.flag_column
            mine = [c for c in cells if c["colonnes"] == list(rule.masked_columns)]
            entry["suppressedCells"] = [{k: v for k, v in c.items() if k != "colonnes"} for c in mine]
        out.append(entry)
    return out


def _source_entry(source) -> dict:
    """One `sources` entry: the producer's title and homepage; when the profile running (the demo) reads
    a synthetic file for this source instead of the producer's, the title says so."""
    from territoire import settings

    title = source.title if source.producer in source.title else f"{source.title} ({source.producer})"
    profile = settings.profile()
    synthetic = any(getattr(r.locations.get(profile), "synthetic", False) for r in source.resources)
    if synthetic:
        title += f" : données SYNTHÉTIQUES (profil {profile}), pas celles du producteur"
    return {"title": title, "id": source.id, "producer": source.producer,
            **({"path": source.homepage} if source.homepage else {}),
            **({"synthetic": True} if synthetic else {})}


def _default(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    raise TypeError(f"not JSON serialisable: {v!r}")


def write_datapackage(conn, dataset: Dataset, columns: list[tuple[str, str]], folder: Path) -> list[Path]:
    path = folder / "datapackage.json"
    package = build(conn, dataset, columns, folder)
    path.write_text(json.dumps(package, ensure_ascii=False, indent=2, default=_default) + "\n", encoding="utf-8")
    return [path]
