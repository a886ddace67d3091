"""Statistical secrecy rules declared in `catalog/datasets.yml`, checked in SQL.

    secrecy:
      - count_column: nombre_logements   # units the aggregate is built from
        threshold: 10                    # below this, the aggregate must not be published
        masked_columns: [consommation_totale_mwh]
        flag_column: secret_statistique  # optional: 'primaire' / 'secondaire' on masked rows
        group_by: [annee, code_commune]  # optional: a total of each group is published elsewhere

Primary secrecy: a row whose count is below the threshold has its masked columns empty.
Secondary secrecy (with `group_by`): the group's total is published (by the level above, e.g. the
commune in the indicators), so `total - published cells` gives the sum of the masked cells. That sum
is harmless only when it covers at least two cells and at least `threshold` units together; a group
with one masked cell, or masked cells holding fewer units, lets a reader recompute a secret value.
`subtraction_query` finds such groups: the check the gate, the export and the tests run.

The masking itself happens in dbt (int_consommation_iris_secret, macro `statistical_secrecy`); this
module lets the quality gate and the export refuse a table where a rule is broken, so a model change
that forgets the rule cannot leak an aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

from territoire.datasets import Dataset
from territoire.naming import quote_ident


class SecrecyError(ValueError):
    """A table breaks a secrecy rule, or the rule itself is malformed."""


@dataclass(frozen=True)
class Rule:
    count_column: str
    threshold: int
    masked_columns: tuple[str, ...]
    flag_column: str | None = None
    group_by: tuple[str, ...] = ()

    def masked(self) -> str:
        """SQL: the row's masked columns are all empty."""
        return " and ".join(f"{quote_ident(c)} is null" for c in self.masked_columns)


def rules(dataset: Dataset) -> list[Rule]:
    out = []
    for i, raw in enumerate(dataset.secrecy):
        where = f"catalog/datasets.yml, dataset {dataset.id!r}, secrecy rule #{i + 1}"
        if not isinstance(raw, dict) or not {"count_column", "threshold", "masked_columns"} <= set(raw):
            raise SecrecyError(f"{where}: expected {{count_column, threshold, masked_columns}}, got {raw!r}")
        if not isinstance(raw["threshold"], int) or raw["threshold"] < 1:
            raise SecrecyError(f"{where}: 'threshold' must be a positive integer, got {raw['threshold']!r}")
        if not raw["masked_columns"]:
            raise SecrecyError(f"{where}: 'masked_columns' is empty")
        out.append(Rule(raw["count_column"], raw["threshold"], tuple(raw["masked_columns"]),
                        raw.get("flag_column"), tuple(raw.get("group_by") or ())))
    return out


def violation_query(table: str, rule: Rule) -> str:
    """Rows where an aggregate built from fewer than `threshold` units (or an unknown number) is visible."""
    count = quote_ident(rule.count_column)
    visible = " or ".join(f"{quote_ident(c)} is not null" for c in rule.masked_columns)
    return f"select * from {table} where (coalesce({count}, 0) < {int(rule.threshold)}) and ({visible})"


def subtraction_query(table: str, rule: Rule) -> str | None:
    """Groups whose masked cells could be recomputed from the group total: one masked cell only, or
    masked cells holding fewer than `threshold` units together (unless the whole group is below the
    threshold: then its total is not published either, see int_consommation_iris_secret)."""
    if not rule.group_by:
        return None
    keys = ", ".join(quote_ident(c) for c in rule.group_by)
    count = quote_ident(rule.count_column)
    masked = rule.masked()
    return (f"select {keys}, count(*) filter (where {masked}) as cellules_masquees, "
            f"coalesce(sum({count}) filter (where {masked}), 0) as unites_masquees, "
            f"coalesce(sum({count}), 0) as unites_groupe from {table} group by {keys} "
            f"having count(*) filter (where {masked}) > 0 and coalesce(sum({count}), 0) >= {int(rule.threshold)} "
            f"and (count(*) filter (where {masked}) < 2 "
            f"or coalesce(sum({count}) filter (where {masked}), 0) < {int(rule.threshold)})")


def violations(conn, dataset: Dataset, schema: str = "published") -> dict[tuple[Rule, str], int]:
    """{(rule, 'primaire' | 'secondaire'): offending rows or groups} for each broken rule."""
    table = f"{quote_ident(schema)}.{quote_ident(dataset.id)}"
    broken = {}
    for rule in rules(dataset):
        n = conn.execute(f"select count(*) from ({violation_query(table, rule)}) v").fetchone()[0]
        if n:
            broken[(rule, "primaire")] = n
        groups = subtraction_query(table, rule)
        n = conn.execute(f"select count(*) from ({groups}) g").fetchone()[0] if groups else 0
        if n:
            broken[(rule, "secondaire")] = n
    return broken


def check(conn, dataset: Dataset, schema: str = "published") -> None:
    broken = violations(conn, dataset, schema)
    if broken:
        lines = []
        for (r, kind), n in broken.items():
            if kind == "primaire":
                lines.append(f"- {n} row(s) where {r.count_column} < {r.threshold} but {', '.join(r.masked_columns)} "
                             f"is not masked")
            else:
                lines.append(f"- {n} group(s) of ({', '.join(r.group_by)}) whose masked cells can be recomputed by "
                             f"subtracting the published cells from the group total (fewer than 2 masked cells or "
                             f"fewer than {r.threshold} {r.count_column} masked together): secondary suppression "
                             f"is missing")
        raise SecrecyError(
            f"{schema}.{dataset.id} breaks statistical secrecy (catalog/datasets.yml):\n" + "\n".join(lines)
            + "\nMask these cells in the model (primary and secondary suppression); nothing was exported.")


def suppressed_cells(conn, dataset: Dataset, schema: str = "published", limit: int = 10_000) -> list[dict]:
    """The masked cells of the table, with their key and why: [{key..., secret, raison}] (for the
    datapackage and the report). Only for rules with a `flag_column`."""
    cells = []
    for rule in rules(dataset):
        if not rule.flag_column:
            continue
        key = list(dataset.primary_key)
        select = ", ".join(quote_ident(c) for c in [*key, rule.flag_column])
        table = f"{quote_ident(schema)}.{quote_ident(dataset.id)}"
        rows = conn.execute(f"select {select} from {table} where {quote_ident(rule.flag_column)} is not null "
                            f"order by {', '.join(quote_ident(c) for c in key)} limit {int(limit)}").fetchall()
        for row in rows:
            kind = row[-1]
            cells.append({**dict(zip(key, row[:-1], strict=True)), "secret": kind,
                          "colonnes": list(rule.masked_columns), "raison": reason(rule, kind)})
    return cells


def reason(rule: Rule, kind: str) -> str:
    if kind == "primaire":
        return f"moins de {rule.threshold} {rule.count_column.replace('_', ' ').removeprefix('nombre ')}"
    groups = ", ".join(rule.group_by)
    return (f"masquée pour qu'une cellule primaire de son groupe ({groups}) ne puisse être retrouvée par "
            f"soustraction du total publié")
