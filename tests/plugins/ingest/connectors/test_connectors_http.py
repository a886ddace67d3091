"""The http connector against a real server on 127.0.0.1: downloads, conditional requests, faults."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import time
import tracemalloc

import pytest
from support.connectors import make_resource
from support.http_server import HTML_ERROR_PAGE, SAMPLES, Reply

from territoire.ingest import landing
from territoire.ingest.connectors import (
    EmptyBodyError,
    HTTPStatusError,
    InvalidZipError,
    NetworkError,
    RetryPolicy,
    TruncatedBodyError,
    UnexpectedContentError,
    fetch,
)

BIKES = "bike_counters/paris_comptage_velo_donnees_compteurs_sample.csv"


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_lands_the_exact_bytes_with_their_checksum(http_server, fast, landing_dir):
    res = make_resource("http", url=http_server.file_url(BIKES))
    result = fetch(res, policy=fast)
    expected = sha(SAMPLES / BIKES)
    assert result.landed.sha256 == expected
    assert result.landed.path == landing_dir / "src" / "res" / f"{expected}.csv"
    assert result.landed.path.read_bytes() == (SAMPLES / BIKES).read_bytes()
    assert result.landed.size == (SAMPLES / BIKES).stat().st_size
    assert result.landed.original_name == "paris_comptage_velo_donnees_compteurs_sample.csv"
    assert not result.not_modified and not result.same_as_previous
    assert result.etag and result.last_modified and result.content_type.startswith("text/csv")
    assert result.tables() == {"src__res": result.landed.path}
    [target] = result.load_targets()
    assert (target.table, target.path, target.format, target.sha256) == ("src__res", result.landed.path, "csv", expected)
    state = json.loads((landing_dir / "src" / "res" / "state.json").read_text())
    assert state["sha256"] == expected and state["etag"] == result.etag
    assert state["location"] == http_server.file_url(BIKES)
    # nothing half-written is left behind
    assert [p.name for p in (landing_dir / "src" / "res").iterdir() if p.name.startswith(".")] == []


def test_download_is_streamed_not_held_in_memory(http_server, fast, tmp_path):
    big = tmp_path / "big.csv"
    line = b"12345;Saint-Etienne;42.5;2024-01-01\n"
    with open(big, "wb") as f:
        f.write(b"code;nom;valeur;date\n")
        for _ in range(40):
            f.write(line * 25_000)  # 40 x ~0.9 MB = ~36 MB
    url = http_server.add_file("big.csv", big)
    tracemalloc.start()
    try:
        result = fetch(make_resource("http", url=url), policy=RetryPolicy(attempts=1, read_timeout=10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.landed.size == big.stat().st_size and result.landed.sha256 == sha(big)
    assert peak < 8_000_000, f"peak Python memory {peak} bytes for a {big.stat().st_size}-byte download"


def test_second_fetch_is_conditional_and_not_modified(http_server, fast, landing_dir):
    res = make_resource("http", url=http_server.file_url(BIKES))
    first = fetch(res, policy=fast)
    second = fetch(res, policy=fast)
    requests = http_server.requests_to("/files/" + BIKES)
    assert len(requests) == 2
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == first.etag
    assert requests[1].headers["if-modified-since"] == first.last_modified
    assert second.not_modified and second.same_as_previous
    assert second.landed == first.landed
    assert len(landing.landed_files("src", "res")) == 1
    assert landing.read_state("src", "res").checked_at is not None


def test_last_modified_alone_is_enough(http_server, fast):
    http_server.send_etag = False
    res = make_resource("http", url=http_server.file_url(BIKES))
    assert fetch(res, policy=fast).etag is None
    second = fetch(res, policy=fast)
    assert second.not_modified
    last = http_server.requests_to("/files/" + BIKES)[-1]
    assert "if-none-match" not in last.headers and "if-modified-since" in last.headers


def test_force_downloads_again_but_keeps_one_file(http_server, fast):
    res = make_resource("http", url=http_server.file_url(BIKES))
    first = fetch(res, policy=fast)
    again = fetch(res, policy=fast, force=True)
    assert "if-none-match" not in http_server.requests_to("/files/" + BIKES)[-1].headers
    assert not again.not_modified and again.same_as_previous
    assert again.landed == first.landed
    assert len(landing.landed_files("src", "res")) == 1


def test_changed_content_lands_a_second_file(http_server, fast, tmp_path):
    local = tmp_path / "served.csv"
    local.write_bytes(b"a;b\n1;2\n")
    res = make_resource("http", url=http_server.add_file("served.csv", local))
    first = fetch(res, policy=fast)
    local.write_bytes(b"a;b\n1;2\n3;4\n")
    os.utime(local, (time.time() + 10, time.time() + 10))
    second = fetch(res, policy=fast)
    assert not second.not_modified and not second.same_as_previous
    assert second.landed.sha256 != first.landed.sha256
    assert first.landed.path.read_bytes() == b"a;b\n1;2\n"  # history kept for replays
    assert len(landing.landed_files("src", "res")) == 2


def test_no_conditional_request_when_the_landed_file_is_gone(http_server, fast):
    res = make_resource("http", url=http_server.file_url(BIKES))
    first = fetch(res, policy=fast)
    first.landed.path.unlink()
    second = fetch(res, policy=fast)
    assert "if-none-match" not in http_server.requests_to("/files/" + BIKES)[-1].headers
    assert not second.not_modified and second.landed.path.is_file()


def test_500_then_success_is_retried(http_server, fast):
    url = http_server.script("/flaky.csv", Reply(status=500, body=b"oops"), Reply(status=502),
                             http_server.file_reply(BIKES))
    result = fetch(make_resource("http", url=url), policy=fast)
    assert http_server.hits("/flaky.csv") == 3
    assert result.landed.sha256 == sha(SAMPLES / BIKES)


def test_persistent_5xx_fails_after_the_bounded_attempts(http_server, fast):
    url = http_server.script("/down.csv", *[Reply(status=503) for _ in range(5)])
    with pytest.raises(HTTPStatusError) as err:
        fetch(make_resource("http", url=url, source_id="energie", name="conso"), policy=fast)
    assert http_server.hits("/down.csv") == fast.attempts
    e = err.value
    assert e.status == 503 and e.url == url and e.source_id == "energie" and e.resource == "conso"
    message = str(e)
    assert "'energie'" in message and "'conso'" in message and url in message and "HTTP 503" in message
    assert "What to do" in message
    assert landing.read_state("energie", "conso") is None


def test_the_final_error_lists_every_attempt(http_server):
    policy = RetryPolicy(attempts=3, backoff=0.01, read_timeout=0.3)
    url = http_server.script("/mixed.csv", Reply(status=503), Reply(delay=2), Reply(status=500))
    with pytest.raises(HTTPStatusError) as err:
        fetch(make_resource("http", url=url), policy=policy)
    assert err.value.status == 500
    assert "gave up after 3 attempt(s): HTTP 503, ReadTimeout, HTTP 500" in str(err.value)


def test_404_is_not_retried(http_server, fast):
    url = http_server.url("/files/nope.csv")
    with pytest.raises(HTTPStatusError) as err:
        fetch(make_resource("http", url=url), policy=fast)
    assert err.value.status == 404 and http_server.hits("/files/nope.csv") == 1
    assert "catalog/sources.yml" in str(err.value)


def test_429_honours_retry_after(http_server, fast):
    url = http_server.script("/limited.csv", Reply(status=429, headers={"Retry-After": "1"}),
                             http_server.file_reply(BIKES))
    started = time.monotonic()
    result = fetch(make_resource("http", url=url), policy=fast)
    elapsed = time.monotonic() - started
    assert result.landed is not None and http_server.hits("/limited.csv") == 2
    assert elapsed >= 1.0  # the backoff alone (0.01 s) would have retried at once


def test_retry_after_is_capped(http_server):
    policy = RetryPolicy(attempts=2, backoff=0.01, max_retry_after=0.2, read_timeout=2)
    url = http_server.script("/limited.csv", Reply(status=429, headers={"Retry-After": "3600"}),
                             http_server.file_reply(BIKES))
    started = time.monotonic()
    fetch(make_resource("http", url=url), policy=policy)
    assert time.monotonic() - started < 2


def test_a_response_slower_than_the_timeout_fails_as_network_error(http_server):
    policy = RetryPolicy(attempts=2, backoff=0.01, read_timeout=0.3)
    url = http_server.script("/slow.csv", Reply(delay=3, body=b"a\n1\n"), Reply(delay=3, body=b"a\n1\n"))
    started = time.monotonic()
    with pytest.raises(NetworkError) as err:
        fetch(make_resource("http", url=url), policy=policy)
    assert time.monotonic() - started < 2.5
    assert http_server.hits("/slow.csv") == 2
    assert "timed out" in str(err.value) and "TERRITOIRE_HTTP_TIMEOUT" in str(err.value)


def test_a_slow_response_then_a_fast_one_succeeds(http_server, fast):
    url = http_server.script("/slow.csv", Reply(delay=2, body=b"x"), http_server.file_reply(BIKES))
    assert fetch(make_resource("http", url=url), policy=fast).landed.sha256 == sha(SAMPLES / BIKES)


def test_truncated_body_is_detected_and_retried(http_server, fast, landing_dir):
    body = (SAMPLES / BIKES).read_bytes()
    url = http_server.script("/cut.csv", *[Reply(body=body, truncate_to=len(body) // 3) for _ in range(3)])
    with pytest.raises(TruncatedBodyError) as err:
        fetch(make_resource("http", url=url), policy=fast)
    assert http_server.hits("/cut.csv") == 3
    assert "cut" in str(err.value) and url in str(err.value)
    assert landing.landed_files("src", "res") == []
    assert not [p for p in (landing_dir / "src" / "res").iterdir() if p.name.startswith(".incoming")]


def test_truncated_once_then_complete(http_server, fast):
    body = (SAMPLES / BIKES).read_bytes()
    url = http_server.script("/cut.csv", Reply(body=body, truncate_to=100), Reply(body=body))
    assert fetch(make_resource("http", url=url), policy=fast).landed.size == len(body)


def test_unfinished_chunked_body_is_truncated(http_server, fast):
    body = (SAMPLES / BIKES).read_bytes()
    url = http_server.script("/chunks.csv", *[Reply(body=body, chunked_incomplete=True) for _ in range(3)])
    with pytest.raises(TruncatedBodyError):
        fetch(make_resource("http", url=url), policy=fast)


def test_complete_chunked_body_is_fine(http_server, fast):
    body = (SAMPLES / BIKES).read_bytes()
    url = http_server.script("/chunks.csv", Reply(body=body, chunked=True))
    assert fetch(make_resource("http", url=url), policy=fast).landed.sha256 == sha(SAMPLES / BIKES)


def test_html_error_page_with_status_200_is_refused(http_server, fast):
    url = http_server.script("/data.csv", Reply(body=HTML_ERROR_PAGE, headers={"Content-Type": "text/html"}))
    with pytest.raises(UnexpectedContentError) as err:
        fetch(make_resource("http", url=url), policy=fast)
    assert http_server.hits("/data.csv") == 1  # retrying would not turn the page into a CSV
    message = str(err.value)
    assert "expected a CSV file but got an HTML/XML page" in message and "HTTP 200" in message
    assert "maintenance" in message.lower()
    assert landing.landed_files("src", "res") == []


def test_html_served_as_csv_is_refused_by_its_first_bytes(http_server, fast):
    url = http_server.script("/data.csv", Reply(body=b"\n  " + HTML_ERROR_PAGE, headers={"Content-Type": "text/csv"}))
    with pytest.raises(UnexpectedContentError):
        fetch(make_resource("http", url=url), policy=fast)


def test_json_error_where_csv_is_declared(http_server, fast):
    url = http_server.script("/export.csv", Reply(body=b'{"error_code": "QuotaExceeded", "message": "quota"}',
                                                  headers={"Content-Type": "application/json"}))
    with pytest.raises(UnexpectedContentError, match="got a JSON document.*QuotaExceeded"):
        fetch(make_resource("http", url=url), policy=fast)


def test_gzip_transfer_encoding_lands_the_decoded_file(http_server, fast):
    body = (SAMPLES / BIKES).read_bytes()
    url = http_server.script("/gz.csv", Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}))
    result = fetch(make_resource("http", url=url), policy=fast)
    assert result.landed.path.read_bytes() == body and result.landed.sha256 == sha(SAMPLES / BIKES)


def test_empty_body_is_refused(http_server, fast):
    url = http_server.script("/empty.csv", Reply(body=b""))
    with pytest.raises(EmptyBodyError) as err:
        fetch(make_resource("http", url=url), policy=fast)
    assert "empty" in str(err.value)


def test_csv_where_json_is_declared_is_refused(http_server, fast):
    url = http_server.file_url(BIKES)
    with pytest.raises(UnexpectedContentError) as err:
        fetch(make_resource("http", fmt="json", url=url), policy=fast)
    assert "not JSON" in str(err.value)


def test_json_sample_is_accepted(http_server, fast):
    rel = "bike_counters/montpellier_ecocompteur/Celleneuve.json"
    result = fetch(make_resource("http", fmt="ndjson", url=http_server.file_url(rel)), policy=fast)
    assert result.landed.path.suffix == ".json" and result.landed.sha256 == sha(SAMPLES / rel)


def test_a_zip_that_is_not_a_zip_is_refused(http_server, fast):
    url = http_server.script("/feed.zip", Reply(body=b"PK\x03\x04" + b"\x00" * 200))
    with pytest.raises(InvalidZipError) as err:
        fetch(make_resource("http", fmt="zip", url=url), policy=fast)
    assert "not a valid ZIP" in str(err.value)
    url = http_server.script("/page.zip", Reply(body=b"a;b\n1;2\n"))
    with pytest.raises(UnexpectedContentError):
        fetch(make_resource("http", fmt="zip", url=url), policy=fast)


def test_connection_refused_is_a_network_error(fast):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/x.csv"
    with pytest.raises(NetworkError) as err:
        fetch(make_resource("http", url=url), policy=fast)
    assert url in str(err.value) and "ConnectError" in str(err.value)


def test_name_from_content_disposition(http_server, fast):
    url = http_server.script("/download", Reply(body=b"a,b\n1,2\n", headers={
        "Content-Disposition": "attachment; filename=\"export-2024.csv\""}))
    result = fetch(make_resource("http", url=url), policy=fast)
    assert result.landed.original_name == "export-2024.csv" and result.landed.path.suffix == ".csv"


def test_params_are_sent_and_recorded_in_the_location(http_server, fast):
    url = http_server.file_url(BIKES)
    result = fetch(make_resource("http", url=url, params={"v": "2"}), policy=fast)
    assert http_server.requests_to("/files/" + BIKES)[0].query == [("v", "2")]
    assert result.location == url + "?v=2"


def test_retry_policy_from_environment(monkeypatch):
    monkeypatch.setenv("TERRITOIRE_HTTP_ATTEMPTS", "7")
    monkeypatch.setenv("TERRITOIRE_HTTP_TIMEOUT", "12.5")
    policy = RetryPolicy.from_env()
    assert policy.attempts == 7 and policy.read_timeout == 12.5
    assert 1.0 <= policy.delay(1) <= 1.1 and 4.0 <= policy.delay(3) <= 4.4
    assert policy.delay(1, retry_after=30) == 30
    monkeypatch.setenv("TERRITOIRE_HTTP_ATTEMPTS", "many")
    with pytest.raises(ValueError, match="TERRITOIRE_HTTP_ATTEMPTS"):
        RetryPolicy.from_env()
