"""HTTP caching tied to the published version, and the per-client rate limit.

ETag and Last-Modified come from the dataset's version held by the catalog (no query), so a
conditional request that still matches is answered 304 before anything reaches the warehouse.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response

from territoire.api.catalog import Version
from territoire.api.problems import ProblemError, problem_response


def cache_headers(version: Version) -> dict[str, str]:
    return {
        "ETag": version.etag,
        "Last-Modified": format_datetime(version.published_at, usegmt=True),
        # Stored by any cache, but checked again each time: a 304 is cheap and never stale.
        "Cache-Control": "public, no-cache",
    }


def _not_modified_since(request: Request, published_at: datetime) -> bool:
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        return False
    return published_at.replace(microsecond=0) <= when


def not_modified(request: Request, version: Version) -> Response | None:
    """A 304 when the client's copy is the published version (If-None-Match first, RFC 9110 13.2.2)."""
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        fresh = "*" in tags or version.etag in tags
    else:
        fresh = _not_modified_since(request, version.published_at)
    return Response(status_code=304, headers=cache_headers(version)) if fresh else None


class TokenBuckets:
    """One bucket per client: `rate` tokens a second, at most `burst`; a request takes one token."""

    MAX_CLIENTS = 100_000

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go on, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self.MAX_CLIENTS:  # forget full buckets: they behave as new clients
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}
            return (1 - tokens) / self.rate


class RateLimit:
    """ASGI middleware: 429 with Retry-After once a client (its address) has used its bucket."""

    def __init__(self, app, rate: float, burst: int, prefix: str = "/api"):
        self.app = app
        self.buckets = TokenBuckets(rate, burst)
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.buckets.take(client)
        if not wait:
            return await self.app(scope, receive, send)
        seconds = max(1, math.ceil(wait))
        problem = ProblemError(
            429, "trop-de-requetes", ("Trop de requêtes", "Too many requests"),
            (f"Limite de {self.buckets.rate:g} requêtes par seconde (rafales de {self.buckets.burst}) atteinte ; "
             f"réessayez dans {seconds} s.",
             f"Limit of {self.buckets.rate:g} requests per second (bursts of {self.buckets.burst}) reached; "
             f"retry in {seconds} s."),
            headers={"Retry-After": str(seconds)},
            limit=self.buckets.rate, retry_after=seconds)
        response = problem_response(Request(scope), problem)
        await response(scope, receive, send)


class HeadAsGet:
    """ASGI middleware: HEAD is answered as GET without its body (link checkers, caches).

    The request is marked (`scope["territoire.head"]`), so that an export sends its headers without
    running its query."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if not message.get("more_body"):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET", "territoire.head": True}, receive, headers_only)


def is_head(request: Request) -> bool:
    return bool(request.scope.get("territoire.head"))
