"""A real HTTP server on 127.0.0.1 for connector tests: real files, portal APIs, and scripted faults.

    def test_x(http_server):
        url = http_server.url("/files/irve/coordonnees_pdc_2024-12-04.csv")   # a shipped sample
        http_server.script("/flaky.csv", Reply(status=500), http_server.file_reply("energy/x.csv"))
        ...
        assert http_server.hits("/flaky.csv") == 2

Routes, in order:
- scripted replies: `script(path, *replies)` queues replies for `path`; each request takes the next
  one; once the queue is empty the path falls through to the routes below;
- `/files/<relative path>`: files under data/samples/ (or folders/files added with `add_file`), with
  a strong ETag (sha256) and Last-Modified, answering 304 to If-None-Match / If-Modified-Since;
- `/api/explore/v2.1/catalog/datasets/<id>/exports/<csv|json|jsonl>`: an Opendatasoft export of a CSV
  registered with `add_ods_dataset` (honours `delimiter`, `refine=field:value`, `limit`);
- `/api/1/datasets/<id>/`: a data.gouv.fr (udata) dataset registered with `add_udata_dataset`.

Loopback only; every wait is bounded and stops when the server stops.
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from territoire.naming import normalise_columns

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "data" / "samples"
MAX_DELAY = 30.0  # no scripted wait may exceed this: a test can never hang on the server
CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8", ".json": "application/json", ".geojson": "application/geo+json",
    ".zip": "application/zip", ".txt": "text/plain", ".html": "text/html; charset=utf-8",
}

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html lang=\"fr\"><head><title>Maintenance</title></head>\n"
    b"<body><h1>Le portail est en maintenance</h1><p>Revenez plus tard.</p></body></html>\n"
)


@dataclass
class Reply:
    """One scripted answer.

    - `delay`: seconds to wait before answering (a slow server; bounded by MAX_DELAY);
    - `truncate_to`: send only this many body bytes, announce the full Content-Length, then close;
    - `chunked`: send the body with Transfer-Encoding: chunked; `chunked_incomplete` stops before
      the final zero-length chunk and closes (an unfinished chunked body).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None
    chunked: bool = False
    chunked_incomplete: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.delay <= MAX_DELAY:
            raise ValueError(f"Reply.delay must be within 0..{MAX_DELAY}s")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def file_etag(path: Path) -> str:
    """A strong ETag from the file's content (hashed in chunks: files may be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return '"' + h.hexdigest()[:32] + '"'


class LocalHTTPServer:
    def __init__(self) -> None:
        self._scripts: dict[str, list[Reply]] = {}
        self._files: dict[str, Path] = {}
        self._ods: dict[str, tuple[Path, str, str]] = {}
        self._udata: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        # Servers differ: some send ETag, some only Last-Modified. Tests switch these off to cover both.
        self.send_etag = True
        self.send_last_modified = True
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"test-http-{self.port}", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- configuration ---------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def script(self, path: str, *replies: Reply) -> str:
        """Queue `replies` for `path`; returns the full URL."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)
        return self.url(path)

    def add_file(self, url_path: str, local: Path) -> str:
        """Serve `local` (a file, or a folder served recursively) under `/files/<url_path>`."""
        self._files[url_path.strip("/")] = Path(local)
        return self.url("/files/" + url_path.strip("/"))

    def file_url(self, relative: str) -> str:
        """The URL of a file under data/samples/ (relative path)."""
        return self.url("/files/" + relative)

    def file_reply(self, relative: str, **kw) -> Reply:
        """A scripted 200 with the bytes of a file under data/samples/."""
        path = self._resolve_file(relative)
        assert path is not None, f"no sample {relative}"
        return Reply(body=path.read_bytes(), headers={"Content-Type": _ctype(path)}, **kw)

    def add_ods_dataset(self, dataset: str, csv_file: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> None:
        """Serve `csv_file` (its own delimiter/encoding) as Opendatasoft dataset `dataset`."""
        self._ods[dataset] = (Path(csv_file), delimiter, encoding)

    def add_udata_dataset(self, dataset: str, payload: dict) -> str:
        """Serve `payload` at `/api/1/datasets/<dataset>/`; returns the portal's base URL."""
        self._udata[dataset] = payload
        return self.base_url

    # --- inspection ------------------------------------------------------------------------
    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def hits(self, path: str) -> int:
        return len(self.requests_to(path))

    # --- internals -------------------------------------------------------------------------
    def _next_scripted(self, path: str) -> Reply | None:
        with self._lock:
            queue = self._scripts.get(path)
            return queue.pop(0) if queue else None

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _resolve_file(self, relative: str) -> Path | None:
        relative = relative.strip("/")
        for prefix, local in self._files.items():
            if relative == prefix and local.is_file():
                return local
            if relative.startswith(prefix + "/") and local.is_dir():
                return _inside(local, relative[len(prefix) + 1:])
        return _inside(SAMPLES, relative)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, in small steps, returning early when the server stops."""
        deadline = time.monotonic() + min(seconds, MAX_DELAY)
        while not self.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)


def _inside(root: Path, relative: str) -> Path | None:
    # The test server serves real files: it must never serve anything outside its roots either.
    p = (root / relative).resolve()
    return p if p.is_file() and root.resolve() in p.parents else None


def _ctype(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def _make_handler(server: LocalHTTPServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle keep-alive connection does not hold a thread forever

        def log_message(self, format, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            split = urlsplit(self.path)
            path = unquote(split.path)
            query = parse_qsl(split.query, keep_blank_values=True)
            request = Request("GET", path, query, {k.lower(): v for k, v in self.headers.items()})
            server._record(request)
            scripted = server._next_scripted(path)
            if scripted is not None:
                return self._send(scripted)
            if path.startswith("/files/"):
                return self._file(request, path[len("/files/"):])
            if path.startswith("/api/explore/v2.1/catalog/datasets/"):
                return self._ods(request, path)
            if path.startswith("/api/1/datasets/"):
                return self._udata(path)
            return self._send(Reply(status=404, body=b"not found\n", headers={"Content-Type": "text/plain"}))

        # --- senders ---------------------------------------------------------------------
        def _send(self, reply: Reply) -> None:
            if reply.delay:
                server.wait(reply.delay)
                if server.stopping.is_set():
                    self.close_connection = True
                    return
            try:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                body = reply.body
                if reply.chunked or reply.chunked_incomplete:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = max(1, len(body) // 2)
                    pieces = [body[:half], body[half:]]
                    if reply.chunked_incomplete:
                        pieces = pieces[:1]
                    for piece in pieces:
                        if piece:
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    if reply.chunked_incomplete:
                        self._cut()
                        return
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if reply.status == 304:
                    return
                if reply.truncate_to is not None:
                    self.wfile.write(body[: reply.truncate_to])
                    self._cut()
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _cut(self) -> None:
            # Close the connection mid-body, as a crashed upstream or a cut proxy would.
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        def _json(self, status: int, payload) -> None:
            self._send(Reply(status=status, body=json.dumps(payload).encode(),
                             headers={"Content-Type": "application/json; charset=utf-8"}))

        # --- routes ----------------------------------------------------------------------
        def _file(self, request: Request, relative: str) -> None:
            path = server._resolve_file(relative)
            if path is None:
                return self._send(Reply(status=404, body=b"no such file\n", headers={"Content-Type": "text/plain"}))
            etag = file_etag(path)
            mtime = int(path.stat().st_mtime)
            headers = {"Content-Type": _ctype(path)}
            if server.send_etag:
                headers["ETag"] = etag
            if server.send_last_modified:
                headers["Last-Modified"] = http_date(mtime)
            inm = request.headers.get("if-none-match") if server.send_etag else None
            ims = request.headers.get("if-modified-since") if server.send_last_modified else None
            if inm is not None:
                if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                    return self._send(Reply(status=304, headers=headers))
            elif ims is not None:
                try:
                    since = email.utils.parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    since = None
                if since is not None and mtime <= since:
                    return self._send(Reply(status=304, headers=headers))
            self._send_file(path, headers)

        def _send_file(self, path: Path, headers: dict[str, str]) -> None:
            # Streamed in chunks, so a test can serve a large file and measure the client's memory.
            try:
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                with open(path, "rb") as f:
                    while chunk := f.read(64 * 1024):
                        self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _ods(self, request: Request, path: str) -> None:
            parts = path.strip("/").split("/")
            # api/explore/v2.1/catalog/datasets/<id>/exports/<format>
            if len(parts) != 8 or parts[6] != "exports":
                return self._json(404, {"error_code": "NotFound", "message": f"unknown endpoint {path}"})
            dataset, fmt = parts[5], parts[7]
            if dataset not in server._ods:
                return self._json(404, {"error_code": "DatasetNotFound",
                                        "message": f"Unknown dataset: {dataset}"})
            if fmt not in ("csv", "json", "jsonl"):
                return self._json(400, {"error_code": "InvalidRESTParameterError",
                                        "message": f"Unknown export format: {fmt}"})
            source, delimiter, encoding = server._ods[dataset]
            with open(source, encoding=encoding, newline="") as f:
                reader = csv.reader(f, delimiter=delimiter)
                # ODS exposes field names (lowercase, `_`), not the producer's labels.
                header = normalise_columns(next(reader, []))
                rows = [dict(zip(header, r, strict=False)) for r in reader]
            for value in [v for k, v in request.query if k == "refine"]:
                facet, _, wanted = value.partition(":")
                if facet not in header:
                    return self._json(400, {"error_code": "InvalidRESTParameterError",
                                            "message": f"Unknown field: {facet}"})
                rows = [r for r in rows if r[facet] == wanted]
            limit = request.param("limit")
            if limit not in (None, "-1"):
                rows = rows[: int(limit)]
            if fmt == "csv":
                out = io.StringIO()
                writer = csv.writer(out, delimiter=request.param("delimiter") or ";", lineterminator="\r\n")
                writer.writerow(header)
                writer.writerows([r[h] for h in header] for r in rows)
                # Like the real API, a BOM unless `with_bom=false`.
                bom = b"" if request.param("with_bom") == "false" else b"\xef\xbb\xbf"
                body, ctype = bom + out.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
            elif fmt == "json":
                body, ctype = json.dumps(rows, ensure_ascii=False).encode(), "application/json; charset=utf-8"
            else:
                body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
                ctype = "application/jsonl; charset=utf-8"
            headers = {"Content-Type": ctype,
                       "Content-Disposition": f'attachment; filename="{dataset}.{fmt}"'}
            # ODS streams exports with chunked encoding (no Content-Length).
            self._send(Reply(body=body, headers=headers, chunked=True))

        def _udata(self, path: str) -> None:
            dataset = path[len("/api/1/datasets/"):].strip("/")
            payload = server._udata.get(dataset)
            if payload is None:
                return self._json(404, {"message": "Not found", "status": 404})
            self._json(200, payload)

    return Handler


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A started LocalHTTPServer on 127.0.0.1 (random port), stopped after the test."""
    with LocalHTTPServer() as server:
        yield server
