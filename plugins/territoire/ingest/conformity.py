"""Conformity report of a batch: what a data producer needs to fix their file, in French.

For every load the loader writes, beside the batch in the landing zone,

    <landing>/<source_id>/<resource>/reports/batch-<id>.html   readable report: the verdict, a summary by
                                                                rule and column, the rules applied (and
                                                                those that could not run, with why), then
                                                                the first examples, each with its message
    <landing>/<source_id>/<resource>/reports/batch-<id>.csv    every rejected cell, one a line (UTF-8 with
                                                                BOM, `;`, formulas neutralised: opens in a
                                                                spreadsheet)
    <landing>/<source_id>/<resource>/reports/batch-<id>.json   the same in the shape of a Validata /
                                                                frictionless report (`valid`, `stats`,
                                                                `tasks[].errors[]` with rowNumber,
                                                                fieldName, cell, type, message, note)

and records the paths in the ledger (`ingest.load_batches.details -> 'report'`). The report is built from
the ledger, the quarantine (`ingest.rejected_rows`) and the rules' ledger (`ingest.rule_runs`), so it can
be rebuilt at any time with `write_batch_report(conn, batch_id)`. `territoire validate` renders the same
report for a file checked before it is sent.

Every problem is explained by the rule that found it, where that rule is defined: the Table Schema types
and constraints (`territoire.ingest.schema`, `explain_rule`), the reader's rules
(`territoire.ingest.parsing.READER_RULES`) and the business rules (`territoire.ingest.rules.RULES`) each
carry their title, explanation and fix.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from territoire import settings
from territoire.csvsafe import neutralise

EXAMPLES_PER_GROUP = 5
REPORT_FORMAT = "territoire-conformite/1 (forme du rapport Validata / frictionless)"

LEVEL_FR = {"error": "erreur", "warning": "avertissement"}


def explain(rule: str) -> dict[str, str]:
    """Title, explanation, fix and origin of a rule name (`type:date`, `pattern`, `siret`...), asked of the
    rule's own definition: a business rule, a Table Schema type or constraint, or the reader."""
    from territoire.ingest.parsing import READER_RULES
    from territoire.ingest.rules import RULES
    from territoire.ingest.schema import explain_rule

    if rule in RULES:
        r = RULES[rule]
        return {"title": r.title, "explanation": r.explanation, "fix": r.fix, "origin": r.origin}
    schema = explain_rule(rule)
    if schema:
        title, explanation, fix = schema
        origin = "schéma de données (Table Schema)"
    else:
        title, explanation, fix = READER_RULES.get(rule, (rule, "", ""))
        origin = "lecture du fichier"
    return {"title": title, "explanation": explanation, "fix": fix, "origin": origin}


def rule_label(rule: str) -> tuple[str, str]:
    """(what is wrong, what to do) in French for a rule name."""
    e = explain(rule)
    return e["title"], e["fix"]


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
    groups: list[dict[str, Any]] = field(default_factory=list)   # by rule and column, with examples
    rules_applied: list[dict[str, Any]] = field(default_factory=list)
    rules_not_run: list[dict[str, Any]] = field(default_factory=list)
    # Header drift (case, accents, spaces, a renamed column) and repeated labels: {kind, message, ...}.
    header_warnings: list[dict[str, Any]] = field(default_factory=list)
    in_validation: bool = False   # `territoire validate`: a file checked before sending, not a load

    @property
    def valid(self) -> bool:
        return self.rows_rejected == 0 and not self.columns_missing_required and not self.error

    @property
    def errors(self) -> int:
        return sum(g["count"] for g in self.groups if g["level"] == "error")

    @property
    def warnings(self) -> int:
        """Every warning: the flagged cells and rows, and the header's."""
        return sum(g["count"] for g in self.groups if g["level"] == "warning") + len(self.header_warnings)

    @property
    def warning_lines(self) -> int:
        return sum(g["lines"] for g in self.groups if g["level"] == "warning")

    @property
    def truncated(self) -> list[dict[str, Any]]:
        """The groups of which the quarantine keeps only the first N (more were counted)."""
        return [g for g in self.groups if g["truncated"]]

    def column_label(self, column: str | None) -> str:
        if not column:
            return "(ligne entière)"
        return ", ".join(self.headers.get(c.strip(), c.strip()) for c in column.split(","))


def rejection_groups(conn, batch_id: int, details: dict | None = None,
                     examples: int = EXAMPLES_PER_GROUP) -> list[dict[str, Any]]:
    """Problems grouped by rule and column (errors first, then by frequency), each with its first examples
    and each example with its own message. The counts are the ledger's (`details.rejections`: every
    rejected row, schema checks and business rules alike); the examples come from the quarantine, which
    keeps the first N of each (rule, column) only: `kept` says how many it holds, `truncated` whether
    some were counted without being kept. A batch without counts in the ledger is counted in the quarantine."""
    counts = _ledger_counts((details or {}).get("rejections"))
    groups = []
    for column, rule, level, kept, lines, ex_lines, ex_values, ex_raw, ex_messages in _quarantine_groups(
            conn, batch_id, examples):
        count, counted_lines = counts.pop((column, rule, level), (kept, lines))
        groups.append(_group(column, rule, level, max(count, kept), max(counted_lines, lines), kept, [
            {"line": ln, "value": v, "raw": r, "message": m}
            for ln, v, r, m in zip(ex_lines, ex_values, ex_raw, ex_messages, strict=True)]))
    # Counted, none kept (a quarantine emptied by hand, or N set to 0).
    groups += [_group(column, rule, level, count, lines, 0, []) for (column, rule, level), (count, lines)
               in counts.items()]
    groups.sort(key=lambda g: (g["level"] != "error", -g["count"], g["column"] or "", g["rule"]))
    return groups


def _group(column, rule, level, count, lines, kept, examples) -> dict[str, Any]:
    return {"column": column, "rule": rule, "level": level, "count": count, "lines": lines, "kept": kept,
            "truncated": count > kept, **explain(rule), "examples": examples}


def _ledger_counts(rejections: list[dict] | None) -> dict[tuple, tuple[int, int]]:
    """(column, rule, level) -> (violations, lines) from the ledger's `details.rejections`."""
    counts: dict[tuple, tuple[int, int]] = {}
    for r in rejections or []:
        key = (r.get("column"), r["rule"], r.get("level") or "error")
        count, lines = counts.get(key, (0, 0))
        counts[key] = (count + r["count"], lines + r.get("lines", r["count"]))
    return counts


def _quarantine_groups(conn, batch_id: int, examples: int) -> list[tuple]:
    return conn.execute(
        """select column_name, rule, level, count(*) as n, count(distinct line_number) as lines,
                  (array_agg(line_number order by line_number nulls first))[1:%(k)s],
                  (array_agg(value order by line_number nulls first))[1:%(k)s],
                  (array_agg(coalesce(raw_line, '') order by line_number nulls first))[1:%(k)s],
                  (array_agg(message order by line_number nulls first))[1:%(k)s]
           from ingest.rejected_rows where batch_id = %(b)s
           group by column_name, rule, level""",
        {"k": examples, "b": batch_id}).fetchall()


def rule_runs(conn, batch_id: int) -> tuple[list[dict], list[dict]]:
    """(applied, not run) business rules of the batch, from `ingest.rule_runs`."""
    rows = conn.execute(
        "select rule, label, level, status, reason, violations from ingest.rule_runs where batch_id = %s "
        "order by status, label", (batch_id,)).fetchall()
    applied = [{"rule": r, "label": lb, "level": lv, "violations": n, "title": explain(r)["title"]}
               for r, lb, lv, st, _, n in rows if st == "applied"]
    not_run = [{"rule": r, "label": lb, "level": lv, "reason": why, "title": explain(r)["title"]}
               for r, lb, lv, st, why, _ in rows if st == "not_run"]
    return applied, not_run


def from_batch(conn, batch_id: int) -> ReportData:
    from territoire.ingest.rules import ensure_tables

    ensure_tables(conn)  # a warehouse whose loads predate the rules has no level / rule_runs yet
    row = conn.execute(
        """select source_id, resource, raw_table, coalesce(landing_path, location), rows_read, rows_loaded,
                  rows_rejected, status, error, details, started_at
           from ingest.load_batches where batch_id = %s""", (batch_id,)).fetchone()
    if row is None:
        raise KeyError(f"no batch {batch_id} in ingest.load_batches")
    source_id, resource, table, file, read, loaded, rejected, status, error, details, started = row
    details = details or {}
    if rejected is None:
        rejected = conn.execute("select count(distinct line_number) from ingest.rejected_rows where batch_id = %s "
                                "and level = 'error'", (batch_id,)).fetchone()[0]
    applied, not_run = rule_runs(conn, batch_id)
    headers = details.get("headers") or {}
    return ReportData(
        title=f"{source_id} / {resource}", file=file or "", rows_read=read or 0, rows_rejected=rejected or 0,
        rows_loaded=loaded, status=status, schema=details.get("schema"), error=error, batch_id=batch_id,
        source_id=source_id, resource=resource, started_at=str(started)[:19], encoding=details.get("encoding"),
        delimiter=details.get("delimiter"), headers=headers,
        columns_missing_required=details.get("columns_missing_required") or [],
        columns_missing=details.get("columns_missing") or [],
        columns_unknown=[headers.get(c, c) for c in details.get("columns_unknown") or []],
        groups=rejection_groups(conn, batch_id, details), rules_applied=applied, rules_not_run=not_run,
        header_warnings=details.get("header_warnings") or [],
    )


def report_dir(source_id: str, resource: str) -> Path:
    return settings.landing_dir() / source_id / resource / "reports"


def write_batch_report(conn, batch_id: int) -> dict[str, Path]:
    """Write batch-<id>.html, .csv and .json beside the batch and reference them in the ledger."""
    data = from_batch(conn, batch_id)
    folder = report_dir(data.source_id, data.resource)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"batch-{batch_id}.{kind}" for kind in ("html", "csv", "json")}
    write_report_files(conn, data, paths)
    conn.execute(
        "update ingest.load_batches set details = coalesce(details, '{}'::jsonb) || jsonb_build_object('report', "
        "%s::jsonb) where batch_id = %s", (json.dumps({k: str(v) for k, v in paths.items()}), batch_id))
    return paths


def write_report_files(conn, data: ReportData, paths: dict[str, Path]) -> None:
    """Write the report kinds named in `paths` (`html`, `csv`, `json`), each atomically."""
    writers = {
        "html": lambda tmp: tmp.write_text(render_html(data), encoding="utf-8"),
        "csv": lambda tmp: write_csv(conn, data.batch_id, tmp, data.headers, data),
        "json": lambda tmp: tmp.write_text(json.dumps(validata_report(conn, data), ensure_ascii=False, indent=1),
                                           encoding="utf-8"),
    }
    for kind, path in paths.items():
        tmp = Path(path).with_name(f".{Path(path).name}.tmp")
        writers[kind](tmp)
        os.replace(tmp, path)


CSV_HEADER = ["niveau", "ligne", "colonne", "valeur", "regle", "probleme", "message", "que_faire", "ligne_brute"]


def write_csv(conn, batch_id: int, path: Path, headers: dict[str, str] | None = None,
              data: ReportData | None = None) -> int:
    """Every problem the quarantine keeps for the batch, in line order, one a line, after the header's
    warnings; then, for each rule and column of which only the first N were kept, a line saying how many
    more were counted. Text cells are formula-safe. Returns how many problem lines."""
    headers = headers or {}
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(CSV_HEADER)
        for h in data.header_warnings if data else []:
            w.writerow([LEVEL_FR["warning"], 1, *(neutralise(x) for x in (
                h.get("header") or h.get("label") or "", "", h["kind"], HEADER_TITLES.get(h["kind"], h["kind"]),
                h["message"], HEADER_FIX, ""))])
        # A server-side cursor (inside a transaction) streams a big quarantine instead of holding it.
        with conn.transaction(), conn.cursor(name=f"report_{batch_id}") as cur:
            cur.execute("""select level, line_number, column_name, value, rule, message, raw_line
                           from ingest.rejected_rows where batch_id = %s
                           order by line_number nulls first, level, column_name, rule""", (batch_id,))
            for level, line, column, value, rule, message, raw in cur:
                e = explain(rule)
                column_label = ", ".join(headers.get(c.strip(), c.strip()) for c in column.split(",")) if column else ""
                w.writerow([LEVEL_FR.get(level, level), "" if line is None else line,
                            *(neutralise(x) for x in (column_label, "" if value is None else value, rule, e["title"],
                                                      message, e["fix"], raw or ""))])
                n += 1
        for g in data.truncated if data else []:
            w.writerow([LEVEL_FR.get(g["level"], g["level"]), "", *(neutralise(x) for x in (
                data.column_label(g["column"]), "", g["rule"], g["title"], truncation_note(g), g["fix"], ""))])
    return n


def truncation_note(group: dict[str, Any]) -> str:
    """In French: only the first N cases of this rule and column are detailed, of how many."""
    return (f"{group['count']} cas au total : seuls les {group['kept']} premiers sont détaillés (la quarantaine "
            f"garde les premiers de chaque règle et colonne) ; les autres sont comptés, pas listés")


# Header warnings (the loader's `details.header_warnings`): the problem's title per kind, and the fix.
HEADER_TITLES = {"header-drift": "En-tête différent du nom du schéma (casse, accents, espaces)",
                 "header-renamed": "Champ du schéma absent : colonne renommée ?",
                 "repeated-label": "En-tête répété"}
HEADER_FIX = "Reprendre exactement les noms de colonnes du schéma, chacun une seule fois, sur la première ligne."


def validata_report(conn, data: ReportData, limit: int | None = None) -> dict[str, Any]:
    """The report in the shape of Validata's (frictionless' report): `valid`, `stats`, `tasks[]` with their
    `errors[]` (rowNumber, fieldName, fieldNumber, cell, type — a frictionless error type —, rule, title,
    description, message and note — the line's own message —, fix), plus `summary` (by rule and column)
    and `rules` (applied / not run). Warnings are listed apart: they do not make the file invalid."""
    from territoire.ingest.rules import examples_kept

    limit = limit or examples_kept()
    errors, warnings = [], []
    if data.batch_id is not None:
        for row in _kept_rows(conn, data.batch_id, limit):
            item = _report_item(data, *row)
            (errors if item["level"] == "error" else warnings).append(item)
    task_errors = errors + [_header_item(data, c) for c in data.columns_missing_required]
    valid = data.valid
    summary = [{"rule": g["rule"], "column": data.column_label(g["column"]), "level": g["level"], "count": g["count"],
                "lines": g["lines"], "kept": g["kept"], "truncated": g["truncated"], "title": g["title"],
                "fix": g["fix"]} for g in data.groups]
    stats = {"errors": data.errors + len(data.columns_missing_required), "warnings": data.warnings}
    task_warnings = ([f"en-tête : {h['message']}" for h in data.header_warnings]
                     + [f"ligne {w['rowNumber']}, {w['fieldName']} [{w['rule']}] : {w['message']}" for w in warnings]
                     + [f"{data.column_label(g['column'])} [{g['rule']}] : {truncation_note(g)}" for g in data.truncated])
    return {
        "version": REPORT_FORMAT, "date": datetime.now(UTC).isoformat(timespec="seconds"), "valid": valid,
        "stats": {**stats, "tasks": 1},
        "errors": [{"type": "task-error", "code": "task-error", "message": data.error}] if data.error else [],
        "warnings": [],
        "tasks": [{
            "name": Path(data.file).name, "type": "table", "valid": valid, "place": data.file,
            "labels": list(data.headers.values()),
            "resource": {"path": data.file, "schema": data.schema, "encoding": data.encoding},
            # Counted problems (every one), not only those listed in `errors` (the first N of each rule).
            "stats": {**stats, "rows": data.rows_read, "rows_rejected": data.rows_rejected,
                      "fields": len(data.headers), "errors_listed": len(task_errors)},
            "errors": task_errors,
            "warnings": task_warnings,
            "rule_warnings": warnings,
            "header_warnings": data.header_warnings,
        }],
        "summary": summary,
        "rules": {"applied": data.rules_applied, "not_run": data.rules_not_run},
    }


def _kept_rows(conn, batch_id: int, limit: int):
    return conn.execute(
        """select level, line_number, column_name, value, rule, message from (
               select r.*, row_number() over (partition by rule, column_name order by line_number) as n
               from ingest.rejected_rows r where batch_id = %s) k
           where n <= %s order by line_number nulls first, column_name, rule""", (batch_id, limit)).fetchall()


# Tools reading frictionless / Validata reports know a fixed set of error types: each problem is given
# the closest one (`type`), and keeps its own rule in `rule` (and `code`).
_FRICTIONLESS_TYPES = {"type": "type-error", "unique": "unique-error", "unique_key": "unique-error",
                       "field-count": "row-error", "encoding": "row-error", "json": "row-error"}


def frictionless_type(rule: str, line: int | None, column: str | None) -> str:
    known = _FRICTIONLESS_TYPES.get(rule.split(":", 1)[0])
    if known:
        return known
    if line is None:
        return "table-error"
    return "constraint-error" if column and "," not in column else "row-constraint"


def _report_item(data: ReportData, level, line, column, value, rule, message) -> dict[str, Any]:
    e = explain(rule)
    names = list(data.headers)
    first = column.split(",")[0].strip() if column else None
    return {"type": frictionless_type(rule, line, column), "code": rule, "rule": rule, "level": level,
            "title": e["title"], "description": e["explanation"], "message": message, "note": message,
            "fix": e["fix"], "tags": ["#table", "#row", "#cell"] if column else ["#table"], "rowNumber": line,
            "fieldName": data.column_label(column) if column else None, "cells": [],
            "fieldNumber": names.index(first) + 1 if first in names else None, "cell": value}


def _header_item(data: ReportData, column: str) -> dict[str, Any]:
    return {"type": "missing-label", "code": "missing-label", "rule": "missing-label", "level": "error",
            "title": "Colonne obligatoire absente",
            "description": "Le schéma impose cette colonne ; le fichier ne l'a pas.",
            "message": f"la colonne obligatoire {column} est absente du fichier",
            "note": f"la colonne obligatoire {column} est absente du fichier",
            "fix": "Ajouter la colonne (en-tête exact du schéma), même vide si aucune valeur n'est connue.",
            "tags": ["#table", "#header", "#label"], "fieldName": column, "fieldNumber": 0, "label": column,
            "labels": [], "rowNumbers": [1], "rowNumber": None}


def render_text(data: ReportData, examples: int = 3) -> str:
    """A plain-text version (French) for the terminal: the `territoire validate` output."""
    env = _environment()
    return env.get_template("conformity.txt.j2").render(d=data, examples=examples, **_template_names()).strip("\n")


def render_html(data: ReportData) -> str:
    env = _environment()
    status_fr = {"succeeded": "chargé", "failed": "refusé", "running": "en cours",
                 "skipped_unchanged": "inchangé (déjà chargé)"}.get(data.status, data.status)
    share = (100 * data.rows_rejected / data.rows_read) if data.rows_read else 0.0
    return env.get_template("conformity.html.j2").render(d=data, status_fr=status_fr, share=share,
                                                          **_template_names())


def _template_names() -> dict[str, Any]:
    return {"level_fr": LEVEL_FR, "header_titles": HEADER_TITLES, "header_fix": HEADER_FIX,
            "truncation_note": truncation_note}


def _environment() -> Environment:
    return Environment(loader=PackageLoader("territoire.ingest", "templates"),
                       autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)
