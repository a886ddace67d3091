"""What the publication says about a dataset: licence, sources, producers, column docs, frequency.

Shared by the Data Package (datapackage.json), the DCAT-AP catalogue and the portal push, so the
three never disagree. Everything here is derived from `catalog/datasets.yml`, `catalog/sources.yml`
and the dbt docs; nothing depends on the clock.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from territoire import settings
from territoire.catalog import Source, load_catalog
from territoire.datasets import Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Licence:
    id: str  # the datasets.yml / sources.yml identifier
    name: str  # SPDX identifier (Frictionless `licenses[].name`)
    title: str
    url: str  # the URL data.gouv.fr recognises for this licence
    udata_id: str  # the licence id of the udata API (`license` field)


LICENCES = {
    "etalab-2.0": Licence("etalab-2.0", "etalab-2.0", "Licence Ouverte / Open Licence version 2.0",
                          "https://www.etalab.gouv.fr/licence-ouverte-open-licence", "lov2"),
    "odbl-1.0": Licence("odbl-1.0", "ODbL-1.0", "Open Data Commons Open Database License (ODbL) 1.0",
                        "https://opendatacommons.org/licenses/odbl/1-0/", "odc-odbl"),
    "cc-by-4.0": Licence("cc-by-4.0", "CC-BY-4.0", "Creative Commons Attribution 4.0",
                         "https://creativecommons.org/licenses/by/4.0/", "cc-by"),
    "mit": Licence("mit", "MIT", "MIT License", "https://spdx.org/licenses/MIT.html", "other-open"),
    "unlicense": Licence("unlicense", "Unlicense", "The Unlicense", "https://unlicense.org/", "other-pd"),
}
# Share-alike licences: a dataset built from such a source must be published under the same licence.
SHARE_ALIKE = ("odbl-1.0",)

# datasets.yml `accrual_periodicity` -> EU frequency vocabulary and udata frequency.
FREQUENCIES = {
    "continuous": ("CONT", "continuous"),
    "daily": ("DAILY", "daily"),
    "weekly": ("WEEKLY", "weekly"),
    "monthly": ("MONTHLY", "monthly"),
    "quarterly": ("QUARTERLY", "quarterly"),
    "semiannual": ("ANNUAL_2", "semiannual"),
    "annual": ("ANNUAL", "annual"),
    "biennial": ("BIENNIAL", "biennial"),
    "irregular": ("IRREG", "irregular"),
    "punctual": ("NEVER", "punctual"),
}
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"

DEFAULT_PUBLISHER = "Plateforme territoire"

# Unit guessed from a column-name suffix when datasets.yml declares none (the warehouse names
# measures `<quantity>_<unit>`, e.g. `consommation_totale_mwh`).
UNIT_SUFFIXES = {
    "_mwh": "MWh", "_kwh": "kWh", "_gwh": "GWh", "_kw": "kW", "_kva": "kVA", "_tonnes": "t",
    "_eur": "EUR", "_euros": "EUR", "_km": "km", "_ug_m3": "µg/m³", "_pct": "%",
}


class MetadataError(ValueError):
    """A dataset's publication metadata is inconsistent; the message names the dataset and the field."""


def sources_of(dataset: Dataset) -> list[Source]:
    catalog = load_catalog()
    try:
        return [catalog.get(s) for s in dataset.sources]
    except KeyError as exc:
        raise MetadataError(f"catalog/datasets.yml, dataset {dataset.id!r}, field 'sources': {exc.args[0]}") from None


def licence_of(dataset: Dataset) -> Licence:
    """The licence the files are published under.

    Licence Ouverte 2.0 unless a source is under a share-alike licence (ODbL: Ville de Paris,
    Montpellier Méditerranée Métropole, Atmo), which then applies to the derived dataset.
    """
    licence = dataset.licence
    required = sorted({s.licence for s in sources_of(dataset) if s.licence in SHARE_ALIKE})
    if required and licence not in required:
        log.warning("dataset %s declares licence %s but source(s) %s require %s: publishing under %s",
                    dataset.id, licence, ", ".join(s.id for s in sources_of(dataset) if s.licence in SHARE_ALIKE),
                    required[0], required[0])
        licence = required[0]
    if licence not in LICENCES:
        raise MetadataError(f"catalog/datasets.yml, dataset {dataset.id!r}, field 'licence': unknown licence "
                            f"{licence!r} (known: {', '.join(sorted(LICENCES))})")
    return LICENCES[licence]


def frequency_of(dataset: Dataset) -> tuple[str, str]:
    """(EU frequency URI, udata frequency) of the dataset's `accrual_periodicity`."""
    try:
        eu, udata = FREQUENCIES[dataset.accrual_periodicity]
    except KeyError:
        raise MetadataError(
            f"catalog/datasets.yml, dataset {dataset.id!r}, field 'accrual_periodicity': "
            f"{dataset.accrual_periodicity!r} is not one of {', '.join(FREQUENCIES)}") from None
    return EU_FREQUENCY + eu, udata


def publisher_of(dataset: Dataset) -> str:
    return dataset.publisher or os.environ.get("TERRITOIRE_PUBLISHER") or DEFAULT_PUBLISHER


def producers_of(dataset: Dataset) -> list[str]:
    seen: list[str] = []
    for s in sources_of(dataset):
        if s.producer not in seen:
            seen.append(s.producer)
    return seen


# ---- dbt docs --------------------------------------------------------------------------------

def _manifest_path() -> Path:
    return settings.dbt_project_dir() / "target" / "manifest.json"


@lru_cache(maxsize=4)
def _manifest_docs(path: str, _mtime: int) -> dict[str, dict]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    docs: dict[str, dict] = {}
    for node in data.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        docs[node["name"]] = {
            "description": node.get("description") or "",
            "columns": {c: (v.get("description") or "") for c, v in (node.get("columns") or {}).items()},
        }
    return docs


@lru_cache(maxsize=4)
def _yaml_docs(folder: str, _stamp: tuple) -> dict[str, dict]:
    docs: dict[str, dict] = {}
    for path in sorted(Path(folder).rglob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        for model in data.get("models") or []:
            if not isinstance(model, dict) or "name" not in model:
                continue
            docs[model["name"]] = {
                "description": _render_vars(" ".join(str(model.get("description") or "").split())),
                "columns": {c["name"]: _render_vars(" ".join(str(c.get("description") or "").split()))
                            for c in model.get("columns") or [] if isinstance(c, dict) and "name" in c},
            }
    return docs


_VAR = re.compile(r"\{\{\s*var\(\s*['\"](\w+)['\"]\s*\)\s*\}\}")


def _render_vars(text: str) -> str:
    """Replace `{{ var('x') }}` with the value in dbt_project.yml (the yml files are not rendered)."""
    if "{{" not in text:
        return text
    project = yaml.safe_load((settings.dbt_project_dir() / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    values = project.get("vars") or {}
    return _VAR.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


def dbt_docs(model: str) -> dict:
    """{description, columns: {name: description}} of a dbt model: from target/manifest.json when it
    knows the model and is newer than every yml file (Jinja rendered there), else from the yml files."""
    models = settings.dbt_project_dir() / "models"
    ymls = [(str(p), p.stat().st_mtime_ns) for p in models.rglob("*.yml")]
    manifest = _manifest_path()
    if manifest.is_file() and manifest.stat().st_mtime_ns >= max((m for _, m in ymls), default=0):
        docs = _manifest_docs(str(manifest), manifest.stat().st_mtime_ns)
        if model in docs:
            return docs[model]
    return _yaml_docs(str(models), tuple(sorted(ymls))).get(model, {"description": "", "columns": {}})


def column_docs(dataset: Dataset, column: str, dbt: dict | None = None) -> dict:
    """{description, unit, title} of a column: datasets.yml `columns:` first, then the dbt docs."""
    dbt = dbt if dbt is not None else dbt_docs(dataset.id)
    declared = dataset.columns.get(column) or {}
    if isinstance(declared, str):
        declared = {"description": declared}
    out = {}
    description = declared.get("description") or dbt.get("columns", {}).get(column) or ""
    if description:
        out["description"] = " ".join(str(description).split())
    unit = declared.get("unit")
    if unit is None:
        unit = next((u for suffix, u in UNIT_SUFFIXES.items() if column.endswith(suffix)), None)
    if unit:
        out["unit"] = unit
    if declared.get("title"):
        out["title"] = declared["title"]
    return out
