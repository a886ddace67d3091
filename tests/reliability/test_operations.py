"""Operations: idempotent backfills, the daily summary of failures (French and English, logged and sent
to the alert webhook), and the missed-schedule check."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from reliability_helpers import table_fingerprints

from territoire import operations, warehouse
from territoire.catalog import load_catalog
from territoire.ingest.loader import Loader, LoadError

pytestmark = [pytest.mark.integration]


def _ledger(url: str, source_id: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("select resource, status from ingest.load_batches where source_id = %s "
                            "order by batch_id", (source_id,)).fetchall()


def test_the_same_backfill_twice_leaves_one_load_and_skips(fresh_database, var_dir):
    url = fresh_database
    source = load_catalog().get("sinoe")
    resources = [r.name for r in source.resources]
    first = operations.backfill("sinoe", "2024-01-01", "2026-01-01", url=url)
    assert [d.date().isoformat() for d in first.dates] == ["2024-01-01", "2025-01-01", "2026-01-01"]
    raw_after_first = table_fingerprints(url, ("raw",))
    assert raw_after_first and all(n > 0 for n, _ in raw_after_first.values())
    second = operations.backfill("sinoe", "2024-01-01", "2026-01-01", url=url)
    ledger = _ledger(url, "sinoe")
    # Per resource: one succeeded batch (the first date of the first backfill), then only skips.
    for name in resources:
        statuses = [s for r, s in ledger if r == name]
        assert statuses == ["succeeded"] + ["skipped_unchanged"] * 5, statuses
    assert second.counts() == {"skipped_unchanged": 3 * len(resources)}
    assert table_fingerprints(url, ("raw",)) == raw_after_first
    assert "3 logical date(s)" in second.text()


def test_backfill_refuses_a_reversed_range_and_unknown_source():
    with pytest.raises(operations.OperationsError, match="before the start"):
        operations.backfill("sinoe", "2026-03-01", "2026-01-01")
    with pytest.raises(KeyError, match="unknown source 'nope'"):
        operations.backfill("nope", "2026-01-01", "2026-02-01")


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_daily_summary_lists_failed_loads_and_runs_in_both_languages_logs_and_sends_it(
        fresh_database, var_dir, tmp_path, caplog, monkeypatch):
    url = fresh_database
    since = datetime.now(UTC) - timedelta(minutes=5)
    resource = load_catalog().get("cog").resource("regions")
    header_only = tmp_path / "regions.csv"
    header_only.write_text("REG,CHEFLIEU,TNCC,NCC,NCCENR,LIBELLE\n", encoding="utf-8")
    with pytest.raises(LoadError):
        Loader(url, progress=lambda m: None).load(resource, header_only)

    runs = [operations.AirflowRun("ingest_cog", "scheduled__2026-01-01T00:00:00+00:00", "failed",
                                  "2026-01-01T00:00:00+00:00", "2026-11-25T07:00:00+00:00", "2026-11-25T07:01:00+00:00")]
    summary = operations.failed_runs_summary(since, url=url, runs=lambda state, s: runs if state == "failed" else [])
    fr, en = summary.text("fr"), summary.text("en")
    assert "1 chargement(s) en échec" in fr and "cog/regions batch" in fr and "no data rows" in fr
    assert "1 failed load(s)" in en and "1 failed Airflow run(s)" in en and "ingest_cog" in en
    assert "1 exécution(s) Airflow en échec" in fr
    # Older failures are not in a summary that starts after them.
    assert operations.failed_runs_summary(datetime.now(UTC) + timedelta(minutes=1), url=url,
                                          runs=lambda state, s: []).batches == []

    # Airflow unreachable: the summary still goes out with the ledger, and says what it could not read.
    def unreachable(state, s):
        raise operations.OperationsError("no Airflow connection 'territoire_airflow_api'")
    degraded = operations.failed_runs_summary(since, url=url, runs=unreachable)
    assert degraded.batches and "n'ont pas pu être lues" in degraded.text("fr")

    caplog.set_level(logging.INFO, logger="territoire.operations")
    # Airflow's logging setup may stop propagation to the root logger: listen on the module's logger.
    logging.getLogger("territoire.operations").addHandler(caplog.handler)
    monkeypatch.delenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", raising=False)
    assert operations.send_summary(summary) == {"logged": True}
    assert "cog/regions batch" in caplog.text and "failed load(s)" in caplog.text
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS",
                           f"http://127.0.0.1:{server.server_address[1]}/hooks/ops?canal=exploitation")
        sent = operations.send_summary(summary)
    finally:
        server.shutdown()
    logging.getLogger("territoire.operations").removeHandler(caplog.handler)
    assert sent == {"logged": True, "webhook": 200}
    path, message = _Receiver.received[-1]
    assert path == "/hooks/ops?canal=exploitation"
    assert message["texte"] == fr and message["text_en"] == en
    assert message["chargements_en_echec"][0]["resource"] == "regions"


def test_missed_schedules_from_the_last_successful_runs():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    dag_ids = [f"ingest_{s.id}" for s in load_catalog() if s.schedule]
    fresh = dict.fromkeys(dag_ids, now - timedelta(hours=1))
    assert operations.missed_schedules(fresh, now) == []
    stale = {**fresh, "ingest_irve": now - timedelta(days=30), "ingest_cog": None}  # weekly, yearly
    late = {m.dag_id: m for m in operations.missed_schedules(stale, now)}
    assert set(late) == {"ingest_irve", "ingest_cog"}
    assert late["ingest_cog"].last_success is None
    # Weekly (Sundays 00:00, 6 h grace): a success after Sunday 22 Nov is on time, one before it is late.
    assert operations.missed_schedules({**fresh, "ingest_irve": datetime(2026, 11, 22, 3, tzinfo=UTC)}, now) == []
    assert [m.dag_id for m in operations.missed_schedules(
        {**fresh, "ingest_irve": datetime(2026, 11, 21, 23, tzinfo=UTC)}, now)] == ["ingest_irve"]
    text = operations.FailureSummary(now, [], [], list(late.values())).text("en")
    assert "ingest_irve (@weekly)" in text and "never" in text


def test_a_failed_task_alert_names_the_task_and_the_error_and_reaches_the_webhook(monkeypatch):
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="ingest_cog", task_id="load_regions", run_id="manual__2026-11-25", try_number=3)
    context = {"ti": ti, "exception": LoadError("cog/regions (regions.csv): the file has a header but no data rows")}
    monkeypatch.delenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", raising=False)
    assert operations.notify_failure(context) == {"logged": True}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", f"http://127.0.0.1:{server.server_address[1]}/hooks/ops")
        assert operations.notify_failure(context) == {"logged": True, "webhook": 200}
    finally:
        server.shutdown()
    path, message = _Receiver.received[-1]
    assert path == "/hooks/ops"
    assert message["titre"] == "Territoire : échec de ingest_cog.load_regions"
    assert "no data rows" in message["texte"] and "tentative 3" in message["texte"]
