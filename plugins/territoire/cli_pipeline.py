"""`territoire` commands for the rest of the pipeline: demo, dbt, publish, reports, analysts, portal,
backfills and the failed-runs summary.

Registered into the main parser by `territoire.cli.build_parser` (see `register`).
"""

from __future__ import annotations

import argparse
import json
import sys


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def cmd_demo(args: argparse.Namespace) -> int:
    from territoire.demo import main

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


def cmd_analysts(args: argparse.Namespace) -> int:
    from territoire.publication.roles import ensure_analyst_roles

    access = ensure_analyst_roles()
    print(access)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from territoire.publication.portal import push_all, push_dataset

    results = [push_dataset(d) for d in args.datasets] if args.datasets else push_all()
    for r in results:
        print(r)
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
    from datetime import UTC, datetime, timedelta

    from territoire import operations

    since = operations._utc(args.since) if args.since else datetime.now(UTC) - timedelta(days=1)
    summary = operations.failed_runs_summary(since)
    print(summary.text(args.lang))
    if args.send:
        operations.send_summary(summary)
    return 0


def register(sub, add_command) -> None:
    add_command(sub, "demo", cmd_demo, "run the whole pipeline on the shipped samples through Airflow")
    p = add_command(sub, "dbt", cmd_dbt, "run dbt against the warehouse, e.g. `territoire dbt build -s dim_territoire`")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments passed to dbt (default: build)")
    p = add_command(sub, "publish", cmd_publish,
                    "quality gate then publication of datasets (all by default); exit 1 if one is blocked")
    p.add_argument("datasets", nargs="*", help="dataset ids of catalog/datasets.yml")
    p.add_argument("--override-by", help="publish despite failing WARNING-level checks: who decides (recorded)")
    p.add_argument("--reason", help="why (recorded with the override)")
    add_command(sub, "report", cmd_report, "rebuild the quality report, the DCAT catalogue and the dbt docs")
    add_command(sub, "analysts", cmd_analysts,
                "create or repair the read-only analyst roles (password from TERRITOIRE_ANALYST_PASSWORD)")
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
    p = add_command(sub, "quality-scaffold", cmd_quality_scaffold,
                    "rewrite the GX suites and checkpoints of expectations/ from territoire.quality.suites")
    p.add_argument("datasets", nargs="*")
