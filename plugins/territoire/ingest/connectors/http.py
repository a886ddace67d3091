"""HTTP(S) download into the landing zone: streamed, conditional, retried, and checked.

Every network connector (http, opendatasoft, udata, gtfs over http) ends here, so the retry
policy and the body checks are the same everywhere:

- streamed to a temp file next to its final place in the landing zone (never whole in memory),
  hashed on the way;
- conditional: `If-None-Match` / `If-Modified-Since` from the last fetch of the same URL, when
  the file it archived is still there; a 304 means "not modified" (unless `force`);
- retried with exponential backoff on 5xx (but 501/505), 408, 425, 429, connection errors,
  timeouts and truncated bodies; `Retry-After` is honoured (capped);
- checked: an empty body, a body shorter than its Content-Length or an unfinished chunked body,
  an HTML/XML page where CSV/JSON/ZIP was declared, a ZIP that does not open, a last record cut;
- bounded: the source's maximum size (catalog `max_download_bytes`, default 2 GiB; the bytes after
  decoding are counted, and a Content-Length above it is refused before reading), an overall deadline
  per attempt (a server trickling one byte every few seconds never trips the read timeout), a gzip
  or deflate Content-Encoding decoded here with the same size cap and a compression-ratio cap (a
  small body inflating to gigabytes is stopped before it fills the disk), redirect loops reported
  as one error.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import email.utils
import functools
import hashlib
import json
import logging
import random
import re
import ssl
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx

from territoire.ingest import landing
from territoire.ingest.connectors import gtfs
from territoire.ingest.connectors.base import (
    DeadlineExceededError,
    EmptyBodyError,
    FetchError,
    FetchResult,
    HTTPStatusError,
    InvalidZipError,
    NetworkError,
    RedirectLoopError,
    TooLargeError,
    TruncatedBodyError,
    UnexpectedContentError,
    UnsafeArchiveError,
)
from territoire.settings import env_number

log = logging.getLogger("territoire.ingest.connectors")

USER_AGENT = "territoire/0.1 (open territorial data platform; +https://github.com/)"
CHUNK = 256 * 1024
HEAD_BYTES = 2048
RETRY_STATUSES = frozenset({408, 425, 429})
NO_RETRY_5XX = frozenset({501, 505})
ACCEPT = {
    "csv": "text/csv, text/plain;q=0.8, application/octet-stream;q=0.5, */*;q=0.1",
    "json": "application/json, */*;q=0.1",
    "ndjson": "application/x-ndjson, application/json;q=0.9, */*;q=0.1",
    "geojson": "application/geo+json, application/json;q=0.9, */*;q=0.1",
    "zip": "application/zip, application/octet-stream;q=0.8, */*;q=0.1",
    "gtfs": "application/zip, application/octet-stream;q=0.8, */*;q=0.1",
}
EXTENSION = {"csv": "csv", "json": "json", "ndjson": "ndjson", "geojson": "geojson", "zip": "zip", "gtfs": "zip",
             "tsv": "tsv", "xlsx": "xlsx", "xls": "xls", "ods": "ods"}

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Wait before attempt n+1: `min(max_delay, backoff * factor**(n-1))` plus up to
    10 % jitter (so workers retrying the same portal spread out), or the server's `Retry-After` when it
    is longer (capped at `max_retry_after`)."""

    attempts: int = 4
    backoff: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # One attempt's whole download, however the bytes trickle in (TERRITOIRE_HTTP_DEADLINE).
    deadline: float = 3600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridable with TERRITOIRE_HTTP_ATTEMPTS / _BACKOFF / _TIMEOUT / _MAX_RETRY_AFTER."""
        d = cls()
        return cls(
            attempts=int(env_number("TERRITOIRE_HTTP_ATTEMPTS", d.attempts)),
            backoff=env_number("TERRITOIRE_HTTP_BACKOFF", d.backoff),
            read_timeout=env_number("TERRITOIRE_HTTP_TIMEOUT", d.read_timeout),
            max_retry_after=env_number("TERRITOIRE_HTTP_MAX_RETRY_AFTER", d.max_retry_after),
            deadline=env_number("TERRITOIRE_HTTP_DEADLINE", d.deadline),
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.max_delay, self.backoff * self.factor ** (attempt - 1))
        base += random.uniform(0, base * 0.1)
        if retry_after is not None:
            base = max(base, min(retry_after, self.max_retry_after))
        return base

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout)


DEFAULT_MAX_BYTES = 2 * 1024**3
# Gzip/deflate bodies and ZIP members inflating more than this many times their compressed size are
# refused once past RATIO_FLOOR bytes (real CSV compresses 5-20x; a bomb of zeros, 1000x).
DEFAULT_MAX_RATIO = 100.0
RATIO_FLOOR = 16 * 1024**2


def max_ratio() -> float:
    return env_number("TERRITOIRE_MAX_COMPRESSION_RATIO", DEFAULT_MAX_RATIO)


@dataclass(frozen=True)
class Target:
    """Who is fetching: used in every error message and to place files in the landing zone.
    `max_bytes`: the source's maximum download size (catalog field `max_download_bytes`)."""

    source_id: str
    resource: str
    format: str
    max_bytes: int = DEFAULT_MAX_BYTES


class _Retry(Exception):
    """Raised inside a response handler: this attempt failed in a way worth retrying."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1 s; a DAG run fetching many resources pays it once.
    return httpx.create_ssl_context()


MAX_REDIRECTS = 10


def make_client(policy: RetryPolicy) -> httpx.Client:
    # Bodies are decoded here (`_Body`), with limits: only encodings we decode are accepted.
    return httpx.Client(
        timeout=policy.timeout(), follow_redirects=True, max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}, verify=_ssl_context(),
    )


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return ("the file is gone or the address is wrong: check the location in catalog/sources.yml "
                "against the producer's portal (files are often renamed when republished)")
    if status in (401, 403):
        return "the portal refuses access: the resource may be private or need a key; check it in a browser"
    if status == 400:
        return "the server rejected the request: check the location's `params` (where/refine syntax, names)"
    if status == 429:
        return "the portal rate-limits us: run later or schedule this source less often"
    if status >= 500:
        return ("the portal is failing: run the task again later (or raise TERRITOIRE_HTTP_ATTEMPTS); "
                "if it persists, tell the producer")
    return "check the location in catalog/sources.yml"


def _is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or (500 <= status < 600 and status not in NO_RETRY_5XX)


def request_with_retries(
    client: httpx.Client,
    target: Target,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    policy: RetryPolicy,
    handle: Callable[[httpx.Response], T],
) -> T:
    """GET `url` (streamed) up to `policy.attempts` times and return `handle(response)`.

    `handle` sees every response the retry logic lets through (2xx, 304, and non-retryable errors)
    and may raise `_Retry` to ask for another attempt.
    """
    last: FetchError | None = None
    failures: list[str] = []  # one short reason per attempt, for the final message
    shown_url = str(httpx.URL(url).copy_merge_params(params)) if params else url
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        retry_after: float | None = None
        try:
            with client.stream("GET", url, params=params, headers=headers) as resp:
                if _is_retryable_status(resp.status_code):
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
                    last = HTTPStatusError(
                        f"the server answered {resp.status_code} {resp.reason_phrase}",
                        source_id=target.source_id, resource=target.resource, url=shown_url,
                        status=resp.status_code, hint=_status_hint(resp.status_code),
                    )
                    failures.append(f"HTTP {resp.status_code}")
                else:
                    return handle(resp)
        except _Retry as exc:
            last, retry_after = exc.error, exc.retry_after
            failures.append(type(exc.error).__name__)
        except httpx.TooManyRedirects as exc:
            raise RedirectLoopError(
                f"the server redirects in a loop or through more than {MAX_REDIRECTS} hops (last: "
                f"{exc.request.url})", source_id=target.source_id, resource=target.resource, url=shown_url,
                hint="the address in catalog/sources.yml is outdated or the portal is misconfigured: open it in a "
                     "browser, then fix the location (or tell the producer)",
            ) from None
        except httpx.TimeoutException as exc:
            last = NetworkError(
                f"the request timed out ({type(exc).__name__})",
                source_id=target.source_id, resource=target.resource, url=shown_url,
                hint=(f"the server is too slow or unreachable (read timeout {policy.read_timeout}s): run "
                      "again later, or raise TERRITOIRE_HTTP_TIMEOUT for a large export"),
            )
            failures.append(type(exc).__name__)
        except httpx.TransportError as exc:
            last = NetworkError(
                f"could not talk to the server ({type(exc).__name__}: {exc})",
                source_id=target.source_id, resource=target.resource, url=shown_url,
                hint="check the host name and the network/proxy of the worker, then run again",
            )
            failures.append(type(exc).__name__)
        if attempt == policy.attempts:
            break
        wait = policy.delay(attempt, retry_after)
        log.warning("%s/%s: attempt %d/%d failed (%s); retrying in %.2fs",
                    target.source_id, target.resource, attempt, policy.attempts, last.what, wait)
        time.sleep(wait)
    assert last is not None
    raise type(last)(
        f"{last.what}; gave up after {attempt} attempt(s): {', '.join(failures)}",
        source_id=last.source_id, resource=last.resource, url=last.url, status=last.status, hint=last.hint,
    )


# --- body checks -------------------------------------------------------------------------------

_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--|<\?xml|<title|<div|<p[\s>]|<h1)", re.I)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _strip_bom(head: bytes) -> bytes:
    for bom in _BOMS:
        if head.startswith(bom):
            return head[len(bom):]
    return head


def check_head(target: Target, head: bytes, content_type: str | None, where: str, status: int | None) -> None:
    """Refuse a body that is plainly not the declared format, from its first bytes."""
    fmt = target.format
    body = _strip_bom(head)
    ctype = (content_type or "").split(";")[0].strip().lower()

    def wrong(what: str, hint: str) -> UnexpectedContentError:
        snippet = body[:120].decode("utf-8", "replace").replace("\n", " ").strip()
        return UnexpectedContentError(
            f"expected a {fmt.upper()} file but got {what} (Content-Type {ctype or 'none'}; starts with "
            f"{snippet!r})", source_id=target.source_id, resource=target.resource, url=where, status=status,
            hint=hint,
        )

    if _HTML.match(body) or (ctype in ("text/html", "application/xhtml+xml") and body.lstrip()[:1] == b"<"):
        raise wrong("an HTML/XML page", "the portal served an error or login page instead of the file: open "
                    "the URL in a browser; the file may have moved (update catalog/sources.yml)")
    if fmt in ("zip", "gtfs"):
        if not body.startswith(ZIP_MAGIC):
            raise wrong("something that is not a ZIP archive", "check that the location points to the ZIP "
                        "itself, not to a page describing it")
    elif body.startswith(ZIP_MAGIC) and fmt not in ("xlsx", "ods"):  # those two are ZIP containers
        raise wrong("a ZIP archive", "declare the resource with format 'zip' and the `member` to extract, "
                    "or point to the uncompressed file")
    elif fmt == "csv" and ctype in ("application/json", "application/problem+json") \
            and body.lstrip()[:1] in (b"{", b"["):
        raise wrong("a JSON document", "an API answered with a JSON (error) message instead of the CSV: "
                    "read it above, then fix the location or its `params`")
    elif fmt in ("json", "geojson", "ndjson") and body.lstrip()[:1] not in (b"{", b"["):
        raise wrong("something that is not JSON", "check the location; an export endpoint may need another "
                    "format in its URL")


def check_zip(target: Target, path: Path, where: str, status: int | None) -> None:
    from territoire.ingest.connectors import archive

    try:
        with zipfile.ZipFile(path) as zf:
            # Declared sizes and ratios first: testzip would inflate a bomb (in memory, chunk by chunk).
            archive.check_members(zf, where, path.parent / ".zip-check", source_id=target.source_id,
                                  resource=target.resource)
            bad = zf.testzip()  # reads every member: catches a corrupt or cut archive before extraction
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidZipError(
            f"the downloaded file is not a valid ZIP archive ({exc})", source_id=target.source_id,
            resource=target.resource, url=where, status=status,
            hint="the download may be cut or the producer's file broken: run again; if it persists, tell the producer",
        ) from None
    if bad is not None:
        raise InvalidZipError(
            f"the ZIP archive is corrupt (CRC error in member {bad!r})", source_id=target.source_id,
            resource=target.resource, url=where, status=status,
            hint="run again; if it persists, the producer's archive is broken: tell them",
        )


TAIL_BYTES = 64 * 1024
_DELIMITERS = (b";", b",", b"\t", b"|")


def _fields(line: bytes, delimiter: bytes) -> int:
    return len(next(csv.reader([line.decode("latin-1")], delimiter=delimiter.decode()), []))


def cut_last_record(path: Path, fmt: str) -> str | None:
    """Why the file's last record looks cut (None when it does not): a CSV whose last line has no end
    of line and fewer fields than the header, JSON/GeoJSON not ending with `}` or `]`. A body cut
    without a Content-Length (the connection closed early) looks complete to HTTP: this is the check."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(TAIL_BYTES)
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
    if b"\x00" in head[:4096]:  # UTF-16 and binary files: their bytes are not lines of ASCII delimiters
        return None
    if fmt in ("json", "geojson"):
        end = tail.rstrip()[-1:]
        return None if end in (b"}", b"]") else f"the JSON document ends with {tail.rstrip()[-40:]!r}, not }} or ]"
    if fmt != "csv" or tail.endswith((b"\n", b"\r")) or b"\n" not in head:
        return None
    header = _strip_bom(head.split(b"\n", 1)[0].rstrip(b"\r"))
    delimiter = max(_DELIMITERS, key=header.count)
    last = tail.rsplit(b"\n", 1)[-1]
    expected, got = _fields(header, delimiter), _fields(last, delimiter)
    if expected > 1 and got < expected:
        return (f"its last line has no end of line and {got} field(s) where the header has {expected} "
                f"(ends with {last[-60:].decode('utf-8', 'replace')!r})")
    return None


def check_file(target: Target, path: Path, content_type: str | None, where: str, status: int | None) -> None:
    """The checks of a complete file (local copies go through the same ones as downloads)."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyBodyError(
            "the file is empty (0 bytes)", source_id=target.source_id, resource=target.resource, url=where,
            status=status, hint="the producer published an empty file or the export failed: run again later, "
            "then tell the producer; the previous snapshot stays loaded",
        )
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    check_head(target, head, content_type, where, status)
    cut = cut_last_record(path, target.format)
    if cut:
        raise TruncatedBodyError(
            f"the file looks cut: {cut}", source_id=target.source_id, resource=target.resource, url=where,
            status=status, hint="the download or the producer's export stopped mid-record: run again later; if it "
            "persists, tell the producer. The previous snapshot stays loaded")
    if target.format in ("zip", "gtfs"):
        check_zip(target, path, where, status)
    if target.format == "gtfs":
        # A broken or hostile feed must not enter the landing zone (nor move the fetch state on).
        gtfs.check_feed(path, source_id=target.source_id, resource=target.resource, label=where)


# --- bounded body ------------------------------------------------------------------------------

class _Body:
    """The decoded bytes of a response, within the target's size cap, the policy's deadline and,
    for a gzip/deflate Content-Encoding, the compression-ratio cap. Raises a FetchError naming
    the limit as soon as one is passed (the temp file is then removed by `landing.incoming`)."""

    def __init__(self, target: Target, resp: httpx.Response, where: str, policy: RetryPolicy):
        self.target, self.resp, self.where = target, resp, where
        self.deadline = time.monotonic() + policy.deadline
        self.policy = policy
        self.wire = 0
        self.decoded = 0
        encoding = resp.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.decoder = zlib.decompressobj()
        elif encoding in ("", "identity"):
            self.decoder = None
        else:
            raise self._error(UnexpectedContentError, f"the body uses Content-Encoding {encoding!r}, which was "
                              "not asked for", "the server ignores our Accept-Encoding: tell its maintainers")
        declared = resp.headers.get("content-length", "")
        if self.decoder is None and declared.isdigit() and int(declared) > target.max_bytes:
            raise self._too_large(int(declared), announced=True)

    def _error(self, cls, what: str, hint: str) -> FetchError:
        return cls(what, source_id=self.target.source_id, resource=self.target.resource, url=self.where,
                   status=self.resp.status_code, hint=hint)

    def _too_large(self, size: int, announced: bool = False) -> FetchError:
        what = (f"the file announces {size:,} bytes, above" if announced
                else f"the file exceeds ({size:,} bytes received, abandoned)")
        return self._error(TooLargeError, f"{what} this source's maximum of {self.target.max_bytes:,} bytes",
                           "if the file is genuinely that large, raise `max_download_bytes` of the source in "
                           "catalog/sources.yml")

    def chunks(self) -> Iterator[bytes]:
        for raw in self.resp.iter_raw():
            self.wire += len(raw)
            if time.monotonic() > self.deadline:
                raise self._error(DeadlineExceededError, f"the download took longer than its deadline of "
                                  f"{self.policy.deadline:g} s ({self.wire:,} bytes received)",
                                  "the server is trickling the file: run again later; for a genuinely slow "
                                  "large export raise TERRITOIRE_HTTP_DEADLINE")
            for chunk in self._decode(raw):
                self.decoded += len(chunk)
                if self.decoded > self.target.max_bytes:
                    raise self._too_large(self.decoded)
                yield chunk
        if self.decoder is not None:
            tail = self.decoder.flush()
            if tail:
                self.decoded += len(tail)
                yield tail
            if not self.decoder.eof:
                raise _Retry(self._error(TruncatedBodyError, f"the compressed body ended before its end "
                                         f"({self.wire:,} bytes received)", "the download was cut: run again later"))

    def _decode(self, raw: bytes) -> Iterator[bytes]:
        if self.decoder is None:
            if raw:
                yield raw
            return
        data = raw
        while data:
            try:
                out = self.decoder.decompress(data, CHUNK)
            except zlib.error as exc:
                raise self._error(UnexpectedContentError, f"the {self.resp.headers.get('content-encoding')} body "
                                  f"does not decode ({exc})", "the server's compression is broken: run again "
                                  "later, then tell the producer") from None
            data = self.decoder.unconsumed_tail
            self._check_ratio(len(out))
            if out:
                yield out

    def _check_ratio(self, more: int) -> None:
        inflated = self.decoded + more
        limit = max_ratio()
        if inflated > RATIO_FLOOR and inflated > limit * max(self.wire, 1):
            raise self._error(UnsafeArchiveError, f"the compressed body inflates more than {limit:g} times "
                              f"({self.wire:,} bytes became over {inflated:,}): a compression bomb",
                              "do not open it by hand; tell the producer (or raise TERRITOIRE_MAX_COMPRESSION_RATIO "
                              "if the file is genuine)")


@contextlib.contextmanager
def keep_refused(target: Target, path: Path, name: str, sha256: str | None = None, *, move: bool = False
                 ) -> Iterator[None]:
    """An archive refused as unsafe is archived in the landing zone all the same (evidence for the
    producer and for whoever investigates; never extracted), its state untouched so the next fetch
    downloads again; the error carries it as `landed`, for the ledger."""
    try:
        yield
    except UnsafeArchiveError as exc:
        exc.landed = landing.store(path, target.source_id, target.resource, name, sha256=sha256, move=move)
        log.warning("%s/%s: refused archive kept as %s", target.source_id, target.resource, exc.landed.path)
        raise


# --- naming ------------------------------------------------------------------------------------

_CD_FILENAME_STAR = re.compile(r"filename\*\s*=\s*[^']*'[^']*'([^;]+)", re.I)
_CD_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?', re.I)


def original_name(url: str, content_disposition: str | None, fmt: str, fallback: str) -> str:
    """The file's own name: Content-Disposition, else the URL's last segment; given the format's
    extension when it has none (an export endpoint ends in `/exports/csv`)."""
    name = ""
    if content_disposition:
        m = _CD_FILENAME_STAR.search(content_disposition) or _CD_FILENAME.search(content_disposition)
        if m:
            name = unquote(m.group(1).strip())
    if not name:
        name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = name.replace("\\", "/").rsplit("/", 1)[-1] or fallback
    if "." not in name:
        name = f"{name}.{EXTENSION.get(fmt, 'bin')}"
    return name


# --- the download ------------------------------------------------------------------------------


def download(
    target: Target,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
) -> FetchResult:
    """Download `url` into the landing zone for `target`, conditionally, with retries and checks."""
    policy = policy or RetryPolicy.from_env()
    location = str(httpx.URL(url).copy_merge_params(params)) if params else url
    previous = landing.read_state(target.source_id, target.resource)
    previous_file = previous.landed() if previous and previous.location == location else None
    headers = {"Accept": ACCEPT.get(target.format, "*/*")}
    conditional = previous_file is not None and not force
    if conditional:
        assert previous is not None
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        conditional = len(headers) > 1

    def handle(resp: httpx.Response) -> FetchResult:
        status = resp.status_code
        if status == 304:
            if not conditional or previous is None or previous_file is None:
                raise HTTPStatusError(
                    "the server answered 304 Not Modified to a request that was not conditional",
                    source_id=target.source_id, resource=target.resource, url=location, status=status,
                    hint="the server or a proxy in between is misbehaving; run again with force",
                )
            # A 304 may carry refreshed validators (RFC 9110 §15.4.5): keep them for the next request.
            state = dataclasses.replace(
                previous, checked_at=landing.now_iso(), etag=resp.headers.get("etag") or previous.etag,
                last_modified=resp.headers.get("last-modified") or previous.last_modified,
            )
            landing.write_state(target.source_id, target.resource, state)
            log.info("%s/%s: not modified since %s (%s)", target.source_id, target.resource,
                     previous.fetched_at, location)
            return FetchResult(
                source_id=target.source_id, resource=target.resource, location=location,
                landed=previous_file, not_modified=True, etag=state.etag, last_modified=state.last_modified,
                content_type=previous.content_type, format=target.format, same_as_previous=True,
            )
        if status >= 300:
            raise HTTPStatusError(
                f"the server answered {status} {resp.reason_phrase}", source_id=target.source_id,
                resource=target.resource, url=location, status=status, hint=_status_hint(status),
            )
        content_type = resp.headers.get("content-type")
        name = original_name(str(resp.url), resp.headers.get("content-disposition"), target.format,
                             f"{target.resource}.{EXTENSION.get(target.format, 'bin')}")
        body = _Body(target, resp, location, policy)
        with landing.incoming(target.source_id, target.resource) as tmp:
            digest = hashlib.sha256()
            size = 0
            head = b""
            try:
                with open(tmp, "wb") as f:
                    for chunk in body.chunks():
                        if len(head) < HEAD_BYTES:
                            head += chunk[: HEAD_BYTES - len(head)]
                            # Refuse an HTML page as soon as it shows, not after downloading all of it.
                            if len(head) >= HEAD_BYTES:
                                check_head(target, head, content_type, location, status)
                        digest.update(chunk)
                        f.write(chunk)
                        size += len(chunk)
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                raise _Retry(TruncatedBodyError(
                    f"the download was cut after {size} bytes ({exc})", source_id=target.source_id,
                    resource=target.resource, url=location, status=status,
                    hint="the connection dropped mid-file on every attempt: run again later; a proxy "
                         "limiting body sizes can also cause this",
                )) from exc
            declared = resp.headers.get("content-length")
            # num_bytes_downloaded counts bytes on the wire, as Content-Length does (even when gzipped).
            if declared and declared.isdigit() and resp.num_bytes_downloaded != int(declared):
                raise _Retry(TruncatedBodyError(
                    f"received {resp.num_bytes_downloaded} bytes but Content-Length announced {declared}",
                    source_id=target.source_id, resource=target.resource, url=location, status=status,
                    hint="the download was cut on every attempt: run again later",
                ))
            with keep_refused(target, tmp, name, digest.hexdigest(), move=True):
                check_file(target, tmp, content_type, location, status)
            landed = landing.store(tmp, target.source_id, target.resource, name,
                                   sha256=digest.hexdigest(), move=True)
        etag = resp.headers.get("etag")
        last_modified = resp.headers.get("last-modified")
        landing.write_state(target.source_id, target.resource, landing.FetchState(
            location=location, sha256=landed.sha256, size=landed.size, path=str(landed.path),
            original_name=name, fetched_at=landing.now_iso(), etag=etag, last_modified=last_modified,
            content_type=content_type,
        ))
        same = previous is not None and previous.sha256 == landed.sha256
        log.info("%s/%s: fetched %s (%d bytes, sha256 %s%s)", target.source_id, target.resource, location,
                 landed.size, landed.sha256[:12], ", unchanged" if same else "")
        return FetchResult(
            source_id=target.source_id, resource=target.resource, location=location, landed=landed,
            not_modified=False, etag=etag, last_modified=last_modified, content_type=content_type,
            format=target.format, same_as_previous=same,
        )

    own = client is None
    client = client or make_client(policy)
    try:
        return request_with_retries(client, target, url, params=params, headers=headers, policy=policy,
                                    handle=handle)
    finally:
        if own:
            client.close()


def get_json(
    target: Target,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
    max_bytes: int = 50 * 1024 * 1024,
) -> Any:
    """GET a JSON API answer (small: metadata, not data) with the same retries and clear errors."""
    policy = policy or RetryPolicy.from_env()
    shown = str(httpx.URL(url).copy_merge_params(params)) if params else url

    def handle(resp: httpx.Response) -> Any:
        if resp.status_code >= 300:
            raise HTTPStatusError(
                f"the API answered {resp.status_code} {resp.reason_phrase}", source_id=target.source_id,
                resource=target.resource, url=shown, status=resp.status_code,
                hint=_status_hint(resp.status_code),
            )
        body = bytearray()
        try:
            # The same bounds as a download (size, deadline, gzip ratio), with the metadata size cap.
            for chunk in _Body(dataclasses.replace(target, max_bytes=max_bytes), resp, shown, policy).chunks():
                body += chunk
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Retry(TruncatedBodyError(
                f"the API answer was cut ({exc})", source_id=target.source_id, resource=target.resource,
                url=shown, status=resp.status_code, hint="run again later",
            )) from exc
        try:
            return json.loads(bytes(body))
        except ValueError:
            snippet = bytes(body[:120]).decode("utf-8", "replace")
            raise UnexpectedContentError(
                f"the API did not answer JSON (starts with {snippet!r})", source_id=target.source_id,
                resource=target.resource, url=shown, status=resp.status_code,
                hint="check the API base URL in catalog/sources.yml (base_url)",
            ) from None

    own = client is None
    client = client or make_client(policy)
    try:
        return request_with_retries(client, target, url, params=params,
                                    headers={"Accept": "application/json"}, policy=policy, handle=handle)
    finally:
        if own:
            client.close()
