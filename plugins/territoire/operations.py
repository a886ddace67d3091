"""Running the platform day to day: backfills, missed schedules, and the daily summary of failures.

- `backfill(source_id, start, end)`: reprocess a source for a range of logical dates, idempotently.
  Locally (`via="local"`, the default) each logical date of the source's schedule re-runs the same
  function the Airflow task runs (`pipeline.ingest_resource`), one date after the other; with
  `via="airflow"` it asks Airflow for a backfill (`airflow backfill create`, executed by the
  scheduler, one run at a time). Sources are snapshots: a date whose file did not change is a
  `skipped_unchanged` batch in the ledger, so running the same backfill twice changes nothing.
- `missed_schedules(last_success, now)`: ingestion DAGs whose last successful run is older than their
  schedule allows (scheduler down, DAG paused, runs failing for days).
- `failed_runs_summary(since)`: the failed Airflow runs (public REST API, the metadata database, or the
  `airflow` CLI) and
  the failed batches of the ledger since a date, as a text in French and English; `send_summary`
  logs it and sends it through the alert connection (`territoire_alerts`) when it exists.

The command line: `territoire backfill` and `territoire summary`. See docs/operations.md.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from territoire import warehouse
from territoire.catalog import load_catalog

log = logging.getLogger(__name__)

PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
           "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
# The DAGs that are not generated per source (their failures belong in the summary too).
FIXED_DAGS = ("transform_warehouse", "publish_open_data", "operations_daily_summary")
API_CONN_ID = "territoire_airflow_api"


class OperationsError(RuntimeError):
    """An operation could not run; the message says which and what to do."""


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cron(schedule: str | None) -> str:
    if not schedule:
        raise OperationsError("the source has no schedule (manual only): give the dates to reprocess explicitly")
    return PRESETS.get(schedule, schedule)


def logical_dates(schedule: str | None, start: datetime | str, end: datetime | str) -> list[datetime]:
    """The schedule's logical dates in [start, end] (both inclusive), as `airflow backfill create` counts them."""
    from croniter import croniter

    start, end = _utc(start), _utc(end)
    if end < start:
        raise OperationsError(f"backfill: the end {end:%Y-%m-%d} is before the start {start:%Y-%m-%d}")
    it = croniter(_cron(schedule), start - timedelta(seconds=1))
    dates = []
    while (d := it.get_next(datetime)) <= end:
        dates.append(d.astimezone(UTC))
    return dates


@dataclass
class BackfillReport:
    source_id: str
    via: str
    dates: list[datetime]
    batches: list[dict] = field(default_factory=list)  # one per (date, raw table)
    airflow_output: str = ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.batches:
            out[b["status"]] = out.get(b["status"], 0) + 1
        return out

    def text(self) -> str:
        if self.via == "airflow":
            return (f"backfill of {self.source_id}: {len(self.dates)} logical date(s) handed to Airflow\n"
                    f"{self.airflow_output.strip()}")
        return (f"backfill of {self.source_id}: {len(self.dates)} logical date(s), "
                + ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items())))


def backfill(source_id: str, start: datetime | str, end: datetime | str, *, via: str = "local",
             url: str | None = None, force: bool = False, dry_run: bool = False,
             env: dict[str, str] | None = None) -> BackfillReport:
    """Reprocess `source_id` for every logical date of its schedule between `start` and `end`.

    `via="local"`: in this process, date by date (what `territoire backfill` does by default).
    `via="airflow"`: `airflow backfill create --dag-id ingest_<source> --reprocess-behavior completed
    --max-active-runs 1`; the scheduler runs them (needs the Airflow environment `env`).
    `force=True` reloads even unchanged files (new batches with the same content).
    """
    # The Airflow environment may name its own catalog (TERRITOIRE_CATALOG): the dates come from that one.
    catalog_path = (env or {}).get("TERRITOIRE_CATALOG")
    source = load_catalog(Path(catalog_path) if catalog_path else None).get(source_id)
    dates = logical_dates(source.schedule, start, end)
    report = BackfillReport(source_id, via, dates)
    if via == "airflow":
        report.airflow_output = _airflow_backfill(f"ingest_{source_id}", _utc(start), _utc(end), dry_run, env,
                                                  {"force": True} if force else None)
        return report
    if via != "local":
        raise OperationsError(f"backfill: via must be 'local' or 'airflow', got {via!r}")
    from territoire.pipeline import ingest_resource

    for date in dates:
        for resource in source.resources:
            if dry_run:
                report.batches.append({"logical_date": date.isoformat(), "resource": resource.name,
                                       "status": "dry_run"})
                continue
            for summary in ingest_resource(source_id, resource.name, force=force, url=url):
                report.batches.append({"logical_date": date.isoformat(), **summary})
        log.info("backfill %s: logical date %s done", source_id, date.isoformat())
    log.info("%s", report.text())
    return report


def _airflow_exe() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _airflow_backfill(dag_id: str, start: datetime, end: datetime, dry_run: bool, env: dict | None,
                      conf: dict | None) -> str:
    cmd = [_airflow_exe(), "backfill", "create", "--dag-id", dag_id, "--from-date", start.isoformat(),
           "--to-date", end.isoformat(), "--reprocess-behavior", "completed", "--max-active-runs", "1"]
    if conf:
        cmd += ["--dag-run-conf", json.dumps(conf)]
    if dry_run:
        cmd.append("--dry-run")
    proc = subprocess.run(cmd, env=env or dict(os.environ), capture_output=True, text=True)
    if proc.returncode != 0:
        raise OperationsError(f"`airflow backfill create --dag-id {dag_id}` failed (exit {proc.returncode}): "
                              f"{_tail(proc.stderr or proc.stdout)}")
    return proc.stdout


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Reading Airflow's runs: the public REST API (from a task), else the CLI (from a scheduler host).


@dataclass(frozen=True)
class AirflowRun:
    dag_id: str
    run_id: str
    state: str
    logical_date: str | None
    start_date: str | None
    end_date: str | None


def _api_session(conn) -> tuple[Any, str]:
    """An httpx client and the API base URL, authenticated with a JWT from `/auth/token`."""
    import httpx

    scheme = "https" if (conn.conn_type or "").lower() == "https" else "http"
    host = conn.host or "localhost"
    base = host.rstrip("/") if host.startswith(("http://", "https://")) else \
        f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    client = httpx.Client(timeout=30)
    token = client.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password})
    token.raise_for_status()
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client, base


def airflow_runs_api(state: str, since: datetime, conn=None) -> list[AirflowRun]:
    """Runs in `state` that ended since `since`, over every DAG (`/api/v2/dags/~/dagRuns`)."""
    from territoire.notifications import _connection

    conn = conn or _connection(API_CONN_ID)
    if conn is None:
        raise OperationsError(f"no Airflow connection {API_CONN_ID!r}: cannot read Airflow's runs over its API")
    client, base = _api_session(conn)
    runs, offset = [], 0
    with client:
        while True:
            r = client.get(f"{base}/api/v2/dags/~/dagRuns", params={
                "state": state, "end_date_gte": since.isoformat(), "limit": 100, "offset": offset,
                "order_by": "end_date"})
            r.raise_for_status()
            page = r.json().get("dag_runs", [])
            runs += [AirflowRun(d["dag_id"], d["dag_run_id"], d["state"], d.get("logical_date"), d.get("start_date"),
                                d.get("end_date")) for d in page]
            if len(page) < 100:
                return runs
            offset += 100


def airflow_runs_cli(state: str, since: datetime, dag_ids: Iterable[str], env: dict | None = None
                     ) -> list[AirflowRun]:
    """The same through `airflow dags list-runs <dag> --state <state> -o json` (needs the metadata database).

    The CLI's `-s/--start-date` filters on the *logical* date, which says nothing of when a run happened
    (a backfill or `dags test` of an old date runs today): the runs are filtered here on when they ended
    (or, not ended yet, started, or were due)."""
    runs = []
    for dag_id in dag_ids:
        proc = subprocess.run([_airflow_exe(), "dags", "list-runs", dag_id, "--state", state, "-o", "json"],
                              env=env or dict(os.environ),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise OperationsError(f"`airflow dags list-runs {dag_id}` failed (exit {proc.returncode}): "
                                  f"{_tail(proc.stderr)}")
        for d in _json_array(proc.stdout):
            when = d.get("end_date") or d.get("start_date") or d.get("run_after")
            if when and datetime.fromisoformat(when) < since:
                continue
            runs.append(AirflowRun(d["dag_id"], d["run_id"], d["state"], d.get("logical_date") or d.get("run_after"),
                                   d.get("start_date"), d.get("end_date")))
    return runs


def airflow_runs_metadata(state: str, since: datetime, sql_alchemy_conn: str) -> list[AirflowRun]:
    """Runs in `state` that ended (or, not ended, started or were due) since `since`, read straight from
    Airflow's metadata database: what `territoire summary` uses on the machine that runs Airflow. No
    Airflow import and no subprocess, so it answers in a second."""
    import sqlalchemy as sa

    if sql_alchemy_conn.startswith("sqlite:///") and not Path(sql_alchemy_conn.removeprefix("sqlite:///")).is_file():
        raise OperationsError(f"no Airflow metadata database at {sql_alchemy_conn.removeprefix('sqlite:///')}: "
                              "run `make demo` or `make airflow` first (or set AIRFLOW_HOME)")
    engine = sa.create_engine(sql_alchemy_conn)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "select dag_id, run_id, state, logical_date, start_date, end_date, run_after from dag_run "
                "where state = :state"), {"state": state}).fetchall()
    except sa.exc.SQLAlchemyError as exc:
        raise OperationsError(f"cannot read Airflow's runs in {engine.url.render_as_string()}: "
                              f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]} "
                              "(an empty or older database: run `make demo` or `airflow db migrate`)") from exc
    finally:
        engine.dispose()
    runs = []
    for dag_id, run_id, run_state, logical, start, end, due in rows:
        when = end or start or due
        if when is not None and _utc(str(when)) < since:
            continue
        runs.append(AirflowRun(dag_id, run_id, run_state, _iso(logical or due), _iso(start), _iso(end)))
    return runs


def _iso(value) -> str | None:
    return None if value is None else _utc(str(value)).isoformat()


def _json_array(out: str) -> list[dict]:
    """The JSON array in the CLI's output (log lines, `[info ]`-style, may come before it)."""
    decoder = json.JSONDecoder()
    starts = [0] + [i + 1 for i, c in enumerate(out) if c == "\n"]
    for pos in starts:
        text = out[pos:].lstrip()
        if text.startswith("["):
            try:
                value, _ = decoder.raw_decode(text)
            except json.JSONDecodeError:
                continue
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return value
    return []  # "No data found": nothing in that state


def known_dag_ids() -> list[str]:
    return [f"ingest_{s.id}" for s in load_catalog()] + list(FIXED_DAGS)


def airflow_runs(state: str, since: datetime, *, dag_ids: Iterable[str] | None = None,
                 env: dict | None = None) -> list[AirflowRun]:
    """The REST API when the connection `territoire_airflow_api` exists, else the CLI."""
    from territoire.notifications import _connection

    conn = _connection(API_CONN_ID) if env is None else None
    if conn is not None:
        return airflow_runs_api(state, since, conn)
    return airflow_runs_cli(state, since, dag_ids or known_dag_ids(), env)


# ---------------------------------------------------------------------------------------------
# Missed schedules.


@dataclass(frozen=True)
class MissedSchedule:
    dag_id: str
    schedule: str
    last_success: datetime | None
    expected_by: datetime


def missed_schedules(last_success: dict[str, datetime | None], now: datetime | None = None,
                     grace: timedelta = timedelta(hours=6)) -> list[MissedSchedule]:
    """Ingestion DAGs whose last success is older than the previous scheduled date (plus `grace`).

    A run for logical date D starts at the *next* tick after D, so a DAG is late when no run has
    succeeded since the last tick that is more than `grace` ago. Sources without a schedule are
    never late. `last_success` maps dag_id -> end of its last successful run (None: never).
    """
    from croniter import croniter

    now = _utc(now or datetime.now(UTC))
    late = []
    for source in load_catalog():
        if not source.schedule:
            continue
        dag_id = f"ingest_{source.id}"
        tick = croniter(_cron(source.schedule), now - grace).get_prev(datetime).astimezone(UTC)
        last = last_success.get(dag_id)
        if last is None or _utc(last) < tick:
            late.append(MissedSchedule(dag_id, source.schedule, _utc(last) if last else None, tick + grace))
    return late


# ---------------------------------------------------------------------------------------------
# The daily summary.


@dataclass
class FailureSummary:
    since: datetime
    runs: list[AirflowRun]
    batches: list[dict]
    late: list[MissedSchedule] = field(default_factory=list)
    airflow_error: str | None = None
    # Why the missed-schedule check could not run (the successful runs could not be read), if so.
    schedules_error: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.runs or self.batches or self.late or self.airflow_error or self.schedules_error)

    def text(self, lang: str = "fr") -> str:
        fr = lang == "fr"
        since = self.since.strftime("%Y-%m-%d %H:%M UTC")
        lines = [(f"Territoire : exécutions en échec depuis le {since}" if fr
                  else f"Territoire: failed runs since {since}")]
        if self.empty:
            lines.append("Aucun échec, aucun retard." if fr else "No failure, nothing late.")
        if self.runs:
            lines.append(f"{len(self.runs)} exécution(s) Airflow en échec :" if fr
                          else f"{len(self.runs)} failed Airflow run(s):")
            lines += [f"- {r.dag_id} {r.run_id} ({r.logical_date or '-'}, {'fin' if fr else 'ended'} "
                      f"{r.end_date or '-'})" for r in self.runs]
        if self.batches:
            lines.append(f"{len(self.batches)} chargement(s) en échec (ingest.load_batches) :" if fr
                          else f"{len(self.batches)} failed load(s) (ingest.load_batches):")
            lines += [f"- {b['source_id']}/{b['resource']} batch {b['batch_id']} ({b['finished_at']:%Y-%m-%d %H:%M}) : "
                      f"{b['error']}" for b in self.batches]
        if self.late:
            lines.append("Sources en retard sur leur calendrier :" if fr else "Sources behind their schedule:")
            for m in self.late:
                last = m.last_success.strftime("%Y-%m-%d %H:%M") if m.last_success else ("jamais" if fr else "never")
                lines.append(f"- {m.dag_id} ({m.schedule}) : {'dernier succès' if fr else 'last success'} {last}")
        if self.airflow_error:
            lines.append(("Les exécutions Airflow n'ont pas pu être lues : " if fr
                          else "Airflow's runs could not be read: ") + self.airflow_error)
        if self.schedules_error:
            lines.append(("Les retards n'ont pas pu être vérifiés (dernières réussites illisibles) : " if fr
                          else "Missed schedules could not be checked (last successes unreadable): ")
                         + self.schedules_error)
        if not self.empty:
            lines.append("Que faire : docs/operations.md" if fr else "What to do: docs/operations.md")
        return "\n".join(lines)

    def as_message(self) -> dict:
        return {"titre": self.text("fr").splitlines()[0], "texte": self.text("fr"), "text_en": self.text("en"),
                "echecs_airflow": [r.__dict__ for r in self.runs],
                "chargements_en_echec": [{**b, "finished_at": str(b["finished_at"])} for b in self.batches],
                "retards": [m.dag_id for m in self.late]}


def failed_batches(since: datetime, url: str | None = None) -> list[dict]:
    """Failed batches of the ledger since `since` (first line of the error, 300 characters at most)."""
    with warehouse.connect(url or warehouse.get_url()) as conn:
        exists = conn.execute("select to_regclass('ingest.load_batches') is not null").fetchone()[0]
        if not exists:
            return []
        rows = conn.execute(
            """select batch_id, source_id, resource, raw_table, finished_at, error from ingest.load_batches
               where status = 'failed' and coalesce(finished_at, started_at) >= %s order by batch_id""",
            (since,)).fetchall()
    return [{"batch_id": b, "source_id": s, "resource": r, "raw_table": t, "finished_at": f,
             "error": (e or "").strip().splitlines()[0][:300] if e else ""} for b, s, r, t, f, e in rows]


def failed_runs_summary(since: datetime | str, *, url: str | None = None,
                        runs: Callable[[str, datetime], list[AirflowRun]] | None = None,
                        last_success: dict[str, datetime | None] | None = None,
                        now: datetime | None = None, schedules_error: str | None = None) -> FailureSummary:
    """Failed Airflow runs and failed ledger batches since `since`, and the sources behind schedule.

    `runs(state, since)` reads Airflow (default: `airflow_runs`); when Airflow cannot be read the
    summary still carries the ledger and says so. `last_success` (dag_id -> datetime) enables the
    missed-schedule check; the operations DAG derives it from the successful runs.
    """
    since = _utc(since)
    reader = runs or (lambda state, s: airflow_runs(state, s))
    failed: list[AirflowRun] = []
    error = None
    try:
        failed = reader("failed", since)
    except Exception as exc:  # noqa: BLE001 - the ledger part of the summary must still go out
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    late = missed_schedules(last_success, now) if last_success is not None else []
    return FailureSummary(since, failed, failed_batches(since, url), late, error, schedules_error)


def last_successes(since: datetime, runs: Callable[[str, datetime], list[AirflowRun]] | None = None
                   ) -> dict[str, datetime | None]:
    reader = runs or (lambda state, s: airflow_runs(state, s))
    out: dict[str, datetime | None] = {f"ingest_{s.id}": None for s in load_catalog()}
    for r in reader("success", since):
        if r.dag_id in out and r.end_date:
            end = _utc(r.end_date)
            if out[r.dag_id] is None or end > out[r.dag_id]:
                out[r.dag_id] = end
    return out


def send_summary(summary: FailureSummary, conn_id: str | None = None) -> dict:
    """Log the summary (always), then send it on the alert connection's channels, like the alerts: POST
    to its webhook (its host), e-mail to its `email_to` extra (through `smtp_conn_id`)."""
    from html import escape

    from territoire import notifications

    for lang in ("fr", "en"):
        log.info("daily summary (%s):\n%s", lang, summary.text(lang))
    sent: dict[str, Any] = {"logged": True}
    conn = notifications._connection(conn_id or notifications.CONN_ID)
    if conn is None:
        return sent
    extras = conn.extra_dejson or {}
    message = summary.as_message()
    if conn.host:
        url = notifications.webhook_url(conn)
        try:
            sent["webhook"] = notifications.post_webhook(url, message, float(extras.get("timeout", 10)))
        except Exception as exc:  # noqa: BLE001 - a summary that cannot be sent must not fail silently: logged
            log.error("daily summary: webhook %s failed: %s", url.split("?")[0], exc)
            sent["webhook_error"] = str(exc)
    if extras.get("email_to"):
        html = (f"<h2>{escape(message['titre'])}</h2><pre>{escape(summary.text('fr'))}</pre>"
                f"<hr><pre>{escape(summary.text('en'))}</pre>")
        sent.update(notifications._send_email(message, extras, None, html=html))
    return sent


def failure_message(context: dict) -> dict:
    """The alert for a failed task: which DAG, task, run and try, and the error's first lines."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    dag_id, task_id = getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?")
    error = "\n".join(str(exc).strip().splitlines()[:5])[:2000] if exc is not None else ""
    title = f"Territoire : échec de {dag_id}.{task_id}"
    text = (f"{title}\nexécution {getattr(ti, 'run_id', '?')}, tentative {getattr(ti, 'try_number', '?')}\n{error}\n"
            f"Que faire : docs/operations.md (When a load fails / When a quality gate fails)")
    return {"titre": title, "texte": text, "dag_id": dag_id, "task_id": task_id,
            "run_id": getattr(ti, "run_id", None), "erreur": error}


def notify_failure(context: dict, conn_id: str | None = None) -> dict:
    """`on_failure_callback` for any task: logs the alert and POSTs it to `territoire_alerts` when it exists."""
    from territoire import notifications

    message = failure_message(context)
    log.error("%s", message["texte"])
    conn = notifications._connection(conn_id or notifications.CONN_ID)
    if conn is None or not conn.host:
        return {"logged": True}
    url = notifications.webhook_url(conn)
    try:
        return {"logged": True, "webhook": notifications.post_webhook(url, message)}
    except Exception as exc:  # noqa: BLE001 - the alert must not hide the task's own failure
        log.error("failure alert: webhook %s failed: %s", url.split("?")[0], exc)
        return {"logged": True, "webhook_error": str(exc)}
