"""Numbers read from the environment: one reader, one kind of error, for every setting."""

import pytest

from territoire import settings
from territoire.api.config import ApiConfig
from territoire.ingest import locks


def test_env_number_reads_defaults_and_names_the_bad_value(monkeypatch):
    monkeypatch.delenv("TERRITOIRE_TEST_NUMBER", raising=False)
    assert settings.env_number("TERRITOIRE_TEST_NUMBER", 7, int) == 7
    monkeypatch.setenv("TERRITOIRE_TEST_NUMBER", "")
    assert settings.env_number("TERRITOIRE_TEST_NUMBER", 2.5) == 2.5
    monkeypatch.setenv("TERRITOIRE_TEST_NUMBER", "12")
    assert settings.env_number("TERRITOIRE_TEST_NUMBER", 7, int) == 12
    monkeypatch.setenv("TERRITOIRE_TEST_NUMBER", "1.5")
    with pytest.raises(ValueError, match=r"^TERRITOIRE_TEST_NUMBER='1.5': a whole number of rows is expected$"):
        settings.env_number("TERRITOIRE_TEST_NUMBER", 7, int, "a whole number of rows")
    assert settings.env_number("TERRITOIRE_TEST_NUMBER", 7.0) == 1.5


def test_settings_of_api_and_locks_use_it(monkeypatch):
    monkeypatch.setenv("TERRITOIRE_API_BURST", "soixante")
    with pytest.raises(ValueError, match=r"TERRITOIRE_API_BURST='soixante': a whole number is expected"):
        ApiConfig.from_env()
    monkeypatch.setenv("TERRITOIRE_LOCK_TIMEOUT", "5s")
    with pytest.raises(ValueError, match=r"TERRITOIRE_LOCK_TIMEOUT='5s': a number of seconds or attempts"):
        locks.lock_timeout()
    monkeypatch.setenv("TERRITOIRE_LOCK_ATTEMPTS", "2.0")
    assert locks.lock_attempts() == 2
    monkeypatch.setenv("TERRITOIRE_LOAD_PARALLEL_MIN_BYTES", "1e6")
    with pytest.raises(ValueError, match="TERRITOIRE_LOAD_PARALLEL_MIN_BYTES='1e6'"):
        settings.load_parallel_min_bytes()
