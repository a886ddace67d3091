"""The PostgreSQL warehouse: one URL, or an embedded server when none is configured.

`WAREHOUSE_URL` points at a server. When it is unset (a laptop, `make demo`), the platform starts
the PostgreSQL server shipped inside the `pgserver` wheel, in `var/warehouse/pgdata`, and creates
the database `territoire` in it. Everything else (loader, dbt, Great Expectations, Airflow's
`warehouse` connection) derives its settings from `get_url()`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

import psycopg
from psycopg import sql

from territoire import processes, settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "territoire"

SCHEMAS = ("raw", "ingest", "staging", "intermediate", "audit", "published", "quality")


@dataclass(frozen=True)
class ConnectionParts:
    """The pieces of a PostgreSQL URL, as dbt and Airflow want them."""

    host: str  # a host name, or the directory of a Unix socket
    port: int
    user: str
    password: str
    dbname: str

    def url(self, driver: str = "postgresql") -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return f"{driver}://{auth}@/{self.dbname}?host={quote(self.host)}&port={self.port}"
        return f"{driver}://{auth}@{self.host}:{self.port}/{self.dbname}"


def parse_url(url: str) -> ConnectionParts:
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"WAREHOUSE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return ConnectionParts(
        host=unquote(host),
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
    )


def start_embedded() -> str:
    """Start (or reuse) the embedded PostgreSQL server and return the URL of its `territoire` database."""
    import warnings

    # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR (CI, containers) that
    # warns although the fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # heavy import, only when the embedded server is really needed

    pgdata = settings.embedded_pgdata_dir()
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so Airflow tasks, dbt and GX share it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'create database "{EMBEDDED_DATABASE}"')
    parts = parse_url(admin_url)
    return ConnectionParts(parts.host, parts.port, parts.user, parts.password, EMBEDDED_DATABASE).url()


def stop_embedded(timeout: float = 60) -> str:
    """Stop the embedded server if it runs (`make clean-warehouse`, tests); says what it did.

    Sends the postmaster SIGINT, PostgreSQL's "fast" shutdown (what `pg_ctl stop -m fast` does), and
    waits for it to exit. Signalling it directly also works as root, where pgserver runs PostgreSQL as
    the system user `pgserver` and pg_ctl would refuse to run. Raises RuntimeError when it does not stop."""
    import signal
    import time

    pgdata = settings.embedded_pgdata_dir()
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return f"the embedded PostgreSQL server ({pgdata}) is not running"
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return f"the embedded PostgreSQL server ({pgdata}) is not running (it had left its pid file behind)"
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_file.exists():
        raise RuntimeError(f"the embedded PostgreSQL server ({pgdata}, process {pid}) did not stop within "
                           f"{timeout:.0f} s: see {pgdata / 'log'}")
    return f"the embedded PostgreSQL server ({pgdata}) is stopped"


def get_url() -> str:
    """The warehouse URL: `WAREHOUSE_URL`, else the embedded server (started on demand)."""
    url = os.environ.get("WAREHOUSE_URL")
    if url:
        return url
    url = start_embedded()
    # Children (dbt, Airflow tasks, GX) reuse it without starting anything.
    os.environ["WAREHOUSE_URL"] = url
    return url


def get_parts() -> ConnectionParts:
    return parse_url(get_url())


def airflow_connection_uri(url: str | None = None) -> str:
    """The `AIRFLOW_CONN_WAREHOUSE` value for the warehouse (a Unix socket directory is URL-encoded as host)."""
    p = parse_url(url or get_url())
    auth = quote(p.user, safe="") + (":" + quote(p.password, safe="") if p.password else "")
    return f"postgres://{auth}@{quote(p.host, safe='')}:{p.port}/{p.dbname}"


def dbt_env(url: str | None = None) -> dict[str, str]:
    """Environment variables read by `dbt_project/profiles.yml`."""
    p = parse_url(url or get_url())
    return {
        "WAREHOUSE_HOST": p.host,
        "WAREHOUSE_PORT": str(p.port),
        "WAREHOUSE_USER": p.user,
        "WAREHOUSE_PASSWORD": p.password,
        "WAREHOUSE_DB": p.dbname,
    }


CONNECT_TIMEOUT = 10  # seconds: an unreachable host fails fast instead of hanging a task


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return psycopg.connect(url or get_url(), **kwargs)


def describe(url: str | None = None) -> str:
    """`host H, port P, database D, user U` of a warehouse URL: what an error may show (never the password)."""
    try:
        p = parse_url(url or os.environ.get("WAREHOUSE_URL") or "")
    except ValueError:
        return "an invalid WAREHOUSE_URL"
    return f"host {p.host}, port {p.port}, database {p.dbname}, user {p.user}"


_CONNECTION_HINTS = (
    ("password authentication failed", "wrong user or password: check WAREHOUSE_URL"),
    ("no password supplied", "the server wants a password: put it in WAREHOUSE_URL"),
    ("does not exist", "the database or role does not exist: create it (docs/deployment.md) or fix WAREHOUSE_URL"),
    ("timeout expired", "the host does not answer: check the host name, the network and the firewall"),
    ("connection refused", "nothing listens there: start PostgreSQL or fix the host/port in WAREHOUSE_URL"),
    ("could not translate host name", "unknown host name: fix the host in WAREHOUSE_URL"),
    ("no pg_hba.conf entry", "the server refuses this client: add it to pg_hba.conf"),
    ("too many connections", "the server is full: wait, or lower the workers' parallelism"),
)


def connection_failure(exc: BaseException, url: str | None = None) -> str | None:
    """One line for a failure to reach the warehouse (naming host, port and database, never the
    password), or None when `exc` is not one. The CLI prints it instead of a traceback."""
    seen = exc
    while seen is not None and not isinstance(seen, psycopg.OperationalError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    text = " ".join(str(seen).split())
    if getattr(seen, "sqlstate", None) and not text.startswith("connection"):
        # An error of a running session (a query cancelled, ...) is not a connection failure.
        if seen.sqlstate not in ("28P01", "28000", "3D000", "53300", "57P03"):
            return None
    hint = next((h for key, h in _CONNECTION_HINTS if key in text.lower()),
                "check that the warehouse is up and that WAREHOUSE_URL is right")
    password = parse_url(url).password if url else _env_password()
    if password:
        text = text.replace(password, "***")
    reason = text.rsplit(" failed: ", 1)[-1]  # the driver repeats host and port before it
    return f"cannot connect to the warehouse ({describe(url)}): {reason[:200]}. What to do: {hint}"


def failure_line(exc: BaseException) -> str | None:
    """The one line the CLI prints for a failure of the platform's environment rather than of the
    data: the warehouse cannot be reached, or a lock stayed held (`locks.LockBusy`). None otherwise."""
    from territoire.ingest.locks import LockBusy

    if isinstance(exc, LockBusy):
        return str(exc)
    return connection_failure(exc)


def _env_password() -> str:
    try:
        return parse_url(os.environ.get("WAREHOUSE_URL") or "postgresql:///").password
    except ValueError:
        return ""


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` on `admin_url`'s server and return its URL (same host, port, credentials)."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    p = parse_url(admin_url)
    return ConnectionParts(p.host, p.port, p.user, p.password, name).url()


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` on `admin_url`'s server, ending the sessions still connected to it."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


SCRATCH_PREFIX = "territoire_validate_"


def drop_stale_scratch_databases(admin_url: str) -> list[str]:
    """Drop the `territoire validate` scratch databases a dead process left on the server.

    A scratch database is `territoire_validate_<pid>_<random>`. It is stale when no session is
    connected to it and its process is not running here (a run in progress keeps a connection open,
    and between two connections its pid is alive). Returns the names dropped.
    """
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        rows = conn.execute(
            """select d.datname from pg_database d
               where d.datname like %s
                 and not exists (select 1 from pg_stat_activity a where a.datid = d.oid)""",
            (SCRATCH_PREFIX.replace("_", r"\_") + "%",)).fetchall()
        dropped = []
        for (name,) in rows:
            if _process_alive(name):
                continue
            try:
                conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse:
                continue  # its run reconnected meanwhile: not stale after all
            log.warning("dropped the scratch database %s left by a `territoire validate` that died", name)
            dropped.append(name)
    return dropped


def _process_alive(scratch: str) -> bool:
    parts = scratch[len(SCRATCH_PREFIX):].split("_")
    if not parts or not parts[0].isdigit():
        return False
    return processes.alive(int(parts[0]))


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """A connection whose work commits at the end of the block, or rolls back on error."""
    with connect(url) as conn:
        with conn.transaction():
            yield conn


def ensure_schemas(url: str | None = None) -> None:
    with connect(url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f'create schema if not exists "{schema}"')
