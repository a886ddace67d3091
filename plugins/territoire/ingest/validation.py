"""`territoire validate`: check a file the way a load would (schema, then business rules), without
touching the warehouse, and report it like a batch (text, HTML, CSV, Validata-shaped JSON).

The rows are checked by the loader's own SQL in a scratch database created on the warehouse server for
this run and dropped at the end. The reference tables the rules need (COG, EPCI, contours) are copied
into it from the warehouse first; a rule whose reference the warehouse lacks is reported as not run.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from territoire import warehouse
from territoire.catalog import Location, Resource, load_catalog
from territoire.ingest import conformity, rules


class ValidationSetupError(RuntimeError):
    """The check could not start (no scratch database, unknown catalog resource...)."""


class NothingRead(RuntimeError):
    """The file could not be read at all: the message says why."""


@dataclass
class Validation:
    data: conformity.ReportData
    rules_from: str | None                       # the catalog resource whose rules were applied
    written: dict[str, Path] = field(default_factory=dict)


def rules_resource(schema_path: Path, name: str | None) -> Resource | None:
    """The catalog resource whose `rules:` apply: the one named `source/resource`, else the first resource
    declared with this schema (a producer checking an IRVE file gets the IRVE rules), else none."""
    catalog = load_catalog()
    if name:
        source_id, _, resource = name.partition("/")
        try:
            return catalog.get(source_id).resource(resource or catalog.get(source_id).resources[0].name)
        except KeyError as exc:
            raise ValidationSetupError(f"--rules {name}: {exc.args[0]}") from None
    for source in catalog:
        for r in source.resources:
            if r.schema and r.rules and r.schema_path().resolve() == schema_path.resolve():
                return r
    return None


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A database of its own on the warehouse server, dropped on exit."""
    admin = warehouse.parse_url(warehouse.get_url())
    name = f"territoire_validate_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = warehouse.ConnectionParts(admin.host, admin.port, admin.user, admin.password, admin.dbname).url()
    warehouse.drop_stale_scratch_databases(admin_url)  # those of `validate` runs that died
    try:
        url = warehouse.create_database(admin_url, name)
    except psycopg.Error as exc:
        raise ValidationSetupError(f"cannot create the scratch database {name} on the warehouse server ({exc}); "
                                   f"`territoire validate` needs the CREATEDB privilege") from exc
    try:
        yield url
    finally:
        warehouse.drop_database(admin_url, name)


def copy_warehouse_references(url: str, resource: Resource) -> list[str]:
    """Copy into the scratch database the warehouse tables the resource's rules read."""
    names = rules.references.reference_tables(rules.resource_rules(resource))
    if not names:
        return []
    try:
        with psycopg.connect(warehouse.get_url(), autocommit=True) as source, \
                psycopg.connect(url, autocommit=True) as target:
            return rules.references.copy_references(source, target, names)
    except psycopg.Error:
        return []  # no warehouse yet: the territorial rules say "not run", with the command that fixes it


def validate_file(path: Path, schema_path: Path, fmt: str, *, strict: bool, rules_name: str | None = None,
                  outputs: dict[str, Path] | None = None, progress: Callable[[str], None] | None = None
                  ) -> Validation:
    """Check `path` against `schema_path` and the business rules; write the `outputs` asked for
    (`{"html": path, "csv": path, "json": path}`) and return the report data."""
    from territoire.ingest.loader import Loader, LoadError

    source = rules_resource(schema_path, rules_name)
    resource = Resource(source_id="validate", name="file", format=fmt,
                        locations={"demo": Location("local", path=str(path))}, schema=str(schema_path),
                        rules=source.rules if source else {})
    with scratch_database() as url:
        warehouse.ensure_schemas(url)
        copy_warehouse_references(url, resource)
        loader = Loader(url, progress=progress or (lambda m: None), reports=False)
        error = None
        try:
            batch_id = loader.load(resource, path, quarantine_threshold=1.0, strict=strict, check_header=False,
                                   force=True).batch_id
        except LoadError as exc:
            error = str(exc)
            with psycopg.connect(url) as conn:
                batch_id = conn.execute("select max(batch_id) from ingest.load_batches").fetchone()[0]
        if not batch_id:
            raise NothingRead(error or "nothing was read")
        with psycopg.connect(url, autocommit=True) as conn:
            data = conformity.from_batch(conn, batch_id)
            data.title, data.file, data.schema = path.name, str(path), str(schema_path)
            data.error, data.in_validation = error, True
            conformity.write_report_files(conn, data, outputs or {})
    return Validation(data, f"{source.source_id}/{source.name}" if source else None, dict(outputs or {}))
