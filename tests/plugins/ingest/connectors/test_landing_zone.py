"""The landing zone: content-addressed, atomic, one file per content, fetch state beside it."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from territoire.ingest import landing


def test_store_is_content_addressed_and_idempotent(tmp_path, landing_dir):
    src = tmp_path / "download.tmp"
    src.write_bytes(b"code;nom\n01;Ain\n")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    first = landing.store(src, "cog", "departements", "departements.CSV")
    assert first.path == landing_dir / "cog" / "departements" / f"{digest}.csv"
    assert (first.sha256, first.size, first.original_name) == (digest, 16, "departements.CSV")
    assert first.path.read_bytes() == src.read_bytes() and src.exists()  # copied, not moved
    again = landing.store(src, "cog", "departements", "other-name.csv")
    assert again.path == first.path
    assert landing.landed_files("cog", "departements") == [first.path]


def test_store_move_consumes_the_temp_file(landing_dir):
    with landing.incoming("s", "r") as tmp:
        tmp.write_bytes(b"[1, 2]")
        landed = landing.store(tmp, "s", "r", "x.json", move=True)
        assert not tmp.exists()
    assert landed.path.read_bytes() == b"[1, 2]" and landed.path.suffix == ".json"
    assert [p.name for p in landed.path.parent.iterdir()] == [landed.path.name]


def test_incoming_is_removed_on_failure(landing_dir):
    with pytest.raises(RuntimeError), landing.incoming("s", "r") as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("download failed")
    assert list((landing_dir / "s" / "r").iterdir()) == []


def test_concurrent_stores_of_the_same_content_leave_one_complete_file(tmp_path):
    data = b"x" * 3_000_000
    sources = []
    for i in range(6):
        p = tmp_path / f"copy{i}"
        p.write_bytes(data)
        sources.append(p)
    results, errors = [], []

    def run(p):
        try:
            results.append(landing.store(p, "s", "r", "big.bin"))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len({r.path for r in results}) == 1
    [only] = landing.landed_files("s", "r")
    assert only.read_bytes() == data
    assert [p for p in only.parent.iterdir() if p.name.startswith(".")] == []


def test_extension_rules():
    assert landing.extension("a.CSV") == "csv"
    assert landing.extension("dir/x.tar.gz") == "tar.gz"
    assert landing.extension("noext") == "bin"
    assert landing.extension("weird.c$v") == "bin"


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a..b"])
def test_unsafe_names_are_refused(bad, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a safe folder name"):
        landing.store(src, bad, "r", "f.csv")


def test_state_round_trip_and_corrupt_state(landing_dir):
    assert landing.read_state("s", "r") is None
    state = landing.FetchState(location="http://x/y.csv", sha256="ab" * 32, size=3, path="/nowhere",
                               original_name="y.csv", fetched_at=landing.now_iso(), etag='"e1"',
                               last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    path = landing.write_state("s", "r", state)
    assert json.loads(path.read_text())["etag"] == '"e1"'
    assert landing.read_state("s", "r") == state
    assert state.landed() is None  # its file is not in the landing zone
    path.write_text("{not json")
    assert landing.read_state("s", "r") is None  # a broken state only costs a full download
