"""A file given by hand (`territoire load <source> --file F`): fetched from where it lies, like the
catalog's own location, so that it is checked, archived in the landing zone, recorded in the ledger
and, for a GTFS feed or a ZIP with a member, unpacked the same way."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from territoire import settings
from territoire.catalog import Location, Resource
from territoire.ingest import detect
from territoire.ingest.connectors.base import ConfigurationError
from territoire.ingest.connectors.gtfs import GTFS_FILES


@contextlib.contextmanager
def as_local_resource(resource: Resource, path: Path) -> Iterator[Resource]:
    """`resource` with its location (of the current profile) replaced by the local `path`: a file, a
    GTFS ZIP, or a folder of GTFS `.txt` files (zipped first: the landing zone archives one file)."""
    path = Path(path).resolve()
    detected = detect.detect_format(path)
    member = None
    if detected.family == "archive" and resource.format != "gtfs":
        member = next((loc.member for loc in resource.locations.values() if loc.member), None)
    with contextlib.ExitStack() as stack:
        if path.is_dir():
            if detected.format != "gtfs" or resource.format != "gtfs":
                raise ConfigurationError(
                    f"{path} is {detected.what}", source_id=resource.source_id, resource=resource.name,
                    hint="only a GTFS feed (a source whose format is gtfs) can be given as a folder; give the "
                         "data file itself")
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".gtfs-folder-")))
            path = zip_folder(path, folder / f"{path.name}.zip")
        location = Location("gtfs" if resource.format == "gtfs" else "local", path=str(path), member=member)
        yield dataclasses.replace(resource, locations={**resource.locations, settings.profile(): location})


def zip_folder(folder: Path, dest: Path) -> Path:
    """The GTFS files of `folder` as a ZIP, byte for byte, with fixed dates: the same folder gives the
    same archive (so an unchanged feed is recognised as such)."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.name in GTFS_FILES:
                info = zipfile.ZipInfo(p.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(p, "rb") as src, zf.open(info, "w") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    return dest
