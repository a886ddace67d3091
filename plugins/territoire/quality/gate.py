"""Write-audit-publish: validate a dataset in `audit`, record the result, decide whether it may be published.

`audit(dataset_id)` runs the dataset's GX checkpoint on `audit.<id>`, stores one row per expectation
in `quality.validation_results` (the history the managers' report reads) and returns a verdict:
- passed: every check succeeded;
- blocked: an error-level check failed (nothing can publish it);
- warnings: only warning-level checks failed; publishing needs an explicit, recorded override.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from territoire import settings, warehouse
from territoire.datasets import Dataset, get_dataset
from territoire.quality.suites import RULE_GROUP

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
-- added after the first version: the rule of a grouped row check, and who asked to override when
alter table quality.validation_results add column if not exists rule text;
alter table quality.validation_runs add column if not exists override_at timestamptz;
create index if not exists validation_runs_dataset_idx on quality.validation_runs (dataset_id, finished_at);
"""


class QualityGateFailed(RuntimeError):
    """A dataset failed its suite; the message lists each failed check with column, observed value and examples.

    `outcome` (an AuditResult, when the suite ran) lets a notifier build its alert from the exception.
    """

    def __init__(self, message: str, outcome: AuditResult | None = None):
        super().__init__(message)
        self.outcome = outcome


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
    rule: str | None = None  # the rule of a grouped row check (see suites.rules_expectation)

    @property
    def name(self) -> str:
        return self.rule or self.expectation

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        parts = [f"[{self.level}] {self.name}{where}"]
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
    data_docs_path: str | None = None  # the run's Data Docs page, relative to <publication>/qualite
    error: str | None = None
    url: str | None = field(default=None, repr=False)  # the warehouse audited (for a refused override)

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
    """Create or upgrade the `quality` tables, only when needed.

    Checked first because publish_table calls this inside its swap transaction: a DDL statement
    there would hold an exclusive lock on the history until the commit. Creation takes a platform
    lock so that parallel publications (one Airflow task per dataset) do not race on it.
    """
    ready = conn.execute(
        """select count(*) = 2 from information_schema.columns where table_schema = 'quality'
           and ((table_name = 'validation_results' and column_name = 'rule')
                or (table_name = 'validation_runs' and column_name = 'override_at'))""").fetchone()[0]
    if not ready:
        from territoire.ingest import locks  # a platform lock: analysts can neither take nor hold it

        with conn.transaction():  # the lock lasts until the DDL commits, autocommit connection or not
            locks.transaction_lock(conn, "quality.history", what="creating the quality history tables")
            conn.execute(HISTORY_SQL)


def _published_row_count(conn, dataset: Dataset) -> int | None:
    exists = conn.execute("select to_regclass(%s) is not null", (dataset.published_table,)).fetchone()[0]
    if not exists:
        return None
    return conn.execute(f"select count(*) from published.{dataset.id}").fetchone()[0]


def expectation_parameters(conn, dataset: Dataset, today: date | None = None) -> dict[str, Any]:
    """The `$PARAMETER`s of the suites: completeness against the published version, freshness."""
    previous = _published_row_count(conn, dataset)
    share = float(dataset.quality.get("max_row_drop_share", 0.05))
    today = today or datetime.now(UTC).date()
    params: dict[str, Any] = {
        "min_row_count": 0 if previous is None else int(previous * (1 - share)),
        "today": today.isoformat(),
    }
    spec = dataset.quality.get("freshness") or {}
    if spec.get("kind") == "year":
        params["freshness_min"] = today.year - int(spec.get("max_age_years", 1))
    elif spec:
        params["freshness_min"] = (today - timedelta(days=int(spec.get("max_age_days", 400)))).isoformat()
    return params


def _json_value(value):
    """GX returns dates, Decimals... in observed values and rows: keep them as JSON-able scalars."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


def _observed_text(observed):
    """Numbers and text as they are; a date as its ISO text (not a JSON string); structures as JSON."""
    value = _json_value(observed)
    if isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, ensure_ascii=False)[:500]


def _to_checks(result, row_count: int | None) -> list[CheckResult]:
    """One CheckResult per expectation, and one per rule of a grouped row check."""
    config = result.expectation_config
    meta = config.meta or {}
    if meta.get("groupe") != RULE_GROUP:
        return [_to_check(result)]
    base = _to_check(result)
    if base.observed_value is not None and str(base.observed_value).startswith("the check could not run"):
        # the query itself failed: every rule of the group is unknown, report the group once
        return [base]
    rows = (result.result or {}).get("details", {}).get("unexpected_rows") or []
    broken = {}
    for row in rows:
        row = dict(row) if not isinstance(row, dict) else row
        broken[row.get("regle")] = row
    checks = []
    for rule in meta.get("regles", []):
        row = broken.get(rule["regle"])
        count = int(row["lignes"]) if row else 0
        examples = row.get("exemples") if row else []
        if isinstance(examples, str):
            examples = json.loads(examples)
        checks.append(CheckResult(
            expectation=config.type, column=rule.get("colonne"), level=base.level, success=row is None,
            observed_value=f"{count} ligne(s) en défaut" if row else "0 ligne en défaut",
            unexpected_count=count, unexpected_share=(count / row_count) if row_count else None,
            examples=_json_value(examples or [])[:5], explication=rule.get("explication", ""),
            kwargs={"regle": rule["regle"]}, rule=rule["regle"],
        ))
    return checks


def _to_check(result) -> CheckResult:
    config = result.expectation_config
    kwargs = {k: v for k, v in (config.kwargs or {}).items() if k not in ("batch_id",)}
    res = result.result or {}
    severity = getattr(config, "severity", None)
    level = "warning" if str(getattr(severity, "value", severity)).lower() == "warning" else "error"
    observed = res.get("observed_value")
    examples = res.get("partial_unexpected_list") or res.get("details", {}).get("unexpected_rows") or []
    if isinstance(examples, list):
        examples = _json_value(examples[:5])
    errors = [info.get("exception_message") for info in (_exception_infos(result) or [])
              if info.get("raised_exception")]
    if errors:
        observed = "the check could not run: " + str(errors[0]).splitlines()[0][:300]
    count = res.get("unexpected_count")
    if count is None and config.type == "unexpected_rows_expectation":
        count = observed if isinstance(observed, int) else None
    return CheckResult(
        expectation=config.type, column=kwargs.get("column") or (
            ",".join(kwargs["column_list"]) if "column_list" in kwargs else None) or (config.meta or {}).get("colonne"),
        level=level, success=bool(result.success),
        observed_value=None if observed is None else _observed_text(observed),
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


def _publish_data_docs() -> Path | None:
    """Copy the Data Docs site to `<publication>/qualite/data_docs` (switched into place by renames)."""
    from territoire.quality.context import data_docs_dir

    src = data_docs_dir()
    if not src.exists():
        return None
    dest = quality_dir() / "data_docs"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Gates of several datasets run at once (one Airflow task each): one copy after the other, or a
    # rename could move away the folder another gate is switching into place.
    with open(dest.parent / ".data_docs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            tmp = dest.with_name(f".data_docs.{uuid.uuid4().hex[:8]}.tmp")
            old = dest.with_name(f".data_docs.{uuid.uuid4().hex[:8]}.old")
            shutil.copytree(src, tmp)
            if dest.exists():
                dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return dest


def quality_dir() -> Path:
    """`<publication>/qualite`: the managers' report and the Data Docs it links to."""
    return settings.publication_dir() / "qualite"


def _docs_page(context, identifier) -> str | None:
    """The validation page of this run in the Data Docs, relative to `qualite/` (e.g. data_docs/validations/...)."""
    from territoire.quality.context import data_docs_dir

    try:
        urls = context.get_docs_sites_urls(resource_identifier=identifier)
    except Exception:  # noqa: BLE001 - no docs site is not an error of the data
        return None
    root = data_docs_dir().resolve()
    for entry in urls or []:
        url = entry.get("site_url") or ""
        if url.startswith("file://"):
            path = Path(unquote(url[len("file://"):])).resolve()
            try:
                return "data_docs/" + path.relative_to(root).as_posix()
            except ValueError:
                continue
    return None


def audit(dataset: str | Dataset, url: str | None = None, *, context=None, today: date | None = None
          ) -> AuditResult:
    """Validate `audit.<id>` with its checkpoint `<id>_gate` and record the result in `quality`.

    The run is recorded even when it fails or cannot run (verdict 'error'); the caller decides with
    `check_publishable`. `context` lets a caller (the benchmark) reuse an open GX context.
    """
    from territoire.quality.context import get_context

    dataset = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    url = url or warehouse.get_url()
    run_id = f"{dataset.id}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    started = datetime.now(UTC)
    with warehouse.connect(url, autocommit=True) as conn:
        ensure_history_tables(conn)
        if not conn.execute("select to_regclass(%s) is not null", (dataset.audit_table,)).fetchone()[0]:
            raise QualityGateFailed(f"{dataset.id}: table {dataset.audit_table} does not exist: run dbt first "
                                    f"(`territoire dbt build`); nothing was published")
        params = expectation_parameters(conn, dataset, today)
        row_count = conn.execute(f"select count(*) from {dataset.audit_table}").fetchone()[0]
    try:
        context = context or get_context(url)
        checkpoint = context.checkpoints.get(f"{dataset.id}_gate")
        result = checkpoint.run(expectation_parameters=params)
    except Exception as exc:  # noqa: BLE001 - recorded, then raised with the dataset's name
        outcome = AuditResult(run_id, dataset.id, "error", [], row_count, started, datetime.now(UTC),
                              error=f"{type(exc).__name__}: {exc}", url=url)
        record(outcome, url)
        raise QualityGateFailed(
            f"{dataset.id}: the quality suite could not run ({type(exc).__name__}: {str(exc)[:500]}). Check "
            f"that the checkpoint {dataset.id}_gate exists (`territoire.quality.suites.scaffold()`) and that "
            f"{dataset.audit_table} has the expected columns. Nothing was published.", outcome) from exc
    checks: list[CheckResult] = []
    page = None
    for identifier, vr in result.run_results.items():
        for r in vr.results:
            checks.extend(_to_checks(r, row_count))
        page = page or _docs_page(context, identifier)
    finished = datetime.now(UTC)
    if all(c.success for c in checks):
        verdict = "passed"
    elif any(not c.success and c.level == "error" for c in checks):
        verdict = "blocked"
    else:
        verdict = "warnings"
    outcome = AuditResult(run_id, dataset.id, verdict, checks, row_count, started, finished, page, url=url)
    record(outcome, url)  # first: the history keeps the run even if copying the Data Docs fails
    _publish_data_docs()
    log.info(outcome.summary())
    return outcome


def record(outcome: AuditResult, url: str | None = None) -> None:
    with warehouse.transaction(url) as conn:
        ensure_history_tables(conn)
        conn.execute(
            """insert into quality.validation_runs (run_id, dataset_id, started_at, finished_at, verdict,
                   checks_total, checks_passed, row_count, data_docs_path, error)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (outcome.run_id, outcome.dataset_id, outcome.started_at, outcome.finished_at, outcome.verdict,
             len(outcome.checks), sum(c.success for c in outcome.checks), outcome.row_count,
             outcome.data_docs_path, outcome.error),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """insert into quality.validation_results (run_id, dataset_id, expectation, column_name, level,
                       success, observed_value, unexpected_count, unexpected_share, examples, explication, kwargs,
                       validated_at, rule)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(outcome.run_id, outcome.dataset_id, c.expectation, c.column, c.level, c.success,
                  None if c.observed_value is None else str(c.observed_value), c.unexpected_count,
                  c.unexpected_share, json.dumps(c.examples, default=str), c.explication,
                  json.dumps(c.kwargs, default=str), outcome.finished_at, c.rule) for c in outcome.checks],
            )


def mark_published(run_id: str, conn, override_by: str | None = None, override_reason: str | None = None) -> None:
    """Called by publish_table inside its transaction: the run and its override commit with the swap."""
    conn.execute(
        "update quality.validation_runs set published = true, override_by = %s, override_reason = %s, "
        "override_at = case when %s::text is null then null else now() end where run_id = %s",
        (override_by, override_reason, override_by, run_id))


def overrides(dataset_id: str | None = None, url: str | None = None) -> list[dict]:
    """Publications made despite failing warning-level checks (for `territoire quality overrides`)."""
    with warehouse.connect(url) as conn:
        ensure_history_tables(conn)
        rows = conn.execute(
            """select r.run_id, r.dataset_id, r.finished_at, r.override_by, r.override_reason, r.override_at,
                      coalesce(array_agg(coalesce(v.rule, v.expectation)) filter (where not v.success), '{}')
               from quality.validation_runs r
               left join quality.validation_results v using (run_id)
               where r.override_by is not null and (%s::text is null or r.dataset_id = %s)
               group by 1, 2, 3, 4, 5, 6 order by r.finished_at desc""", (dataset_id, dataset_id)).fetchall()
    keys = ("run_id", "dataset_id", "validated_at", "override_by", "override_reason", "override_at",
            "failed_checks")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def check_publishable(outcome: AuditResult, *, override_by: str | None = None,
                      override_reason: str | None = None, url: str | None = None) -> None:
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
            f"The previously published version is untouched.", outcome)
    if override_by:
        _record_refused_override(outcome, override_by, override_reason, url)
    raise QualityGateFailed(
        f"{outcome.summary()}\nError-level checks cannot be overridden. The previously published version "
        f"of {outcome.dataset_id} is untouched. Details: "
        f"{quality_dir() / outcome.data_docs_path if outcome.data_docs_path else 'Data Docs not built'}", outcome)


def _record_refused_override(outcome: AuditResult, by: str, reason: str | None, url: str | None) -> None:
    """An override asked on an error-level failure is refused, and the attempt is kept in the history."""
    try:
        with warehouse.transaction(url or outcome.url) as conn:
            conn.execute(
                "update quality.validation_runs set override_by = %s, override_reason = %s, override_at = now() "
                "where run_id = %s", (by, f"REFUSÉ (contrôle bloquant) : {reason or ''}", outcome.run_id))
    except Exception:  # noqa: BLE001 - the refusal itself must still be raised
        log.exception("%s: could not record the refused override", outcome.run_id)
