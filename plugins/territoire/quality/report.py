"""The managers' quality report: one static HTML page in French, `<publication>/qualite/rapport.html`.

It opens from disk with no server and no network: CSS and JavaScript are inline, the chart is an SVG
drawn by the inline script from the JSON embedded in the page. For each published dataset: its
status (publié / bloqué / avertissements), last successful publication, freshness of its sources
(last successful load in ingest.load_batches), checks passed at the last run, the pass rate over
the last runs, and the failing checks explained in plain words with a link to the Data Docs page
(relative link into qualite/data_docs/). Everything comes from the `quality` history.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from territoire import settings, warehouse
from territoire.datasets import Dataset, load_datasets
from territoire.quality.gate import ensure_history_tables

RUNS_IN_CHART = 20
MAX_FAILURES_SHOWN = 8

OVERVIEW_SQL = """
with last_run as (
    select distinct on (dataset_id) * from quality.validation_runs
    order by dataset_id, finished_at desc
),
last_published as (
    select dataset_id, max(finished_at) as published_at from quality.validation_runs
    where published group by dataset_id
)
select l.run_id, l.dataset_id, l.verdict, l.finished_at, l.checks_total, l.checks_passed, l.row_count,
       l.published, l.override_by, l.override_reason, l.data_docs_path, l.error, p.published_at
from last_run l left join last_published p using (dataset_id)
"""


def _sources_freshness(conn, dataset: Dataset) -> datetime | None:
    """Last successful load of any of the dataset's sources (a 'not changed' check counts: it was verified)."""
    exists = conn.execute("select to_regclass('ingest.load_batches') is not null").fetchone()[0]
    if not exists or not dataset.sources:
        return None
    return conn.execute(
        "select max(finished_at) from ingest.load_batches where source_id = any(%s) "
        "and status in ('succeeded', 'skipped_unchanged')", (list(dataset.sources),)).fetchone()[0]


def collect(url: str | None = None, datasets: dict[str, Dataset] | None = None,
            runs: int = RUNS_IN_CHART) -> list[dict[str, Any]]:
    """What the report shows, per dataset, read from the quality history."""
    datasets = datasets if datasets is not None else load_datasets()
    with warehouse.connect(url) as conn:
        ensure_history_tables(conn)
        conn.commit()
        cols = ("run_id", "dataset_id", "verdict", "finished_at", "checks_total", "checks_passed", "row_count",
                "published", "override_by", "override_reason", "data_docs_path", "error", "published_at")
        last = {r[1]: dict(zip(cols, r, strict=True)) for r in conn.execute(OVERVIEW_SQL).fetchall()}
        out = []
        for dataset in datasets.values():
            run = last.get(dataset.id)
            history = conn.execute(
                """select finished_at, checks_passed, checks_total, verdict, published from (
                       select * from quality.validation_runs where dataset_id = %s
                       order by finished_at desc limit %s) r order by finished_at""",
                (dataset.id, runs)).fetchall()
            failures = []
            if run:
                failures = [dict(zip(("name", "level", "column", "explication", "observed", "count", "examples"), r,
                                     strict=True)) for r in conn.execute(
                    """select coalesce(rule, expectation), level, column_name, explication, observed_value,
                              unexpected_count, examples
                       from quality.validation_results where run_id = %s and not success
                       order by level = 'error' desc, unexpected_count desc nulls last""",
                    (run["run_id"],)).fetchall()]
            out.append({
                "dataset": dataset, "run": run, "failures": failures,
                "history": [{"date": h[0].astimezone(UTC).strftime("%d/%m/%Y %H:%M"),
                             "taux": round(100.0 * h[1] / h[2], 1) if h[2] else 0.0,
                             "verdict": h[3], "publie": h[4]} for h in history],
                "freshness": _sources_freshness(conn, dataset),
            })
    return out


def status_of(entry: dict) -> tuple[str, str]:
    """(css class, French label) of a dataset's status, from its last run."""
    run = entry["run"]
    if run is None:
        return "inconnu", "jamais contrôlé"
    if run["verdict"] == "passed":
        return "publie", "publié"
    if run["verdict"] == "warnings":
        return "avertissement", "avertissements" + (" (publié par dérogation)" if run["published"] else "")
    return "bloque", "bloqué"


def _date(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d/%m/%Y à %H:%M UTC")


def _age(value: datetime | None, now: datetime) -> str:
    """'il y a 3 jours' beside a date: managers read ages faster than timestamps."""
    if value is None:
        return ""
    days = (now - value).days
    text = "aujourd'hui" if days < 1 else ("hier" if days == 1 else f"il y a {days} jours")
    return f" <span class='age'>({text})</span>"


def _level(level: str) -> str:
    return "bloquant" if level == "error" else "avertissement"


def _observed(f: dict) -> str:
    parts = []
    if f["observed"] not in (None, ""):
        parts.append(f"observé : {f['observed']}")
    examples = f["examples"] if isinstance(f["examples"], list) else json.loads(f["examples"] or "[]")
    if examples:
        parts.append("exemples : " + ", ".join(str(e) if not isinstance(e, dict) else
                                                  ", ".join(f"{k} = {v}" for k, v in e.items())
                                                  for e in examples[:5]))
    return " — ".join(parts)


def render(entries: list[dict], generated: datetime | None = None) -> str:
    generated = generated or datetime.now(UTC)
    counts = {"publie": 0, "avertissement": 0, "bloque": 0, "inconnu": 0}
    cards = []
    charts: dict[str, list] = {}
    for i, e in enumerate(entries):
        ds: Dataset = e["dataset"]
        css, label = status_of(e)
        counts[css] += 1
        run = e["run"] or {}
        chart_id = f"graphique-{i}"
        charts[chart_id] = e["history"]
        failures = "".join(
            f"<li class='{'erreur' if f['level'] == 'error' else 'alerte'}'><span class='niveau'>{_level(f['level'])}"
            f"</span> {escape(f['explication'] or f['name'])}"
            f"{' <span class=colonne>(colonne ' + escape(f['column']) + ')</span>' if f['column'] else ''}"
            f"<div class='observe'>{escape(_observed(f))}</div></li>"
            for f in e["failures"][:MAX_FAILURES_SHOWN])
        more = len(e["failures"]) - MAX_FAILURES_SHOWN
        docs = run.get("data_docs_path")
        docs_link = (f"<a class='docs' href='{escape(docs)}'>Voir le détail technique de ce contrôle</a>"
                     if docs else "")
        if e["failures"]:
            failing = (f"<h4>Ce qui ne va pas</h4><ul class='echecs'>{failures}</ul>"
                       + (f"<p>… et {more} autre(s) contrôle(s) en échec.</p>" if more > 0 else "") + docs_link)
        elif run.get("error"):
            failing = (f"<h4>Le contrôle n'a pas pu s'exécuter</h4><p class='observe'>{escape(run['error'][:400])}"
                       f"</p>{docs_link}")
        elif run:
            failing = f"<p class='ok'>Tous les contrôles sont respectés.</p>{docs_link}"
        else:
            failing = "<p>Ce jeu de données n'a encore jamais été contrôlé.</p>"
        override = (f"<p class='derogation'>Publié par dérogation par {escape(run['override_by'])} : "
                    f"{escape(run['override_reason'] or '')}</p>" if run.get("override_by") and run.get("published")
                    else "")
        checks = (f"{run['checks_passed']} / {run['checks_total']}" if run.get("checks_total") is not None else "—")
        cards.append(f"""
<section class="jeu {css}" id="jeu-{escape(ds.id)}" data-statut="{css}">
  <header><h3>{escape(ds.title)}</h3><span class="statut {css}">{escape(label)}</span></header>
  <p class="identifiant">{escape(ds.id)}</p>
  <dl>
    <div><dt>Dernière publication réussie</dt><dd>{_date(run.get('published_at'))}{_age(run.get('published_at'), generated)}</dd></div>
    <div><dt>Dernier contrôle</dt><dd>{_date(run.get('finished_at'))}</dd></div>
    <div><dt>Fraîcheur des sources (dernier chargement)</dt><dd>{_date(e['freshness'])}{_age(e['freshness'], generated)}</dd></div>
    <div><dt>Contrôles respectés</dt><dd class="score">{checks}</dd></div>
    <div><dt>Lignes</dt><dd>{'—' if run.get('row_count') is None else f"{run['row_count']:,}".replace(',', ' ')}</dd></div>
  </dl>
  {override}
  <figure><figcaption>Part des contrôles respectés lors des {len(e['history'])} dernier(s) contrôle(s)</figcaption>
    <svg class="graphique" id="{chart_id}" role="img" aria-label="Taux de contrôles respectés par exécution"
         viewBox="0 0 600 160" preserveAspectRatio="none"></svg></figure>
  {failing}
</section>""")
    data = json.dumps(charts, ensure_ascii=False).replace("</", "<\\/")
    summary = (f"<strong>{counts['publie']}</strong> publié(s), <strong>{counts['avertissement']}</strong> avec "
               f"avertissements, <strong>{counts['bloque']}</strong> bloqué(s)"
               + (f", {counts['inconnu']} jamais contrôlé(s)" if counts["inconnu"] else ""))
    return TEMPLATE.replace("{{GENERATED}}", _date(generated)).replace("{{SUMMARY}}", summary) \
        .replace("{{CARDS}}", "".join(cards) or "<p>Aucun jeu de données déclaré.</p>").replace("{{DATA}}", data)


def build_report(url: str | None = None, datasets: dict[str, Dataset] | None = None) -> Path:
    """Write `<publication>/qualite/rapport.html` (atomically) and return its path."""
    html = render(collect(url, datasets))
    folder = settings.publication_dir() / "qualite"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rapport.html"
    tmp = folder / f".rapport.{os.getpid()}.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


TEMPLATE = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Qualité des données publiées</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f5f6f8;
         color: #1e2430; }
  header.page { background: #1f3a5f; color: #fff; padding: 1.5rem 2rem; }
  header.page h1 { margin: 0 0 .3rem; font-size: 1.6rem; }
  header.page p { margin: .2rem 0; opacity: .9; }
  main { padding: 1.5rem 2rem; display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
         gap: 1.2rem; }
  .aide { grid-column: 1 / -1; background: #fff; border-radius: 8px; padding: .8rem 1.2rem; margin: 0;
          border-left: 4px solid #1f3a5f; }
  section.jeu { background: #fff; border-radius: 8px; padding: 1rem 1.2rem; box-shadow: 0 1px 3px rgba(0,0,0,.08);
                border-top: 6px solid #999; }
  section.jeu.publie { border-top-color: #2e7d32; } section.jeu.avertissement { border-top-color: #ed8b00; }
  section.jeu.bloque { border-top-color: #c62828; }
  section.jeu header { display: flex; justify-content: space-between; align-items: flex-start; gap: 1rem; }
  section.jeu h3 { margin: 0; font-size: 1.1rem; }
  .identifiant { color: #667; font-family: monospace; margin: .2rem 0 .6rem; }
  .statut { padding: .2rem .7rem; border-radius: 999px; color: #fff; font-weight: 600; white-space: nowrap;
            background: #777; }
  .statut.publie { background: #2e7d32; } .statut.avertissement { background: #ed8b00; }
  .statut.bloque { background: #c62828; }
  dl { display: grid; grid-template-columns: 1fr 1fr; gap: .4rem 1rem; margin: 0 0 .6rem; }
  dt { font-size: .8rem; color: #667; } dd { margin: 0; font-weight: 600; }
  figure { margin: .4rem 0; } figcaption { font-size: .8rem; color: #667; margin-bottom: .2rem; }
  svg.graphique { width: 100%; height: 160px; background: #fafbfc; border: 1px solid #e3e6ea; border-radius: 4px; }
  svg .barre.ok { fill: #2e7d32; } svg .barre.avertissement { fill: #ed8b00; } svg .barre.bloque { fill: #c62828; }
  svg .axe { stroke: #c9ced6; stroke-width: 1; } svg text { font-size: 11px; fill: #667; }
  h4 { margin: .8rem 0 .3rem; }
  ul.echecs { padding-left: 1.1rem; margin: 0 0 .5rem; } ul.echecs li { margin-bottom: .45rem; }
  .niveau { font-size: .75rem; text-transform: uppercase; font-weight: 700; padding: 0 .35rem; border-radius: 3px;
            color: #fff; background: #c62828; } li.alerte .niveau { background: #ed8b00; }
  .observe { color: #556; font-size: .85rem; overflow-wrap: anywhere; } .colonne { color: #667; font-size: .85rem; }
  .ok { color: #2e7d32; font-weight: 600; } .derogation { background: #fff4e0; padding: .4rem .6rem; border-radius: 4px; }
  a.docs { font-size: .9rem; } .age { font-weight: 400; color: #667; }
</style>
</head>
<body>
<header class="page">
  <h1>Qualité des données publiées</h1>
  <p id="resume">{{SUMMARY}}</p>
  <p>Rapport établi le {{GENERATED}}.</p>
</header>
<main>
<p class="aide">Avant chaque publication, chaque jeu de données passe une série de contrôles automatiques
(colonnes attendues, codes de communes existants, valeurs plausibles, données à jour, secret statistique…).
<b>Publié</b> : tous les contrôles sont respectés. <b>Avertissements</b> : seuls des contrôles non bloquants
échouent ; la publication demande l'accord explicite d'un responsable. <b>Bloqué</b> : un contrôle bloquant
échoue ; la nouvelle version n'est pas publiée et <b>la version précédente reste en ligne</b>.</p>
{{CARDS}}
</main>
<script id="donnees" type="application/json">{{DATA}}</script>
<script>
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("donnees").textContent);
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  Object.keys(data).forEach(function (id) {
    var svg = document.getElementById(id), runs = data[id];
    if (!svg) { return; }
    var W = 600, H = 160, left = 34, bottom = 18, top = 8, plotH = H - bottom - top;
    [0, 50, 100].forEach(function (p) {
      var y = top + plotH * (1 - p / 100);
      svg.appendChild(el("line", {"class": "axe", x1: left, x2: W, y1: y, y2: y}));
      svg.appendChild(el("text", {x: 2, y: y + 4}, p + " %"));
    });
    if (!runs.length) {
      svg.appendChild(el("text", {x: left + 10, y: H / 2}, "Aucun contrôle enregistré"));
      return;
    }
    var slot = (W - left) / runs.length, width = Math.max(3, Math.min(40, slot * 0.7));
    runs.forEach(function (r, i) {
      var h = Math.max(1, plotH * r.taux / 100), x = left + i * slot + (slot - width) / 2;
      var cls = r.verdict === "passed" ? "ok" : (r.verdict === "warnings" ? "avertissement" : "bloque");
      var bar = el("rect", {"class": "barre " + cls, x: x, y: top + plotH - h, width: width, height: h,
                            "data-taux": r.taux});
      bar.appendChild(el("title", {}, r.date + " : " + r.taux + " % des contrôles respectés" +
                         (r.publie ? " (publié)" : " (non publié)")));
      svg.appendChild(bar);
    });
    svg.setAttribute("data-dessine", String(runs.length));
  });
})();
</script>
</body>
</html>
"""
