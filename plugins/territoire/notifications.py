"""Alerts when a dataset fails its quality gate: an Airflow notifier (webhook, and email through smtp).

Configuration is an Airflow connection, `territoire_alerts` (off when it does not exist, as in the demo):

    AIRFLOW_CONN_TERRITOIRE_ALERTS='http://chat.example.org:8080/hooks/qualite?email_to=data@example.org'

- the webhook receives a JSON POST at the connection's URL (conn type `http` or `https`; host, port,
  and the path in `schema`); extras other than the keys below are sent as query parameters;
- `email_to` (extra, comma-separated): also send an email through Airflow's smtp provider, using the
  connection named by the extra `smtp_conn_id` (default `smtp_default`); skipped when that
  connection does not exist;
- `timeout` (extra, seconds, default 10).

In a DAG: `@task(on_failure_callback=QualityAlertNotifier())` on the task that calls
`territoire.pipeline.publish_dataset`; the notifier reads the failed audit from the exception
(`QualityGateFailed.outcome`). Outside Airflow, `send_alert(outcome)` sends the same message.
The message names the dataset, each failing check with its column, observed value and examples,
and the Data Docs page that details them.
"""

from __future__ import annotations

import json
import logging
from html import escape
from typing import Any
from urllib.parse import urlencode

from airflow.sdk import BaseNotifier

from territoire import settings

log = logging.getLogger(__name__)

CONN_ID = "territoire_alerts"
RESERVED_EXTRAS = {"email_to", "smtp_conn_id", "timeout", "from_email"}
LEVELS = {"error": "bloquant", "warning": "avertissement"}
VERDICTS = {"blocked": "bloqué", "warnings": "avertissements", "error": "contrôle impossible",
            "passed": "publié"}


def _connection(conn_id: str):
    """The Airflow connection, or None when it is not defined (alerts are then off)."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException, or no secrets backend at all
        log.info("alerts: connection %r not available (%s): no alert sent", conn_id, exc)
        return None


def webhook_url(conn) -> str:
    scheme = "https" if (conn.conn_type or "").lower() == "https" else "http"
    host = conn.host or ""
    if host.startswith(("http://", "https://")):
        base = host.rstrip("/")
    else:
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    path = (conn.schema or "").strip("/")
    query = {k: v for k, v in (conn.extra_dejson or {}).items() if k not in RESERVED_EXTRAS}
    return base + (f"/{path}" if path else "") + (f"?{urlencode(query)}" if query else "")


def build_message(outcome=None, *, dataset_id: str | None = None, error: str | None = None,
                  context: dict | None = None) -> dict[str, Any]:
    """The alert as a dict: what failed, where, what was observed, and where to read more."""
    failures = []
    docs = None
    if outcome is not None:
        dataset_id = outcome.dataset_id
        for c in outcome.failed:
            failures.append({
                "controle": c.name, "niveau": LEVELS.get(c.level, c.level), "colonne": c.column,
                "explication": c.explication, "valeur_observee": c.observed_value,
                "lignes_en_defaut": c.unexpected_count, "exemples": c.examples[:5],
            })
        if outcome.data_docs_path:
            docs = str(settings.publication_dir() / "qualite" / outcome.data_docs_path)
    verdict = VERDICTS.get(getattr(outcome, "verdict", None), "échec")
    ti = (context or {}).get("ti") or (context or {}).get("task_instance")
    if outcome is None and dataset_id is None and ti is not None:
        # a task failed for another reason than a quality check (a load, dbt...): say which
        title = f"Échec de la tâche {getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
    else:
        title = f"Qualité des données : {dataset_id or 'jeu de données inconnu'} n'a pas été publié ({verdict})"
    lines = [title]
    for f in failures:
        where = f" (colonne {f['colonne']})" if f["colonne"] else ""
        lines.append(f"- [{f['niveau']}] {f['explication'] or f['controle']}{where} : observé {f['valeur_observee']}"
                     + (f" ; exemples : {', '.join(map(str, f['exemples']))}" if f["exemples"] else ""))
    if error and not failures:
        lines.append(str(error)[:2000])
    if outcome is not None or dataset_id is not None:
        lines.append("La version publiée précédemment reste en ligne.")
    if docs:
        lines.append(f"Détails (Data Docs) : {docs}")
    return {
        "dataset": dataset_id, "verdict": getattr(outcome, "verdict", "error"), "run_id": getattr(outcome, "run_id", None),
        "titre": title, "texte": "\n".join(lines), "controles_en_echec": failures, "data_docs": docs,
        "rapport": str(settings.publication_dir() / "qualite" / "rapport.html"),
        "airflow": {"dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
                    "run_id": getattr(ti, "run_id", None)} if ti is not None else None,
    }


def post_webhook(url: str, message: dict, timeout: float = 10.0) -> int:
    import httpx

    response = httpx.post(url, content=json.dumps(message, ensure_ascii=False, default=str).encode(),
                          headers={"Content-Type": "application/json; charset=utf-8"}, timeout=timeout)
    response.raise_for_status()
    return response.status_code


def _html(message: dict) -> str:
    items = "".join(
        f"<li><b>{escape(f['niveau'])}</b> — {escape(f['explication'] or f['controle'])}"
        f"{' (colonne ' + escape(str(f['colonne'])) + ')' if f['colonne'] else ''} : observé "
        f"{escape(str(f['valeur_observee']))}"
        f"{'<br>exemples : ' + escape(', '.join(map(str, f['exemples']))) if f['exemples'] else ''}</li>"
        for f in message["controles_en_echec"])
    docs = f"<p>Détails : {escape(message['data_docs'])}</p>" if message.get("data_docs") else ""
    return (f"<h2>{escape(message['titre'])}</h2><ul>{items}</ul>"
            f"<p>La version publiée précédemment reste en ligne.</p>{docs}")


def send_alert(outcome=None, *, conn_id: str = CONN_ID, error: str | None = None, dataset_id: str | None = None,
               context: dict | None = None) -> dict[str, Any]:
    """Send the alert on every configured channel. Returns what was sent (empty when alerts are off)."""
    conn = _connection(conn_id)
    if conn is None:
        return {}
    message = build_message(outcome, dataset_id=dataset_id, error=error, context=context)
    sent: dict[str, Any] = {"message": message}
    extras = conn.extra_dejson or {}
    if conn.host:
        url = webhook_url(conn)
        try:
            sent["webhook"] = post_webhook(url, message, float(extras.get("timeout", 10)))
        except Exception as exc:  # noqa: BLE001 - an alert that cannot be sent must not hide the failure
            log.error("alerts: webhook %s failed: %s", url.split("?")[0], exc)
            sent["webhook_error"] = str(exc)
    if extras.get("email_to"):
        sent.update(_send_email(message, extras, context))
    return sent


def _send_email(message: dict, extras: dict, context: dict | None, html: str | None = None) -> dict[str, Any]:
    smtp_conn_id = extras.get("smtp_conn_id", "smtp_default")
    if _connection(smtp_conn_id) is None:
        return {"email_error": f"smtp connection {smtp_conn_id!r} not defined"}
    try:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifier = SmtpNotifier(to=[a.strip() for a in str(extras["email_to"]).split(",") if a.strip()],
                                from_email=extras.get("from_email"), subject=message["titre"],
                                html_content=html if html is not None else _html(message),
                                smtp_conn_id=smtp_conn_id)
        notifier.notify(context or {})
        return {"email": extras["email_to"]}
    except Exception as exc:  # noqa: BLE001 - see post_webhook
        log.error("alerts: email through %s failed: %s", smtp_conn_id, exc)
        return {"email_error": str(exc)}


def failure_notifiers() -> list[BaseNotifier]:
    """The `on_failure_callback` list used by territoire.dag_factory (cheap: nothing is looked up here)."""
    return [QualityAlertNotifier()]


class QualityAlertNotifier(BaseNotifier):
    """Airflow notifier for `on_failure_callback`: alerts with the failed audit of the task's exception."""

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = CONN_ID, dataset_id: str | None = None):
        super().__init__()
        self.conn_id = conn_id
        self.dataset_id = dataset_id

    def notify(self, context) -> None:
        exc = context.get("exception")
        outcome = getattr(exc, "outcome", None)
        send_alert(outcome, conn_id=self.conn_id, error=None if exc is None else str(exc),
                   dataset_id=self.dataset_id, context=context)
