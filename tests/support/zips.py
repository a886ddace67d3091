"""Build ZIP archives for tests: GTFS feeds from a folder, and hostile archives (zip-slip, links)."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # fixed member dates: the same folder always gives the same bytes


def build_zip(members: dict[str, bytes], path: Path, *, symlinks: dict[str, str] | None = None) -> Path:
    """Write `members` (name -> bytes, names taken verbatim, even `../x` or `/etc/x`) into `path`;
    `symlinks` adds symbolic-link members (name -> link target)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
        for name, link_target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3  # unix, so the mode bits are meaningful
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link_target)
    return path


def folder_members(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def build_feed_zip(folder: Path, path: Path) -> Path:
    """The ZIP of a GTFS folder, byte-for-byte reproducible."""
    return build_zip(folder_members(folder), path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
