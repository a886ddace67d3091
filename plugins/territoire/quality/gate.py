"""Write-audit-publish: validate a dataset in `audit`, record the result, decide whether it may be published.

`audit(dataset_id)` runs the dataset's GX checkpoint on `audit.<id>`, stores one row per expectation
in `quality.validation_results` (the history the managers' report reads) and returns a verdict:
- passed: every check succeeded;
- blocked: an error-level check failed (nothing can publish it);
- warnings: only warning-level checks failed; publishing needs an explicit, recorded override.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from territoire import settings, warehouse
from territoire.datasets import Dataset, get_dataset

log = logging.getLogger(__name__)

HISTORY_SQL = """
create schema if not exists quality;
create table if not exists quality.validation_runs (
    run_id          text primary key,
    dataset_id      text not null,
    started_at      timestamptz not null,
    finished_at     timestamptz not null,
    verdict         text not null check (verdict in ('passed', 'warnings', 'blocked', 'error')),
    checks_total    integer not null,
    checks_passed   integer not null,
    row_count       bigint,
    published       boolean not null default false,
    override_by     text,
    override_reason text,
    data_docs_path  text,
    error           text
);
create table if not exists quality.validation_results (
    run_id            text not null references quality.validation_runs (run_id),
    dataset_id        text not null,
    expectation       text not null,
    column_name       text,
    level             text not null,
    success           boolean not null,
    observed_value    text,
    unexpected_count  bigint,
    unexpected_share  double precision,
    examples          jsonb,
    explication       text,
    kwargs            jsonb,
    validated_at      timestamptz not null
);
create index if not exists validation_results_dataset_idx on quality.validation_results (dataset_id, validated_at);
"""


class QualityGateFailed(RuntimeError):
    """A dataset failed its suite; the message lists each failed check with column, observed value and examples."""


@dataclass
class CheckResult:
    expectation: str
    column: str | None
    level: str  # "error" or "warning"
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_share: float | None = None
    examples: list = field(default_factory=list)
    explication: str = ""
    kwargs: dict = field(default_factory=dict)

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        parts = [f"[{self.level}] {self.expectation}{where}"]
        if self.explication:
            parts.append(f"({self.explication})")
        if self.observed_value is not None:
            parts.append(f"observed: {self.observed_value}")
        if self.unexpected_count:
            share = f" ({self.unexpected_share:.2%})" if self.unexpected_share is not None else ""
            parts.append(f"{self.unexpected_count} unexpected rows{share}")
        if self.examples:
            parts.append(f"examples: {self.examples[:5]}")
        return " ".join(parts)


@dataclass
class AuditResult:
    run_id: str
    dataset_id: str
    verdict: str
    checks: list[CheckResult]
    row_count: int | None
    started_at: datetime
    finished_at: datetime
    data_docs_path: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    def summary(self) -> str:
        passed = sum(c.success for c in self.checks)
        head = f"{self.dataset_id}: {self.verdict} ({passed}/{len(self.checks)} checks passed, run {self.run_id})"
        if not self.failed:
            return head
        return head + "\n" + "\n".join("  - " + c.describe() for c in self.failed)


def ensure_history_tables(conn) -> None:
    conn.execute(HISTORY_SQL)


def _published_row_count(conn, dataset: Dataset) -> int | None:
    exists = conn.execute("select to_regclass(%s) is not null", (dataset.published_table,)).fetchone()[0]
    if not exists:
        return None
    return conn.execute(f"select count(*) from published.{dataset.id}").fetchone()[0]


def expectation_parameters(conn, dataset: Dataset) -> dict[str, Any]:
    previous = _published_row_count(conn, dataset)
    share = float(dataset.quality.get("max_row_drop_share", 0.05))
    return {
        "min_row_count": 0 if previous is None else int(previous * (1 - share)),
        "today": datetime.now(UTC).date().isoformat(),
    }


def _to_check(result) -> CheckResult:
    config = result.expectation_config
    kwargs = {k: v for k, v in (config.kwargs or {}).items() if k not in ("batch_id",)}
    res = result.result or {}
    severity = getattr(config, "severity", None)
    level = "warning" if str(getattr(severity, "value", severity)).lower() == "warning" else "error"
    observed = res.get("observed_value")
    examples = res.get("partial_unexpected_list") or res.get("details", {}).get("unexpected_rows") or []
    if isinstance(examples, list):
        examples = [e if isinstance(e, (str, int, float, type(None), list, dict)) else str(e) for e in examples[:5]]
    errors = [info.get("exception_message") for info in (_exception_infos(result) or [])
              if info.get("raised_exception")]
    if errors:
        observed = "the check could not run: " + str(errors[0]).splitlines()[0][:300]
    count = res.get("unexpected_count")
    if count is None and config.type == "unexpected_rows_expectation":
        count = observed if isinstance(observed, int) else None
    return CheckResult(
        expectation=config.type, column=kwargs.get("column") or (
            ",".join(kwargs["column_list"]) if "column_list" in kwargs else None),
        level=level, success=bool(result.success),
        observed_value=None if observed is None else (observed if isinstance(observed, (int, float, str))
                                                      else json.dumps(observed, default=str)[:500]),
        unexpected_count=count, unexpected_share=(res.get("unexpected_percent") or 0) / 100
        if res.get("unexpected_percent") is not None else None,
        examples=examples, explication=(config.meta or {}).get("explication", ""),
        kwargs=json.loads(json.dumps(kwargs, default=str)),
    )


def _exception_infos(result) -> list[dict]:
    info = getattr(result, "exception_info", None) or {}
    if "raised_exception" in info:
        return [info]
    return [v for v in info.values() if isinstance(v, dict)]


def _publish_data_docs() -> str | None:
    from territoire.quality.context import data_docs_dir

    src = data_docs_dir()
    if not src.exists():
        return None
    dest = settings.publication_dir() / "qualite" / "data_docs"
    tmp = dest.with_name("data_docs.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return str(dest / "index.html")


def audit(dataset_id: str, url: str | None = None) -> AuditResult:
    """Validate `audit.<dataset_id>` with its checkpoint and record the result in `quality`."""
    from territoire.quality.context import get_context

    dataset = get_dataset(dataset_id)
    url = url or warehouse.get_url()
    run_id = f"{dataset.id}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    started = datetime.now(UTC)
    with warehouse.connect(url, autocommit=True) as conn:
        ensure_history_tables(conn)
        if not conn.execute("select to_regclass(%s) is not null", (dataset.audit_table,)).fetchone()[0]:
            raise QualityGateFailed(f"{dataset.id}: table {dataset.audit_table} does not exist: run dbt first "
                                    f"(`territoire dbt build`); nothing was published")
        params = expectation_parameters(conn, dataset)
        row_count = conn.execute(f"select count(*) from {dataset.audit_table}").fetchone()[0]
    context = get_context(url)
    checkpoint = context.checkpoints.get(f"{dataset.id}_gate")
    result = checkpoint.run(expectation_parameters=params)
    checks = [_to_check(r) for vr in result.run_results.values() for r in vr.results]
    finished = datetime.now(UTC)
    if all(c.success for c in checks):
        verdict = "passed"
    elif any(not c.success and c.level == "error" for c in checks):
        verdict = "blocked"
    else:
        verdict = "warnings"
    docs = _publish_data_docs()
    outcome = AuditResult(run_id, dataset.id, verdict, checks, row_count, started, finished, docs)
    record(outcome, url)
    log.info(outcome.summary())
    return outcome


def record(outcome: AuditResult, url: str | None = None) -> None:
    with warehouse.transaction(url) as conn:
        ensure_history_tables(conn)
        conn.execute(
            """insert into quality.validation_runs (run_id, dataset_id, started_at, finished_at, verdict,
                   checks_total, checks_passed, row_count, data_docs_path)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (outcome.run_id, outcome.dataset_id, outcome.started_at, outcome.finished_at, outcome.verdict,
             len(outcome.checks), sum(c.success for c in outcome.checks), outcome.row_count,
             outcome.data_docs_path),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """insert into quality.validation_results (run_id, dataset_id, expectation, column_name, level,
                       success, observed_value, unexpected_count, unexpected_share, examples, explication, kwargs,
                       validated_at)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(outcome.run_id, outcome.dataset_id, c.expectation, c.column, c.level, c.success,
                  None if c.observed_value is None else str(c.observed_value), c.unexpected_count,
                  c.unexpected_share, json.dumps(c.examples, default=str), c.explication,
                  json.dumps(c.kwargs, default=str), outcome.finished_at) for c in outcome.checks],
            )


def mark_published(run_id: str, conn, override_by: str | None = None, override_reason: str | None = None) -> None:
    conn.execute(
        "update quality.validation_runs set published = true, override_by = %s, override_reason = %s "
        "where run_id = %s", (override_by, override_reason, run_id))


def check_publishable(outcome: AuditResult, *, override_by: str | None = None,
                      override_reason: str | None = None) -> None:
    """Raise QualityGateFailed unless the audit allows publication (warnings need a named override)."""
    if outcome.verdict == "passed":
        return
    if outcome.verdict == "warnings" and override_by and override_reason:
        log.warning("%s: publishing with failing warning-level checks, override by %s: %s",
                    outcome.dataset_id, override_by, override_reason)
        return
    if outcome.verdict == "warnings":
        raise QualityGateFailed(
            f"{outcome.summary()}\nOnly warning-level checks failed: a maintainer may publish anyway with "
            f"`territoire publish {outcome.dataset_id} --override-by NAME --reason TEXT` (recorded). "
            f"The previously published version is untouched.")
    raise QualityGateFailed(
        f"{outcome.summary()}\nError-level checks cannot be overridden. The previously published version "
        f"of {outcome.dataset_id} is untouched. Details: {outcome.data_docs_path or 'Data Docs not built'}")
