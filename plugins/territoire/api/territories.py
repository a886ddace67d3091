"""A territory (commune, EPCI, département, région): its name and parents, indicators, and its rows
in every dataset that carries its code.

Names and parents come from the published `dim_territoire` (one row per commune), indicators from
`indicateurs_territoriaux` (long format), both when they are published; a dataset "has rows" of a
territory when it has the column `code_<niveau>`.
"""

from __future__ import annotations

from psycopg import sql

from territoire.api.catalog import PublishedCatalog, Table
from territoire.api.problems import ProblemError
from territoire.api.values import to_json

LEVELS = ("commune", "epci", "departement", "region")
REFERENCE = "dim_territoire"
INDICATORS = "indicateurs_territoriaux"
MAX_INDICATORS = 5_000
ROWS_CAP = 10_000


def code_column(level: str) -> str:
    return f"code_{level}"


def _identity(conn, reference: Table, level: str, code: str) -> dict | None:
    """Name, parents, number of communes and population of the territory, from dim_territoire."""
    cols = reference.columns
    upper = LEVELS[LEVELS.index(level):]
    select = [sql.SQL("count(*)")]
    select.append(sql.SQL("sum({})::bigint").format(sql.Identifier("population_municipale"))
                  if "population_municipale" in cols else sql.SQL("null::bigint"))
    names = []
    for lvl in upper:
        for col in (f"code_{lvl}", f"nom_{lvl}"):
            if col in cols:
                names.append(col)
                select.append(sql.SQL("min({})").format(sql.Identifier(col)))
    statement = sql.SQL("select {} from {} where {} = %s").format(
        sql.SQL(", ").join(select), sql.Identifier("published", reference.id), sql.Identifier(code_column(level)))
    row = conn.execute(statement, [code]).fetchone()
    if not row or not row[0]:
        return None
    values = dict(zip(names, row[2:], strict=True))
    parents = {lvl: {"code": values.get(f"code_{lvl}"), "nom": values.get(f"nom_{lvl}")} for lvl in upper[1:]}
    return {"nom": values.get(f"nom_{level}"), "parents": parents, "communes": row[0], "population_municipale": row[1]}


def _indicators(conn, table: Table, level: str, code: str) -> list[dict]:
    names = list(table.columns)
    order = [c for c in ("indicateur", "categorie", "annee") if c in table.columns]
    statement = sql.SQL("select {} from {} where niveau = %s and code_territoire = %s order by {} limit {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in names), sql.Identifier("published", table.id),
        sql.SQL(", ").join(sql.Identifier(c) for c in order or names[:1]), sql.Literal(MAX_INDICATORS))
    return [{n: to_json(v) for n, v in zip(names, row, strict=True)}
            for row in conn.execute(statement, [level, code]).fetchall()]


def _datasets(conn, base: str, tables: dict[str, Table], level: str, code: str) -> list[dict]:
    column = code_column(level)
    out = []
    for table in tables.values():
        if column not in table.columns:
            continue
        statement = sql.SQL("select count(*) from (select 1 from {} where {} = %s limit {}) t").format(
            sql.Identifier("published", table.id), sql.Identifier(column), sql.Literal(ROWS_CAP))
        rows = conn.execute(statement, [code]).fetchone()[0]
        link = f"{base}/api/datasets/{table.id}/rows?{column}__eq={code}"
        out.append({"id": table.id, "title": table.dataset.title, "column": column, "rows": rows,
                    "rows_cap": ROWS_CAP, "links": {"rows": link, "dataset": f"{base}/api/datasets/{table.id}"}})
    return out


def territory(catalog: PublishedCatalog, base: str, level: str, code: str) -> dict:
    tables = catalog.tables()
    with catalog.pool.connection() as conn:
        identity = None
        if REFERENCE in tables and code_column(level) in tables[REFERENCE].columns:
            identity = _identity(conn, tables[REFERENCE], level, code)
        indicators_ok = INDICATORS in tables and {"niveau", "code_territoire"} <= set(tables[INDICATORS].columns)
        indicators = _indicators(conn, tables[INDICATORS], level, code) if indicators_ok else []
        datasets = _datasets(conn, base, tables, level, code)
    if identity is None and not indicators and not any(d["rows"] for d in datasets):
        raise ProblemError(404, "territoire-inconnu", ("Territoire inconnu", "Unknown territory"),
                           (f"Aucune donnée publiée ne porte le code {level} {code!r}.",
                            f"No published data carries the {level} code {code!r}."), parameter="code")
    identity = identity or {"nom": None, "parents": {}, "communes": None, "population_municipale": None}
    return {"niveau": level, "code": code, **identity, "indicators": indicators,
            "indicators_available": indicators_ok, "datasets": datasets}
