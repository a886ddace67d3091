"""`territoire` commands for the rest of the pipeline: demo, dbt, publish, reports, the publication's
maintenance (catalogue, docs, analysts, push), backfills, the failed-runs summary, the local Airflow
and the scaffolding of a new source.

Registered into the main parser by `territoire.cli.build_parser` (see `register`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def cmd_demo(args: argparse.Namespace) -> int:
    import logging

    from territoire.cli import CHATTY_LOGGERS
    from territoire.demo import main

    # The demo sends Airflow's, dbt's and GX's logs to var/demo/logs/ in full (the terminal only shows
    # stages and outcomes): give those loggers back their own levels.
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    return main()


def cmd_dbt(args: argparse.Namespace) -> int:
    from territoire import dbt

    try:
        dbt.run(args.dbt_args or ["build"])
    except dbt.DbtError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from territoire.datasets import load_datasets
    from territoire.pipeline import build_reports, publish_dataset
    from territoire.quality.gate import QualityGateFailed

    if bool(args.override_by) != bool(args.reason):
        print("--override-by and --reason go together: name who decides and why (both are recorded)",
              file=sys.stderr)
        return 2
    ids = args.datasets or list(load_datasets())
    code = 0
    for dataset_id in ids:
        try:
            outcome = publish_dataset(dataset_id, override_by=args.override_by, override_reason=args.reason)
            print(f"{dataset_id}: {outcome.verdict}, {outcome.published_rows} rows published"
                  f"{'' if outcome.changed else ' (files unchanged)'}")
        except QualityGateFailed as exc:
            print(f"{dataset_id}: NOT published\n{exc}", file=sys.stderr)
            code = 1
    _print(build_reports())
    return code


def cmd_report(args: argparse.Namespace) -> int:
    from territoire.pipeline import build_reports

    _print(build_reports())
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    from territoire.publication.dcat import write_catalogue

    for path in write_catalogue():
        print(path)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from territoire.publication.dbt_docs import publish_dbt_docs

    print(publish_dbt_docs())
    return 0


def cmd_analysts(args: argparse.Namespace) -> int:
    from territoire.publication.roles import ensure_analyst_roles

    access = ensure_analyst_roles(login=args.login)
    print(f"group role {access.group_role} ready in database {access.database}; login role: "
          f"{access.login_role or 'not managed (TERRITOIRE_ANALYST_PASSWORD unset)'}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from territoire.publication.portal import push_all, push_dataset

    results = [push_dataset(d) for d in args.datasets] if args.datasets else push_all()
    if not results:
        print("no published dataset declares `portal:` in catalog/datasets.yml: nothing to push")
    for r in results:
        print(f"{r.dataset_id}: portal id {r.portal_id} ({'created' if r.created else 'found'}); "
              f"resources created {len(r.resources_created)}, updated {len(r.resources_updated)}, "
              f"unchanged {len(r.resources_unchanged)}")
    return 0


def cmd_quality_scaffold(args: argparse.Namespace) -> int:
    from territoire.quality.suites import scaffold

    for name in scaffold(args.datasets or None):
        print(f"checkpoint {name} written to expectations/")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from territoire import operations

    try:
        report = operations.backfill(args.source, args.start, args.end, via=args.via, force=args.force,
                                     dry_run=args.dry_run)
    except (operations.OperationsError, KeyError) as exc:
        print(f"error: {str(exc).strip(chr(34))}", file=sys.stderr)
        return 2
    print(report.text())
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Exit 0 when Airflow's runs and the ledger were read (whatever they hold), 1 when one could not be."""
    from datetime import UTC, datetime, timedelta

    from territoire import airflow_env, operations

    since = operations._utc(args.since) if args.since else datetime.now(UTC) - timedelta(days=1)
    metadata = airflow_env.metadata_url()
    summary = operations.failed_runs_summary(
        since, runs=lambda state, s: operations.airflow_runs_metadata(state, s, metadata))
    print(summary.text(args.lang))
    if args.send:
        operations.send_summary(summary)
    if summary.airflow_error:
        print(f"territoire: summary: Airflow's runs could not be read ({summary.airflow_error})", file=sys.stderr)
        return 1
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from territoire import local_airflow

    if args.stop:
        return local_airflow.stop()
    return local_airflow.run(port=args.port)


def cmd_new_source(args: argparse.Namespace) -> int:
    from territoire import scaffold

    created = scaffold.new_source(args.source_id, Path(args.file), schema=Path(args.schema) if args.schema else None,
                                  title=args.title, domain=args.domain, producer=args.producer,
                                  licence=args.licence, key=args.key)
    for path in created.files:
        print(f"written: {path}")
    print(f"next: territoire load {args.source_id} && territoire dbt build -s {created.staging_model}")
    return 0


def register(sub, add_command) -> None:
    from territoire.catalog import DOMAINS

    add_command(sub, "demo", cmd_demo, "run the whole pipeline on the shipped samples through Airflow")
    p = add_command(sub, "dbt", cmd_dbt, "run dbt against the warehouse, e.g. `territoire dbt build -s dim_territoire`")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments passed to dbt (default: build)")
    p = add_command(sub, "publish", cmd_publish,
                    "quality gate then publication of datasets (all by default); exit 1 if one is blocked")
    p.add_argument("datasets", nargs="*", help="dataset ids of catalog/datasets.yml")
    p.add_argument("--override-by", help="publish despite failing WARNING-level checks: who decides (recorded)")
    p.add_argument("--reason", help="why (recorded with the override)")
    add_command(sub, "report", cmd_report, "rebuild the quality report, the DCAT catalogue and the dbt docs")
    add_command(sub, "catalogue", cmd_catalogue, "rebuild the DCAT-AP catalogue (catalogue.jsonld, catalogue.ttl)")
    add_command(sub, "docs", cmd_docs, "generate the dbt docs into the publication folder (<publication>/docs/)")
    p = add_command(sub, "analysts", cmd_analysts,
                    "create or repair the read-only analyst roles (password from TERRITOIRE_ANALYST_PASSWORD)")
    p.add_argument("--login", help="login role name (default TERRITOIRE_ANALYST_USER or 'analyste')")
    p = add_command(sub, "push", cmd_push, "push published datasets to the udata portal (those with `portal:`)")
    p.add_argument("datasets", nargs="*")
    p = add_command(sub, "backfill", cmd_backfill,
                    "reprocess a source for every scheduled date between START and END (idempotent: unchanged "
                    "content loads nothing)")
    p.add_argument("source", help="source id (see `territoire sources`)")
    p.add_argument("start", help="first logical date, ISO (2026-01-01)")
    p.add_argument("end", help="last logical date, ISO")
    p.add_argument("--via", choices=("local", "airflow"), default="local",
                   help="local: in this process, date by date; airflow: `airflow backfill create` (the scheduler runs it)")
    p.add_argument("--force", action="store_true", help="reload even unchanged files")
    p.add_argument("--dry-run", action="store_true", help="only list the dates")
    p = add_command(sub, "summary", cmd_summary, "failed Airflow runs and failed loads since a date (default: 24 h)")
    p.add_argument("--since", help="ISO date or datetime (default: 24 hours ago)")
    p.add_argument("--lang", choices=("fr", "en"), default="fr")
    p.add_argument("--send", action="store_true", help="also send it (webhook or e-mail connection, else the log)")
    p = add_command(sub, "airflow", cmd_airflow,
                    "start the Airflow UI (and the scheduler) on this project's runs; Ctrl-C or --stop stops it")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: TERRITOIRE_AIRFLOW_PORT or 8080)")
    p.add_argument("--stop", action="store_true", help="stop the Airflow started by `territoire airflow`")
    p = add_command(sub, "new-source", cmd_new_source,
                    "add a source from a sample file: catalog entry, Table Schema, dbt staging model, manifest")
    p.add_argument("source_id", help="identifier: lowercase letters, digits and _ (becomes ingest_<id>, raw.<id>__...)")
    p.add_argument("--file", "-f", required=True, help="a sample of the source (CSV or JSON), kept as its demo file")
    p.add_argument("--schema", "-s", help="an existing Table Schema (JSON) instead of inferring one from the sample")
    p.add_argument("--title", help="the source's title (default: from the file name)")
    p.add_argument("--domain", required=True, choices=sorted(DOMAINS), help="the source's domain")
    p.add_argument("--producer", default="à renseigner", help="who publishes it")
    p.add_argument("--licence", default="etalab-2.0", help="licence id (default: etalab-2.0)")
    p.add_argument("--key", help="the column identifying a row (default: guessed from the sample)")
    p = add_command(sub, "quality-scaffold", cmd_quality_scaffold,
                    "rewrite the GX suites and checkpoints of expectations/ from territoire.quality.suites")
    p.add_argument("datasets", nargs="*")
