"""What the portal says about each dataset: `catalog/datasets.yml`, the published table's columns,
the published files and the quality state the managers' report leaves in `qualite/etat.json`."""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from territoire import settings
from territoire.datasets import Dataset, load_datasets
from territoire.portal.db import Column
from territoire.publication import metadata

FREQUENCIES_FR = {
    "continuous": "en continu", "daily": "chaque jour", "weekly": "chaque semaine", "monthly": "chaque mois",
    "quarterly": "chaque trimestre", "semiannual": "deux fois par an", "annual": "chaque année",
    "biennial": "tous les deux ans", "irregular": "irrégulière", "punctual": "ponctuelle (pas de mise à jour)",
}
TYPES_FR = {"entier": "nombre entier", "nombre": "nombre décimal", "booleen": "oui / non", "date": "date",
            "horodatage": "date et heure", "texte": "texte"}
# Columns with few values, good for a group-by example (the API caps the number of groups).
GROUPING_COLUMNS = ("code_region", "niveau", "annee", "code_departement", "indicateur", "categorie")
FORMATS = {".csv": "CSV (séparateur virgule, UTF-8)", ".parquet": "Parquet", ".geojson": "GeoJSON",
           ".json": "JSON", ".xlsx": "Excel"}


def folded(text: str) -> str:
    """Lower case without accents: 'Département' and 'departement' match."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@dataclass
class DownloadFile:
    name: str
    label: str
    size: int


@dataclass
class DatasetView:
    dataset: Dataset
    columns: list[Column] = field(default_factory=list)
    quality: dict | None = None

    @property
    def id(self) -> str:
        return self.dataset.id

    @property
    def published(self) -> bool:
        return bool(self.columns)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def licence(self) -> metadata.Licence | None:
        try:
            return metadata.licence_of(self.dataset)
        except metadata.MetadataError:
            return None

    @property
    def frequency(self) -> str:
        return FREQUENCIES_FR.get(self.dataset.accrual_periodicity, self.dataset.accrual_periodicity)

    @property
    def producers(self) -> list[str]:
        try:
            return metadata.producers_of(self.dataset)
        except Exception:  # noqa: BLE001 - an unknown source must not break the page; the catalog check reports it
            return []

    @property
    def publisher(self) -> str:
        return metadata.publisher_of(self.dataset)

    def schema(self) -> list[dict]:
        dbt = metadata.dbt_docs(self.id)
        return [{"nom": c.name, "type": TYPES_FR[c.family], **metadata.column_docs(self.dataset, c.name, dbt)}
                for c in self.columns]

    def matches(self, words: list[str]) -> bool:
        d = self.dataset
        haystack = folded(" ".join([d.id, d.title, d.description, *d.keywords, *self.column_names]))
        return all(w in haystack for w in words)

    @property
    def temporal_column(self) -> Column | None:
        name = (self.dataset.temporal_coverage or {}).get("column")
        return self.column(name) if name else None

    @property
    def geometry(self) -> dict:
        g = self.dataset.geometry or {}
        needed = [g.get("longitude"), g.get("latitude")] if "longitude" in g else [g.get("geojson")]
        return g if g and all(self.column(n) for n in needed if n) else {}

    def downloads(self) -> list[DownloadFile]:
        folder = settings.publication_dir() / "datasets" / self.id
        if not folder.is_dir():
            return []
        return [DownloadFile(p.name, FORMATS.get(p.suffix, "métadonnées (Data Package)" if p.name == "datapackage.json"
                                                 else p.suffix.lstrip(".")), p.stat().st_size)
                for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]

    def download_path(self, name: str) -> Path | None:
        """The published file of that name, only if it is one of the listed downloads."""
        if name not in {f.name for f in self.downloads()}:
            return None
        return settings.publication_dir() / "datasets" / self.id / name

    def api_examples(self, base: str) -> list[dict]:
        """Ready-to-copy calls of the open API (docs/api.md): rows, a filter, a group-by, an export."""
        api = f"{base}/api/datasets/{self.id}"
        first = self.columns[0].name if self.columns else "colonne"
        group = next((name for name in GROUPING_COLUMNS if self.column(name)), None)
        examples = [
            {"titre": "Les 100 premières lignes (JSON)", "commande": f"curl '{api}/rows?page_size=100'"},
            {"titre": f"Filtrer sur une colonne ({first})",
             "commande": f"curl '{api}/rows?{urlencode({first + '__eq': 'VALEUR'})}'"},
            {"titre": "Tout le jeu filtré en CSV", "commande": f"curl -o {self.id}.csv '{api}/export?format=csv'"},
            {"titre": "Description, schéma et qualité", "commande": f"curl '{api}'"},
        ]
        if group:
            examples.insert(2, {"titre": f"Compter les lignes par {group}", "commande":
                                f"curl '{api}/aggregate?{urlencode({'group_by': group, 'agg': 'count'})}'"})
        return examples

    def export_formats(self) -> list[tuple[str, str]]:
        """(format, label) of the API's streamed exports of this dataset."""
        formats = [("csv", "CSV"), ("json", "JSON"), ("parquet", "Parquet")]
        return formats + ([("geojson", "GeoJSON")] if self.geometry else [])


def quality_state() -> dict:
    """The state the last managers' report wrote (`qualite/etat.json`), or an empty one."""
    path = settings.publication_dir() / "qualite" / "etat.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"jeux": [], "genere_le": None, "depuis": {}}


def views(columns: dict[str, list[Column]], state: dict | None = None) -> list[DatasetView]:
    state = state if state is not None else quality_state()
    quality = {e["id"]: e for e in state.get("jeux", [])}
    # TERRITOIRE_DATASETS: the same declarations file the open API reads, when it is not the default one.
    declared = load_datasets(os.environ.get("TERRITOIRE_DATASETS") or None)
    return [DatasetView(d, columns.get(d.id, []), quality.get(d.id)) for d in declared.values()]


def search(all_views: list[DatasetView], query: str) -> list[DatasetView]:
    words = folded(query).split()
    return [v for v in all_views if v.matches(words)] if words else list(all_views)
