"""The managers' quality report: static pages in French under `<publication>/qualite/`.

- `rapport.html`: per dataset, its status, each failing check written as a problem with its
  consequence, the action and who acts (producer or data team) and two or three readable examples;
  "depuis le dernier rapport" (new problems, resolved problems, versions not published); the pass
  rate over time on a dated axis (server-rendered SVG) with the same values in a table; the data's
  own date beside its load date; times in Europe/Paris;
- `controles/<run_id>.html`: the platform's own detail page of one validation run (every check,
  observed values, examples): no Great Expectations Data Docs, nothing loaded from a CDN;
- `etat.json`: what the report shows, for the next report (what changed since) and the portal;
- `territoire.css`: the stylesheet shared with the portal.

No JavaScript: the pages open from disk, offline, with JavaScript off. Everything comes from the
`quality` history, `ingest.load_batches` and the audited tables.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from territoire import settings, warehouse
from territoire.datasets import Dataset, load_datasets
from territoire.portal import charts, ui
from territoire.quality import advice
from territoire.quality.gate import ensure_history_tables

RUNS_IN_CHART = 20
SQL = Path(__file__).resolve().parent / "sql"
STATUS_LABELS = {
    "publie": "publié", "avertissement": "avertissements", "bloque": "bloqué", "erreur": "contrôle impossible",
    "inconnu": "jamais contrôlé",
}
VERDICT_LABELS = {"passed": "tout respecté", "warnings": "avertissements", "blocked": "bloqué",
                  "error": "contrôle impossible"}
RUN_COLUMNS = ("run_id", "dataset_id", "verdict", "finished_at", "checks_total", "checks_passed", "row_count",
               "published", "override_by", "override_reason", "error")
RESULT_COLUMNS = ("run_id", "expectation", "rule", "level", "success", "column", "explication", "observed",
                  "count", "share", "examples", "kwargs")


def _sql(name: str) -> str:
    return (SQL / f"{name}.sql").read_text(encoding="utf-8")


def _table_exists(conn, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def _sources_loaded_at(conn, dataset: Dataset) -> datetime | None:
    """Last successful load of any of the dataset's sources (a 'not changed' check counts: it was verified)."""
    if not dataset.sources or not _table_exists(conn, "ingest.load_batches"):
        return None
    return conn.execute(_sql("sources_loaded_at"), (list(dataset.sources),)).fetchone()[0]


def _data_date(conn, dataset: Dataset) -> str | None:
    """The data's own date: the newest value of its temporal column (a year, a date), as text."""
    column = (dataset.temporal_coverage or {}).get("column") or (dataset.quality.get("freshness") or {}).get("column")
    for table in (dataset.audit_table, dataset.published_table):
        if column and _table_exists(conn, table):
            exists = conn.execute(
                "select 1 from information_schema.columns where table_schema || '.' || table_name = %s "
                "and column_name = %s", (table, column)).fetchone()
            if exists:
                value = conn.execute(f'select max("{column}") from {table}').fetchone()[0]
                return None if value is None else _date_text(value)
    end = (dataset.temporal_coverage or {}).get("end")
    return _date_text(end) if end else None


def _date_text(value) -> str:
    """A date as 31/12/2026; a year or any other value as it is."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y") if hasattr(value, "strftime") else str(value)


def _problem(row: dict, dataset: Dataset) -> dict[str, Any]:
    """One failing check as a manager reads it."""
    tip = advice.advise(rule=row["rule"], expectation=row["expectation"], observed=row["observed"])
    name = row["rule"] or row["expectation"]
    return {
        "cle": f"{dataset.id}|{name}|{row['column'] or ''}",
        "controle": name, "niveau": row["level"], "colonne": row["column"],
        "probleme": _problem_sentence(row), "regle": row["explication"] or name,
        "consequence": tip.consequence, "action": tip.action, "acteur": tip.actor,
        "acteur_libelle": advice.ACTORS[tip.actor], "lignes": row["count"], "part": row["share"],
        "exemples": advice.readable_examples(row["examples"]),
    }


def _problem_sentence(row: dict) -> str:
    """What is wrong, in numbers: '1 204 lignes (3,2 %) ne respectent pas la règle'."""
    observed = row["observed"]
    if isinstance(observed, str) and observed.startswith("the check could not run"):
        return "Le contrôle n'a pas pu s'exécuter."
    count = row["count"]
    if count:
        share = f" ({ui.pourcent(row['share'])} des lignes)" if row["share"] else ""
        return f"{ui.nombre(count)} ligne(s){share} ne respectent pas la règle."
    if observed not in (None, ""):
        return f"Valeur observée : {observed}."
    return "La règle n'est pas respectée."


def _status(run: dict | None) -> str:
    if run is None:
        return "inconnu"
    return {"passed": "publie", "warnings": "avertissement", "blocked": "bloque"}.get(run["verdict"], "erreur")


def _runs(conn, dataset_id: str, limit: int) -> list[dict]:
    rows = conn.execute(_sql("runs"), (dataset_id, limit)).fetchall()
    return [dict(zip(RUN_COLUMNS, r, strict=True)) for r in rows]


def _results(conn, run_ids: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {run_id: [] for run_id in run_ids}
    for r in conn.execute(_sql("results"), (run_ids,)).fetchall():
        out[r[0]].append(dict(zip(RESULT_COLUMNS, r, strict=True)))
    return out


def _dataset_state(conn, dataset: Dataset, runs: int) -> tuple[dict, dict[str, list[dict]]]:
    history = _runs(conn, dataset.id, runs)  # newest first
    results = _results(conn, [r["run_id"] for r in history])
    last = history[0] if history else None
    published_at = conn.execute(
        "select max(finished_at) from quality.validation_runs where dataset_id = %s and published",
        (dataset.id,)).fetchone()[0]
    problems = [_problem(r, dataset) for r in results.get(last["run_id"], []) if not r["success"]] if last else []
    state = {
        "id": dataset.id, "titre": dataset.title, "statut": _status(last),
        "statut_libelle": STATUS_LABELS[_status(last)] + (
            " (non publié)" if last and last["verdict"] in ("passed", "warnings") and not last["published"] else ""),
        "dernier_controle": _run_state(last) if last else None,
        "publie_le": _iso(published_at), "charge_le": _iso(_sources_loaded_at(conn, dataset)),
        "date_donnees": _data_date(conn, dataset), "problemes": problems,
        "historique": [_run_state(r) for r in reversed(history)],
    }
    return state, {r["run_id"]: results[r["run_id"]] for r in history}


def _run_state(run: dict) -> dict:
    total = run["checks_total"] or 0
    return {
        "run_id": run["run_id"], "fini_le": _iso(run["finished_at"]), "verdict": run["verdict"],
        "verdict_libelle": VERDICT_LABELS.get(run["verdict"], run["verdict"]), "publie": bool(run["published"]),
        "controles": total, "respectes": run["checks_passed"],
        "taux": round(100.0 * run["checks_passed"] / total, 1) if total else 0.0,
        "lignes": run["row_count"], "derogation_par": run["override_by"],
        "derogation_motif": run["override_reason"], "erreur": (run["error"] or "")[:600] or None,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def collect(url: str | None = None, datasets: dict[str, Dataset] | None = None, runs: int = RUNS_IN_CHART,
            previous: dict | None = None, now: datetime | None = None) -> tuple[dict, dict[str, list[dict]]]:
    """(state of the report, every check of every run shown) read from the quality history."""
    datasets = datasets if datasets is not None else load_datasets()
    now = now or datetime.now(UTC)
    entries, checks = [], {}
    with warehouse.connect(url) as conn:
        ensure_history_tables(conn)
        conn.commit()
        for dataset in datasets.values():
            entry, run_checks = _dataset_state(conn, dataset, runs)
            entries.append(entry)
            checks.update(run_checks)
    state = {"genere_le": now.astimezone(UTC).isoformat(), "jeux": entries}
    state["depuis"] = changes_since(previous, entries)
    return state, checks


def changes_since(previous: dict | None, entries: list[dict]) -> dict:
    """New problems, resolved problems and versions not published since the previous report."""
    if not previous:
        return {"precedent": None, "nouveaux": [], "resolus": [], "non_publiees": []}
    since = ui.as_datetime(previous.get("genere_le"))
    before = {p["cle"]: (e, p) for e in previous.get("jeux", []) for p in e.get("problemes", [])}
    now = {p["cle"]: (e, p) for e in entries for p in e["problemes"]}
    checked_again = {e["id"] for e in entries if e["dernier_controle"]
                     and ui.as_datetime(e["dernier_controle"]["fini_le"]) > since}

    def item(pair):
        entry, problem = pair
        return {"jeu": entry["id"], "titre": entry["titre"], "regle": problem["regle"],
                "niveau": problem["niveau"], "colonne": problem["colonne"]}

    not_published = [{"jeu": e["id"], "titre": e["titre"], **run} for e in entries for run in e["historique"]
                     if not run["publie"] and ui.as_datetime(run["fini_le"]) > since]
    return {
        "precedent": previous.get("genere_le"),
        "nouveaux": [item(v) for k, v in now.items() if k not in before],
        "resolus": [item(v) for k, v in before.items() if k not in now and v[0]["id"] in checked_again],
        "non_publiees": not_published,
    }


def trend(entry: dict) -> charts.Chart:
    points = [(ui.as_datetime(r["fini_le"]), r["taux"], r["publie"],
               f"{ui.paris(r['fini_le'])} : {ui.nombre(r['taux'])} % des contrôles respectés, "
               f"{'publié' if r['publie'] else 'non publié'}") for r in entry["historique"]]
    localised = [(p[0].astimezone(ui.PARIS), *p[1:]) for p in points]
    return charts.dated_line(localised, y_max=100, suffix=" %", date_format="%d/%m/%y %H:%M")


def render(state: dict, *, css_href: str = "territoire.css", nav: list[dict] | None = None,
           detail_href: str = "controles/{run_id}.html", home_href: str = "rapport.html") -> str:
    counts = {key: sum(e["statut"] == key for e in state["jeux"]) for key in STATUS_LABELS}
    return ui.render("rapport.html", state=state, counts=counts, trend=trend, css_href=css_href, nav=nav or [],
                     detail_href=detail_href, home_href=home_href, page_title="Qualité des données publiées")


def render_run(entry: dict, run: dict, checks: list[dict], *, css_href: str = "../territoire.css",
               nav: list[dict] | None = None, report_href: str = "../rapport.html") -> str:
    rows = [{**c, "exemples": advice.readable_examples(c["examples"], limit=5),
             "tip": None if c["success"] else advice.advise(rule=c["rule"], expectation=c["expectation"],
                                                             observed=c["observed"])} for c in checks]
    return ui.render("controle.html", entry=entry, run=run, checks=rows, css_href=css_href, nav=nav or [],
                     report_href=report_href, home_href=report_href, actors=advice.ACTORS,
                     page_title=f"Contrôle du {ui.paris(run['fini_le'])} — {entry['titre']}")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _detail_state(checks: list[dict]) -> list[dict]:
    """The checks of one run as the portal's run page reads them (`controles/<run_id>.json`)."""
    return [{k: v for k, v in c.items() if k != "kwargs"} for c in checks]


def build_report(url: str | None = None, datasets: dict[str, Dataset] | None = None,
                 now: datetime | None = None) -> Path:
    """Write `<publication>/qualite/rapport.html`, its run pages and `etat.json`; return the report's path."""
    folder = settings.publication_dir() / "qualite"
    (folder / "controles").mkdir(parents=True, exist_ok=True)
    state_path = folder / "etat.json"
    previous = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else None
    state, checks = collect(url, datasets, previous=previous, now=now)
    shutil.copyfile(ui.STYLESHEET, folder / "territoire.css")
    for entry in state["jeux"]:
        for run in entry["historique"]:
            run_checks = checks.get(run["run_id"], [])
            _write(folder / "controles" / f"{run['run_id']}.html", render_run(entry, run, run_checks))
            _write(folder / "controles" / f"{run['run_id']}.json",
                   json.dumps(_detail_state(run_checks), ensure_ascii=False, default=str))
    shown = {run["run_id"] for entry in state["jeux"] for run in entry["historique"]}
    for old in (folder / "controles").iterdir():  # pages of runs the report no longer shows
        if old.suffix in (".html", ".json") and old.stem not in shown:
            old.unlink(missing_ok=True)
    path = folder / "rapport.html"
    _write(path, render(state))
    _write(state_path, json.dumps(state, ensure_ascii=False, indent=1, default=str))
    return path
