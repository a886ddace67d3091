"""Reading the `rules:` declarations of a resource (catalog/sources.yml) or of a Table Schema.

    rules:
      siren_amenageur: siren                       # column: rule
      telephone_operateur: {rule: phone_fr, level: warning}
      valeur: [{rule: range, min: 0}]              # several rules, with parameters
      checks:                                      # rules across columns or rows
        - {rule: unique_key, columns: [id_pdc_itinerance]}
        - {rule: constant_in_group, group: [id_station_itinerance], columns: [adresse_station, gratuit]}

A Table Schema may carry the same mapping as a top-level `rules` property, or a field's own rules as
the field property `rules` (`"rules": "siret"` or a list). Column names are the normalised names of
the raw table (`territoire.naming.normalise_column`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from territoire.ingest.rules.model import FAMILIES, LEVELS, RULES

CHECKS_KEY = "checks"
# `table`: for a resource loading several files (GTFS), the file (raw table suffix) the rule is for.
_COMMON = ("rule", "level", "column", "columns", "table")


class RuleDeclarationError(ValueError):
    """A `rules:` declaration is not valid; the message names where it was declared and what to write."""


@dataclass(frozen=True)
class Declaration:
    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    level: str | None = None
    declared_in: str = ""

    @property
    def effective_level(self) -> str:
        return self.level or RULES[self.rule].level

    @property
    def column(self) -> str | None:
        """The column the rule's violations are reported on."""
        value = self.params.get("column")
        if value is None:
            for name in (*RULES[self.rule].columns, *RULES[self.rule].optional_columns):
                value = self.params.get(name)
                if value:
                    break
        if isinstance(value, list):
            return value[0] if value else None
        return value

    def columns_needed(self) -> list[str]:
        needed: list[str] = []
        for name in (*RULES[self.rule].columns, *RULES[self.rule].optional_columns):
            value = self.params.get(name)
            needed.extend(value if isinstance(value, list) else [value] if value else [])
        return needed

    def label(self) -> str:
        """`siret(id_beneficiaire)`: how the report and the ledger name the rule as applied."""
        return f"{self.rule}({', '.join(self.columns_needed()) or self.params.get('name') or ''})"


def parse_rules(data: Any, where: str) -> list[Declaration]:
    """The declarations of one `rules:` mapping; raises RuleDeclarationError naming `where`."""
    if data in (None, {}):
        return []
    if not isinstance(data, dict):
        raise RuleDeclarationError(f"{where}: `rules` must be a mapping (column: rule), got {type(data).__name__}")
    out: list[Declaration] = []
    for key, value in data.items():
        if key == CHECKS_KEY:
            if not isinstance(value, list):
                raise RuleDeclarationError(f"{where}: `rules.{CHECKS_KEY}` must be a list of mappings")
            for i, entry in enumerate(value):
                out.extend(_entry(entry, {}, f"{where}, rules.{CHECKS_KEY} #{i + 1}"))
        else:
            for entry in value if isinstance(value, list) else [value]:
                out.extend(_entry(entry, {"column": key}, f"{where}, rules.{key}"))
    return out


def _entry(entry: Any, base: dict[str, Any], where: str) -> list[Declaration]:
    if isinstance(entry, str):
        entry = {"rule": entry}
    if not isinstance(entry, dict) or "rule" not in entry:
        raise RuleDeclarationError(f"{where}: expected a rule name or a mapping with `rule`, got {entry!r}")
    params = {**base, **{k: v for k, v in entry.items() if k not in ("rule", "level")}}
    level = entry.get("level")
    if level is not None and level not in LEVELS:
        raise RuleDeclarationError(f"{where}: level {level!r} is not one of {', '.join(LEVELS)}")
    name = entry["rule"]
    members = FAMILIES.get(name) or (name,)
    for member in members:
        if member not in RULES:
            known = sorted({*RULES, *FAMILIES})
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RuleDeclarationError(f"{where}: unknown rule {name!r}{hint}; known rules: {', '.join(known)}")
    accepted = set().union(*(_allowed(RULES[m]) for m in members))
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise RuleDeclarationError(f"{where}: rule {name!r} has no parameter {', '.join(map(repr, unknown))} "
                                   f"(accepted: {', '.join(sorted(accepted - {'rule'}))})")
    decls = []
    for member in members:
        rule = RULES[member]
        own = {k: v for k, v in params.items() if k in _allowed(rule)}
        if name in FAMILIES and not all(own.get(c) for c in rule.columns):
            continue  # a family member whose columns were not given (e.g. no commune for the distance)
        decls.extend(_expand(_checked(rule, own, where), member, level, where))
    return decls


def _allowed(rule) -> set[str]:
    return {*_COMMON, *rule.columns, *rule.optional_columns, *rule.params}


def _checked(rule, params: dict[str, Any], where: str) -> dict[str, Any]:
    merged = {**rule.params, **params}
    missing = [c for c in rule.columns if not merged.get(c) and not (c == "column" and merged.get("columns"))]
    if missing:
        raise RuleDeclarationError(f"{where}: rule {rule.id!r} needs {', '.join(missing)}")
    return merged


def _expand(params: dict[str, Any], rule_id: str, level: str | None, where: str) -> list[Declaration]:
    """`columns: [a, b]` on a rule checking one column at a time is one declaration per column."""
    many = params.get("columns")
    if "column" in RULES[rule_id].columns and "columns" not in RULES[rule_id].columns and many:
        rest = {k: v for k, v in params.items() if k != "columns"}
        return [Declaration(rule_id, {**rest, "column": c}, level, where) for c in many]
    return [Declaration(rule_id, params, level, where)]


def schema_rules(schema_path: Path | None) -> list[Declaration]:
    """Rules a Table Schema declares: top-level `rules` mapping, a field's `rules`, and the Validata
    `custom_checks` of the schemas published on schema.data.gouv.fr."""
    if schema_path is None or not Path(schema_path).is_file():
        return []
    from territoire.naming import normalise_column

    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    where = str(schema_path)
    positions = {f.get("name"): i for i, f in enumerate(schema.get("fields") or [], start=1)}
    decls = parse_rules(schema.get("rules"), where)
    for name, i in positions.items():
        field_rules = (schema["fields"][i - 1] or {}).get("rules")
        if field_rules:
            decls.extend(parse_rules({normalise_column(name, i): field_rules}, f"{where}, field {name!r}"))
    for k, check in enumerate(schema.get("custom_checks") or [], start=1):
        decls.extend(validata_check(check, lambda n: normalise_column(n, positions.get(n, 0)),
                                    f"{where}, custom_checks #{k}"))
    return decls


# Validata's custom checks (validata-core) and the rule that does the same here.
VALIDATA_CHECKS = {"french-siret-value": "siret", "french-siren-value": "siren", "phone-number-value": "phone_fr"}


def validata_check(check: dict, column: Any, where: str) -> list[Declaration]:
    """A Validata `custom_checks` entry as declarations; one we do not implement is declared as
    `unsupported_check`, which reports itself as not run (never as passed)."""
    name, params = check.get("name"), check.get("params") or {}
    if name in VALIDATA_CHECKS and params.get("column"):
        return parse_rules({column(params["column"]): VALIDATA_CHECKS[name]}, where)
    if name == "one-of-required" and params.get("column1") and params.get("column2"):
        cols = [column(params["column1"]), column(params["column2"])]
        return parse_rules({CHECKS_KEY: [{"rule": "at_least_one", "columns": cols, "equals": None}]}, where)
    return parse_rules({CHECKS_KEY: [{"rule": "unsupported_check", "name": str(name)}]}, where)


def resource_rules(resource) -> list[Declaration]:
    """Every rule declared for a catalog resource: its schema's, then the catalog's."""
    where = f"catalog resource {resource.source_id}/{resource.name}"
    return [*schema_rules(resource.schema_path()),
            *parse_rules(getattr(resource, "rules", None), where)]
