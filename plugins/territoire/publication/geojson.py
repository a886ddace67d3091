"""GeoJSON export of datasets that have coordinates or a geometry.

Declared in `catalog/datasets.yml`:

    geometry: {longitude: longitude, latitude: latitude}   # a Point per row
    geometry: {longitude: lon, latitude: lat, verified: coordonnees_verifiees}
    geometry: {geojson: geometry}                         # a column holding a GeoJSON geometry

`verified` names a boolean column in which the producer flags coordinates it doubts (IRVE's
`consolidated_is_lon_lat_correct`). Such a row whose point cannot be right (longitude equal to
latitude, or outside every box of France) gets `"geometry": null`: a map must not show a charging
point in the Caucasus. Its properties, coordinates and flag included, are exported as they are.

One Feature per row, in the dataset's order, with every exported column as a property (except the
geometry column itself). A row without coordinates keeps its Feature with `"geometry": null`, as
RFC 7946 allows, so the GeoJSON has as many features as the CSV has rows. Coordinates are WGS 84
(RFC 7946); the writer refuses values outside [-180, 180] x [-90, 90], which are not degrees.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from territoire.datasets import Dataset
from territoire.naming import quote_ident

BATCH_ROWS = 20_000


class GeometryError(ValueError):
    """The geometry declaration or a geometry value is wrong; the message names dataset, row and column."""


def _json_value(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def geometry_columns(dataset: Dataset, columns: list[str]) -> list[str]:
    """The columns the declaration uses; raises GeometryError when it is malformed or names a missing column."""
    g = dataset.geometry or {}
    if set(g) in ({"longitude", "latitude"}, {"longitude", "latitude", "verified"}):
        needed = [g["longitude"], g["latitude"]] + ([g["verified"]] if "verified" in g else [])
    elif set(g) == {"geojson"}:
        needed = [g["geojson"]]
    else:
        raise GeometryError(
            f"catalog/datasets.yml, dataset {dataset.id!r}, field 'geometry': expected "
            f"{{longitude: <column>, latitude: <column>[, verified: <column>]}} or {{geojson: <column>}}, got {g!r}")
    missing = [c for c in needed if c not in columns]
    if missing:
        raise GeometryError(f"catalog/datasets.yml, dataset {dataset.id!r}, field 'geometry': column(s) "
                            f"{', '.join(missing)} not in published.{dataset.id} (exported columns: {', '.join(columns)})")
    return needed


def write_geojson(conn, dataset: Dataset, columns: list[tuple[str, str]], folder: Path) -> list[Path]:
    if not dataset.geometry:
        return []
    names = [n for n, _ in columns]
    geo = geometry_columns(dataset, names)
    point = "longitude" in dataset.geometry
    props = [n for n in names if point or n != geo[0]]
    select = ", ".join(quote_ident(c) for c in props + geo)
    order = ", ".join(quote_ident(c) for c in dataset.sort_columns)
    path = folder / f"{dataset.id}.geojson"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write('{"type":"FeatureCollection","name":' + json.dumps(dataset.id) + ',"features":[\n')
        first = True
        with conn.cursor(name=f"export_geo_{dataset.id}") as cur:
            cur.itersize = BATCH_ROWS
            cur.execute(f"select {select} from published.{quote_ident(dataset.id)} order by {order}")
            for i, row in enumerate(cur, start=1):
                values = row[:len(props)]
                geometry = _geometry(dataset, row[len(props):], point, i)
                feature = {"type": "Feature", "geometry": geometry,
                           "properties": {k: _json_value(v) for k, v in zip(props, values, strict=True)}}
                f.write(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
                first = False
        f.write("\n]}\n")
    return [path]


def plausible_in_france(lon: float, lat: float) -> bool:
    """A point that can be in France: longitude differs from latitude, inside one of the boxes the
    quality suites use (metropolitan France, Corsica and the overseas territories)."""
    from territoire.quality.suites import FRANCE_BOXES

    return lon != lat and any(a <= lon <= b and c <= lat <= d for a, b, c, d in FRANCE_BOXES.values())


def _geometry(dataset: Dataset, values, point: bool, row: int):
    if point:
        lon, lat, *verified = values
        if lon is None or lat is None:
            return None
        lon, lat = float(lon), float(lat)
        if verified and verified[0] is False and not plausible_in_france(lon, lat):
            return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise GeometryError(
                f"published.{dataset.id}, row {row} (in export order), columns {dataset.geometry['longitude']}/"
                f"{dataset.geometry['latitude']}: ({lon}, {lat}) is not a WGS 84 longitude/latitude; "
                f"fix the mart (swapped or projected coordinates?) before publishing")
        return {"type": "Point", "coordinates": [lon, lat]}
    (value,) = values
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise GeometryError(f"published.{dataset.id}, row {row} (in export order), column "
                                f"{dataset.geometry['geojson']}: not GeoJSON ({exc})") from None
    if not isinstance(value, dict) or "type" not in value:
        raise GeometryError(f"published.{dataset.id}, row {row} (in export order), column "
                            f"{dataset.geometry['geojson']}: expected a GeoJSON geometry object")
    return value
