"""`territoire`: the platform's one command line (installed with the project).

    territoire sources                          catalog sources, their resources and last batch per raw table
    territoire load <source> [--resource R] [--file PATH] [--force]
    territoire validate <file> --schema <schema.json | catalog schema name> [--format csv] [--lenient]
    territoire db init | db stop                create the schemas and ingest tables | stop the embedded server
    ... and the pipeline's commands (territoire.cli_pipeline): demo, airflow, new-source, dbt, publish,
    report, catalogue, docs, analysts, push, backfill, summary, quality-scaffold.

Each command is a function `cmd_<name>(args) -> int` registered in `build_parser()`; add a command
with `add_command(subparsers, name, function, help)` and its own arguments.
Quiet by default (the libraries' INFO logs hidden), `-v` for details and tracebacks. Exit codes: 0
success, 1 the operation failed (load refused, file not valid, any error: one line on stderr), 2 usage
or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from territoire import settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    print(f"territoire: {message}", file=sys.stderr)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# sources

def cmd_sources(args: argparse.Namespace) -> int:
    from territoire.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(args.catalog)
    except (CatalogError, FileNotFoundError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    last: dict[str, tuple] = {}
    if not args.no_db:
        try:
            last = _last_batches()
        except Exception as exc:  # noqa: BLE001 - the catalog is still worth listing without the ledger
            _err(f"cannot read the ledger ({exc}); listing the catalog only")
    for source in catalog:
        print(f"{source.id}  [{source.domain}]  {source.title}  ({source.producer}, {source.licence}, "
              f"schedule {source.schedule or '-'}, threshold {source.quarantine_threshold:.0%})")
        for r in source.resources:
            _print_resource(r, last, args.verbose)
    return EXIT_OK


def _print_resource(resource, last: dict[str, tuple], verbose: bool) -> None:
    """One line per raw table of the resource with its last batch (a GTFS feed fills several tables)."""
    from territoire.assets import raw_tables

    for table in raw_tables(resource):
        b = last.get(table)
        if b:
            batch_id, status, rows, rejected, finished = b
            state = f"batch {batch_id} {status}, {rows or 0} rows, {rejected or 0} rejected, {finished or '-'}"
        else:
            state = "never loaded"
        print(f"  - {resource.name:<24} {resource.format:<8} raw.{table:<40} {state}")
    if verbose:
        loc = resource.locations.get(settings.profile())
        where = (loc.path or loc.url or loc.dataset or loc.base_url or "") if loc else "(no location)"
        print(f"      {loc.connector if loc else '-'}: {where}; schema {resource.schema or '-'}")
    return EXIT_OK


def _last_batches() -> dict[str, tuple]:
    from territoire import warehouse

    with warehouse.connect() as conn:
        exists = conn.execute("select to_regclass('ingest.load_batches') is not null").fetchone()[0]
        if not exists:
            return {}
        rows = conn.execute(
            """select distinct on (raw_table) raw_table, batch_id, status, rows_loaded, rows_rejected,
                      to_char(coalesce(finished_at, started_at), 'YYYY-MM-DD HH24:MI:SS')
               from ingest.load_batches order by raw_table, batch_id desc""").fetchall()
    return {r[0]: r[1:] for r in rows}


# ---------------------------------------------------------------------------------------------
# load

def cmd_load(args: argparse.Namespace) -> int:
    from territoire.catalog import CatalogError, load_catalog
    from territoire.ingest.loader import Loader, LoadError

    try:
        source = load_catalog(args.catalog).get(args.source)
    except KeyError as exc:
        _err(exc.args[0])
        return EXIT_USAGE
    except (CatalogError, FileNotFoundError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    resources = list(source.resources)
    if args.resource:
        try:
            resources = [source.resource(args.resource)]
        except KeyError as exc:
            _err(f"{exc.args[0]} (has: {', '.join(r.name for r in source.resources)})")
            return EXIT_USAGE
    if args.file and len(resources) != 1:
        _err(f"--file needs --resource: source {source.id!r} has {len(resources)} resources "
             f"({', '.join(r.name for r in resources)})")
        return EXIT_USAGE
    loader = Loader(progress=_progress)
    failures = 0
    for resource in resources:
        try:
            if args.file:
                path = Path(args.file)
                if not path.exists():
                    _err(f"{source.id}/{resource.name}: file not found: {path}")
                    return EXIT_USAGE
            results = _fetch_and_load(loader, resource, args)
            for r in results:
                print(r.summary() + (f"  [{r.seconds:.1f} s]" if r.seconds else ""))
                if r.report:
                    print(f"  conformity report: {r.report.get('html')}")
        except LoadError as exc:
            failures += 1
            _err(str(exc))
        except Exception as exc:  # noqa: BLE001 - a FetchError or any other failure: report it, go on
            from territoire.ingest.connectors import FetchError

            if not isinstance(exc, FetchError):
                raise
            failures += 1
            _err(str(exc))
    return EXIT_FAILED if failures else EXIT_OK


def _fetch_and_load(loader, resource, args) -> list:
    """Fetch the resource (or take the file given with --file, archived in the landing zone like a
    download: a GTFS feed as a ZIP or a folder, a ZIP with the location's member, any table file),
    then load every table it holds."""
    from territoire.ingest import refusals
    from territoire.ingest.local_file import as_local_resource

    with as_local_resource(resource, Path(args.file)) if args.file else contextlib.nullcontext(resource) as resource:
        result = refusals.fetch_recorded(resource, force=args.force)  # a refused archive is recorded too
    state = "unchanged (304)" if result.not_modified else ("same content" if result.same_as_previous else "new")
    _progress(f"{resource.source_id}/{resource.name}: fetched {result.location} -> {state}")
    out = []
    # A fetch that brought nothing new is still loaded: the loader's checksum check makes it a no-op
    # when the raw table already holds it, and retries it when a previous load failed.
    for t in result.load_targets():
        out.append(loader.load(resource, t.path, table=t.table, fmt=t.format, sha256=t.sha256,
                               location=result.location, force=args.force, quarantine_threshold=args.threshold))
    return out


# ---------------------------------------------------------------------------------------------
# validate

def resolve_schema(name: str) -> Path:
    """A schema file path, or a catalog schema name: `scdl_subventions/schema.json`, `scdl_subventions`,
    `etalab_schema-irve/statique_schema-statique.json`, `territoire/cog_communes`."""
    p = Path(name)
    if p.is_file():
        return p
    base = settings.schemas_dir()
    for candidate in (base / name, base / f"{name}.json", base / name / "schema.json"):
        if candidate.is_file():
            return candidate
    matches = sorted(q for q in base.rglob("*.json") if name in str(q.relative_to(base)))
    if len(matches) == 1:
        return matches[0]
    hint = f" (several match: {', '.join(str(m.relative_to(base)) for m in matches[:6])})" if matches else ""
    raise FileNotFoundError(f"schema {name!r} is neither a file nor a schema under {base}{hint}")


def cmd_validate(args: argparse.Namespace) -> int:
    from territoire.ingest import conformity, detect
    from territoire.ingest.rules import RuleDeclarationError
    from territoire.ingest.validation import NothingRead, ValidationSetupError, validate_file

    path = Path(args.file)
    if not path.is_file():
        _err(f"file not found: {path}")
        return EXIT_USAGE
    try:
        schema_path = resolve_schema(args.schema).resolve()
    except FileNotFoundError as exc:
        _err(str(exc))
        return EXIT_USAGE
    fmt = args.format or detect.detect_format(path).format
    outputs = {kind: Path(getattr(args, kind)) for kind in ("html", "csv", "json") if getattr(args, kind, None)}
    try:
        checked = validate_file(path, schema_path, fmt, strict=not args.lenient, rules_name=args.rules,
                                outputs=outputs, progress=_progress if args.verbose else None)
    except (ValidationSetupError, RuleDeclarationError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except NothingRead as exc:
        _err(str(exc))
        return EXIT_FAILED
    for kind, written in checked.written.items():
        print(f"rapport {kind.upper()} : {written}")
    print("Règles métier : " + (f"celles de {checked.rules_from} (catalogue)" if checked.rules_from
                                else "aucune ressource du catalogue n'a ce schéma (règles du schéma seulement)"))
    print(conformity.render_text(checked.data, examples=args.examples))  # the verdict comes last
    return EXIT_OK if checked.data.valid else EXIT_FAILED


# ---------------------------------------------------------------------------------------------
# db

def cmd_db_init(args: argparse.Namespace) -> int:
    from territoire import warehouse
    from territoire.ingest.loader import Loader

    url = warehouse.get_url()
    warehouse.ensure_schemas(url)
    Loader(url, progress=lambda m: None)  # creates ingest.load_batches, ingest.rejected_rows, ingest.* functions
    print(f"warehouse ready: schemas {', '.join(warehouse.SCHEMAS)} and the ingest tables "
          f"({warehouse.parse_url(url).dbname} on {warehouse.parse_url(url).host})")
    return EXIT_OK


def cmd_db_stop(args: argparse.Namespace) -> int:
    from territoire import warehouse

    print(warehouse.stop_embedded())
    return EXIT_OK


# ---------------------------------------------------------------------------------------------


def add_command(subparsers, name: str, func: Callable[[argparse.Namespace], int], help: str,
                **kwargs) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help=help, description=help, **kwargs)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="territoire", description="Territorial open-data platform: catalog, loads, validation, warehouse, "
                                       "quality gate and publication.")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog file (default: TERRITOIRE_CATALOG or catalog/sources.yml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors in the log")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="details: the libraries' logs (Airflow, dbt, Great Expectations, PostgreSQL), "
                             "each resource's location, full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True

    p = add_command(sub, "sources", cmd_sources, "list the catalog's sources, resources and last batch")
    p.add_argument("--no-db", action="store_true", help="do not read the ledger (catalog only)")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show each resource's location and schema")

    p = add_command(sub, "load", cmd_load, "fetch and load one source now (or a given local file)")
    p.add_argument("source", help="source id (see `territoire sources`)")
    p.add_argument("--resource", "-r", help="only this resource")
    p.add_argument("--file", "-f", help="load this local file (any format the catalog supports; a GTFS feed as a ZIP "
                                        "or a folder) instead of fetching the resource's location")
    p.add_argument("--force", action="store_true", help="download and load even when unchanged")
    p.add_argument("--threshold", type=float, default=None,
                   help="quarantine threshold for this run (share of rows, 0-1; default: the catalog's)")

    p = add_command(sub, "validate", cmd_validate,
                    "check a file against a Table Schema without loading it (Validata-like report; exit 0 only "
                    "when valid)")
    p.add_argument("file")
    p.add_argument("--schema", "-s", required=True, help="a schema.json path or a catalog schema name")
    p.add_argument("--format", choices=["csv", "tsv", "json", "ndjson", "geojson", "xlsx", "xls", "ods"],
                   help="default: read from the file's content")
    p.add_argument("--lenient", action="store_true",
                   help="accept French forms (1 234,5; 01/03/2024) as the loader does; default: strict Table Schema")
    p.add_argument("--examples", type=int, default=3, help="examples shown per column and rule")
    p.add_argument("--html", help="also write the report as HTML to this file")
    p.add_argument("--csv", help="also write every error to this CSV file")
    p.add_argument("--json", help="also write the report as JSON (shape of a Validata report) to this file")
    p.add_argument("--rules", metavar="SOURCE/RESOURCE",
                   help="apply this catalog resource's business rules (default: those of the resource "
                        "declared with the same schema)")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show the loader's progress")

    db = sub.add_parser("db", help="warehouse administration", description="warehouse administration")
    db_sub = db.add_subparsers(dest="db_command", metavar="<db command>")
    db_sub.required = True
    add_command(db_sub, "init", cmd_db_init, "create the schemas and the ingest tables")
    add_command(db_sub, "stop", cmd_db_stop, "stop the embedded PostgreSQL server (when WAREHOUSE_URL is unset)")

    from territoire.cli_pipeline import register

    register(sub, add_command)  # demo, dbt, publish, report, analysts, push, backfill, summary, quality-scaffold
    from territoire.api.cli import register as register_api

    register_api(sub, add_command)  # serve, api-role
    return parser


# Libraries that narrate their work at INFO level: quiet unless `-v` is given.
CHATTY_LOGGERS = ("great_expectations", "pgserver", "airflow", "cosmos", "alembic", "httpx", "urllib3",
                  "dbt", "fsspec", "py.warnings")


def configure_output(verbose: bool, quiet: bool) -> None:
    """Quiet by default: our own log lines at INFO (the what and the where), the libraries' at WARNING;
    `-v` shows everything at INFO; `-q` only warnings and errors."""
    import warnings

    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger("territoire").setLevel(logging.WARNING if quiet else logging.INFO)
        warnings.filterwarnings("ignore")
        # Great Expectations' usage statistics (its progress bars are off in expectations/great_expectations.yml).
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_output(args.verbose, args.quiet)
    if args.catalog:
        os.environ["TERRITOIRE_CATALOG"] = str(args.catalog.resolve())
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line and a non-zero exit; -v shows the trace
        from territoire import warehouse

        if args.verbose:
            raise
        # An unreachable warehouse, wrong credentials, a held lock: one line naming host, port, database.
        message = warehouse.failure_line(exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _err(message or f"{args.command}: {first} (run with -v for details)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
