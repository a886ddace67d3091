"""The source catalog: every source the platform ingests, declared in `catalog/sources.yml`.

A source is a dataset from one producer (e.g. the INSEE COG); it has one or more resources
(files or API exports), each landing in its own raw table `raw.<source_id>__<resource>`.
Each resource has a location per profile: `production` (the real portal) and `demo` (a local
sample shipped with the project), chosen by `TERRITOIRE_PROFILE`.

The catalog is validated when loaded: an unknown field, a missing one or a wrong type raises
`CatalogError` naming the entry and the field.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from territoire import settings
from territoire.naming import IDENTIFIER_MAX, raw_table

CONNECTORS = {"local", "http", "opendatasoft", "udata", "gtfs"}
FORMATS = {"csv", "tsv", "json", "ndjson", "geojson", "gtfs", "zip", "xlsx", "xls", "ods"}
DOMAINS = {
    "territoire", "energie", "mobilite", "transport", "dechets", "budgets", "air", "subventions",
}
LICENCES = {"etalab-2.0", "odbl-1.0", "mit", "unlicense", "cc-by-4.0"}
_ID = re.compile(r"^[a-z][a-z0-9_]*$")

SOURCE_FIELDS = {
    "id": str, "domain": str, "title": str, "description": str, "producer": str, "licence": str,
    "schedule": (str, type(None)), "quarantine_threshold": (int, float), "resources": list,
    "homepage": str, "keywords": list, "tags": list, "queue": str, "max_row_drop": (int, float),
    "max_download_bytes": (int, str),
}
SOURCE_REQUIRED = ("id", "domain", "title", "producer", "licence", "resources")
RESOURCE_FIELDS = {
    "name": str, "title": str, "format": str, "schema": (str, type(None)), "location": dict,
    "options": dict, "primary_key": list, "rules": dict,
}
RESOURCE_REQUIRED = ("name", "format", "location")
LOCATION_FIELDS = {
    "connector": str, "url": str, "path": str, "dataset": str, "resource": str, "base_url": str,
    "params": dict, "member": str, "resource_title": str, "resource_format": str, "synthetic": bool,
}


# The location profiles (TERRITOIRE_PROFILE): the shipped samples, and the producers' portals.
PROFILES = ("demo", "production")
SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


class CatalogError(ValueError):
    """The catalog file is not valid; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Location:
    connector: str
    url: str | None = None
    path: str | None = None
    dataset: str | None = None
    resource: str | None = None
    base_url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    member: str | None = None
    resource_title: str | None = None
    resource_format: str | None = None
    # The file at this location is made up (a demo or test fixture), not the producer's data: what is
    # published from it says so (datapackage sources, DCAT).
    synthetic: bool = False

    def resolved_path(self) -> Path | None:
        if self.path is None:
            return None
        p = Path(self.path)
        return p if p.is_absolute() else settings.PROJECT_ROOT / p


@dataclass(frozen=True)
class Resource:
    source_id: str
    name: str
    format: str
    locations: dict[str, Location]
    title: str = ""
    schema: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    # Business rules (`territoire.ingest.rules.parse_rules` reads and checks them).
    rules: dict[str, Any] = field(default_factory=dict)

    @property
    def raw_table(self) -> str:
        return raw_table(self.source_id, self.name)

    def location(self, profile: str | None = None) -> Location:
        profile = profile or settings.profile()
        try:
            return self.locations[profile]
        except KeyError:
            raise CatalogError(
                f"source {self.source_id!r}, resource {self.name!r}: no location for profile {profile!r} "
                f"(has: {', '.join(sorted(self.locations))})"
            ) from None

    def schema_path(self) -> Path | None:
        return settings.schemas_dir() / self.schema if self.schema else None


@dataclass(frozen=True)
class Source:
    id: str
    domain: str
    title: str
    producer: str
    licence: str
    resources: tuple[Resource, ...]
    description: str = ""
    schedule: str | None = None
    quarantine_threshold: float = 0.05
    homepage: str | None = None
    keywords: tuple[str, ...] = ()
    # The Celery queue of the source's tasks (workers of their own for a domain); None: `default`.
    queue: str | None = None
    # A new snapshot may lose at most this share of the last good load's rows (else refused, unless forced).
    max_row_drop: float = 0.5
    # A download larger than this is abandoned (bytes; `2GB`, `500MB` in the catalog).
    max_download_bytes: int = 2 * 1024**3

    def resource(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(f"source {self.id!r} has no resource {name!r}")


@dataclass(frozen=True)
class Catalog:
    path: Path
    sources: tuple[Source, ...]

    def get(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        known = ", ".join(s.id for s in self.sources)
        raise KeyError(f"unknown source {source_id!r} in {self.path} (known: {known})")

    def __iter__(self):
        return iter(self.sources)


def _check_fields(where: str, data: Any, allowed: dict, required: tuple[str, ...]) -> None:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CatalogError(f"{where}: unknown field {key!r} ({hint}allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in data or data[key] in (None, ""):
            raise CatalogError(f"{where}: missing required field {key!r}")
    for key, value in data.items():
        if not isinstance(value, allowed[key]):
            expected = allowed[key]
            names = " or ".join(t.__name__ for t in expected) if isinstance(expected, tuple) else expected.__name__
            raise CatalogError(f"{where}: field {key!r} must be {names}, got {type(value).__name__} {value!r}")


def _one_of(where: str, key: str, value: str, allowed: set[str]) -> None:
    if value not in allowed:
        close = difflib.get_close_matches(str(value), list(allowed), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CatalogError(
            f"{where}: field {key!r} is {value!r}, expected one of {', '.join(sorted(allowed))}{hint}")


def _parse_location(where: str, data: Any) -> Location:
    _check_fields(where, data, LOCATION_FIELDS, ("connector",))
    _one_of(where, "connector", data["connector"], CONNECTORS)
    needs = {"local": "path", "http": "url", "gtfs": "url", "opendatasoft": "base_url", "udata": "dataset"}
    need = needs[data["connector"]]
    if data["connector"] == "gtfs" and "path" in data:
        need = "path"
    if need not in data:
        raise CatalogError(f"{where}: connector {data['connector']!r} needs field {need!r}")
    if data["connector"] == "opendatasoft" and "dataset" not in data:
        raise CatalogError(f"{where}: connector 'opendatasoft' needs field 'dataset'")
    return Location(**data)


def _check_schedule(where: str, schedule: str | None) -> None:
    """A preset or a cron expression Airflow accepts: a typo fails here, naming the source, rather than
    when Airflow parses the file that builds every ingestion DAG."""
    if schedule is None:
        return
    if schedule.startswith("@"):
        _one_of(where, "schedule", schedule, SCHEDULE_PRESETS)
        return
    from croniter import croniter  # installed with Airflow, which uses it for cron schedules

    if len(schedule.split()) not in (5, 6, 7) or not croniter.is_valid(schedule):
        raise CatalogError(f"{where}: field 'schedule' is {schedule!r}, not a cron expression "
                           f"(5 fields, e.g. '0 6 * * 1') nor one of {', '.join(SCHEDULE_PRESETS)}")


def _share(where: str, data: dict, key: str, default: float) -> float:
    value = float(data.get(key, default))
    if not 0 <= value <= 1:
        raise CatalogError(f"{where}: field {key!r} must be between 0 and 1, got {value}")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.I)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _byte_size(where: str, value: int | str) -> int:
    """`2GB`, `500 MB`, `1.5G`, or a number of bytes."""
    m = _SIZE.match(str(value))
    if not m or float(m.group(1)) <= 0:
        raise CatalogError(f"{where}: field 'max_download_bytes' must be a size such as 2GB, 500MB or a number "
                           f"of bytes, got {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


# What the platform derives from a source id and a resource name, longest first: each must fit
# PostgreSQL's identifiers (longer ones are silently truncated, and two tables could then collide).
def derived_identifiers(source_id: str, resource: str, fmt: str | None = None) -> list[str]:
    from territoire.ingest.connectors.gtfs import GTFS_FILES  # one table per feed file

    tables = [raw_table(source_id, resource)]
    if fmt == "gtfs":
        tables += [raw_table(source_id, name.rsplit(".", 1)[0]) for name in sorted(GTFS_FILES)]
    names = [n for t in tables for n in (t, f"{t}__new", f"{t}__replaced", f"stg_{t}")]
    return sorted(names, key=lambda n: -len(n.encode()))


def _check_identifiers(where: str, source_id: str, resource: str, fmt: str | None) -> None:
    longest = derived_identifiers(source_id, resource, fmt)[0]
    if len(longest.encode()) > IDENTIFIER_MAX:
        excess = len(longest.encode()) - IDENTIFIER_MAX
        raise CatalogError(
            f"{where}: source id {source_id!r} and resource name {resource!r} are too long: the platform derives "
            f"the name {longest!r} ({len(longest.encode())} bytes) from them, and PostgreSQL names are limited to "
            f"{IDENTIFIER_MAX} bytes. Shorten them by {excess} characters together")


def _check_inside(where: str, field_name: str, target: Path | None, catalog_file: Path) -> None:
    """Catalog paths stay inside the allowed roots: a catalog entry must not make the platform read
    (and then publish) any file of the machine."""
    if target is None:
        return
    resolved = target.resolve()
    roots = settings.allowed_roots(extra=[Path(catalog_file).resolve().parent])
    if not any(resolved == r or r in resolved.parents for r in roots):
        raise CatalogError(
            f"{where}: field {field_name!r} points to {resolved}, outside the folders the catalog may read "
            f"({', '.join(str(r) for r in roots)}). Move the file there, or allow its folder explicitly with "
            f"TERRITOIRE_ALLOWED_ROOTS (folders separated by '{os.pathsep}')")


def parse_catalog(data: Any, path: Path) -> Catalog:
    where = str(path)
    if not isinstance(data, dict) or "sources" not in data:
        raise CatalogError(f"{where}: expected a mapping with a 'sources' list")
    defaults = data.get("defaults") or {}
    sources = []
    seen: set[str] = set()
    for i, raw in enumerate(data["sources"]):
        ident = raw.get("id") if isinstance(raw, dict) else None
        at = f"{where}: source #{i + 1}" + (f" ({ident!r})" if ident else "")
        merged = {**{k: v for k, v in defaults.items() if k in ("licence", "schedule", "quarantine_threshold",
                                                                 "max_row_drop", "max_download_bytes")},
                  **(raw if isinstance(raw, dict) else {})}
        _check_fields(at, raw, SOURCE_FIELDS, ())
        _check_fields(at, merged, SOURCE_FIELDS, SOURCE_REQUIRED)
        if not _ID.match(merged["id"]):
            raise CatalogError(f"{at}: field 'id' must be lowercase letters, digits and '_', got {merged['id']!r}")
        if merged["id"] in seen:
            raise CatalogError(f"{at}: duplicate source id {merged['id']!r}")
        seen.add(merged["id"])
        _one_of(at, "domain", merged["domain"], DOMAINS)
        _one_of(at, "licence", merged["licence"], LICENCES)
        _check_schedule(at, merged.get("schedule"))
        threshold = _share(at, merged, "quarantine_threshold", 0.05)
        max_row_drop = _share(at, merged, "max_row_drop", 0.5)
        max_download = _byte_size(at, merged.get("max_download_bytes", 2 * 1024**3))
        resources = []
        names: set[str] = set()
        if not merged["resources"]:
            raise CatalogError(f"{at}: field 'resources' is empty")
        for j, rraw in enumerate(merged["resources"]):
            rname = rraw.get("name") if isinstance(rraw, dict) else None
            rat = f"{at}, resource #{j + 1}" + (f" ({rname!r})" if rname else "")
            _check_fields(rat, rraw, RESOURCE_FIELDS, RESOURCE_REQUIRED)
            if not _ID.match(rraw["name"]):
                raise CatalogError(f"{rat}: field 'name' must be lowercase letters, digits and '_'")
            _check_identifiers(rat, merged["id"], rraw["name"], rraw.get("format"))
            if rraw["name"] in names:
                raise CatalogError(f"{rat}: duplicate resource name {rraw['name']!r}")
            names.add(rraw["name"])
            _one_of(rat, "format", rraw["format"], FORMATS)
            if not rraw["location"]:
                raise CatalogError(f"{rat}: field 'location' is empty")
            for profile in rraw["location"]:
                _one_of(f"{rat}, field 'location'", "profile", profile, PROFILES)
            locations = {
                profile: _parse_location(f"{rat}, location {profile!r}", loc)
                for profile, loc in rraw["location"].items()
            }
            for profile, loc in locations.items():
                if loc.path is not None:
                    _check_inside(f"{rat}, location {profile!r}", "path", loc.resolved_path(), path)
            schema = rraw.get("schema")
            if schema:
                _check_inside(rat, "schema", settings.schemas_dir() / schema, path)
            if schema and not (settings.schemas_dir() / schema).is_file():
                raise CatalogError(f"{rat}: field 'schema' names {schema!r}, not found in {settings.schemas_dir()}")
            resources.append(Resource(
                source_id=merged["id"], name=rraw["name"], format=rraw["format"], locations=locations,
                title=rraw.get("title", ""), schema=schema, options=rraw.get("options") or {},
                primary_key=tuple(rraw.get("primary_key") or ()), rules=rraw.get("rules") or {},
            ))
        sources.append(Source(
            id=merged["id"], domain=merged["domain"], title=merged["title"], producer=merged["producer"],
            licence=merged["licence"], resources=tuple(resources), description=merged.get("description", ""),
            schedule=merged.get("schedule"), quarantine_threshold=threshold, homepage=merged.get("homepage"),
            keywords=tuple(merged.get("keywords") or ()), queue=merged.get("queue"), max_row_drop=max_row_drop,
            max_download_bytes=max_download,
        ))
    return Catalog(path=path, sources=tuple(sources))


def load_catalog(path: Path | None = None) -> Catalog:
    path = Path(path) if path else settings.catalog_path()
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int) -> Catalog:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{p}: not valid YAML: {exc}") from exc
    return parse_catalog(data, p)
