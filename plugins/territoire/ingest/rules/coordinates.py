"""Coordinate rules: a point inside France (métropole, Corse, each overseas département and
collectivity), longitude equal to latitude (a column copied into the other), longitude and latitude
swapped, and far from the commune the row names (distance to the commune's contour when loaded, else
to its département's contour, with the distance in the message).

A rule reads `longitude` and `latitude` columns, or one `point` column holding both (`[lon, lat]` as in
IRVE's coordonneesXY, or `lat,lon` with `order: latlon`).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

from territoire.ingest.rules.model import define, family
from territoire.ingest.rules.territory import repaired
from territoire.naming import quote_ident

# (name, lon_min, lat_min, lon_max, lat_max): generous boxes around each part of France.
BOXES = (
    ("France métropolitaine", -5.3, 42.3, 8.3, 51.15),
    ("Corse", 8.5, 41.3, 9.6, 43.05),
    ("Guadeloupe", -61.9, 15.8, -60.95, 16.55),
    ("Martinique", -61.25, 14.35, -60.75, 14.9),
    ("Guyane", -54.65, 2.1, -51.5, 5.8),
    ("La Réunion", 55.2, -21.4, 55.85, -20.85),
    ("Mayotte", 44.95, -13.05, 45.35, -12.6),
    ("Saint-Pierre-et-Miquelon", -56.45, 46.7, -56.1, 47.15),
    ("Saint-Barthélemy", -62.95, 17.85, -62.75, 17.97),
    ("Saint-Martin", -63.15, 18.0, -62.95, 18.13),
    ("Wallis-et-Futuna", -178.25, -14.4, -176.1, -13.15),
    ("Polynésie française", -154.8, -28.0, -134.4, -7.8),
    ("Nouvelle-Calédonie", 163.5, -22.9, 168.2, -19.5),
)
_NUMBER = r"'^[-+]?[0-9]+(\.[0-9]+)?$'"
_POINT = r"'(-?[0-9]+(?:\.[0-9]+)?)\s*[,; ]\s*(-?[0-9]+(?:\.[0-9]+)?)'"
COORDINATE_COLUMNS = ("longitude", "latitude", "point")
_PARAMS = {"order": "lonlat"}


def _number(column: str) -> str:
    c = f"btrim({quote_ident(column)})"
    return f"(case when {c} ~ {_NUMBER} then {c}::double precision end)"


def point_sql(params: dict) -> tuple[str, str, str]:
    """SQL for (value shown, longitude, latitude) of the declared columns."""
    if params.get("point"):
        col = quote_ident(params["point"])
        first, second = (f"(regexp_match({col}, {_POINT}))[{i}]::double precision" for i in (1, 2))
        lon, lat = (second, first) if params.get("order") == "latlon" else (first, second)
        return col, lon, lat
    if params.get("longitude") and params.get("latitude"):
        value = f"concat_ws(', ', {quote_ident(params['longitude'])}, {quote_ident(params['latitude'])})"
        return value, _number(params["longitude"]), _number(params["latitude"])
    from territoire.ingest.rules.engine import RuleNotRun

    raise RuleNotRun("déclaration incomplète : donner `longitude` et `latitude`, ou `point`")


def _boxes_sql() -> str:
    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return ", ".join(f"({lit(n)}, {a}, {b}, {c}, {d})" for n, a, b, c, d in BOXES)


def _coordinates_hits(ctx, decl, condition: str, message: str) -> int:
    value, lon, lat = point_sql(decl.params)
    column = decl.params.get("point") or decl.params.get("longitude")
    return ctx.hits("coordinates", {"column_name": column},
                    {"boxes": _boxes_sql(), "value": value, "lon": lon, "lat": lat, "condition": condition,
                     "message": message.replace("%", "%%")})


@define("lon_equals_lat", level="error", columns=(), optional_columns=COORDINATE_COLUMNS, params=_PARAMS,
        title="Longitude égale à la latitude",
        explanation="La longitude et la latitude ont la même valeur : une colonne a été recopiée dans l'autre "
                    "et le point est faux.",
        fix="Reprendre les deux coordonnées à la source (géocodage de l'adresse) ; vérifier la formule ou la "
            "copie qui a rempli une colonne avec l'autre.",
        origin="consolidation IRVE (coordonnées longitude = latitude)")
def lon_equals_lat(ctx, decl) -> int:
    return _coordinates_hits(ctx, decl, "lon = lat",
                             "'longitude = latitude = %s : une colonne a été recopiée dans l''autre'")


@define("coordinates_swapped", level="error", columns=(), optional_columns=COORDINATE_COLUMNS, params=_PARAMS,
        title="Longitude et latitude inversées",
        explanation="Le point tombe hors de France, mais il tomberait en France si l'on échangeait la longitude "
                    "et la latitude.",
        fix="Échanger les deux valeurs : la longitude (est-ouest, ~-5 à 10 en métropole) vient en premier dans "
            "[longitude, latitude].",
        origin="consolidation IRVE (coordonnées inversées)")
def coordinates_swapped(ctx, decl) -> int:
    return _coordinates_hits(ctx, decl, "lon <> lat and zone is null and zone_swapped is not null",
                             "'longitude %s et latitude %s inversées : échangées, le point tombe en %s'")


@define("outside_france", level="error", columns=(), optional_columns=COORDINATE_COLUMNS, params=_PARAMS,
        title="Point hors de France",
        explanation="Le point ne tombe ni en métropole, ni en Corse, ni dans un département ou une collectivité "
                    "d'outre-mer.",
        fix="Vérifier les coordonnées (degrés décimaux WGS84, point décimal, signe de la longitude à l'ouest de "
            "Greenwich) ; des coordonnées Lambert 93 se convertissent en WGS84.",
        origin="emprise de la France (métropole, Corse, outre-mer)")
def outside_france(ctx, decl) -> int:
    return _coordinates_hits(ctx, decl, "lon <> lat and zone is null and zone_swapped is null",
                             "'point (longitude %s, latitude %s) hors de France (métropole, Corse, outre-mer)%s'")


@define("far_from_commune", level="warning", columns=("commune",), optional_columns=COORDINATE_COLUMNS,
        params={**_PARAMS, "max_km": 5},
        needs=("raw.ign_adminexpress__departements|les contours des départements (IGN Admin Express)",),
        title="Point loin de la commune indiquée",
        explanation="Le point est loin de la commune que la ligne indique : l'une des deux informations est "
                    "fausse (géocodage, code commune d'une autre adresse).",
        fix="Vérifier l'adresse, le code INSEE de la commune et le géocodage ; corriger celui des deux qui est "
            "faux.",
        origin="consolidation IRVE (code INSEE vérifié par les coordonnées)")
def far_from_commune(ctx, decl) -> int:
    value, lon, lat = point_sql(decl.params)
    code = repaired(decl.params["commune"], 5)
    contours = _Contours(ctx.conn)
    limit = float(decl.params["max_km"])
    column = decl.params.get("point") or decl.params.get("longitude")
    hits = []
    # Streamed through a server-side cursor; only the violations are held.
    with ctx.conn.transaction(), ctx.conn.cursor(name="rule_points") as cur:
        cur.itersize = 5000
        cur.execute(f"select _line_number, {value}, {code}, {lon}, {lat} from {ctx.table} "
                    f"where {lon} is not null and {lat} is not null and {lon} <> {lat} "
                    f"and nullif(btrim({quote_ident(decl.params['commune'])}), '') is not null")
        for line, shown, commune, x, y in cur:
            verdict = contours.verdict(commune, x, y, limit)
            if verdict:
                hits.append((line, column, shown, verdict))
    return ctx.add_hits(hits)


class _Contours:
    """Commune contours when loaded (`raw.ign_adminexpress__communes_*`), else the département's."""

    def __init__(self, conn):
        self.communes = _load(conn, "raw.ign_adminexpress__communes_%")
        self.departements = _load(conn, "raw.ign_adminexpress__departements")

    def verdict(self, commune: str, lon: float, lat: float, limit: float) -> str | None:
        if commune in self.communes:
            km = distance_km(self.communes[commune], lon, lat)
            return f"point à {km:.1f} km du contour de la commune {commune}".replace(".", ",") if km > limit else None
        dep = commune[:3] if commune.startswith("97") else commune[:2]
        if dep not in self.departements:
            return None
        km = distance_km(self.departements[dep], lon, lat)
        if km > limit:
            return (f"point à {km:.1f} km du département {dep} de la commune {commune} (contour de la commune non "
                    f"chargé)").replace(".", ",", 1)
        return None


def _load(conn, pattern: str) -> dict[str, list]:
    tables = [t for t, in conn.execute(
        "select format('%%I.%%I', schemaname, tablename) from pg_tables where schemaname = 'raw' "
        "and tablename like %s and tablename not like '%%\\_\\_new'", (pattern.split(".", 1)[1],)).fetchall()]
    out: dict[str, list] = {}
    for table in tables:
        for code, geometry in conn.execute(f"select code, geometry from {table}").fetchall():
            if code and geometry:
                out[code] = _rings(geometry)
    return out


def _rings(geometry: str) -> list[list[tuple[float, float]]]:
    g = json.loads(geometry)
    polygons = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
    return [[(float(x), float(y)) for x, y, *_ in ring] for polygon in polygons for ring in polygon]


@lru_cache(maxsize=1)
def _earth_km_per_degree() -> float:
    return 6371.0088 * math.pi / 180


def distance_km(rings: list, lon: float, lat: float) -> float:
    """0 inside the polygon (even-odd over every ring), else the distance to its nearest edge (km)."""
    inside = False
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
    if inside:
        return 0.0
    scale = math.cos(math.radians(lat))
    best = math.inf
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
            best = min(best, _segment_distance((lon - x1) * scale, lat - y1, (x2 - x1) * scale, y2 - y1))
    return best * _earth_km_per_degree()


def _segment_distance(px: float, py: float, dx: float, dy: float) -> float:
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, (px * dx + py * dy) / length))
    return math.hypot(px - t * dx, py - t * dy)


family("coordinates", "lon_equals_lat", "coordinates_swapped", "outside_france", "far_from_commune")
