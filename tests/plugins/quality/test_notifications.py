"""Quality alerts over real sockets on 127.0.0.1: a webhook receiver and a minimal SMTP server.

The audit result is built by hand (a failed IRVE check as the gate would report it): this file tests
the notifier and its configuration, the gate itself is tested in test_quality_gate.py.
"""

from __future__ import annotations

import email
import json
import socketserver
import threading
from datetime import UTC, datetime
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from territoire.notifications import QualityAlertNotifier, send_alert, webhook_url
from territoire.quality.gate import AuditResult, CheckResult, QualityGateFailed


def failed_outcome() -> AuditResult:
    now = datetime.now(UTC)
    check = CheckResult(
        expectation="unexpected_rows_expectation", column="longitude,latitude", level="error", success=False,
        observed_value="2927 ligne(s) en défaut", unexpected_count=2927, unexpected_share=1.0,
        examples=["49.60275 49.60275", "48.85 48.85"], rule="longitude_differente_latitude",
        explication="La longitude et la latitude sont différentes.")
    ok = CheckResult(expectation="expect_table_row_count_to_be_between", column=None, level="error", success=True)
    return AuditResult("fct_points_de_charge-x", "fct_points_de_charge", "blocked", [check, ok], 2927, now, now,
                       "data_docs/validations/fct_points_de_charge/x.html")


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        Hook.received.append((self.path, self.headers["Content-Type"],
                              json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for one message: EHLO, MAIL, RCPT, DATA, QUIT."""

    messages: list = []

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 localhost test SMTP")
        rcpt: list[str] = []
        while line := self.rfile.readline():
            cmd = line.decode().strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt.append(cmd.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                SMTPHandler.messages.append((rcpt, email.message_from_bytes(data, policy=policy.default)))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def servers():
    web = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    for s in (web, smtp):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield web.server_address[1], smtp.server_address[1]
    web.shutdown()
    smtp.shutdown()
    web.server_close()
    smtp.server_close()


def test_alerts_are_off_without_the_connection(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", raising=False)
    assert send_alert(failed_outcome()) == {}


def test_webhook_and_email(servers, monkeypatch):
    web_port, smtp_port = servers
    monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS",
                       f"http://127.0.0.1:{web_port}/alertes?email_to=data%40example.org&from_email=qualite%40example.org"
                       f"&smtp_conn_id=smtp_test")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST",
                       f"smtp://127.0.0.1:{smtp_port}?disable_ssl=true&disable_tls=true&retry_limit=0&timeout=5")
    outcome = failed_outcome()
    QualityAlertNotifier()({"exception": QualityGateFailed("blocked", outcome)})

    path, ctype, message = Hook.received[-1]
    assert path == "/alertes" and ctype.startswith("application/json")
    assert message["dataset"] == "fct_points_de_charge" and message["verdict"] == "blocked"
    [check] = message["controles_en_echec"]
    assert check == {"controle": "longitude_differente_latitude", "niveau": "bloquant", "colonne": "longitude,latitude",
                     "explication": "La longitude et la latitude sont différentes.",
                     "valeur_observee": "2927 ligne(s) en défaut", "lignes_en_defaut": 2927,
                     "exemples": ["49.60275 49.60275", "48.85 48.85"]}
    assert message["data_docs"].endswith("qualite/data_docs/validations/fct_points_de_charge/x.html")
    assert "La version publiée précédemment reste en ligne." in message["texte"]

    recipients, mail = SMTPHandler.messages[-1]
    assert recipients == ["data@example.org"]
    assert "fct_points_de_charge" in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    assert "49.60275 49.60275" in html and "longitude,latitude" in html


def test_webhook_url_from_connection_parts():
    class Conn:
        conn_type, host, port, schema = "https", "hooks.example.org", None, "services/T0/B0"
        extra_dejson = {"email_to": "x@example.org", "token": "abc"}

    assert webhook_url(Conn()) == "https://hooks.example.org/services/T0/B0?token=abc"


def test_other_task_failures_are_named_by_their_task(servers, monkeypatch):
    from territoire.notifications import failure_notifiers

    web_port, _ = servers
    monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", f"http://127.0.0.1:{web_port}/alertes")

    class TI:
        dag_id, task_id, run_id = "ingest_irve", "load_statique", "manual__2026-11-25"

    [notifier] = failure_notifiers()
    notifier({"exception": RuntimeError("irve/statique: HTTP 503 from the portal"), "ti": TI()})
    _, _, message = Hook.received[-1]
    assert message["titre"] == "Échec de la tâche ingest_irve.load_statique"
    assert "HTTP 503" in message["texte"] and message["controles_en_echec"] == []
    assert message["airflow"] == {"dag_id": "ingest_irve", "task_id": "load_statique", "run_id": "manual__2026-11-25"}


def test_the_daily_summary_goes_out_on_the_same_channels(servers, monkeypatch):
    """The operations summary (failed runs, late sources, a check that could not run) reaches the
    webhook and the e-mail of the alert connection, like the quality alerts."""
    from datetime import UTC, datetime

    from territoire import operations

    web_port, smtp_port = servers
    monkeypatch.setenv("AIRFLOW_CONN_TERRITOIRE_ALERTS",
                       f"http://127.0.0.1:{web_port}/exploitation?email_to=astreinte%40example.org&from_email=exploitation%40example.org"
                       f"&smtp_conn_id=smtp_test")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST",
                       f"smtp://127.0.0.1:{smtp_port}?disable_ssl=true&disable_tls=true&retry_limit=0&timeout=5")
    since = datetime(2026, 11, 30, 7, tzinfo=UTC)
    summary = operations.FailureSummary(
        since, [operations.AirflowRun("ingest_irve", "scheduled__2026-11-30", "failed", "2026-11-30", None,
                                      "2026-11-30T07:12:00+00:00")], [],
        [operations.MissedSchedule("ingest_sinoe", "@yearly", None, since)],
        schedules_error=None)
    sent = operations.send_summary(summary)
    assert sent["webhook"] in (200, 204) and sent["email"] == "astreinte@example.org"
    path, _, message = Hook.received[-1]
    assert path == "/exploitation" and "ingest_irve" in message["texte"] and message["retards"] == ["ingest_sinoe"]
    recipients, mail = SMTPHandler.messages[-1]
    assert recipients == ["astreinte@example.org"]
    assert mail["Subject"].startswith("Territoire : exécutions en échec depuis le 2026-11-30 07:00 UTC")
    body = mail.get_body(("html",)).get_content()
    assert "ingest_irve" in body and "ingest_sinoe (@yearly)" in body and "failed Airflow run" in body

    unchecked = operations.FailureSummary(since, [], [], schedules_error="ConnectError: refused")
    assert not unchecked.empty
    assert "Les retards n'ont pas pu être vérifiés" in unchecked.text("fr") and "refused" in unchecked.text("en")
