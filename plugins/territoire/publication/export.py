"""Export a published table to open-data files, switched into place atomically.

Files are written to a new version folder `<publication>/datasets/.versions/<id>-<hash>/`, then the
link `<publication>/datasets/<id>` is switched to it with one rename: a reader sees the old files or
the new ones, never half-written ones. Output is deterministic (rows sorted by the dataset's key,
fixed column order, no timestamps inside the files), so unchanged data gives byte-identical files
and the same version folder.

Beside the standard CSV (`,`, UTF-8, `.` decimals: what tools and the Table Schema expect), a
`<id>-tableur.csv` for French spreadsheet users: `;` separator, UTF-8 with a byte-order mark (so
Excel reads the accents), decimal comma, text cells neutralised against formulas (csvsafe).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from territoire import settings, warehouse
from territoire.csvsafe import neutralise
from territoire.datasets import Dataset
from territoire.naming import quote_ident
from territoire.publication import secrecy

BATCH_ROWS = 50_000


@dataclass
class ExportResult:
    dataset_id: str
    folder: Path  # the stable path readers use (a link to the current version)
    version_folder: Path
    files: list[Path]
    rows: int
    changed: bool


def datasets_root() -> Path:
    return settings.publication_dir() / "datasets"


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        text = format(v, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(v, float):
        return repr(v)
    return str(v)


def exported_columns(conn, dataset: Dataset) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of the published table, in table order, minus personal columns."""
    rows = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
           where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
        (f"published.{quote_ident(dataset.id)}",)).fetchall()
    return [(n, t) for n, t in rows if n not in dataset.personal_columns and not n.startswith("_")]


def write_csv(conn, dataset: Dataset, columns: list[str], path: Path) -> int:
    order = ", ".join(quote_ident(c) for c in dataset.sort_columns)
    select = ", ".join(quote_ident(c) for c in columns)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        with conn.cursor(name=f"export_{dataset.id}") as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(f"select {select} from published.{quote_ident(dataset.id)} order by {order}")
            for row in cur:
                w.writerow([_csv_value(neutralise(v)) for v in row])  # text cells never run as formulas
                n += 1
    return n


FRENCH_CSV_SUFFIX = "-tableur.csv"


def _french_value(v) -> object:
    """A cell of the spreadsheet CSV: decimal comma for numbers, formulas neutralised in text."""
    if isinstance(v, bool) or v is None:
        return _csv_value(v)
    if isinstance(v, (Decimal, float)):
        return _csv_value(v).replace(".", ",")
    if isinstance(v, str):
        return neutralise(v)
    return _csv_value(v)


def write_french_csv(conn, dataset: Dataset, columns: list[tuple[str, str]], folder: Path) -> list[Path]:
    names = [n for n, _ in columns]
    order = ", ".join(quote_ident(c) for c in dataset.sort_columns)
    select = ", ".join(quote_ident(c) for c in names)
    path = folder / f"{dataset.id}{FRENCH_CSV_SUFFIX}"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(names)
        with conn.cursor(name=f"export_fr_{dataset.id}") as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(f"select {select} from published.{quote_ident(dataset.id)} order by {order}")
            for row in cur:
                w.writerow([_french_value(v) for v in row])
    return [path]


def _arrow_type(pg_type: str):
    import pyarrow as pa

    t = pg_type.lower()
    if t in ("integer", "smallint"):
        return pa.int32()
    if t == "bigint":
        return pa.int64()
    if t in ("double precision", "real"):
        return pa.float64()
    if t.startswith("numeric"):
        return pa.float64()
    if t == "boolean":
        return pa.bool_()
    if t == "date":
        return pa.date32()
    if t.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC" if "with time zone" in t else None)
    return pa.string()


def write_parquet(conn, dataset: Dataset, columns: list[tuple[str, str]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(n, _arrow_type(t)) for n, t in columns])
    order = ", ".join(quote_ident(c) for c in dataset.sort_columns)
    select = ", ".join(
        f"{quote_ident(n)}::double precision" if t.lower().startswith("numeric") else quote_ident(n)
        for n, t in columns)
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=True) as writer:
        with conn.cursor(name=f"export_pq_{dataset.id}") as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(f"select {select} from published.{quote_ident(dataset.id)} order by {order}")
            while rows := cur.fetchmany(BATCH_ROWS):
                arrays = list(zip(*rows, strict=True))
                writer.write_table(pa.Table.from_arrays(
                    [pa.array(list(col), type=schema.field(i).type) for i, col in enumerate(arrays)], schema=schema))


Writer = Callable[[object, Dataset, list[tuple[str, str]], Path], list[Path]]
# Extra data files can be added by other modules through this registry. They run after CSV,
# Parquet and GeoJSON and before datapackage.json, which describes (size, sha256) every file.
EXTRA_WRITERS: list[Writer] = []


def writers() -> list[Writer]:
    from territoire.publication.datapackage import write_datapackage
    from territoire.publication.geojson import write_geojson

    return [write_geojson, write_french_csv, *EXTRA_WRITERS, write_datapackage]


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()[:16]


def switch_link(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a new symlink renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def export_dataset(dataset: Dataset, url: str | None = None) -> ExportResult:
    root = datasets_root()
    versions = root / ".versions"
    versions.mkdir(parents=True, exist_ok=True)
    staging = versions / f".{dataset.id}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with warehouse.connect(url) as conn:
            # Defence in depth: the quality gate checks secrecy in `audit`; the files are never
            # written from a published table that breaks a rule either.
            secrecy.check(conn, dataset)
            columns = exported_columns(conn, dataset)
            names = [n for n, _ in columns]
            rows = write_csv(conn, dataset, names, staging / f"{dataset.id}.csv")
            write_parquet(conn, dataset, columns, staging / f"{dataset.id}.parquet")
            for writer in writers():
                writer(conn, dataset, columns, staging)
        digest = _folder_digest(staging)
        final = versions / f"{dataset.id}-{digest}"
        link = root / dataset.id
        current = link.resolve() if link.is_symlink() else None
        if final.exists():
            shutil.rmtree(staging)  # identical content is already there
        else:
            staging.rename(final)
        switch_link(link, final)
        changed = current != final.resolve()
        if changed and current is not None and current.exists() and current.parent == versions.resolve():
            _prune_versions(versions, dataset.id, keep={final.name, current.name})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from territoire.publication.dcat import write_catalogue

    write_catalogue()  # the catalogue lists every published dataset: rebuilt after each export
    files = sorted(p for p in final.iterdir() if p.is_file())
    return ExportResult(dataset.id, link, final, [link / p.name for p in files], rows, changed)


def _prune_versions(versions: Path, dataset_id: str, keep: set[str]) -> None:
    """Keep the current and the previous version (a reader may still be reading the previous one)."""
    for p in versions.glob(f"{dataset_id}-*"):
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


