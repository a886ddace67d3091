"""Geometry of the server-rendered SVG charts and maps (the templates draw them; no JavaScript).

Each function returns plain numbers and labels for `templates/graphiques.html`; every chart also
gets a data table in the page, so the SVG is an illustration, never the only way to read a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 40


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Mark:
    x: float
    y: float
    label: str
    css: str = ""


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    path: str = ""
    bar_width: float = 0.0
    baseline: float = HEIGHT - BOTTOM
    left: int = LEFT
    right: int = WIDTH - RIGHT


def _nice_max(value: float) -> float:
    """The round number just above `value` (axis top): 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def number_label(value: float) -> str:
    """French number: thin space for thousands, comma for decimals, no needless decimals; a small
    non-zero value keeps three significant digits (0,0042 must never read as 0)."""
    if value and abs(value) < 1:
        text = f"{value:.{max(2, 2 - math.floor(math.log10(abs(value))))}f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return text.replace(",", "\u202f").replace(".", ",")


def _y_scale(top_value: float):
    span = HEIGHT - TOP - BOTTOM
    return lambda v: TOP + span * (1 - (v / top_value if top_value else 0))


def _y_ticks(top_value: float, suffix: str) -> list[Tick]:
    y = _y_scale(top_value)
    return [Tick(y(top_value * k / 4), number_label(top_value * k / 4) + suffix) for k in range(5)]


def dated_line(points: list[tuple[datetime, float, bool, str]], *, y_max: float | None = None,
               suffix: str = "", date_format: str = "%d/%m/%Y") -> Chart:
    """A line over time: x is proportional to the date (a real dated axis), one mark per point.

    `points` are (when, value, emphasised, label); emphasised points are drawn filled (published
    runs in the quality report), the others hollow, so the two read apart without colour.
    """
    chart = Chart()
    if not points:
        return chart
    top_value = y_max or _nice_max(max(p[1] for p in points))
    y = _y_scale(top_value)
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds() or 1.0
    width = WIDTH - LEFT - RIGHT

    def x(when: datetime) -> float:
        if first == last:
            return LEFT + width / 2
        return LEFT + width * (when - first).total_seconds() / span

    chart.y_ticks = _y_ticks(top_value, suffix)
    chart.marks = [Mark(round(x(w), 1), round(y(v), 1), label, "point-publie" if strong else "point-non-publie")
                   for w, v, strong, label in points]
    chart.path = "M" + " L".join(f"{m.x},{m.y}" for m in chart.marks)
    chosen = _spread(points, 4)
    chart.x_ticks = [Tick(round(x(p[0]), 1), p[0].strftime(date_format)) for p in chosen]
    return chart


def _spread(items: list, count: int) -> list:
    """At most `count` items, first and last included, evenly spaced (axis labels that do not overlap)."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def bars(values: list[tuple[str, float]], *, suffix: str = "") -> Chart:
    """Vertical bars, one per label (a period of a time series), from zero."""
    chart = Chart()
    if not values:
        return chart
    top_value = _nice_max(max(max(v for _, v in values), 0))
    y = _y_scale(top_value)
    slot = (WIDTH - LEFT - RIGHT) / len(values)
    chart.bar_width = round(max(2.0, min(48.0, slot * 0.7)), 1)
    chart.y_ticks = _y_ticks(top_value, suffix)
    chart.marks = [Mark(round(LEFT + i * slot + (slot - chart.bar_width) / 2, 1), round(y(max(v, 0)), 1),
                        f"{label} : {number_label(v)}{suffix}") for i, (label, v) in enumerate(values)]
    chart.x_ticks = [Tick(round(LEFT + values.index(item) * slot + slot / 2, 1), item[0])
                     for item in _spread(values, 8)]
    return chart


METROPOLE = (-5.5, 10.0, 41.0, 51.5)  # lon min, lon max, lat min, lat max (Corsica included)


def in_metropole(lon: float, lat: float) -> bool:
    return METROPOLE[0] <= lon <= METROPOLE[1] and METROPOLE[2] <= lat <= METROPOLE[3]


def point_map(points: list[tuple[float, float, str]], size: int = 480) -> Chart:
    """Points placed by longitude/latitude (equirectangular, corrected by the cosine of the mean
    latitude), the frame fitted to the points; no tiles, nothing fetched. Callers keep overseas
    points apart (a frame holding Réunion and Alsace shows neither)."""
    chart = Chart(width=size, height=size)
    if not points:
        return chart
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    factor = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * factor, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    scale = (size - 40) / max(span_x, span_y)
    off_x = (size - span_x * scale) / 2
    off_y = (size - span_y * scale) / 2
    chart.marks = [Mark(round(off_x + (lon - min(lons)) * factor * scale, 1),
                        round(size - off_y - (lat - min(lats)) * scale, 1), label, "lieu")
                   for lon, lat, label in points]
    return chart
