"""The end of `make demo`: what really happened, dataset by dataset, read from the warehouse.

Each dataset gets its real verdict from `quality.validation_runs` (the last run): passed and
published; warnings published under an override (who, why); warnings left unpublished; blocked;
the suite could not run. Then each mechanism of the platform is shown once, labelled, with a real
case from this run when there is one: a quarantined row, a warning, an override, a dataset left
unpublished, a cell hidden by statistical secrecy. Finally how an analyst connects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Say = Callable[[str], None]
SQL = Path(__file__).with_name("demo_summary.sql").read_text(encoding="utf-8")


@dataclass
class Verdict:
    dataset_id: str
    verdict: str  # passed | warnings | blocked | error
    published: bool
    checks_passed: int
    checks_total: int
    override_by: str | None
    override_reason: str | None
    failed: list[tuple[str, str, str]]  # (level, rule, explanation) of the failed checks

    @property
    def label(self) -> str:
        if self.verdict == "passed":
            return "PASSED, published"
        if self.verdict == "warnings" and self.published and self.override_by:
            return "WARNINGS, published under override"
        if self.verdict == "warnings":
            return "WARNINGS, NOT published (no override)"
        if self.verdict == "blocked":
            return "BLOCKED, NOT published (error-level check failed)"
        return "ERROR: the suite could not run, NOT published"


def verdicts(conn) -> dict[str, Verdict]:
    if not conn.execute("select to_regclass('quality.validation_runs') is not null").fetchone()[0]:
        return {}
    out: dict[str, Verdict] = {}
    for row in conn.execute(SQL).fetchall():
        dataset_id, verdict, published, passed, total, by, reason, failed = row
        out[dataset_id] = Verdict(dataset_id, verdict, published, passed, total, by, reason,
                                  [tuple(f) for f in failed or []])
    return out


def all_decided(found: dict[str, Verdict], declared) -> bool:
    """Every declared dataset has a verdict, and no suite failed to run."""
    return all(d in found and found[d].verdict != "error" for d in declared)


def unexpected_task_failures(states: list[tuple[str, str]], found: dict[str, Verdict]) -> list[str]:
    """Failed tasks of publish_open_data that a quality verdict does not explain."""
    unpublished = {f"gate_and_publish__{d}" for d, v in found.items() if not v.published and v.verdict != "error"}
    return [task for task, state in states
            if state in ("failed", "upstream_failed") and task not in unpublished
            and task != "fail_if_a_dataset_was_blocked"]


def print_raw_tables(conn, say: Say) -> None:
    say("\nRaw tables (rows loaded, rows quarantined, last batch):")
    for table, loaded, rejected, status in conn.execute(
        """select distinct on (raw_table) raw_table, rows_loaded, rows_rejected, status
           from ingest.load_batches where status in ('succeeded', 'failed')
           order by raw_table, batch_id desc"""):
        say(f"  raw.{table:<45} {loaded or 0:>9} rows  {rejected or 0:>6} quarantined  {status}")


def print_verdicts(found: dict[str, Verdict], say: Say) -> None:
    say("\nQuality gate, dataset by dataset (last run):")
    for v in found.values():
        say(f"  {v.dataset_id:<30} {v.label:<45} {v.checks_passed}/{v.checks_total} checks")
        if v.override_by and v.published:
            say(f"      override by {v.override_by}: {v.override_reason}")
        for level, rule, _ in v.failed[:4]:
            say(f"      failed [{level}] {rule}")
    counts: dict[str, int] = {}
    for v in found.values():
        counts[v.label] = counts.get(v.label, 0) + 1
    published = sum(v.published for v in found.values())
    say(f"  => {published} of {len(found)} datasets published: "
        + ", ".join(f"{n} {label.lower()}" for label, n in counts.items()))


def print_mechanisms(conn, found: dict[str, Verdict], say: Say) -> None:
    say("\nEach mechanism once, on a real case of this run:")
    _quarantined_row(conn, say)
    warnings = [(v.dataset_id, f) for v in found.values() for f in v.failed if f[0] == "warning"]
    # a row rule tells more than the freshness of an old sample (an `expect_...` expectation)
    warnings.sort(key=lambda item: item[1][1].startswith("expect_"))
    if warnings:
        dataset_id, (_, rule, text) = warnings[0]
        say(f"  [WARNING]     {dataset_id}: {rule}: {text}")
    overridden = next((v for v in found.values() if v.published and v.override_by), None)
    if overridden:
        say(f"  [OVERRIDE]    {overridden.dataset_id} published despite warnings, by {overridden.override_by!r}: "
            f"{overridden.override_reason}")
    left = next((v for v in found.values() if not v.published), None)
    if left:
        why = "; ".join(f"[{lvl}] {rule}" for lvl, rule, _ in left.failed[:3])
        say(f"  [UNPUBLISHED] {left.dataset_id}: {left.label.lower()} ({why}); its previous published version, "
            f"if any, is untouched")
    _secret_cell(conn, say)


def _quarantined_row(conn, say: Say) -> None:
    row = conn.execute(
        """select source_id, resource, line_number, column_name, rule, message from ingest.rejected_rows
           order by batch_id desc, line_number limit 1""").fetchone()
    if row:
        source, resource, line, column, rule, message = row
        say(f"  [QUARANTINE]  {source}/{resource}, line {line}, column {column}: rule {rule}: {message}")
    else:
        say("  [QUARANTINE]  no row of the shipped samples broke its Table Schema in this run "
            "(ingest.rejected_rows is empty)")


def _secret_cell(conn, say: Say) -> None:
    if not conn.execute("select to_regclass('published.fct_consommation_electrique') is not null").fetchone()[0]:
        return
    n = conn.execute("select count(*) filter (where secret_statistique = 'primaire'), "
                     "count(*) filter (where secret_statistique = 'secondaire') "
                     "from published.fct_consommation_electrique").fetchone()
    say(f"  [SECRECY]     fct_consommation_electrique: {n[0]} IRIS masked (fewer than 10 dwellings), {n[1]} "
        f"masked so that no commune total minus its published IRIS gives one back")


def print_published(conn, say: Say) -> None:
    say("\nPublished tables (schema `published`, read by analysts):")
    for (table,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'published' order by 1"):
        n = conn.execute(f'select count(*) from published."{table}"').fetchone()[0]
        say(f"  published.{table:<38} {n:>9} rows")
    if conn.execute("select to_regclass('published.indicateurs_territoriaux') is not null").fetchone()[0]:
        say("\nIndicators built (published.indicateurs_territoriaux; couverture: complete / partielle):")
        for name, levels, n, partial in conn.execute(
                """select indicateur, string_agg(distinct niveau, ', '), count(*),
                          count(*) filter (where couverture = 'partielle')
                   from published.indicateurs_territoriaux group by 1 order by 1"""):
            say(f"  {name:<55} {n:>7} values, {partial:>5} of partial coverage  ({levels})")
    say("  (demo samples: real extracts, except the public-transport feed, which is SYNTHETIC and placed in\n"
        "   Belfort: its datasets and indicators illustrate the mechanics only; see data/NOTICE.md)")


def print_analyst_access(url: str, say: Say) -> None:
    """Create the analyst login (password in var/, never printed) and print how to connect."""
    from territoire.publication.analysts import PASSWORD_FILE, credentials_dir, ensure_login, psql_command

    try:
        access = ensure_login(url)
    except Exception as exc:  # noqa: BLE001 - the demo still reports what it built
        say(f"\nAnalyst login NOT created: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return
    say(f"\nAnalysts: login {access.login_role!r} (read-only, schema `published` only); its password is in "
        f"{credentials_dir() / PASSWORD_FILE} (not shown). Connect with:")
    say(f"  {psql_command(url, access.login_role)}")
