"""What an analyst needs once the warehouse is built: a login, a way to connect, documented tables.

- `ensure_login(url)`: the read-only analyst login (roles.ensure_analyst_roles) with a password
  generated once and kept in `<var>/analysts/pgpass` (mode 0600, the libpq password file format), so
  the demo can create it without ever printing or logging the password.
- `psql_command(url, access)`: the command line that opens psql as that login on the warehouse
  (embedded server included: its Unix socket), reading the password from the file through PGPASSFILE.
- `copy_comments(conn, source, target)`: the table and column comments dbt writes on `audit.<mart>`
  (persist_docs, from the French descriptions of the dbt YAML) copied onto `published.<mart>`,
  which the publication rebuilds with `create table ... as` (comments are not copied by it).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
from pathlib import Path

from psycopg import sql

from territoire import settings, warehouse

PASSWORD_FILE = "pgpass"


def credentials_dir() -> Path:
    return settings.var_dir() / "analysts"


def _pgpass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def _read_password(path: Path, login: str) -> str | None:
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.rsplit(":", 1)
        if len(fields) == 2 and f":{_pgpass_escape(login)}" in fields[0]:
            return fields[1]
    return None


def ensure_login(url: str | None = None, login: str | None = None):
    """Create or repair the analyst roles with a login whose password lives only in `<var>/analysts/pgpass`.

    The password comes from TERRITOIRE_ANALYST_PASSWORD when set, else from the file, else it is
    generated (32 random URL-safe characters). Returns roles.AnalystAccess.
    """
    from territoire.publication.roles import DEFAULT_LOGIN, ensure_analyst_roles

    url = url or warehouse.get_url()
    login = login or os.environ.get("TERRITOIRE_ANALYST_USER") or DEFAULT_LOGIN
    path = credentials_dir() / PASSWORD_FILE
    password = os.environ.get("TERRITOIRE_ANALYST_PASSWORD") or _read_password(path, login) \
        or secrets.token_urlsafe(24)
    access = ensure_analyst_roles(url, login=login, password=password)
    parts = warehouse.parse_url(url)
    # host:port:database:user:password (libpq); a socket directory is a valid host here
    line = ":".join(_pgpass_escape(str(v)) for v in (parts.host, parts.port, parts.dbname, login)) + ":" \
        + _pgpass_escape(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PASSWORD_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(line + "\n")
    os.replace(tmp, path)
    return access


def psql_binary() -> str:
    """psql on the PATH, else the one shipped with the embedded server (pgserver)."""
    found = shutil.which("psql")
    if found:
        return found
    try:
        import pgserver._commands as cmds

        return str(cmds.POSTGRES_BIN_PATH / "psql")
    except ImportError:
        return "psql"


def psql_command(url: str, login: str) -> str:
    """A shell command opening psql as `login`; the password is read from the pgpass file, never shown."""
    parts = warehouse.parse_url(url)
    conninfo = f"host={parts.host} port={parts.port} dbname={parts.dbname} user={login}"
    return (f"PGPASSFILE={shlex.quote(str(credentials_dir() / PASSWORD_FILE))} "
            f"{shlex.quote(psql_binary())} {shlex.quote(conninfo)}")


COMMENTS_SQL = """
select a.attname, col_description(a.attrelid, a.attnum)
from pg_attribute a
where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
  and col_description(a.attrelid, a.attnum) is not null
"""


def copy_comments(conn, source: str, target: str, *, table_comment: str | None = None) -> int:
    """Copy the column comments of `source` onto the same columns of `target` (both `schema.table`,
    already quoted where needed); the table gets `table_comment` or the source's. Returns the number
    of columns commented."""
    target_columns = {r[0] for r in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
        (target,)).fetchall()}
    n = 0
    schema, _, table = target.partition(".")
    for column, comment in conn.execute(COMMENTS_SQL, (source,)).fetchall():
        if column in target_columns:
            conn.execute(sql.SQL("comment on column {}.{}.{} is {}").format(
                sql.Identifier(schema.strip('"')), sql.Identifier(table.strip('"')), sql.Identifier(column),
                sql.Literal(comment)))
            n += 1
    comment = table_comment or conn.execute("select obj_description(%s::regclass, 'pg_class')",
                                            (source,)).fetchone()[0]
    if comment:
        conn.execute(sql.SQL("comment on table {}.{} is {}").format(
            sql.Identifier(schema.strip('"')), sql.Identifier(table.strip('"')), sql.Literal(comment)))
    return n
