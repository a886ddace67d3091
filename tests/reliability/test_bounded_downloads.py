"""Downloads are bounded: size per source, overall deadline, gzip and ZIP inflation (size and ratio),
redirect loops, cut bodies and cut last records; no temporary file survives a failure; an archive
refused as unsafe is archived in the landing zone and recorded in the ledger."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

import pytest
from hardening_helpers import rows
from raw_http import RawServer, cut_without_length, redirect_to_itself, trickle
from support.http_server import Reply

from territoire.catalog import Location, Resource
from territoire.ingest import landing, refusals
from territoire.ingest.connectors import (
    DeadlineExceededError,
    RedirectLoopError,
    RetryPolicy,
    TooLargeError,
    TruncatedBodyError,
    UnsafeArchiveError,
    fetch,
)
from territoire.ingest.connectors.http import Target, download

CSV = b"code;nom;valeur\n" + b"".join(b"%05d;commune %d;%d\n" % (i, i, i) for i in range(2000))


@pytest.fixture(autouse=True)
def landing_dir(tmp_path, monkeypatch):
    d = tmp_path / "landing"
    monkeypatch.setenv("TERRITOIRE_LANDING_DIR", str(d))
    return d


@pytest.fixture
def fast() -> RetryPolicy:
    return RetryPolicy(attempts=2, backoff=0.01, max_delay=0.05, connect_timeout=2.0, read_timeout=2.0, deadline=3.0)


def http_resource(url: str, fmt: str = "csv", name: str = "fichier") -> Resource:
    return Resource(source_id="bornes", name=name, format=fmt, locations={"demo": Location("http", url=url)})


def leftovers(landing_dir) -> list[str]:
    return sorted(p.name for p in landing_dir.rglob(".*") if p.name != ".")


def test_a_file_above_the_source_maximum_is_refused(http_server, fast, landing_dir):
    url = http_server.script("/big.csv", Reply(body=CSV), Reply(body=CSV, chunked=True))
    target = Target("bornes", "fichier", "csv", max_bytes=10_000)
    with pytest.raises(TooLargeError, match=r"announces 45,796 bytes.*maximum of 10,000 bytes.*max_download_bytes"):
        download(target, url, policy=fast)  # Content-Length says so: refused before reading the body
    assert http_server.hits("/big.csv") == 1  # not retried: running again would not help
    with pytest.raises(TooLargeError, match=r"exceeds \(\d\d,\d{3} bytes received, abandoned\) this source's maximum of 10,000"):  # chunked: counted while streaming
        download(target, url, policy=fast)
    assert leftovers(landing_dir) == [] and landing.read_state("bornes", "fichier") is None


def test_the_maximum_comes_from_the_catalog(http_server, fast, tmp_path, monkeypatch):
    url = http_server.script("/big.csv", Reply(body=CSV))
    catalog = tmp_path / "sources.yml"
    catalog.write_text(f"""sources:
  - id: bornes
    domain: energie
    title: Bornes (synthétique)
    producer: test
    licence: etalab-2.0
    max_download_bytes: 20KB
    resources:
      - name: fichier
        format: csv
        location:
          demo: {{connector: http, url: "{url}"}}
""", encoding="utf-8")
    monkeypatch.setenv("TERRITOIRE_CATALOG", str(catalog))
    from territoire.catalog import load_catalog

    resource = load_catalog().get("bornes").resource("fichier")
    assert load_catalog().get("bornes").max_download_bytes == 20 * 1024
    with pytest.raises(TooLargeError, match="maximum of 20,480 bytes"):
        fetch(resource, policy=fast)


def test_a_trickling_server_is_abandoned_at_the_deadline(fast, landing_dir):
    with RawServer(trickle(CSV, every=0.2)) as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match=r"deadline of 3 s.*TERRITOIRE_HTTP_DEADLINE"):
            fetch(http_resource(server.url("/slow.csv")), policy=fast)
        # Each byte arrives well within the read timeout: only the overall deadline stops it.
        assert time.monotonic() - started < fast.deadline + 3
    assert leftovers(landing_dir) == []


def test_a_gzip_bomb_is_stopped_before_it_fills_the_disk(http_server, fast, landing_dir):
    bomb = gzip.compress(b"0" * 40_000_000, compresslevel=9)  # 40 MB of zeros in ~40 KB
    url = http_server.script("/bomb.csv", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(UnsafeArchiveError, match="inflates more than 100 times"):
        fetch(http_resource(url), policy=fast)
    assert leftovers(landing_dir) == []
    # A genuine gzip-encoded CSV is decoded and archived as the CSV itself.
    url = http_server.script("/ok.csv", Reply(body=gzip.compress(CSV), headers={"Content-Encoding": "gzip"}))
    result = fetch(http_resource(url, name="ok"), policy=fast)
    assert result.landed.path.read_bytes() == CSV


def test_a_gzip_body_above_the_maximum_size_is_refused(http_server, fast, landing_dir, monkeypatch):
    monkeypatch.setenv("TERRITOIRE_MAX_COMPRESSION_RATIO", "100000")  # the size cap alone
    url = http_server.script("/zeros.csv", Reply(body=gzip.compress(b"1;2\n" * 500_000),
                                                 headers={"Content-Encoding": "gzip"}))
    with pytest.raises(TooLargeError, match="exceeds .* maximum of 1,000,000 bytes"):
        download(Target("bornes", "fichier", "csv", max_bytes=1_000_000), url, policy=fast)
    assert leftovers(landing_dir) == []


def test_a_zip_bomb_is_refused_archived_and_recorded(http_server, fast, landing_dir, warehouse_url):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("donnees.csv", b"code;valeur\n" + b"0" * 60_000_000)
    body = buffer.getvalue()
    assert len(body) < 200_000
    url = http_server.script("/archive.zip", Reply(body=body, headers={"Content-Type": "application/zip"}))
    resource = Resource(source_id="bornes", name="archive", format="csv",
                        locations={"demo": Location("http", url=url, member="donnees.csv")})
    with pytest.raises(UnsafeArchiveError, match="zip bomb") as refused:
        refusals.fetch_recorded(resource, url=warehouse_url, policy=fast)
    kept = refused.value.landed
    assert kept is not None and kept.path.read_bytes() == body and kept.path.parent == landing_dir / "bornes" / "archive"
    assert not list(kept.path.parent.glob("*.extracted")) and landing.read_state("bornes", "archive") is None
    ledger = rows(warehouse_url, "select status, landing_path, file_sha256, error from ingest.load_batches "
                                 "where raw_table = 'bornes__archive'")
    assert [(s, p, h) for s, p, h, _ in ledger] == [("failed", str(kept.path), kept.sha256)]
    assert "zip bomb" in ledger[0][3]


def test_a_redirect_loop_is_one_clear_error(fast, landing_dir):
    with RawServer(redirect_to_itself) as server:
        with pytest.raises(RedirectLoopError, match="redirects in a loop.*What to do"):
            fetch(http_resource(server.url("/boucle.csv")), policy=fast)
    assert leftovers(landing_dir) == []


def test_a_body_cut_without_content_length_never_replaces_a_snapshot(fast, landing_dir):
    with RawServer(cut_without_length(CSV, keep=len(CSV) - 7)) as server:
        with pytest.raises(TruncatedBodyError, match=r"last line has no end of line and 2 field\(s\) where the header "
                                                     r"has 3"):
            fetch(http_resource(server.url("/coupe.csv")), policy=fast)
    assert leftovers(landing_dir) == [] and landing.read_state("bornes", "fichier") is None


def test_a_local_file_whose_last_record_is_cut_is_refused(tmp_path, landing_dir):
    cut = tmp_path / "coupe.csv"
    cut.write_bytes(CSV[:-9])
    resource = Resource(source_id="bornes", name="local", format="csv", locations={"demo": Location("local", path=str(cut))})
    with pytest.raises(TruncatedBodyError, match="looks cut"):
        fetch(resource)
    whole = tmp_path / "entier.csv"
    whole.write_bytes(CSV.rstrip(b"\n"))  # no final end of line but a complete record: accepted
    ok = Resource(source_id="bornes", name="local2", format="csv", locations={"demo": Location("local", path=str(whole))})
    assert fetch(ok).landed.size == len(CSV) - 1
    geo = tmp_path / "coupe.geojson"
    geo.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": ')
    g = Resource(source_id="bornes", name="geo", format="geojson", locations={"demo": Location("local", path=str(geo))})
    with pytest.raises(TruncatedBodyError, match="JSON document ends with"):
        fetch(g)


def test_temporary_files_of_a_dead_download_are_swept(landing_dir, http_server, fast):
    folder = landing.resource_dir("bornes", "fichier")
    dead = folder / ".incoming-999999999-abc"  # no such process
    dead.write_bytes(b"half a file")
    url = http_server.script("/a.csv", Reply(body=CSV))
    fetch(http_resource(url), policy=fast)
    assert not dead.exists() and leftovers(landing_dir) == []
