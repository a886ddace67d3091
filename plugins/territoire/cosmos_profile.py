"""The dbt profile Cosmos builds from the Airflow connection `warehouse`.

Cosmos' PostgresUserPasswordProfileMapping insists on a password. A warehouse reached with trust
or peer authentication (the embedded server, a local PostgreSQL, a Unix socket) has none, so this
mapping makes it optional: when the connection carries a password it is passed to dbt through an
environment variable exactly as Cosmos does; when it has none, dbt gets an empty one (dbt-postgres requires the key).
"""

from __future__ import annotations

from typing import Any

from cosmos.profiles import PostgresUserPasswordProfileMapping


class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):
    required_fields = ["host", "user", "dbname"]

    @property
    def secret_fields(self) -> list[str]:  # type: ignore[override]
        return ["password"] if self.conn.password else []

    @property
    def profile(self) -> dict[str, Any | None]:
        profile = super().profile
        if not self.conn.password:
            profile["password"] = ""  # dbt-postgres requires the key; trust/peer auth ignores it
        return profile
