"""GTFS feeds: safe extraction, required files, the synthetic sample and the real RTM feed."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest
from support.connectors import make_resource
from support.http_server import PROJECT_ROOT, Reply
from support.zips import build_zip, folder_members

from territoire.ingest import landing
from territoire.ingest.connectors import (
    GTFSFeedError,
    InvalidZipError,
    UnexpectedContentError,
    UnsafeArchiveError,
    fetch,
)
from territoire.ingest.connectors.gtfs import extract_feed, raw_tables

SYNTHETIC_DIR = PROJECT_ROOT / "data/samples/transport/synthetic_gtfs"
SYNTHETIC_ZIP = PROJECT_ROOT / "data/samples/transport/synthetic_gtfs.zip"
REAL_FEED = PROJECT_ROOT.parent / "shared/data/transport/gtfs_frioul_if_express_marseille.zip"
REQUIRED_STEMS = {"agency", "stops", "routes", "trips", "stop_times", "calendar"}


def minimal_feed(**extra: bytes) -> dict[str, bytes]:
    members = {name: (SYNTHETIC_DIR / name).read_bytes() for name in (
        "agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt")}
    members.update(extra)
    return members


def test_shipped_zip_matches_its_folder():
    with zipfile.ZipFile(SYNTHETIC_ZIP) as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == folder_members(SYNTHETIC_DIR)


def test_synthetic_feed_extracts_gtfs_files_and_ignores_extras(tmp_path, caplog):
    dest = tmp_path / "feed"
    with caplog.at_level(logging.INFO, logger="territoire.ingest.connectors"):
        files = extract_feed(SYNTHETIC_ZIP, dest, source_id="transport", resource="navette")
    assert set(files) == REQUIRED_STEMS | {"calendar_dates", "feed_info"}
    for stem, path in files.items():
        assert path == dest / f"{stem}.txt"
        assert path.read_bytes() == (SYNTHETIC_DIR / f"{stem}.txt").read_bytes()  # BOM kept: parser's job
    assert not (dest / "ExportService.checksum.md5").exists()
    assert "ExportService.checksum.md5" in caplog.text
    assert raw_tables("transport", files)["stop_times"] == "raw.transport__stop_times"


def test_fetch_gtfs_from_a_local_path(fast):
    res = make_resource("gtfs", fmt="gtfs", source_id="transport", name="navette",
                        path="data/samples/transport/synthetic_gtfs.zip")
    result = fetch(res, policy=fast)
    assert result.landed.path.suffix == ".zip"
    assert set(result.files) >= REQUIRED_STEMS
    tables = result.tables()
    assert tables["transport__stops"] == result.files["stops"]
    assert tables["transport__stops"].parent.name == f"{result.landed.sha256}.extracted"
    again = fetch(res, policy=fast)  # same content: same archive and same extracted folder
    assert again.files == result.files and again.same_as_previous
    targets = {t.table: t for t in result.load_targets()}
    assert set(targets) == {f"transport__{s}" for s in result.files}
    assert targets["transport__stops"].format == "csv" and targets["transport__stops"].sha256 is None


def test_fetch_gtfs_over_http_with_conditional_request(http_server, fast):
    url = http_server.add_file("gtfs/navette.zip", SYNTHETIC_ZIP)
    res = make_resource("gtfs", fmt="gtfs", source_id="transport", name="navette", url=url)
    first = fetch(res, policy=fast)
    second = fetch(res, policy=fast)
    assert second.not_modified and second.files == first.files
    assert first.files["trips"].read_bytes() == (SYNTHETIC_DIR / "trips.txt").read_bytes()


def test_gtfs_over_http_html_page_instead_of_zip(http_server, fast):
    url = http_server.script("/gtfs.zip", Reply(body=b"<!DOCTYPE html><html>Not found</html>",
                                                headers={"Content-Type": "text/html"}))
    with pytest.raises(UnexpectedContentError, match="expected a GTFS file but got an HTML"):
        fetch(make_resource("gtfs", fmt="gtfs", url=url), policy=fast)


def test_missing_required_file_is_rejected_with_its_name(tmp_path, fast):
    feed = minimal_feed()
    del feed["stop_times.txt"]
    zip_path = build_zip(feed, tmp_path / "incomplete.zip")
    with pytest.raises(GTFSFeedError) as err:
        extract_feed(zip_path, tmp_path / "out", source_id="transport", resource="navette")
    message = str(err.value)
    assert "stop_times.txt" in message and str(zip_path) in message and "'transport'" in message
    assert "agency.txt" in message  # lists what the feed has
    assert not (tmp_path / "out").exists()  # nothing written before the checks pass


def test_incomplete_feed_over_http_is_not_archived(tmp_path, http_server, fast, landing_dir):
    feed = minimal_feed()
    del feed["routes.txt"]
    url = http_server.add_file("broken.zip", build_zip(feed, tmp_path / "broken.zip"))
    with pytest.raises(GTFSFeedError, match="routes.txt") as err:
        fetch(make_resource("gtfs", fmt="gtfs", source_id="transport", name="navette", url=url), policy=fast)
    assert f"GTFS feed {url} misses" in str(err.value)
    assert landing.landed_files("transport", "navette") == []
    assert landing.read_state("transport", "navette") is None
    assert http_server.hits("/files/broken.zip") == 1  # a broken feed is not retried


def test_missing_both_calendars_is_rejected(tmp_path):
    feed = minimal_feed()
    del feed["calendar.txt"]
    with pytest.raises(GTFSFeedError, match=r"calendar\.txt or calendar_dates\.txt"):
        extract_feed(build_zip(feed, tmp_path / "f.zip"), tmp_path / "out")
    feed["calendar_dates.txt"] = (SYNTHETIC_DIR / "calendar_dates.txt").read_bytes()
    assert "calendar_dates" in extract_feed(build_zip(feed, tmp_path / "g.zip"), tmp_path / "out2")


def test_dot_slash_member_names_are_the_root(tmp_path):
    feed = {f"./{k}": v for k, v in minimal_feed().items()}
    files = extract_feed(build_zip(feed, tmp_path / "f.zip"), tmp_path / "out")
    assert files["stops"] == tmp_path / "out" / "stops.txt"


def test_feed_in_a_subfolder_says_so(tmp_path):
    feed = {f"gtfs/{k}": v for k, v in minimal_feed().items()}
    with pytest.raises(GTFSFeedError, match="sub-folder 'gtfs'"):
        extract_feed(build_zip(feed, tmp_path / "f.zip"), tmp_path / "out")


@pytest.mark.parametrize("evil", ["../../evil.txt", "/tmp/evil.txt", "stops/../../evil.txt",
                                  "..\\..\\evil.txt", "C:/evil.txt"])
def test_zip_slip_is_rejected(tmp_path, evil):
    zip_path = build_zip(minimal_feed(**{evil: b"pwned"}), tmp_path / "evil.zip")
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError) as err:
        extract_feed(zip_path, dest, source_id="transport", resource="navette")
    assert "outside the destination" in str(err.value) and "malicious" in str(err.value)
    assert not dest.exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_is_rejected(tmp_path):
    zip_path = build_zip(minimal_feed(), tmp_path / "link.zip", symlinks={"shapes.txt": "/etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_feed(zip_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_is_rejected(tmp_path, monkeypatch):
    # 20 MB of zeros compress to ~20 KB: past a 1 MB cap, rejected before anything is written.
    zip_path = build_zip(minimal_feed(**{"shapes.txt": b"0" * 20_000_000}), tmp_path / "bomb.zip")
    assert zip_path.stat().st_size < 100_000
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_feed(zip_path, tmp_path / "out", max_bytes=1_000_000)
    monkeypatch.setenv("TERRITOIRE_ZIP_MAX_BYTES", "1000000")
    with pytest.raises(UnsafeArchiveError, match="TERRITOIRE_ZIP_MAX_BYTES"):
        extract_feed(zip_path, tmp_path / "out")


def test_lying_declared_sizes_are_caught(tmp_path):
    zip_path = build_zip(minimal_feed(**{"shapes.txt": b"1" * 2_000_000}), tmp_path / "liar.zip")
    # Rewrite the declared sizes of shapes.txt to look tiny: the inflated bytes are what is counted.
    data = bytearray(zip_path.read_bytes())
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo("shapes.txt")
    real = info.file_size.to_bytes(4, "little")
    data = data.replace(real, (10).to_bytes(4, "little"))
    zip_path.write_bytes(bytes(data))
    with pytest.raises((UnsafeArchiveError, InvalidZipError)):
        extract_feed(zip_path, tmp_path / "out", max_bytes=100_000)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is no zip")
    with pytest.raises(InvalidZipError, match="not a valid ZIP"):
        extract_feed(bad, tmp_path / "out", source_id="transport", resource="navette")


def test_zip_member_location(tmp_path, http_server, fast):
    csv_bytes = (PROJECT_ROOT / "data/samples/bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv"
                 ).read_bytes()
    zip_path = build_zip({"README.txt": b"x", "data/comptages.csv": csv_bytes}, tmp_path / "export.zip")
    url = http_server.add_file("export.zip", zip_path)
    result = fetch(make_resource("http", fmt="csv", url=url, member="data/comptages.csv"), policy=fast)
    assert result.format == "csv" and result.landed.path.suffix == ".zip"
    assert result.data_path.read_bytes() == csv_bytes
    assert result.tables() == {"src__res": result.data_path}
    [target] = result.load_targets()
    assert (target.table, target.path, target.format, target.sha256) == ("src__res", result.data_path, "csv", None)
    # another member of the same archive, declared later, lands beside the first
    readme = fetch(make_resource("http", fmt="csv", url=url, member="README.txt"), policy=fast)
    assert readme.data_path.read_bytes() == b"x" and result.data_path.read_bytes() == csv_bytes
    with pytest.raises(InvalidZipError, match="no member 'nope.csv'.*data/comptages.csv"):
        fetch(make_resource("http", fmt="csv", name="other", url=url, member="nope.csv"), policy=fast)


@pytest.mark.skipif(not REAL_FEED.is_file(), reason="../shared/data/transport (reference data) is absent")
def test_real_rtm_feed(tmp_path, http_server, fast):
    files = extract_feed(REAL_FEED, tmp_path / "rtm", source_id="transport", resource="rtm")
    assert set(files) == REQUIRED_STEMS | {"calendar_dates", "transfers"}
    with zipfile.ZipFile(REAL_FEED) as zf:
        for stem, path in files.items():
            assert path.read_bytes() == zf.read(f"{stem}.txt")
    assert files["agency"].read_bytes().startswith(b"\xef\xbb\xbf")  # extracted byte for byte
    # and end to end over HTTP
    url = http_server.add_file("rtm.zip", REAL_FEED)
    result = fetch(make_resource("gtfs", fmt="gtfs", source_id="transport", name="rtm", url=url), policy=fast)
    assert sorted(result.tables()) == sorted(f"transport__{s}" for s in files)
    assert Path(result.files["stop_times"]).stat().st_size == 5128
