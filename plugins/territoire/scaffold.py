"""`territoire new-source <id> --file <sample>`: a new source in one command.

Writes, from a sample of the source (CSV, JSON or NDJSON):
1. the sample itself under `data/samples/<domain>/` (the `demo` location, as for every source);
2. its Table Schema `catalog/schemas/<domain>/<id>.json`, inferred from the sample
   (territoire.schema_inference) unless `--schema` gives one;
3. its catalog entry, appended to `catalog/sources.yml` (then validated: a mistake is undone);
4. its dbt staging model `dbt_project/models/staging/<id>/stg_<id>__<resource>.sql` (rename and cast
   only), with `_<id>__sources.yml` and `_<id>__models.yml` (columns, tests on the key and the
   required columns);
5. the dbt manifest (`dbt parse`), which Cosmos reads to render the model in Airflow.
The DAG `ingest_<id>` appears by itself (DAGs are generated from the catalog). Nothing existing is
overwritten: a source id, a schema or a model already there stops the command before it writes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from territoire import naming, schema_inference, settings
from territoire.catalog import DOMAINS, LICENCES, CatalogError, load_catalog

TEMPLATES = Path(__file__).with_name("scaffold_templates")
FORMATS = {".csv": "csv", ".txt": "csv", ".json": "json", ".geojson": "geojson", ".ndjson": "ndjson",
           ".jsonl": "ndjson"}
CASTS = {"integer": "bigint", "number": "numeric", "date": "date", "datetime": "timestamptz",
         "boolean": "boolean"}
FRESHNESS_DAYS = {"@daily": 7, "@weekly": 21, "@monthly": 45, "@quarterly": 120, "@yearly": 400}


class ScaffoldError(ValueError):
    """The source cannot be scaffolded; the message says why and what to do."""


@dataclass
class Scaffolded:
    source_id: str
    resource: str
    staging_model: str
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class StagingColumn:
    name: str
    expression: str
    description: str
    tests: tuple[str, ...] = ()


def _yaml(value: str) -> str:
    """A YAML scalar for any text: a JSON string is valid YAML and escapes what needs it."""
    return json.dumps(value, ensure_ascii=False)


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)  # SQL and YAML, not HTML: values go through the `yaml` filter
    env.filters["yaml"] = _yaml
    return env


def _check_new(source_id: str, domain: str, licence: str, root: Path) -> None:
    if not naming.normalise_column(source_id, 1) == source_id or source_id.startswith("c_"):
        raise ScaffoldError(f"source id {source_id!r}: use lowercase letters, digits and _ only, starting with a letter")
    if domain not in DOMAINS:
        raise ScaffoldError(f"domain {domain!r} is not one of {', '.join(sorted(DOMAINS))}")
    if licence not in LICENCES:
        raise ScaffoldError(f"licence {licence!r} is not one of {', '.join(sorted(LICENCES))}")
    try:
        load_catalog(_catalog(root)).get(source_id)
    except KeyError:
        return
    raise ScaffoldError(f"source {source_id!r} is already in {_catalog(root)}: choose another id")


def _catalog(root: Path) -> Path:
    return settings.catalog_path() if root == settings.PROJECT_ROOT else root / "catalog" / "sources.yml"


def _free(path: Path) -> Path:
    if path.exists():
        raise ScaffoldError(f"{path} already exists: remove it or choose another source id")
    return path


def _schema_file(source_id: str, domain: str, sample: Path, fmt: str, title: str, given: Path | None,
                 root: Path) -> tuple[str, dict, list[Path]]:
    """(schema path relative to catalog/schemas, the schema, files written)."""
    schemas = root / "catalog" / "schemas"
    if given is not None:
        schema = json.loads(given.read_text(encoding="utf-8"))
        try:
            return str(given.resolve().relative_to(schemas.resolve())), schema, []
        except ValueError:
            target = _free(schemas / domain / f"{source_id}.json")
    else:
        headers, rows = schema_inference.read_sample(sample, fmt)
        schema = schema_inference.infer(headers, rows, name=source_id, title=title)
        target = _free(schemas / domain / f"{source_id}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return str(target.relative_to(schemas)), schema, [target]


def staging_columns(headers: list[str], schema: dict, key: str | None) -> list[StagingColumn]:
    """One staging column per column of the file: the raw (normalised) name, cast when the schema
    types it; tests: the key unique and not null, required columns not null."""
    fields = {naming.normalise_column(f["name"], i): f for i, f in enumerate(schema.get("fields", []), start=1)}
    keys = {naming.normalise_column(k, 1) for k in ([key] if key else schema.get("primaryKey") or [])
            if isinstance(k, str)}
    out = []
    for name, header in zip(naming.normalise_columns(headers), headers, strict=True):
        spec = fields.get(name, {})
        cast = CASTS.get(spec.get("type", "string"))
        tests = []
        if name in keys:
            tests = ["unique", "not_null"]
        elif (spec.get("constraints") or {}).get("required"):
            tests = ["not_null"]
        description = spec.get("description") or spec.get("title") or f"`{header}` as published"
        out.append(StagingColumn(name, f"{name}::{cast}" if cast else name, description, tuple(tests)))
    return out


def _dbt_files(source_id: str, resource: str, title: str, sample_name: str, schedule: str,
               columns: list[StagingColumn], root: Path) -> tuple[str, list[Path]]:
    folder = root / "dbt_project" / "models" / "staging" / source_id
    model = f"stg_{source_id}__{resource}"
    targets = {"staging_model.sql.j2": _free(folder / f"{model}.sql"),
               "sources.yml.j2": _free(folder / f"_{source_id}__sources.yml"),
               "models.yml.j2": _free(folder / f"_{source_id}__models.yml")}
    folder.mkdir(parents=True, exist_ok=True)
    env = _templates()
    values = {"source_id": source_id, "resource": resource, "title": title, "sample_name": sample_name,
              "model": model, "columns": columns, "freshness_days": FRESHNESS_DAYS.get(schedule, 45)}
    for template, path in targets.items():
        path.write_text(env.get_template(template).render(**values), encoding="utf-8")
    return model, list(targets.values())


def _append_catalog_entry(root: Path, values: dict) -> Path:
    """Append the entry to the catalog and validate the result; on a mistake the catalog is restored."""
    catalog = _catalog(root)
    before = catalog.read_text(encoding="utf-8")
    entry = _templates().get_template("catalog_entry.yml.j2").render(**values)
    catalog.write_text(before.rstrip("\n") + "\n" + entry, encoding="utf-8")
    try:
        load_catalog(catalog).get(values["source_id"])
    except (CatalogError, KeyError) as exc:
        catalog.write_text(before, encoding="utf-8")
        raise ScaffoldError(f"the new catalog entry is not valid, nothing changed in {catalog}: {exc}") from exc
    return catalog


def _copy_sample(sample: Path, domain: str, root: Path) -> tuple[Path, list[Path]]:
    """The sample's place in data/samples (left where it is when it is already in the project)."""
    try:
        return sample.resolve().relative_to(root.resolve()), []
    except ValueError:
        target = _free(root / "data" / "samples" / domain / sample.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, target)
    return target.relative_to(root), [target]


def new_source(source_id: str, sample: Path, *, domain: str, schema: Path | None = None, title: str | None = None,
               producer: str = "à renseigner", licence: str = "etalab-2.0", key: str | None = None,
               schedule: str = "@monthly", root: Path | None = None, parse_manifest: bool = True) -> Scaffolded:
    root = root or settings.PROJECT_ROOT
    if not sample.is_file():
        raise ScaffoldError(f"sample file not found: {sample}")
    if schema is not None and not schema.is_file():
        raise ScaffoldError(f"schema file not found: {schema}")
    fmt = FORMATS.get(sample.suffix.lower())
    if fmt is None:
        raise ScaffoldError(f"{sample}: cannot tell the format from the extension {sample.suffix!r} "
                            f"(expected one of {', '.join(sorted(FORMATS))})")
    _check_new(source_id, domain, licence, root)
    resource = naming.normalise_column(sample.stem, 1)[:40].strip("_")
    title = title or sample.stem.replace("_", " ").replace("-", " ").strip().capitalize()
    schema_rel, schema_doc, written = _schema_file(source_id, domain, sample, fmt, title, schema, root)
    headers, _ = schema_inference.read_sample(sample, fmt)
    sample_rel, copied = _copy_sample(sample, domain, root)
    written += copied
    columns = staging_columns(headers, schema_doc, key)
    model, dbt_files = _dbt_files(source_id, resource, title, sample.name, schedule, columns, root)
    written += dbt_files
    written.append(_append_catalog_entry(root, {
        "source_id": source_id, "domain": domain, "title": title, "producer": producer, "licence": licence,
        "schedule": schedule, "resource": resource, "format": fmt, "schema": schema_rel,
        "sample": str(sample_rel), "description": f"Source added with `territoire new-source` from {sample.name}."}))
    if parse_manifest:
        from territoire import dbt

        written.append(dbt.parse())
    return Scaffolded(source_id, resource, model, written)
