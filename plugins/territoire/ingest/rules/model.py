"""What a business rule is: defined once, with how it checks in bulk, its level, its French explanation
and the fix specific to it. The rule modules (identifiers, territory, coordinates, crossrow) register
their rules here with `define`; everything else (the engine, the reports, the docs test) asks `RULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVELS = ("error", "warning")
SQL_DIR = Path(__file__).with_name("sql")


@dataclass(frozen=True)
class Rule:
    """One business rule.

    `check(ctx, decl)` writes the rule's violations through `ctx` (in bulk SQL, or a bounded Python pass
    over distinct values for identifiers). `columns` names the declaration parameters that hold column
    names (they must exist in the file for the rule to run); `needs` the reference tables the rule reads
    (when one is missing or empty the rule is reported as not run, never as passed).
    """

    id: str
    level: str
    title: str          # what is wrong, in a few French words ("SIRET invalide")
    explanation: str    # why it matters / what the rule checks, in plain French
    fix: str            # what the producer should do, specific to this rule
    origin: str         # where the rule comes from (a standard, a consolidator's check, a domain)
    check: Callable[..., None]
    columns: tuple[str, ...] = ("column",)
    needs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)   # accepted parameters and their defaults
    optional_columns: tuple[str, ...] = ()   # parameters naming columns that may be left out


RULES: dict[str, Rule] = {}
# A declared name that stands for several rules, each with its own level and fix (e.g. `commune`:
# unknown code, obsolete code, postal code in an INSEE field).
FAMILIES: dict[str, tuple[str, ...]] = {}


def define(rule_id: str, *, level: str, title: str, explanation: str, fix: str, origin: str,
           columns: tuple[str, ...] = ("column",), needs: tuple[str, ...] = (),
           params: dict[str, Any] | None = None,
           optional_columns: tuple[str, ...] = ()) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator registering `check` as rule `rule_id`."""
    if level not in LEVELS:
        raise ValueError(f"rule {rule_id}: level {level!r} not in {LEVELS}")

    def register(check: Callable[..., None]) -> Callable[..., None]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} defined twice")
        RULES[rule_id] = Rule(rule_id, level, title, explanation, fix, origin, check, columns, needs,
                              dict(params or {}), optional_columns)
        return check

    return register


def family(name: str, *rule_ids: str) -> None:
    FAMILIES[name] = rule_ids


def sql_text(name: str) -> str:
    """The text of `sql/<name>.sql`, the bulk check of a rule."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
