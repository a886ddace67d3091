"""'Ma commune en chiffres': a territory's indicators beside those of the territories it belongs to
and of France, with what the sources cover, their dates, and links to the rows behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from territoire.catalog import load_catalog
from territoire.portal.catalogue import DatasetView
from territoire.portal.db import read_sql

LEVELS = {"commune": "Commune", "epci": "Intercommunalité (EPCI)", "departement": "Département",
          "region": "Région", "france": "France"}
CODE_COLUMNS = {"commune": "code_commune", "epci": "code_epci", "departement": "code_departement",
                "region": "code_region"}
# The territories shown beside each level, from the most local to France.
CHAINS = {"commune": ("commune", "epci", "departement", "region"), "epci": ("epci", "departement", "region"),
          "departement": ("departement", "region"), "region": ("region",)}
INDICATORS_TABLE = "indicateurs_territoriaux"
TERRITORY_TABLE = "dim_territoire"


@dataclass
class Place:
    niveau: str
    code: str
    nom: str


@dataclass
class Cell:
    value: object = None
    coverage: float | None = None

    @property
    def present(self) -> bool:
        return self.value is not None


@dataclass
class IndicatorRow:
    indicateur: str
    categorie: str
    annee: int
    unite: str
    source: str
    millesime: str
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        text = self.indicateur.replace("_", " ")
        return text[:1].upper() + text[1:] + ("" if self.categorie == "total" else f" ({self.categorie})")


@dataclass
class TerritoryPage:
    place: Place
    chain: list[Place]
    indicators: list[IndicatorRow]
    data_links: list[dict]


def places(conn, niveau: str, code: str) -> list[Place] | None:
    """The territory and those it belongs to (names from dim_territoire); None when unknown."""
    row = conn.execute(read_sql("territory"), {"niveau": niveau, "code": code}).fetchone()
    if row is None:
        return None
    codes = {"commune": (row[0], row[1]), "epci": (row[2], row[3]), "departement": (row[4], row[5]),
             "region": (row[6], row[7])}
    return [Place(level, *codes[level]) for level in CHAINS[niveau] if codes[level][0]]


def source_titles() -> dict[str, str]:
    """{source id: 'title (producer)'} from catalog/sources.yml, to name an indicator's source."""
    try:
        return {s.id: f"{s.title} ({s.producer})" for s in load_catalog()}
    except Exception:  # noqa: BLE001 - a catalog error is reported by its own check; the page shows the id
        return {}


def indicators(conn, chain: list[Place]) -> list[IndicatorRow]:
    params = {"niveaux": [p.niveau for p in chain], "codes": [p.code for p in chain]}
    titles = source_titles()
    table: dict[tuple[str, str], IndicatorRow] = {}
    for niveau, _code, ind, cat, year, value, unit, source, coverage, vintage in conn.execute(
            read_sql("territory_indicators"), params):
        row = table.setdefault((ind, cat), IndicatorRow(ind, cat, year, unit, titles.get(source, source), vintage))
        row.cells[niveau] = Cell(value, None if coverage is None else float(coverage))
    return list(table.values())


def data_links(conn, views: list[DatasetView], place: Place) -> list[dict]:
    """Per published dataset with this level's code column: how many rows name the territory."""
    column = CODE_COLUMNS[place.niveau]
    links = []
    for view in views:
        if not view.column(column):
            continue
        try:
            count = conn.execute(sql.SQL("select count(*) from {} where {} = %s").format(
                sql.Identifier("published", view.id), sql.Identifier(column)), [place.code]).fetchone()[0]
        except psycopg.errors.QueryCanceled:
            conn.rollback()
            count = None
        links.append({"view": view, "colonne": column, "lignes": count})
    return links


def search(conn, text: str) -> list[tuple]:
    return conn.execute(read_sql("territory_search"), {"q": text.strip()[:100]}).fetchall()
