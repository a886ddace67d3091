"""A small udata (data.gouv.fr API v1) server on 127.0.0.1 for the portal push tests.

It implements the endpoints `territoire.publication.portal` uses, with udata's rules that matter
here: the API key in `X-API-KEY` on every write (401 otherwise), required fields and known licence
and frequency ids (400 otherwise), slugs made from titles (a second dataset with the same title gets
`-1`), resources with ids, titles, extras and, for uploads, the file's bytes. Every request is
recorded so tests can check what was sent and that re-runs create nothing.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LICENCES = {"lov2", "odc-odbl", "cc-by", "other-open", "other-pd", "notspecified"}
FREQUENCIES = {"continuous", "daily", "weekly", "monthly", "quarterly", "semiannual", "annual", "biennial",
               "irregular", "punctual", "unknown"}


@dataclass
class Call:
    method: str
    path: str
    authorised: bool
    body: bytes
    content_type: str


@dataclass
class FakeUdata:
    api_key: str
    organizations: set[str]
    datasets: dict[str, dict] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # resource id -> uploaded bytes
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def live(self) -> list[dict]:
        return [d for d in self.datasets.values() if not d.get("deleted")]

    def add_dataset(self, title: str, organization: str, **fields) -> dict:
        with self.lock:
            return self._create({"title": title, "description": "créé à la main", "organization": organization,
                                 "license": "lov2", "frequency": "unknown", **fields})

    def _slug(self, title: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", title).encode("ascii", "ignore")
                      .decode().lower()).strip("-")
        slug, n = base, 0
        while any(d["slug"] == slug for d in self.datasets.values()):
            n += 1
            slug = f"{base}-{n}"
        return slug

    def _create(self, data: dict) -> dict:
        ds_id = uuid.uuid4().hex[:24]
        ds = {"id": ds_id, "slug": self._slug(data["title"]), "resources": [], "deleted": None, "extras": {},
              "tags": [], "temporal_coverage": None, "spatial": None}
        self._apply(ds, data)
        self.datasets[ds_id] = ds
        return ds

    def _apply(self, ds: dict, data: dict) -> None:
        for key in ("title", "description", "license", "frequency", "tags", "temporal_coverage", "spatial"):
            if key in data:
                ds[key] = data[key]
        if "organization" in data:
            ds["organization"] = {"id": data["organization"]}
        if "extras" in data:
            ds["extras"] = {**ds.get("extras", {}), **data["extras"]}

    def find(self, ref: str) -> dict | None:
        return self.datasets.get(ref) or next((d for d in self.datasets.values() if d["slug"] == ref), None)


def _validate_dataset(data: dict, fake: FakeUdata, creating: bool) -> str | None:
    for key in ("title", "description", "organization") if creating else ():
        if not data.get(key):
            return f"{key}: This field is required."
    if "organization" in data and data["organization"] not in fake.organizations:
        return "organization: unknown organization"
    if "license" in data and data["license"] not in LICENCES:
        return f"license: unknown licence {data['license']!r}"
    if "frequency" in data and data["frequency"] not in FREQUENCIES:
        return f"frequency: unknown frequency {data['frequency']!r}"
    if any(len(t) < 3 or t != t.lower() for t in data.get("tags") or []):
        return "tags: invalid tag"
    return None


def make_handler(fake: FakeUdata):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _handle(self, method: str) -> None:
            body = self._body()
            parts = urlsplit(self.path)
            authorised = self.headers.get("X-API-KEY") == fake.api_key
            with fake.lock:
                fake.calls.append(Call(method, parts.path, authorised, body, self.headers.get("Content-Type", "")))
                if method != "GET" and not authorised:
                    return self._reply(401, {"message": "Invalid API Key"})
                try:
                    status, payload = self._route(method, parts.path, parse_qs(parts.query), body)
                except (ValueError, KeyError) as exc:
                    status, payload = 400, {"message": f"bad request: {exc}"}
            self._reply(status, payload)

        def _route(self, method: str, path: str, query: dict, body: bytes):
            m = re.fullmatch(r"/api/1/datasets/", path)
            if m and method == "GET":
                org = query.get("organization", [None])[0]
                q = query.get("q", [""])[0].lower()
                found = [d for d in fake.live() if (not org or d["organization"]["id"] == org)
                         and all(w in d["title"].lower() for w in q.split())]
                return 200, {"data": found, "total": len(found), "page": 1}
            if m and method == "POST":
                data = json.loads(body)
                error = _validate_dataset(data, fake, creating=True)
                return (400, {"message": error}) if error else (201, fake._create(data))
            m = re.fullmatch(r"/api/1/datasets/([^/]+)/", path)
            if m:
                ds = fake.find(m.group(1))
                if ds is None:
                    return 404, {"message": "Not found"}
                if ds.get("deleted"):
                    return 410, {"message": "Dataset has been deleted"}
                if method == "GET":
                    return 200, ds
                if method == "PUT":
                    data = json.loads(body)
                    error = _validate_dataset(data, fake, creating=False)
                    if error:
                        return 400, {"message": error}
                    fake._apply(ds, data)
                    return 200, ds
            m = re.fullmatch(r"/api/1/datasets/([^/]+)/(upload|resources)/", path)
            if m and method == "POST":
                ds = fake.find(m.group(1))
                if ds is None:
                    return 404, {"message": "Not found"}
                if m.group(2) == "upload":
                    name, data = self._multipart(body)
                    res = {"id": str(uuid.uuid4()), "title": name, "filetype": "file", "type": "main",
                           "url": f"{fake.url}/files/{ds['id']}/{name}", "extras": {},
                           "checksum": {"type": "sha1", "value": hashlib.sha1(data).hexdigest()},
                           "filesize": len(data)}
                    fake.files[res["id"]] = data
                else:
                    data = json.loads(body)
                    if not data.get("url") or not data.get("title") or data.get("filetype") != "remote":
                        return 400, {"message": "url, title and filetype 'remote' are required"}
                    res = {"id": str(uuid.uuid4()), "extras": {}, **data}
                ds["resources"].append(res)
                return 201, res
            m = re.fullmatch(r"/api/1/datasets/([^/]+)/resources/([^/]+)/(upload/)?", path)
            if m and method in ("PUT", "POST"):
                ds = fake.find(m.group(1))
                res = next((r for r in (ds or {}).get("resources", []) if r["id"] == m.group(2)), None)
                if res is None:
                    return 404, {"message": "Not found"}
                if m.group(3) and method == "POST":
                    name, data = self._multipart(body)
                    fake.files[res["id"]] = data
                    res.update(title=name, filesize=len(data),
                               checksum={"type": "sha1", "value": hashlib.sha1(data).hexdigest()})
                    return 200, res
                if not m.group(3) and method == "PUT":
                    data = json.loads(body)
                    extras = {**res.get("extras", {}), **data.pop("extras", {})}
                    res.update(data, extras=extras)
                    return 200, res
            return 405, {"message": f"{method} {path} not implemented by the fake portal"}

        def _multipart(self, body: bytes) -> tuple[str, bytes]:
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("multipart/form-data"):
                raise ValueError(f"expected multipart/form-data, got {ctype!r}")
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            for part in msg.iter_parts():
                if part.get_param("name", header="content-disposition") == "file":
                    return part.get_filename(), part.get_payload(decode=True)
            raise ValueError("no 'file' part in the upload")

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_PUT(self):  # noqa: N802
            self._handle("PUT")

    return Handler


class FakeUdataServer:
    def __init__(self, api_key: str, organizations: set[str]):
        self.fake = FakeUdata(api_key, organizations)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.fake))
        self.fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> FakeUdata:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
