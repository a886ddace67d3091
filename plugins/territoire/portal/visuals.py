"""The map of a geographic dataset and the chart of a time series, with the rows they are drawn from
(the data table shown under each, so nothing is only in a picture)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg import sql

from territoire.portal import charts
from territoire.portal.catalogue import DatasetView

MAP_POINTS = 2000  # a map of more points says no more on a screen; the table and downloads hold them all
MAP_SHAPES = 300  # contours are heavy: a representative point of the first ones is enough for a glance
MAP_TABLE_ROWS = 20
LABEL_COLUMNS = ("nom_station", "nom", "nom_commune", "nom_iris", "libelle", "code_commune")


@dataclass
class MapView:
    chart: charts.Chart
    rows: list[tuple[str, float, float]]  # label, longitude, latitude (the first MAP_TABLE_ROWS)
    shown: int
    total: int
    elsewhere: list[tuple[str, float, float]]  # read but outside metropolitan France (listed, not drawn)


@dataclass
class SeriesView:
    chart: charts.Chart
    rows: list[tuple[str, float]]
    title: str
    unit: str


def _label_column(view: DatasetView) -> str | None:
    return next((c for c in LABEL_COLUMNS if view.column(c)), None)


def point_map(conn, view: DatasetView) -> MapView | None:
    g = view.geometry
    if not g:
        return None
    label = _label_column(view)
    label_sql = sql.Identifier(label) if label else sql.SQL("''")
    table = sql.Identifier("published", view.id)
    if "longitude" in g:
        lon, lat = sql.Identifier(g["longitude"]), sql.Identifier(g["latitude"])
        where = sql.SQL(" where {lon} between -180 and 180 and {lat} between -90 and 90").format(lon=lon, lat=lat)
        query = sql.SQL("select {label}::text, {lon}::float8, {lat}::float8 from {t}").format(
            label=label_sql, lon=lon, lat=lat, t=table) + where
        total = conn.execute(sql.SQL("select count(*) from {}").format(table) + where).fetchone()[0]
        rows = conn.execute(query + sql.SQL(" limit %s"), [MAP_POINTS]).fetchall()
    else:
        rows, total = _geojson_points(conn, view, label_sql, table, sql.Identifier(g["geojson"]))
    inside = [r for r in rows if charts.in_metropole(r[1], r[2])]
    drawn = inside if len(inside) >= len(rows) / 2 else rows
    outside = [(r[0] or "—", r[1], r[2]) for r in rows if r not in drawn]
    return MapView(charts.point_map([(r[1], r[2], r[0] or "") for r in drawn]),
                   [(r[0] or "—", r[1], r[2]) for r in drawn[:MAP_TABLE_ROWS]], len(drawn), total,
                   outside[:MAP_TABLE_ROWS])


def _geojson_points(conn, view, label_sql, table, column) -> tuple[list, int]:
    """A representative point per GeoJSON geometry (the mean of its coordinates)."""
    total = conn.execute(sql.SQL("select count({}) from {}").format(column, table)).fetchone()[0]
    rows = []
    for label, text in conn.execute(sql.SQL("select {}::text, {}::text from {} where {} is not null limit %s")
                                    .format(label_sql, column, table, column), [MAP_SHAPES]):
        coords = list(_coordinates(json.loads(text).get("coordinates")))
        if coords:
            rows.append((label, sum(c[0] for c in coords) / len(coords), sum(c[1] for c in coords) / len(coords)))
    return rows, total


def _coordinates(value):
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(v, (int, float)) for v in value[:2]):
        yield value[0], value[1]
    elif isinstance(value, list):
        for item in value:
            yield from _coordinates(item)


def time_series(conn, view: DatasetView) -> SeriesView | None:
    """Per period of the dataset's temporal column: the sum of its first measure with a unit, else the
    number of rows. Long-format tables (several indicators in one column) get the row count."""
    column = view.temporal_column
    if column is None or column.family not in ("entier", "date", "horodatage"):
        return None
    period = (sql.Identifier(column.name) if column.family == "entier"
              else sql.SQL("extract(year from {})::int").format(sql.Identifier(column.name)))
    measure, unit = _measure(view)
    value = sql.SQL("sum({})::float8").format(sql.Identifier(measure)) if measure else sql.SQL("count(*)::float8")
    rows = conn.execute(sql.SQL("select {p}::text as periode, {v} from {t} where {p} is not null "
                                "group by 1 order by 1 limit 200").format(
        p=period, v=value, t=sql.Identifier("published", view.id))).fetchall()
    if len(rows) < 1:
        return None
    rows = [(r[0], r[1] or 0.0) for r in rows]
    title = f"Somme de « {measure} » par année" if measure else "Nombre de lignes par année"
    return SeriesView(charts.bars(rows, suffix=f" {unit}" if unit and len(unit) < 6 else ""), rows, title,
                      unit or ("lignes" if not measure else ""))


def _measure(view: DatasetView) -> tuple[str | None, str | None]:
    if view.column("indicateur") or view.column("valeur"):
        return None, None  # long format: a sum across indicators means nothing
    for name, declared in view.dataset.columns.items():
        column = view.column(name)
        if isinstance(declared, dict) and declared.get("unit") and column and column.family in ("entier", "nombre"):
            return name, declared["unit"]
    return None, None
