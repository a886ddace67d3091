"""Push a published dataset and its files to a udata portal (data.gouv.fr API v1).

Declared per dataset in `catalog/datasets.yml`:

    portal:
      dataset: referentiel-des-communes      # slug or id on the portal (found there if it exists)
      organization: 5bbb6d6cff66bd4dc17bfd5a # id of the publishing organisation
      mode: upload                           # upload the files (default), or `remote`: link the
                                             # files served under TERRITOIRE_PUBLIC_BASE_URL

Credentials, never in git: the Airflow connection `udata_portal` (host = portal URL, password =
API key; `AIRFLOW_CONN_UDATA_PORTAL` in the environment or Airflow's connection store), or the
variables `TERRITOIRE_UDATA_URL` (default https://www.data.gouv.fr) and `TERRITOIRE_UDATA_API_KEY`.

Re-runs never duplicate: the dataset is found by its id remembered from the last push
(`<publication>/portal/<id>.json`), else by the declared slug/id, else by an exact title search in
the organisation; only then is it created. Resources are matched by title (the file name) and a
file is sent again only when its sha256 changed (kept in the resource's `extras`).

Endpoints used: GET/POST /api/1/datasets/, GET/PUT /api/1/datasets/{id}/,
POST /api/1/datasets/{id}/upload/ (new file), POST /api/1/datasets/{id}/resources/{rid}/upload/
(replace a file), POST /api/1/datasets/{id}/resources/ (remote URL), PUT
/api/1/datasets/{id}/resources/{rid}/ (resource metadata). The API key goes in `X-API-KEY`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from territoire import settings
from territoire.datasets import Dataset, get_dataset
from territoire.publication import metadata

log = logging.getLogger(__name__)

CONNECTION_ID = "udata_portal"
DEFAULT_PORTAL = "https://www.data.gouv.fr"
SHA_EXTRA = "territoire:sha256"
ID_EXTRA = "territoire:dataset"
TIMEOUT = httpx.Timeout(30.0, read=300.0)
# udata granularity of the finest territorial code a table carries.
GRANULARITIES = (("code_iris", "fr:iris"), ("code_commune", "fr:commune"), ("code_epci", "fr:epci"),
                 ("code_departement", "fr:departement"), ("code_region", "fr:region"))


class PortalError(RuntimeError):
    """The portal refused a request or the configuration is incomplete; says which and what to do."""


@dataclass(frozen=True)
class PortalConfig:
    base_url: str
    api_key: str = field(repr=False)


@dataclass
class PushResult:
    dataset_id: str
    portal_id: str
    slug: str
    created: bool
    metadata_updated: bool
    resources_created: list[str] = field(default_factory=list)
    resources_updated: list[str] = field(default_factory=list)
    resources_unchanged: list[str] = field(default_factory=list)


def _from_connection_uri(value: str) -> PortalConfig | None:
    value = value.strip()
    if value.startswith("{"):  # Airflow's JSON form
        data = json.loads(value)
        host = data.get("host") or ""
        if host and "://" not in host:
            host = f"{data.get('schema') or 'https'}://{host}"
        key = data.get("password") or (data.get("extra") or {}).get("api_key")
        return PortalConfig(host.rstrip("/") or DEFAULT_PORTAL, key) if key else None
    parts = urlsplit(value)
    scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    key = unquote(parts.password or "")
    return PortalConfig(f"{scheme}://{netloc}".rstrip("/") if netloc else DEFAULT_PORTAL, key) if key else None


def portal_config() -> PortalConfig:
    """Portal URL and API key: env variables, else the Airflow connection `udata_portal`."""
    key = os.environ.get("TERRITOIRE_UDATA_API_KEY")
    if key:
        return PortalConfig(os.environ.get("TERRITOIRE_UDATA_URL", DEFAULT_PORTAL).rstrip("/"), key)
    env = os.environ.get("AIRFLOW_CONN_" + CONNECTION_ID.upper())
    if env:
        config = _from_connection_uri(env)
        if config:
            return config
    # Inside an Airflow task (airflow already imported): the connection store. Elsewhere, importing
    # Airflow only to learn there is no connection costs ~20 s.
    try:
        if "airflow" not in sys.modules:
            raise ImportError("not running inside Airflow")
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(CONNECTION_ID)
        if conn.password:
            host = conn.host or DEFAULT_PORTAL
            if "://" not in host:
                host = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
            return PortalConfig(host.rstrip("/"), conn.password)
    except Exception:  # noqa: BLE001 - Airflow absent or connection undefined: reported below
        pass
    raise PortalError(
        f"no API key for the udata portal: set the Airflow connection {CONNECTION_ID!r} (password = API key, "
        f"host = portal URL) or the variables TERRITOIRE_UDATA_API_KEY and TERRITOIRE_UDATA_URL")


def _tag(keyword: str) -> str:
    """udata tags: lowercase ASCII words joined by '-', 3 to 96 characters."""
    text = unicodedata.normalize("NFKD", keyword).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class UdataClient:
    def __init__(self, config: PortalConfig, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.http = httpx.Client(base_url=config.base_url + "/api/1", timeout=TIMEOUT, transport=transport,
                                 headers={"X-API-KEY": config.api_key, "Accept": "application/json",
                                          "User-Agent": "territoire-publication"})

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, ok=(200, 201), missing_ok: bool = False, **kwargs):
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PortalError(f"{method} {self.config.base_url}/api/1{path}: {exc} (is the portal reachable?)") from exc
        if missing_ok and r.status_code in (404, 410):
            return None
        if r.status_code not in ok:
            hint = {401: "the API key is refused: check the connection 'udata_portal'",
                    403: "the API key's user may not edit this dataset or organisation",
                    400: "the portal rejected the payload"}.get(r.status_code, "retry later if the portal is down")
            raise PortalError(f"{method} {self.config.base_url}/api/1{path} answered {r.status_code}: "
                              f"{r.text[:300]} ({hint})")
        return r.json() if r.content else {}


def _state_path(dataset_id: str) -> Path:
    return settings.publication_dir() / "portal" / f"{dataset_id}.json"


def _read_state(dataset_id: str) -> dict:
    p = _state_path(dataset_id)
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def _write_state(dataset_id: str, state: dict) -> None:
    p = _state_path(dataset_id)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def dataset_payload(dataset: Dataset, package: dict, organization: str) -> dict:
    _, frequency = metadata.frequency_of(dataset)
    payload: dict = {
        "title": package["title"],
        "description": package["description"],
        "organization": organization,
        "license": metadata.licence_of(dataset).udata_id,
        "frequency": frequency,
        "tags": sorted({t for t in (_tag(k) for k in package.get("keywords") or []) if len(t) >= 3}),
        "extras": {ID_EXTRA: dataset.id},
    }
    temporal = package.get("temporal") or {}
    if temporal.get("start") and temporal.get("end"):
        payload["temporal_coverage"] = {"start": temporal["start"], "end": temporal["end"]}
    columns = {f["name"] for r in package.get("resources", []) for f in (r.get("schema") or {}).get("fields", [])}
    granularity = next((g for col, g in GRANULARITIES if col in columns), None)
    if granularity:
        payload["spatial"] = {"granularity": granularity}
    return payload


def _differs(existing: dict, payload: dict) -> bool:
    for key, value in payload.items():
        current = existing.get(key)
        if key == "organization":
            current = (current or {}).get("id") if isinstance(current, dict) else current
        elif key == "tags":
            current, value = sorted(current or []), sorted(value)
        elif key == "extras":
            current = {k: (current or {}).get(k) for k in value}
        elif key == "temporal_coverage" and isinstance(current, dict):
            current = {k: str(current.get(k) or "")[:10] for k in ("start", "end")}
        elif key == "spatial" and isinstance(current, dict):
            current = {k: current.get(k) for k in value}
        if current != value:
            return True
    return False


def _find_dataset(client: UdataClient, dataset: Dataset, title: str, organization: str, state: dict) -> dict | None:
    for ref in (state.get("portal_id"), (dataset.portal or {}).get("dataset")):
        if ref:
            found = client.request("GET", f"/datasets/{ref}/", missing_ok=True)
            if found and not found.get("deleted"):
                return found
    page = client.request("GET", "/datasets/", params={"organization": organization, "q": title, "page_size": 50})
    for candidate in page.get("data") or []:
        extras = candidate.get("extras") or {}
        if not candidate.get("deleted") and (extras.get(ID_EXTRA) == dataset.id or candidate.get("title") == title):
            return client.request("GET", f"/datasets/{candidate['id']}/")
    return None


def push_dataset(dataset_id: str | Dataset, *, config: PortalConfig | None = None,
                 transport: httpx.BaseTransport | None = None) -> PushResult:
    """Publish or update `dataset_id` and its exported files on the portal declared in datasets.yml."""
    from territoire.publication.dcat import public_base_url
    from territoire.publication.export import datasets_root

    dataset = dataset_id if isinstance(dataset_id, Dataset) else get_dataset(dataset_id)
    portal = dataset.portal or {}
    where = f"catalog/datasets.yml, dataset {dataset.id!r}, field 'portal'"
    if not portal.get("organization"):
        raise PortalError(f"{where}: needs 'organization' (the id of the publishing organisation on the portal)")
    mode = portal.get("mode", "remote" if os.environ.get("TERRITOIRE_PUBLIC_BASE_URL") else "upload")
    if mode not in ("upload", "remote"):
        raise PortalError(f"{where}: 'mode' must be 'upload' or 'remote', got {mode!r}")
    if mode == "remote" and not os.environ.get("TERRITOIRE_PUBLIC_BASE_URL"):
        raise PortalError(f"{where}: mode 'remote' needs TERRITOIRE_PUBLIC_BASE_URL (the public URL of the "
                          f"publication folder), or use mode 'upload'")
    folder = datasets_root() / dataset.id
    package_path = folder / "datapackage.json"
    if not package_path.is_file():
        raise PortalError(f"{dataset.id}: {package_path} not found: publish the dataset before pushing it")
    package = json.loads(package_path.read_text(encoding="utf-8"))
    # a Parquet resource keeps its size and hash under `integrity` (datapackage.py)
    files = [(r["path"], r["format"], r["mediatype"], i["hash"].split(":", 1)[1], i.get("bytes"))
             for r in package["resources"] for i in [{**r, **r.get("integrity", {})}]]
    files.append(("datapackage.json", "json", "application/json",
                  metadata_sha256(package_path), package_path.stat().st_size))
    payload = dataset_payload(dataset, package, portal["organization"])
    client = UdataClient(config or portal_config(), transport)
    try:
        state = _read_state(dataset.id)
        existing = _find_dataset(client, dataset, package["title"], portal["organization"], state)
        created = existing is None
        updated = False
        if created:
            existing = client.request("POST", "/datasets/", json=payload)
            log.info("%s: created dataset %s on %s", dataset.id, existing.get("slug"), client.config.base_url)
        elif _differs(existing, payload):
            existing = client.request("PUT", f"/datasets/{existing['id']}/", json=payload)
            updated = True
        portal_id = existing["id"]
        result = PushResult(dataset.id, portal_id, existing.get("slug", ""), created, updated)
        by_title = {r.get("title"): r for r in existing.get("resources") or []}
        base = public_base_url()
        for name, fmt, mime, sha, size in files:
            current = by_title.get(name)
            extras = {SHA_EXTRA: sha}
            meta = {"title": name, "format": fmt, "mime": mime, "type": "main",
                    "description": f"{package['title']} : fichier {fmt.upper()} ({name}).", "extras": extras}
            if current and (current.get("extras") or {}).get(SHA_EXTRA) == sha:
                result.resources_unchanged.append(name)
                continue
            if mode == "remote":
                remote = {**meta, "url": f"{base}/datasets/{dataset.id}/{name}", "filetype": "remote",
                          "checksum": {"type": "sha256", "value": sha}}
                if size is not None:
                    remote["filesize"] = size
                if current:
                    client.request("PUT", f"/datasets/{portal_id}/resources/{current['id']}/", json=remote)
                else:
                    client.request("POST", f"/datasets/{portal_id}/resources/", json=remote)
            else:
                with open(folder / name, "rb") as f:
                    upload = {"file": (name, f, mime)}
                    if current:
                        res = client.request("POST", f"/datasets/{portal_id}/resources/{current['id']}/upload/",
                                             files=upload)
                    else:
                        res = client.request("POST", f"/datasets/{portal_id}/upload/", files=upload)
                rid = (current or res)["id"]
                client.request("PUT", f"/datasets/{portal_id}/resources/{rid}/", json=meta)
            (result.resources_updated if current else result.resources_created).append(name)
        _write_state(dataset.id, {"portal": client.config.base_url, "portal_id": portal_id,
                                  "slug": result.slug})
        return result
    finally:
        client.close()


def metadata_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def push_all(config: PortalConfig | None = None) -> list[PushResult]:
    """Push every dataset that declares `portal:` and has been published."""
    from territoire.datasets import load_datasets
    from territoire.publication.export import datasets_root

    results = []
    for ds in load_datasets().values():
        if ds.portal and (datasets_root() / ds.id / "datapackage.json").is_file():
            results.append(push_dataset(ds, config=config))
    return results
