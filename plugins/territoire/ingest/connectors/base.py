"""What every connector returns and raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from territoire.ingest.landing import LandedFile
from territoire.naming import raw_table


class FetchError(Exception):
    """A resource could not be fetched. The message names the source, resource, location, HTTP status
    (when there is one) and what to do; the attributes carry the same facts for programs.

    `landed`: the refused file, archived in the landing zone as evidence, when the content itself was
    refused as unsafe (`UnsafeArchiveError`); None otherwise."""

    landed: LandedFile | None = None

    def __init__(
        self,
        what: str,
        *,
        source_id: str,
        resource: str,
        url: str | None = None,
        status: int | None = None,
        hint: str = "",
    ) -> None:
        self.what = what
        self.source_id = source_id
        self.resource = resource
        self.url = url
        self.status = status
        self.hint = hint
        parts = [f"source {source_id!r}, resource {resource!r}: {what}"]
        facts = []
        if url:
            facts.append(f"url {url}")
        if status is not None:
            facts.append(f"HTTP {status}")
        if facts:
            parts.append(f" ({', '.join(facts)})")
        if hint:
            parts.append(f". What to do: {hint}")
        super().__init__("".join(parts))


class HTTPStatusError(FetchError):
    """The server answered with an error status (after the retries, for 5xx and 429)."""


class NetworkError(FetchError):
    """Connection refused/reset, DNS failure or timeout, after the retries."""


class TruncatedBodyError(FetchError):
    """The body is shorter than announced (Content-Length, an unfinished chunked or gzip body), or its
    last record is cut (a last line without its end of line that also lacks fields)."""


class EmptyBodyError(FetchError):
    """The server sent no bytes where a file was expected."""


class UnexpectedContentError(FetchError):
    """The body is not what the catalog declares (an HTML page instead of a CSV, ...)."""


class InvalidZipError(FetchError):
    """A ZIP (or GTFS) resource whose bytes are not a readable ZIP archive."""


class UnsafeArchiveError(FetchError):
    """A ZIP that tries to write outside its folder, holds links, or inflates past the size cap or the
    compression ratio cap; also a gzip-encoded body inflating past them."""


class TooLargeError(FetchError):
    """The download exceeds the source's maximum size (catalog field `max_download_bytes`)."""


class DeadlineExceededError(FetchError):
    """The download did not finish within its overall deadline (a server trickling bytes)."""


class RedirectLoopError(FetchError):
    """The server redirects in a loop (or through too many hops)."""


class GTFSFeedError(FetchError):
    """A GTFS feed that misses required files."""


class NoMatchingResourceError(FetchError):
    """A data.gouv.fr dataset has no resource matching the catalog's title/format/id."""


class SourceFileNotFoundError(FetchError):
    """A local path declared in the catalog does not exist."""


class ConfigurationError(FetchError):
    """The catalog location cannot be used by its connector (a field is missing or wrong)."""


@dataclass(frozen=True)
class LoadTarget:
    """One file to load: into raw table `table` (no schema), parsed as `format`; `sha256` when known."""

    table: str
    path: Path
    format: str
    sha256: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """The outcome of `territoire.ingest.connectors.fetch`.

    - `landed`: the archived raw file; also set when `not_modified` (the file the previous fetch
      archived), so a loader always has a file to (re)load. None only for a connector that archives
      nothing (none does today).
    - `not_modified`: the server answered 304 to our conditional request: nothing was downloaded.
    - `same_as_previous`: the content has the checksum of the previous fetch (a 304, or a 200 with
      identical bytes, e.g. a server without ETag).
    - `files`: extracted members: for GTFS `{file stem: path}` (`stops` -> `.../stops.txt`), for a zip
      with a `member` location `{member name: path}`; empty otherwise.
    """

    source_id: str
    resource: str
    location: str
    landed: LandedFile | None
    not_modified: bool
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    format: str = ""
    same_as_previous: bool = False
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def data_path(self) -> Path | None:
        """The one file a single-table loader parses: the extracted member if any, else the landed file."""
        if self.format != "gtfs" and len(self.files) == 1:
            return next(iter(self.files.values()))
        return self.landed.path if self.landed else None

    def tables(self) -> dict[str, Path]:
        """Raw table name (without the `raw.` schema) -> file to load into it.

        GTFS: one table per feed file, `<source_id>__<file stem>` (`transport__stops`); any other
        format: the resource's own table `<source_id>__<resource>`.
        """
        if self.format == "gtfs":
            return {raw_table(self.source_id, stem): path for stem, path in self.files.items()}
        path = self.data_path
        return {raw_table(self.source_id, self.resource): path} if path else {}

    def load_targets(self) -> list[LoadTarget]:
        """What a loader does with this fetch: `[LoadTarget(table, path, format, sha256)]`.

        GTFS `.txt` files are CSV (`locations.geojson` is GeoJSON); a zip `member` keeps the
        resource's declared format; the landed file's checksum is passed on when it is the file loaded.
        """
        targets = []
        for table, path in self.tables().items():
            if self.format == "gtfs":
                fmt = "geojson" if path.suffix == ".geojson" else "csv"
            else:
                fmt = self.format
            sha = self.landed.sha256 if self.landed and path == self.landed.path else None
            targets.append(LoadTarget(table=table, path=path, format=fmt, sha256=sha))
        return targets
