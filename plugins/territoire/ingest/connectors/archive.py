"""Safe ZIP extraction: nothing is ever written outside the destination folder.

A published archive is untrusted input. Before anything is written, every member is checked:
no absolute path, no drive letter, no `..`, no symbolic link, no duplicate name, a bounded number of
members, a bounded total size and a bounded compression ratio per member (declared sizes are checked
first, then the bytes actually inflated are counted, since a crafted archive can lie about its sizes):
a 2.8 MB archive that would inflate to 1.1 GB is refused before a byte is written. One unsafe member rejects the whole
archive, even a member we would not extract: such an archive is broken or hostile.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from territoire.ingest.connectors.base import InvalidZipError, UnsafeArchiveError

DEFAULT_MAX_TOTAL_BYTES = 4 * 1024**3  # a large network's stop_times.txt is ~1-2 GB uncompressed
DEFAULT_MAX_MEMBERS = 10_000
CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def max_total_bytes() -> int:
    value = os.environ.get("TERRITOIRE_ZIP_MAX_BYTES")
    return int(value) if value else DEFAULT_MAX_TOTAL_BYTES


def _ratio_exceeded(inflated: int, compressed: int) -> float | None:
    """The limit passed when `inflated` bytes came from `compressed` ones (see http.max_ratio)."""
    from territoire.ingest.connectors.http import RATIO_FLOOR, max_ratio

    limit = max_ratio()
    return limit if inflated > RATIO_FLOOR and inflated > limit * max(compressed, 1) else None


def _bomb(info: zipfile.ZipInfo, inflated: int, limit: float, zip_path, source_id: str, resource: str):
    return _fail(UnsafeArchiveError, f"member {info.filename!r} inflates more than {limit:g} times its compressed "
                 f"size ({info.compress_size:,} bytes -> over {inflated:,}; zip bomb guard)", zip_path,
                 source_id, resource, "do not open it by hand; tell the producer (or raise "
                 "TERRITOIRE_MAX_COMPRESSION_RATIO if the file is genuine)")


def _fail(cls, what: str, zip_path: Path | str, source_id: str, resource: str, hint: str):
    return cls(f"{what} in archive {zip_path}", source_id=source_id, resource=resource, hint=hint)


def normalise_name(name: str) -> str:
    # Archives made on Windows may use backslashes: treat them as separators before any check.
    # Some tools write `./stops.txt`: the same file as `stops.txt`.
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def member_name(info: zipfile.ZipInfo) -> str:
    return normalise_name(info.filename)


def check_members(
    zf: zipfile.ZipFile,
    zip_path: Path | str,
    dest_dir: Path,
    *,
    source_id: str,
    resource: str,
    max_bytes: int | None = None,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> list[zipfile.ZipInfo]:
    """Validate every member of `zf` for extraction under `dest_dir`; return the file members."""
    max_bytes = max_total_bytes() if max_bytes is None else max_bytes
    infos = zf.infolist()
    hostile = "the archive is malicious or broken: do not open it by hand; tell the producer"
    if len(infos) > max_members:
        raise _fail(UnsafeArchiveError, f"{len(infos)} members (limit {max_members})", zip_path, source_id,
                    resource, hostile)
    root = dest_dir.resolve()
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = member_name(info)
        parts = PurePosixPath(name).parts
        if name.startswith("/") or _DRIVE.match(name) or ".." in parts or "\x00" in name:
            raise _fail(UnsafeArchiveError, f"member {info.filename!r} would be written outside the "
                        f"destination folder (absolute path or '..')", zip_path, source_id, resource, hostile)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _fail(UnsafeArchiveError, f"member {info.filename!r} is a symbolic link", zip_path,
                        source_id, resource, hostile)
        target = (root / name).resolve()
        if target != root and root not in target.parents:
            raise _fail(UnsafeArchiveError, f"member {info.filename!r} resolves outside the destination "
                        f"folder", zip_path, source_id, resource, hostile)
        if info.is_dir():
            continue
        if name in seen:
            raise _fail(UnsafeArchiveError, f"member {info.filename!r} appears twice", zip_path, source_id,
                        resource, hostile)
        seen.add(name)
        total += info.file_size
        if total > max_bytes:
            raise _fail(UnsafeArchiveError, f"members inflate to more than {max_bytes} bytes (zip bomb "
                        f"guard)", zip_path, source_id, resource,
                        "if the feed is genuinely that large, raise TERRITOIRE_ZIP_MAX_BYTES")
        limit = _ratio_exceeded(info.file_size, info.compress_size)
        if limit:
            raise _bomb(info, info.file_size, limit, zip_path, source_id, resource)
        files.append(info)
    return files


def open_zip(zip_path: Path, *, source_id: str, resource: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidZipError(
            f"{zip_path} is not a valid ZIP archive ({exc})", source_id=source_id, resource=resource,
            hint="fetch it again; if it persists the producer's archive is broken",
        ) from None


def extract(
    zf: zipfile.ZipFile,
    zip_path: Path,
    members: Iterable[zipfile.ZipInfo],
    dest_dir: Path,
    *,
    source_id: str,
    resource: str,
    max_bytes: int | None = None,
) -> dict[str, Path]:
    """Extract already-checked `members` into `dest_dir`, counting the bytes really inflated.

    Returns `{member name: path}`. Each member goes through a temp file and `os.replace`.
    """
    max_bytes = max_total_bytes() if max_bytes is None else max_bytes
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    written = 0
    out: dict[str, Path] = {}
    for info in members:
        name = member_name(info)
        target = (root / name).resolve()
        if root not in target.parents:  # checked already; kept as the last line of defence
            raise _fail(UnsafeArchiveError, f"member {info.filename!r} resolves outside the destination",
                        zip_path, source_id, resource, "do not use this archive")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".member-{os.getpid()}-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out_f, zf.open(info) as in_f:
                member_written = 0
                while chunk := in_f.read(CHUNK):
                    written += len(chunk)
                    member_written += len(chunk)
                    if limit := _ratio_exceeded(member_written, info.compress_size):
                        raise _bomb(info, member_written, limit, zip_path, source_id, resource)
                    if written > max_bytes:
                        raise _fail(UnsafeArchiveError, f"members inflate to more than {max_bytes} bytes "
                                    f"(zip bomb guard)", zip_path, source_id, resource,
                                    "if the feed is genuinely that large, raise TERRITOIRE_ZIP_MAX_BYTES")
                    out_f.write(chunk)
            os.replace(tmp_name, target)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise InvalidZipError(
                f"member {info.filename!r} of {zip_path} is corrupt ({exc})", source_id=source_id,
                resource=resource, hint="fetch it again; if it persists the producer's archive is broken",
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        out[name] = target
    return out


def publish_dir(tmp_dir: Path, final_dir: Path) -> Path:
    """Move a fully extracted temp folder to its final name; keep an existing complete one."""
    try:
        os.replace(tmp_dir, final_dir)
    except OSError:
        # Another worker extracted the same content first (the final folder exists and is not empty).
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


def extract_member(
    zip_path: Path, member: str, dest_dir: Path, *, source_id: str, resource: str,
    max_bytes: int | None = None,
) -> Path:
    """Extract one named member of a ZIP resource (location field `member`) safely."""
    with open_zip(zip_path, source_id=source_id, resource=resource) as zf:
        files = check_members(zf, zip_path, dest_dir, source_id=source_id, resource=resource,
                              max_bytes=max_bytes)
        wanted = normalise_name(member)
        chosen = [i for i in files if member_name(i) == wanted]
        if not chosen:
            names = ", ".join(member_name(i) for i in files[:30]) or "none"
            raise InvalidZipError(
                f"archive {zip_path} has no member {member!r} (has: {names})", source_id=source_id,
                resource=resource, hint="fix the location's `member` in catalog/sources.yml",
            )
        return extract(zf, zip_path, chosen, dest_dir, source_id=source_id, resource=resource,
                       max_bytes=max_bytes)[wanted]
