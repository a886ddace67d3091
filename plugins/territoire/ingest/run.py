"""`LoadRun`: what one load knows and what happened to it, handed from stage to stage (see loader.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from territoire.catalog import Resource
from territoire.ingest.inputs import StagedInput
from territoire.ingest.schema import FastCheck, Plan, Schema
from territoire.naming import quote_ident


class Progress:
    """Throttled progress messages (at most one every `interval` seconds) for long loads."""

    def __init__(self, sink: Callable[[str], None], prefix: str, interval: float = 1.0):
        self.sink, self.prefix, self.interval = sink, prefix, interval
        self.last = time.monotonic()

    def tick(self, message: Callable[[], str]) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.sink(f"{self.prefix}: {message()}")

    def say(self, message: str) -> None:
        self.sink(f"{self.prefix}: {message}")


@dataclass
class LoadRun:
    # -- what the load was asked -----------------------------------------------------------------
    conn: Any
    batch_id: int
    resource: Resource
    path: Path
    table: str
    fmt: str | None
    strict: bool
    check_header: bool
    threshold: float
    progress: Progress
    force: bool = False                       # load even over a raw table of other columns
    # -- what the stages found -------------------------------------------------------------------
    staged: StagedInput | None = None
    schema: Schema | None = None
    plan: Plan | None = None
    fast: FastCheck | None = None             # the one-scan check over the values as published
    keys: list[list[str]] = field(default_factory=list)
    client_proofs: dict | None = None          # what the client proved of a kept fast COPY (proofs.py)
    warnings: list[dict] = field(default_factory=list)  # header drift and other non-blocking findings
    # -- what happened ---------------------------------------------------------------------------
    copied: int = 0                           # records in the staging table
    shifted: bool = False                     # line numbers moved for quoted newlines
    clean: bool | None = None                 # the one-scan check found nothing (None: not asked)
    published: dict[str, str] = field(default_factory=dict)  # number column -> hidden published column
    copy_columns: list[str] = field(default_factory=list)
    copy_connections: int = 1
    decimal_commas: str | None = None         # who turned `,` into `.` in number columns
    early_rejects: int = 0                    # rows refused while reading (encoding, field count, JSON)
    empty_records: int = 0
    rejections: list[dict] = field(default_factory=list)  # per column and rule: count, first example
    rows_rejected: int = 0
    stopped: dict | None = None               # when the load stopped early: where, rows read and rejected
    rules: dict | None = None                 # what the business rules did (territoire.ingest.rules)
    timings: dict[str, float] = field(default_factory=dict)
    _clock: float = field(default_factory=time.monotonic)

    @property
    def where(self) -> str:
        return f"{self.resource.source_id}/{self.resource.name} ({self.path})"

    @property
    def stage_name(self) -> str:
        return f"_load_{self.batch_id}"

    @property
    def stage(self) -> str:
        return f"raw.{quote_ident(self.stage_name)}"

    @property
    def new_name(self) -> str:
        return f"{self.table}__new"

    @property
    def new(self) -> str:
        return f"raw.{quote_ident(self.new_name)}"

    @property
    def rows_read(self) -> int:
        return self.copied + self.early_rejects - self.empty_records

    @property
    def share_rejected(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    def lap(self, name: str) -> None:
        """Time spent since the last lap, under `name` (the ledger's `details.timings`)."""
        now = time.monotonic()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self._clock, 3)
        self._clock = now

    def add_rejections(self, column: str | None, rule: str, count: int, line: int | None, value: str | None,
                       message: str, level: str = "error") -> None:
        if count:
            self.rejections.append({"column": column, "rule": rule, "level": level, "count": count,
                                    "example_line": line, "example_value": value, "message": message})
