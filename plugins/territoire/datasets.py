"""The published datasets, declared in `catalog/datasets.yml`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from territoire import settings
from territoire.catalog import LICENCES, CatalogError

DATASET_FIELDS = {
    "id", "title", "description", "licence", "sources", "keywords", "primary_key", "order_by",
    "accrual_periodicity", "spatial_coverage", "temporal_coverage", "quality", "geometry",
    "secrecy", "personal_columns", "personal_data", "portal", "columns", "publisher", "hvd_category",
}
# High-value dataset categories (Commission Implementing Regulation (EU) 2023/138), as named in
# datasets.yml: their URI in the EU vocabulary http://data.europa.eu/bna/asd487ae75 and label.
HVD_CATEGORIES = {
    "geospatial": ("http://data.europa.eu/bna/c_ac64a52d", "Géospatiales"),
    "environment": ("http://data.europa.eu/bna/c_dd313021", "Observation de la terre et environnement"),
    "meteorological": ("http://data.europa.eu/bna/c_164e0bf5", "Météorologiques"),
    "statistics": ("http://data.europa.eu/bna/c_e1da4e07", "Statistiques"),
    "companies": ("http://data.europa.eu/bna/c_a9135398", "Entreprises et propriété d'entreprises"),
    "mobility": ("http://data.europa.eu/bna/c_b79e35eb", "Mobilité"),
}
REQUIRED = ("id", "title", "description", "sources", "primary_key")
# Licence Ouverte 2.0 unless the dataset says otherwise; an ODbL source makes it ODbL anyway
# (publication.metadata.licence_of).
DEFAULT_LICENCE = "etalab-2.0"


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    description: str
    licence: str
    sources: tuple[str, ...]
    primary_key: tuple[str, ...]
    order_by: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    accrual_periodicity: str = "irregular"
    spatial_coverage: str = "France"
    temporal_coverage: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None
    secrecy: list[dict[str, Any]] = field(default_factory=list)
    personal_columns: tuple[str, ...] = ()
    portal: dict[str, Any] | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    publisher: str | None = None
    # columns published only on the rows where a condition holds: [{column, published_when, reason}]
    personal_data: list[dict[str, Any]] = field(default_factory=list)
    hvd_category: str | None = None

    @property
    def audit_table(self) -> str:
        return f"audit.{self.id}"

    @property
    def published_table(self) -> str:
        return f"published.{self.id}"

    @property
    def sort_columns(self) -> tuple[str, ...]:
        return self.order_by or self.primary_key


def datasets_path() -> Path:
    return settings.PROJECT_ROOT / "catalog" / "datasets.yml"


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> dict[str, Dataset]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    result: dict[str, Dataset] = {}
    for i, raw in enumerate(data.get("datasets") or []):
        where = f"{path}: dataset #{i + 1}" + (f" ({raw.get('id')!r})" if isinstance(raw, dict) else "")
        if not isinstance(raw, dict):
            raise CatalogError(f"{where}: expected a mapping")
        unknown = set(raw) - DATASET_FIELDS
        if unknown:
            raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for key in REQUIRED:
            if not raw.get(key):
                raise CatalogError(f"{where}: missing required field {key!r}")
        licence = raw.get("licence") or DEFAULT_LICENCE
        if licence not in LICENCES:
            raise CatalogError(f"{where}: field 'licence' is {licence!r}, expected one of {sorted(LICENCES)}")
        _check_optional_fields(raw, where)
        if raw["id"] in result:
            raise CatalogError(f"{where}: duplicate dataset id")
        result[raw["id"]] = Dataset(
            id=raw["id"], title=raw["title"], description=" ".join(raw["description"].split()),
            licence=licence, sources=tuple(raw["sources"]), primary_key=tuple(raw["primary_key"]),
            order_by=tuple(raw.get("order_by") or ()), keywords=tuple(raw.get("keywords") or ()),
            accrual_periodicity=raw.get("accrual_periodicity", "irregular"),
            spatial_coverage=raw.get("spatial_coverage", "France"),
            temporal_coverage=raw.get("temporal_coverage") or {}, quality=raw.get("quality") or {},
            geometry=raw.get("geometry"), secrecy=list(raw.get("secrecy") or []),
            personal_columns=tuple(raw.get("personal_columns") or ()), portal=raw.get("portal"),
            columns=raw.get("columns") or {}, publisher=raw.get("publisher"),
            personal_data=list(raw.get("personal_data") or []), hvd_category=raw.get("hvd_category"),
        )
    return result


def _check_optional_fields(raw: dict, where: str) -> None:
    category = raw.get("hvd_category")
    if category is not None and category not in HVD_CATEGORIES:
        raise CatalogError(f"{where}: field 'hvd_category' is {category!r}, expected one of "
                           f"{', '.join(HVD_CATEGORIES)} (or no field: not a high-value dataset)")
    for i, rule in enumerate(raw.get("personal_data") or []):
        if not isinstance(rule, dict) or not {"column", "published_when", "reason"} <= set(rule):
            raise CatalogError(f"{where}: personal_data #{i + 1}: expected {{column, published_when, reason}}, "
                               f"got {rule!r}")


def load_datasets(path: Path | None = None) -> dict[str, Dataset]:
    p = Path(path) if path else datasets_path()
    return _load(str(p.resolve()), p.stat().st_mtime_ns)


def get_dataset(dataset_id: str) -> Dataset:
    datasets = load_datasets()
    try:
        return datasets[dataset_id]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset_id!r} (known: {', '.join(datasets)})") from None
