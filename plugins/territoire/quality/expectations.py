"""The project's own GX expectation: row rules checked with ONE execution of their query.

GX's `UnexpectedRowsExpectation` runs its query twice: once wrapped in `count(*)`, once to fetch up
to 200 rows. On a 1,000,000-row table each run is a full scan. Our grouped rule queries
(`suites.rules_expectation`) already return one summary row per broken rule, with its row count in
a `lignes` column: the rows are enough, so `RowRulesExpectation` only asks for the rows and takes
the count from them. Rendering (Data Docs) is inherited from UnexpectedRowsExpectation.

GX registers an expectation class when it is defined: `territoire.quality.context.get_context`
imports this module before any suite is read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations import UnexpectedRowsExpectation


class RowRulesExpectation(UnexpectedRowsExpectation):
    """Succeeds when the query returns no row; observed value = total `lignes` over returned rows."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None
                  ) -> dict[str, Any]:
        rows = metrics["unexpected_rows_query.table"] or []
        broken = sum(int((row.get("lignes") if isinstance(row, dict) else dict(row).get("lignes")) or 1)
                     for row in rows)
        return {"success": not rows, "result": {"observed_value": broken, "details": {"unexpected_rows": rows}}}
