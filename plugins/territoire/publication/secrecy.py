"""Statistical secrecy rules declared in `catalog/datasets.yml`, checked in SQL.

    secrecy:
      - count_column: nombre_logements   # units the aggregate is built from
        threshold: 10                    # below this, the aggregate must not be published
        masked_columns: [consommation_totale_mwh, consommation_moyenne_logement_mwh]

The masking itself happens in dbt (macro `statistical_secrecy`, dbt_project/macros/); this module
lets the quality gate and the export refuse a table where a rule is broken, so a model change that
forgets the macro cannot leak an aggregate.
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
        out.append(Rule(raw["count_column"], raw["threshold"], tuple(raw["masked_columns"])))
    return out


def violation_query(table: str, rule: Rule) -> str:
    """Rows where an aggregate built from fewer than `threshold` units (or an unknown number) is visible."""
    count = quote_ident(rule.count_column)
    visible = " or ".join(f"{quote_ident(c)} is not null" for c in rule.masked_columns)
    return f"select * from {table} where (coalesce({count}, 0) < {int(rule.threshold)}) and ({visible})"


def violations(conn, dataset: Dataset, schema: str = "published") -> dict[Rule, int]:
    """{rule: number of offending rows} for each broken rule of the dataset's table in `schema`."""
    table = f"{quote_ident(schema)}.{quote_ident(dataset.id)}"
    broken = {}
    for rule in rules(dataset):
        n = conn.execute(f"select count(*) from ({violation_query(table, rule)}) v").fetchone()[0]
        if n:
            broken[rule] = n
    return broken


def check(conn, dataset: Dataset, schema: str = "published") -> None:
    broken = violations(conn, dataset, schema)
    if broken:
        lines = [f"- {n} row(s) where {r.count_column} < {r.threshold} but {', '.join(r.masked_columns)} "
                 f"is not masked" for r, n in broken.items()]
        raise SecrecyError(
            f"{schema}.{dataset.id} breaks statistical secrecy (catalog/datasets.yml):\n" + "\n".join(lines)
            + "\nMask these columns in the model with the dbt macro statistical_secrecy(); nothing was exported.")
