"""GTFS feeds: a ZIP of CSV files, each loaded into its own raw table.

Contract with the loader: the feed file `<stem>.txt` (or `locations.geojson`) of source `<source_id>`
lands in raw table `raw.<source_id>__<stem>` (`raw.transport__stop_times`); `raw_tables()` gives the
mapping. Parsing (BOMs before headers, CRLF, quoting) is the loader's job: files are extracted
byte for byte.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from territoire.ingest import landing
from territoire.ingest.connectors import archive
from territoire.ingest.connectors.base import GTFSFeedError
from territoire.ingest.landing import LandedFile
from territoire.naming import raw_table

log = logging.getLogger("territoire.ingest.connectors")

# GTFS Schedule reference (gtfs.org/schedule/reference), dataset files.
REQUIRED = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
CALENDARS = ("calendar.txt", "calendar_dates.txt")  # at least one of the two
OPTIONAL = (
    "fare_attributes.txt", "fare_rules.txt", "timeframes.txt", "rider_categories.txt", "fare_media.txt",
    "fare_products.txt", "fare_leg_rules.txt", "fare_leg_join_rules.txt", "fare_transfer_rules.txt",
    "areas.txt", "stop_areas.txt", "networks.txt", "route_networks.txt", "shapes.txt", "frequencies.txt",
    "transfers.txt", "pathways.txt", "levels.txt", "location_groups.txt", "location_group_stops.txt",
    "locations.geojson", "booking_rules.txt", "translations.txt", "feed_info.txt", "attributions.txt",
)
GTFS_FILES = frozenset(REQUIRED + CALENDARS + OPTIONAL)
# The order the files are loaded in: each after the files it refers to, so that the catalog's
# `references` rules check stop_times against the trips and stops of the same feed (not of the
# previous one, nor skip them on a first load); the other files follow, by name.
LOAD_ORDER = ("agency.txt", "stops.txt", "routes.txt", "calendar.txt", "calendar_dates.txt", "shapes.txt",
              "trips.txt", "stop_times.txt")


def stem(file_name: str) -> str:
    return PurePosixPath(file_name).stem


def load_rank(file_name: str) -> tuple[int, str]:
    """Sort key of a feed file in LOAD_ORDER."""
    name = PurePosixPath(file_name).name
    return (LOAD_ORDER.index(name) if name in LOAD_ORDER else len(LOAD_ORDER), name)


def _feed_members(zf, zip_path: Path | str, dest_dir: Path, *, source_id: str, resource: str,
                  max_bytes: int | None, log_extras: bool = True) -> list:
    """Check the archive and the required files; return the GTFS members to extract."""
    members = archive.check_members(zf, zip_path, dest_dir, source_id=source_id, resource=resource,
                                    max_bytes=max_bytes)
    names = {archive.member_name(i): i for i in members}
    missing = [f for f in REQUIRED if f not in names]
    if not any(c in names for c in CALENDARS):
        missing.append(" or ".join(CALENDARS))
    if missing:
        nested = sorted({n.rsplit("/", 1)[0] for n in names if "/" in n and n.rsplit("/", 1)[1] in GTFS_FILES})
        hint = ("the GTFS files are in a sub-folder " + ", ".join(repr(d) for d in nested)
                + ": GTFS wants them at the root of the ZIP; ask the producer to fix the export") if nested \
            else "the producer's export is incomplete: tell them; the previous feed stays loaded"
        raise GTFSFeedError(
            f"GTFS feed {zip_path} misses required file(s): {', '.join(missing)} "
            f"(has: {', '.join(sorted(names)) or 'nothing'})",
            source_id=source_id, resource=resource, hint=hint,
        )
    extras = sorted(n for n in names if n not in GTFS_FILES)
    if extras and log_extras:
        log.info("%s/%s: GTFS feed %s: ignoring non-GTFS file(s): %s", source_id, resource, zip_path,
                 ", ".join(extras))
    return [names[n] for n in sorted(names, key=load_rank) if n in GTFS_FILES]


def check_feed(zip_path: Path | str, *, source_id: str = "-", resource: str = "-",
               max_bytes: int | None = None, label: str | None = None) -> list[str]:
    """Run every check of `extract_feed` without writing anything; return the GTFS file names.

    Used before a downloaded feed is archived, so a broken feed never enters the landing zone.
    `label` names the feed in errors (its URL, rather than the temp file it was downloaded to).
    """
    zip_path = Path(zip_path)
    probe = zip_path.parent / ".gtfs-check"  # never created: only used to resolve member paths
    with archive.open_zip(zip_path, source_id=source_id, resource=resource) as zf:
        members = _feed_members(zf, label or zip_path, probe, source_id=source_id, resource=resource,
                                max_bytes=max_bytes, log_extras=False)
    return [archive.member_name(i) for i in members]


def extract_feed(
    zip_path: Path | str,
    dest_dir: Path | str,
    *,
    source_id: str = "-",
    resource: str = "-",
    max_bytes: int | None = None,
) -> dict[str, Path]:
    """Extract the GTFS files of `zip_path` into `dest_dir`; return `{file stem: path}`.

    Refuses (UnsafeArchiveError) an archive with a member escaping `dest_dir` (absolute, `..`,
    symlink) or inflating past `max_bytes` (default TERRITOIRE_ZIP_MAX_BYTES or 4 GiB); refuses
    (GTFSFeedError) a feed missing a required file. Files that are not GTFS files are not extracted
    (logged). Nothing is written unless the whole archive passed the checks.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    with archive.open_zip(zip_path, source_id=source_id, resource=resource) as zf:
        wanted = _feed_members(zf, zip_path, dest_dir, source_id=source_id, resource=resource,
                               max_bytes=max_bytes)
        extracted = archive.extract(zf, zip_path, wanted, dest_dir, source_id=source_id, resource=resource,
                                    max_bytes=max_bytes)
    return {stem(name): path for name, path in extracted.items()}


def raw_tables(source_id: str, files: dict[str, Path] | list[str]) -> dict[str, str]:
    """`{file stem: "raw.<source_id>__<stem>"}` for the files of an extracted feed."""
    return {s: f"raw.{raw_table(source_id, s)}" for s in files}


def extract_landed(landed: LandedFile, *, source_id: str, resource: str,
                   max_bytes: int | None = None) -> dict[str, Path]:
    """Extract a landed feed to `<landing>/<source>/<resource>/<sha256>.extracted/` (once per content).

    Extracted into a temp folder first, then renamed, so a concurrent reader never sees half a feed.
    """
    d = landing.resource_dir(source_id, resource)
    final = d / f"{landed.sha256}.extracted"
    if final.is_dir():
        files = _listing(final)
        if all(stem(r) in files for r in REQUIRED):
            return files
        shutil.rmtree(final, ignore_errors=True)  # someone tampered with it: extract again
    tmp = Path(tempfile.mkdtemp(prefix=landing.temp_prefix("extract"), dir=d))
    try:
        extract_feed(landed.path, tmp, source_id=source_id, resource=resource, max_bytes=max_bytes)
        archive.publish_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _listing(final)


def _listing(folder: Path) -> dict[str, Path]:
    return {stem(p.name): p for p in sorted(folder.iterdir(), key=lambda p: load_rank(p.name))
            if p.is_file() and p.name in GTFS_FILES}
