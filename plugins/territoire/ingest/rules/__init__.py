"""Business rules: French identifiers, territorial codes, coordinates and rules across rows.

    from territoire.ingest import rules
    outcome = rules.apply(conn, batch_id=..., resource=resource, table="raw.x__new", columns=[...])

Rules are declared per resource in `catalog/sources.yml` (`rules:`) or in its Table Schema; each is
defined once (`RULES`), with its bulk check, level, French explanation and fix. See docs/ingestion.md.
"""

from territoire.ingest.rules import coordinates, crossrow, identifiers, references, territory  # noqa: F401
from territoire.ingest.rules.declarations import (
    Declaration,
    RuleDeclarationError,
    parse_rules,
    resource_rules,
    schema_rules,
)
from territoire.ingest.rules.engine import Outcome, RuleNotRun, apply, ensure_tables, examples_kept
from territoire.ingest.rules.model import FAMILIES, RULES, Rule
from territoire.ingest.rules.territory import diagnose_vintage

__all__ = ["FAMILIES", "RULES", "Declaration", "Outcome", "Rule", "RuleDeclarationError", "RuleNotRun", "apply", "references",
           "diagnose_vintage", "ensure_tables", "examples_kept", "parse_rules", "resource_rules", "schema_rules"]
