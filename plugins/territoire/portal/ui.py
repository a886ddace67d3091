"""The Jinja2 environment shared by the portal and the managers' quality report.

One layout (`templates/base.html`), one stylesheet (`static/territoire.css`), the same filters for
dates (Europe/Paris), numbers (French) and charts, so the report and the portal look and read alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from territoire.portal import charts

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STYLESHEET = STATIC / "territoire.css"
QUALITY_TEMPLATES = HERE.parent / "quality" / "templates"
PARIS = ZoneInfo("Europe/Paris")


def as_datetime(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def paris(value, with_time: bool = True) -> str:
    """'06/12/2026 à 17:42' in Paris time; '—' when unknown."""
    moment = as_datetime(value)
    if moment is None:
        return "—"
    local = moment.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %H:%M") if with_time else local.strftime("%d/%m/%Y")


def age(value, now=None) -> str:
    """'aujourd'hui', 'hier', 'il y a 3 jours': managers read ages faster than timestamps."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    days = ((as_datetime(now) or datetime.now(UTC)).astimezone(PARIS).date() - moment.astimezone(PARIS).date()).days
    if days < 1:
        return "aujourd'hui"
    return "hier" if days == 1 else f"il y a {days} jours"


def nombre(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, (int, float)) or hasattr(value, "as_integer_ratio"):
        return charts.number_label(float(value))
    if isinstance(value, (date, datetime)):
        return value.strftime("%d/%m/%Y")
    return str(value)


def pourcent(value) -> str:
    if value is None:
        return "—"
    return charts.number_label(round(float(value) * 100, 1)) + "\u00a0%"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), FileSystemLoader(str(QUALITY_TEMPLATES))]),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(paris=paris, age=age, nombre=nombre, pourcent=pourcent)
    env.globals.update(charts=charts)
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
