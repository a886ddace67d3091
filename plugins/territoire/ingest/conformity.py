"""Conformity report of a batch: what a data producer needs to fix their file, in French.

For every load the loader writes, beside the batch in the landing zone,

    <landing>/<source_id>/<resource>/reports/batch-<id>.html   readable report (summary, errors by
                                                                rule and column, first examples)
    <landing>/<source_id>/<resource>/reports/batch-<id>.csv    every rejected cell, one a line
                                                                (UTF-8 with BOM, `;`: opens in Excel)

and records both paths in the ledger (`ingest.load_batches.details -> 'report'`). The report is built
from the ledger and the quarantine (`ingest.rejected_rows`), so it can be rebuilt at any time with
`write_batch_report(conn, batch_id)`.
"""

from __future__ import annotations

import csv
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from territoire import settings

EXAMPLES_PER_GROUP = 5

RULES_FR = {
    "required": ("Valeur obligatoire manquante", "Renseigner la valeur dans chaque ligne."),
    "type": ("Valeur qui n'est pas du type attendu",
             "Écrire les nombres avec un point décimal sans séparateur de milliers (1234.5), les dates au "
             "format AAAA-MM-JJ, les booléens true/false."),
    "pattern": ("Valeur qui ne respecte pas le format attendu",
                "Vérifier la valeur (longueur, caractères autorisés) par rapport au motif du schéma."),
    "enum": ("Valeur hors de la liste autorisée",
             "Utiliser exactement l'une des valeurs prévues par le schéma (casse et accents compris)."),
    "minimum": ("Valeur trop petite", "Vérifier l'unité et l'ordre de grandeur de la valeur."),
    "maximum": ("Valeur trop grande", "Vérifier l'unité et l'ordre de grandeur (ex. un pourcentage 0-1)."),
    "minLength": ("Texte trop court", "Compléter la valeur."),
    "maxLength": ("Texte trop long", "Raccourcir la valeur."),
    "format": ("Format invalide (e-mail, URL, UUID)", "Corriger la valeur selon le format indiqué."),
    "unique": ("Clé en double", "Chaque ligne doit avoir une clé distincte : supprimer ou corriger les doublons."),
    "field-count": ("Nombre de champs incorrect",
                    "La ligne n'a pas autant de champs que l'en-tête : vérifier le séparateur et les guillemets."),
    "encoding": ("Ligne dans un autre encodage",
                 "Le fichier mélange deux encodages : le ré-enregistrer entièrement en UTF-8."),
    "json": ("JSON invalide", "Corriger la syntaxe de l'enregistrement JSON."),
    "nul-byte": ("Octet NUL dans un texte", "Le fichier est probablement endommagé : le ré-exporter depuis la source."),
    "geometry": ("Géométrie invalide", "Coordonnées en nombres finis, longitude puis latitude en degrés WGS 84."),
}


def rule_label(rule: str) -> tuple[str, str]:
    """(what is wrong, what to do) in French for a rule name such as `type:date` or `pattern`."""
    base = rule.split(":", 1)[0]
    label, advice = RULES_FR.get(base, (rule, ""))
    if ":" in rule:
        label = f"{label} ({rule.split(':', 1)[1]})"
    return label, advice


@dataclass
class ReportData:
    """Everything a report shows; built from the ledger (`from_batch`) or by `territoire validate`."""

    title: str
    file: str
    rows_read: int
    rows_rejected: int
    rows_loaded: int | None = None
    status: str = ""
    schema: str | None = None
    error: str | None = None
    batch_id: int | None = None
    source_id: str = ""
    resource: str = ""
    started_at: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    headers: dict[str, str] = field(default_factory=dict)   # normalised column -> header as published
    columns_missing_required: list[str] = field(default_factory=list)
    columns_missing: list[str] = field(default_factory=list)
    columns_unknown: list[str] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)   # by column and rule, with examples

    @property
    def valid(self) -> bool:
        return self.rows_rejected == 0 and not self.columns_missing_required and not self.error

    def column_label(self, column: str | None) -> str:
        if not column:
            return "(ligne entière)"
        return self.headers.get(column, column)


def rejection_groups(conn, batch_id: int, examples: int = EXAMPLES_PER_GROUP) -> list[dict[str, Any]]:
    """Rejections grouped by column and rule (most frequent first), each with its first examples."""
    rows = conn.execute(
        """select column_name, rule, count(*) as n, count(distinct line_number) as lines,
                  (array_agg(line_number order by line_number))[1:%s],
                  (array_agg(value order by line_number))[1:%s],
                  (array_agg(coalesce(raw_line, '') order by line_number))[1:%s],
                  min(message)
           from ingest.rejected_rows where batch_id = %s
           group by column_name, rule order by n desc, column_name, rule""",
        (examples, examples, examples, batch_id)).fetchall()
    groups = []
    for column, rule, n, lines, ex_lines, ex_values, ex_raw, message in rows:
        groups.append({
            "column": column, "rule": rule, "count": n, "lines": lines, "message": message,
            "examples": [{"line": ln, "value": v, "raw": r} for ln, v, r in zip(ex_lines, ex_values, ex_raw, strict=True)],
        })
    return groups


def from_batch(conn, batch_id: int) -> ReportData:
    row = conn.execute(
        """select source_id, resource, raw_table, coalesce(landing_path, location), rows_read, rows_loaded,
                  rows_rejected, status, error, details, started_at
           from ingest.load_batches where batch_id = %s""", (batch_id,)).fetchone()
    if row is None:
        raise KeyError(f"no batch {batch_id} in ingest.load_batches")
    source_id, resource, table, file, read, loaded, rejected, status, error, details, started = row
    details = details or {}
    if rejected is None:
        rejected = conn.execute("select count(distinct line_number) from ingest.rejected_rows where batch_id = %s",
                                (batch_id,)).fetchone()[0]
    return ReportData(
        title=f"{source_id} / {resource}", file=file or "", rows_read=read or 0, rows_rejected=rejected or 0,
        rows_loaded=loaded, status=status, schema=details.get("schema"), error=error, batch_id=batch_id,
        source_id=source_id, resource=resource, started_at=str(started)[:19], encoding=details.get("encoding"),
        delimiter=details.get("delimiter"), headers=details.get("headers") or {},
        columns_missing=details.get("columns_missing") or [],
        columns_unknown=[(details.get("headers") or {}).get(c, c) for c in details.get("columns_unknown") or []],
        groups=rejection_groups(conn, batch_id),
    )


def report_dir(source_id: str, resource: str) -> Path:
    return settings.landing_dir() / source_id / resource / "reports"


def write_batch_report(conn, batch_id: int) -> dict[str, Path]:
    """Write batch-<id>.html and .csv beside the batch and reference them in the ledger."""
    data = from_batch(conn, batch_id)
    folder = report_dir(data.source_id, data.resource)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, csv_path = folder / f"batch-{batch_id}.html", folder / f"batch-{batch_id}.csv"
    _atomic_write(html_path, render_html(data))
    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    write_csv(conn, batch_id, tmp, data.headers)
    os.replace(tmp, csv_path)
    paths = {"html": html_path, "csv": csv_path}
    conn.execute(
        "update ingest.load_batches set details = coalesce(details, '{}'::jsonb) || jsonb_build_object('report', "
        "%s::jsonb) where batch_id = %s", (json.dumps({k: str(v) for k, v in paths.items()}), batch_id))
    return paths


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv(conn, batch_id: int, path: Path, headers: dict[str, str] | None = None) -> int:
    """Every rejected cell of the batch, in line order. Returns how many."""
    headers = headers or {}
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["ligne", "colonne", "regle", "probleme", "valeur", "message", "ligne_brute"])
        # A server-side cursor (inside a transaction) streams a big quarantine instead of holding it.
        with conn.transaction(), conn.cursor(name=f"report_{batch_id}") as cur:
            cur.execute("""select line_number, column_name, rule, value, message, raw_line from ingest.rejected_rows
                           where batch_id = %s order by line_number, column_name, rule""", (batch_id,))
            for line, column, rule, value, message, raw in cur:
                w.writerow([line, headers.get(column, column) if column else "", rule, rule_label(rule)[0],
                            value if value is not None else "", message, raw or ""])
                n += 1
    return n


def render_text(data: ReportData, examples: int = 3) -> str:
    """A plain-text version (French) for the terminal: the `territoire validate` output."""
    out = [f"Fichier : {data.file}"]
    if data.schema:
        out.append(f"Schéma : {data.schema}")
    if data.encoding:
        out.append(f"Encodage : {data.encoding} ; séparateur : {data.delimiter!r}")
    valid_rows = data.rows_read - data.rows_rejected
    out.append(f"Lignes lues : {data.rows_read} ; valides : {valid_rows} ; en erreur : {data.rows_rejected}")
    if data.columns_missing_required:
        out.append(f"Colonnes obligatoires absentes : {', '.join(data.columns_missing_required)}")
    if data.columns_missing:
        out.append(f"Colonnes facultatives absentes (avertissement) : {', '.join(data.columns_missing)}")
    if data.columns_unknown:
        out.append(f"Colonnes inconnues du schéma (avertissement) : {', '.join(data.columns_unknown)}")
    if data.error:
        out.append(f"Erreur : {data.error}")
    if data.groups:
        out.append("")
        out.append("Erreurs par règle et colonne :")
        width = max(len(data.column_label(g["column"])) for g in data.groups)
        for g in data.groups:
            out.append(f"  {g['count']:>6}  {data.column_label(g['column']):<{width}}  {g['rule']:<16} "
                       f"{rule_label(g['rule'])[0]}")
        out.append("")
        out.append("Premiers exemples :")
        for g in data.groups:
            for ex in g["examples"][:examples]:
                value = ex["value"] if ex["value"] is not None else (ex["raw"] or "")
                out.append(f"  ligne {ex['line']}, {data.column_label(g['column'])} [{g['rule']}] : "
                           f"{value!r} - {g['message']}")
    out.append("")
    out.append("VALIDE" if data.valid else "NON VALIDE")
    return "\n".join(out)


def render_html(data: ReportData) -> str:
    e = html.escape
    status_fr = {"succeeded": "chargé", "failed": "refusé", "running": "en cours",
                 "skipped_unchanged": "inchangé (déjà chargé)"}.get(data.status, data.status)
    share = (100 * data.rows_rejected / data.rows_read) if data.rows_read else 0.0
    parts = [
        "<!doctype html>", '<html lang="fr"><head><meta charset="utf-8">',
        f"<title>Rapport de conformité - {e(data.title)}"
        + (f" - lot {data.batch_id}" if data.batch_id else "") + "</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#17693a}.ko{color:#b3261e}"
        "code{background:#f6f6f6;padding:0 .2rem}</style></head><body>",
        f"<h1>Rapport de conformité : {e(data.title)}</h1>",
        f'<p class="{"ok" if data.valid else "ko"}"><strong>'
        + ("Aucune erreur : le fichier est conforme." if data.valid else
           f"{data.rows_rejected} ligne(s) sur {data.rows_read} ({share:.1f} %) ne respectent pas le schéma.")
        + "</strong></p>",
        "<table>",
        f"<tr><th>Fichier</th><td><code>{e(data.file)}</code></td></tr>",
    ]
    if data.batch_id:
        parts.append(f"<tr><th>Lot</th><td>{data.batch_id} ({e(status_fr)}), {e(data.started_at)}</td></tr>")
    if data.schema:
        parts.append(f"<tr><th>Schéma</th><td><code>{e(data.schema)}</code></td></tr>")
    if data.encoding:
        parts.append(f"<tr><th>Encodage, séparateur</th><td>{e(data.encoding)}, <code>{e(repr(data.delimiter))}"
                     "</code></td></tr>")
    parts.append(f"<tr><th>Lignes lues</th><td>{data.rows_read}</td></tr>")
    if data.rows_loaded is not None:
        parts.append(f"<tr><th>Lignes chargées</th><td>{data.rows_loaded}</td></tr>")
    parts.append(f"<tr><th>Lignes en erreur</th><td>{data.rows_rejected}</td></tr></table>")
    if data.error:
        parts.append(f'<p class="ko">Erreur : {e(data.error)}</p>')
    for label, cols in (("Colonnes obligatoires absentes", data.columns_missing_required),
                        ("Colonnes du schéma absentes du fichier (facultatives)", data.columns_missing),
                        ("Colonnes du fichier inconnues du schéma", data.columns_unknown)):
        if cols:
            parts.append(f"<p><strong>{e(label)} :</strong> {e(', '.join(cols))}</p>")
    if data.groups:
        parts.append("<h2>Erreurs par colonne et par règle</h2><table><tr><th>Colonne</th><th>Problème</th>"
                     "<th>Cellules</th><th>Que faire ?</th><th>Règle</th></tr>")
        for g in data.groups:
            label, advice = rule_label(g["rule"])
            parts.append(f"<tr><td>{e(data.column_label(g['column']))}</td><td>{e(label)}<br><small>"
                         f"{e(g['message'] or '')}</small></td><td>{g['count']}</td><td>{e(advice)}</td>"
                         f"<td><code>{e(g['rule'])}</code></td></tr>")
        parts.append("</table><h2>Premiers exemples</h2><table><tr><th>Ligne</th><th>Colonne</th>"
                     "<th>Valeur</th><th>Problème</th></tr>")
        for g in data.groups:
            for ex in g["examples"]:
                value = ex["value"] if ex["value"] is not None else (ex["raw"] or "")
                parts.append(f"<tr><td>{ex['line']}</td><td>{e(data.column_label(g['column']))}</td>"
                             f"<td><code>{e(str(value))}</code></td><td>{e(g['message'] or '')}</td></tr>")
        parts.append("</table><p>Les numéros de ligne sont ceux du fichier (l'en-tête est la ligne 1). "
                     "La liste complète est dans le fichier CSV du même nom.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
