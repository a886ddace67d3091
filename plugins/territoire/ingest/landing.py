"""The landing zone: a content-addressed archive of every raw file the platform fetched.

Layout under `settings.landing_dir()`:

    <source_id>/<resource>/<sha256>.<ext>     one file per distinct content, never rewritten
    <source_id>/<resource>/state.json         the last fetch (ETag, Last-Modified, sha256, times)
    <source_id>/<resource>/.incoming-*        downloads in progress (same folder, so the final
                                              os.replace is atomic on the same file system)

Every write is "temp file in the same folder, then os.replace", so a reader (another worker on the
shared storage, a replayed load) sees either nothing or a complete file, never a partial one.
Storing the same content twice keeps one file: the name *is* the checksum.

No database here on purpose: connectors must be testable without PostgreSQL, and the ledger
(`ingest.load_batches`) records what was loaded from which landed file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from territoire import processes, settings

CHUNK = 1024 * 1024
STATE_FILE = "state.json"
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SAFE_EXT = re.compile(r"^[a-z0-9]{1,10}$")
# Suffixes kept whole so `x.tar.gz` lands as `<sha>.tar.gz`, not `<sha>.gz`.
_DOUBLE_SUFFIXES = {".tar.gz", ".csv.gz", ".json.gz", ".geojson.gz"}


@dataclass(frozen=True)
class LandedFile:
    """A raw file archived in the landing zone; `path` is `<landing>/<source>/<resource>/<sha256>.<ext>`."""

    path: Path
    sha256: str
    size: int
    original_name: str


@dataclass(frozen=True)
class FetchState:
    """What the last fetch of a resource brought back (the basis of conditional requests)."""

    location: str
    sha256: str
    size: int
    path: str
    original_name: str
    fetched_at: str
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    checked_at: str | None = None

    def landed(self) -> LandedFile | None:
        """The archived file this state points to, if it is still in the landing zone."""
        p = Path(self.path)
        if not p.is_file():
            return None
        return LandedFile(path=p, sha256=self.sha256, size=self.size, original_name=self.original_name)


def _component(kind: str, value: str) -> str:
    # Names become folder names on shared storage: refuse anything that could escape the landing dir.
    if not isinstance(value, str) or not _SAFE_COMPONENT.match(value) or ".." in value:
        raise ValueError(f"landing: {kind} {value!r} is not a safe folder name (letters, digits, '_', '-', '.')")
    return value


def resource_dir(source_id: str, resource: str) -> Path:
    """`<landing>/<source_id>/<resource>`, created if missing."""
    d = settings.landing_dir() / _component("source id", source_id) / _component("resource", resource)
    d.mkdir(parents=True, exist_ok=True)
    return d


def temp_prefix(kind: str) -> str:
    """`.<kind>-<pid>-`: temporary files and folders name their process, so that those of a process
    that died (killed mid-download: no `finally` ran) are recognised and removed by `sweep`."""
    return f".{kind}-{os.getpid()}-"


_TEMP = re.compile(r"^\.(incoming|store|state|extract|member)-(\d+)-")
STALE_TEMP_SECONDS = 24 * 3600  # a temp file without a live process, or this old, is garbage


def sweep(d: Path) -> list[Path]:
    """Remove the temporary files and folders of dead processes from a resource folder (every failure
    of a live process removes its own: `incoming` and the extractors clean up in `finally`)."""
    removed = []
    now = time.time()
    for p in d.glob(".*-*"):
        m = _TEMP.match(p.name)
        if not m or (processes.alive(int(m.group(2))) and now - p.lstat().st_mtime < STALE_TEMP_SECONDS):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def extension(original_name: str) -> str:
    """The extension the landed file keeps (`data.CSV` -> `csv`, `x.tar.gz` -> `tar.gz`, none -> `bin`)."""
    name = original_name.rsplit("/", 1)[-1].lower()
    for double in _DOUBLE_SUFFIXES:
        if name.endswith(double):
            return double[1:]
    suffix = Path(name).suffix[1:]
    return suffix if _SAFE_EXT.match(suffix) else "bin"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def incoming(source_id: str, resource: str) -> Iterator[Path]:
    """A temp path in the resource's folder to download into; removed on exit unless it was moved.

    Downloading next to the final location lets `store(..., move=True)` finish with a rename
    instead of a second copy of a possibly large file.
    """
    d = resource_dir(source_id, resource)
    sweep(d)  # what a killed download of this resource left
    fd, name = tempfile.mkstemp(prefix=temp_prefix("incoming"), dir=d)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def store(
    tmp_file: Path | str,
    source_id: str,
    resource: str,
    original_name: str,
    *,
    sha256: str | None = None,
    move: bool = False,
) -> LandedFile:
    """Archive `tmp_file` as `<landing>/<source_id>/<resource>/<sha256>.<ext>` and return it.

    The write is atomic (temp file in the target folder, then `os.replace`). When the same content
    is already archived, the existing file is kept and returned. `sha256` may be passed when the
    caller hashed the bytes while downloading them; `move=True` consumes `tmp_file` (a rename when it
    is on the same file system) instead of copying it.
    """
    src = Path(tmp_file)
    if not src.is_file():
        raise FileNotFoundError(f"landing: {source_id}/{resource}: no file to store at {src}")
    digest = sha256 or sha256_file(src)
    size = src.stat().st_size
    d = resource_dir(source_id, resource)
    final = d / f"{digest}.{extension(original_name)}"
    if final.is_file() and final.stat().st_size == size:
        if move:
            src.unlink()
        return LandedFile(path=final, sha256=digest, size=size, original_name=original_name)
    if move and src.parent == d:
        os.replace(src, final)
    else:
        fd, name = tempfile.mkstemp(prefix=temp_prefix("store"), dir=d)
        os.close(fd)
        tmp = Path(name)
        try:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if move:
            src.unlink()
    # Archived files are immutable: read-only guards against an accidental in-place edit.
    with contextlib.suppress(OSError):
        final.chmod(0o444)
    return LandedFile(path=final, sha256=digest, size=size, original_name=original_name)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_state(source_id: str, resource: str) -> FetchState | None:
    """The last fetch state of a resource, or None (never fetched, or an unreadable state file)."""
    path = resource_dir(source_id, resource) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return FetchState(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # A state file is only an optimisation (conditional requests): a corrupt one means "refetch".
        return None


def write_state(source_id: str, resource: str, state: FetchState) -> Path:
    """Write the fetch state atomically (the last writer wins when two workers race)."""
    d = resource_dir(source_id, resource)
    fd, name = tempfile.mkstemp(prefix=temp_prefix("state"), dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(state), f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(name, d / STATE_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return d / STATE_FILE


def landed_files(source_id: str, resource: str) -> list[Path]:
    """Every archived content of a resource, oldest first (for replays)."""
    d = resource_dir(source_id, resource)
    files = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != STATE_FILE]
    return sorted(files, key=lambda p: p.stat().st_mtime_ns)
