"""Settings of the open API, read from the environment (every one has a default that suits `make serve`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from territoire.settings import env_number


@dataclass
class ApiConfig:
    # Where the API reads: a login of the API's read-only role (see api/role.sql). None: the
    # warehouse URL with the role's name (trust or peer authentication, as on the embedded server).
    database_url: str | None = None
    datasets_path: Path | None = None  # catalog/datasets.yml unless given
    pool_size: int = 8
    # Per-client token bucket: `rate` requests per second on average, bursts up to `burst`.
    # rate <= 0 turns the limit off (a benchmark, an API behind a gateway that limits already).
    rate: float = 10.0
    burst: int = 60
    # How long a dataset's version (ETag, Last-Modified, columns) is trusted before it is checked
    # again with one cheap query: a publication shows within this many seconds.
    version_ttl: float = 5.0
    statement_timeout_ms: int | None = None  # None: the role's own (api/role.sql)
    export_timeout_ms: int = 30 * 60 * 1000  # a whole-table download may stream for a while
    # Downloads streaming at once: each holds a connection for as long as its client reads, so they
    # may never take the whole pool from the pages.
    max_exports: int = 3
    max_page_size: int = 10_000
    default_page_size: int = 100
    max_groups: int = 10_000
    max_group_by: int = 5
    max_aggregates: int = 20
    max_in_values: int = 1_000
    max_filters: int = 50
    max_value_length: int = 1_000
    public_url: str | None = None  # absolute base of the `next` links; default: the request's

    @classmethod
    def from_env(cls) -> ApiConfig:
        path = os.environ.get("TERRITOIRE_DATASETS")
        return cls(
            database_url=os.environ.get("TERRITOIRE_API_DATABASE_URL") or None,
            datasets_path=Path(path) if path else None,
            pool_size=env_number("TERRITOIRE_API_POOL_SIZE", 8, int, "a whole number"),
            max_exports=env_number("TERRITOIRE_API_MAX_EXPORTS", 3, int, "a whole number"),
            rate=env_number("TERRITOIRE_API_RATE", 10.0),
            burst=env_number("TERRITOIRE_API_BURST", 60, int, "a whole number"),
            version_ttl=env_number("TERRITOIRE_API_VERSION_TTL", 5.0),
            public_url=os.environ.get("TERRITOIRE_API_PUBLIC_URL") or None,
        )
