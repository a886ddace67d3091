"""The API's read-only role: PostgreSQL refuses its writes and enforces its limits, also under the API."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from territoire import warehouse
from territoire.api.config import ApiConfig
from territoire.api.role import RoleLimits, drop_api_role, ensure_api_role, role_url
from territoire.datasets import Dataset
from tests.plugins.api.conftest import make_client


@pytest.fixture
def as_api(warehouse_url, api_role):
    with psycopg.connect(role_url(warehouse_url, api_role), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("statement", [
    "insert into published.dim_territoire (code_commune) values ('00000')",
    "update published.dim_territoire set nom_commune = 'x'",
    "delete from published.dim_territoire",
    "truncate published.dim_territoire",
    "create table published.piege (x int)",
    "create table public.piege (x int)",
    "create temporary table piege (x int)",
    "drop table published.dim_territoire",
])
def test_writes_are_refused(as_api, statement):
    with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
        as_api.execute(statement)


@pytest.mark.parametrize("table", ["audit.dim_territoire", "ingest.load_batches", "raw.anything"])
def test_private_schemas_are_unreadable(as_api, table):
    with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable)):
        as_api.execute(f"select * from {table}")


def test_role_settings(as_api, warehouse_url, api_role):
    assert as_api.execute("show default_transaction_read_only").fetchone()[0] == "on"
    assert as_api.execute("show statement_timeout").fetchone()[0] == "15s"
    assert as_api.execute("show work_mem").fetchone()[0] == "32MB"
    with psycopg.connect(warehouse_url) as conn:
        limit, superuser = conn.execute("select rolconnlimit, rolsuper from pg_roles where rolname = %s",
                                        (api_role,)).fetchone()
    assert limit == 20 and not superuser
    assert as_api.execute("select count(*) from published.dim_territoire").fetchone()[0] == 5


@pytest.fixture
def slow_role(warehouse_url):
    """A role with a short statement timeout, and a published table big enough to exceed it."""
    role = ensure_api_role(warehouse_url, role=f"territoire_api_s{uuid.uuid4().hex[:8]}",
                           limits=RoleLimits(statement_timeout="100ms"))
    with warehouse.transaction(warehouse_url) as conn:
        conn.execute("create table published.volume_synthetique as select i as id, md5(i::text) as texte "
                     "from generate_series(1, 400000) i")
        conn.execute("alter table published.volume_synthetique add primary key (id)")
    yield role
    with warehouse.transaction(warehouse_url) as conn:
        conn.execute("drop table published.volume_synthetique")
    drop_api_role(warehouse_url, role)


def test_the_statement_timeout_hits(warehouse_url, slow_role):
    with psycopg.connect(role_url(warehouse_url, slow_role)) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(1)")


def test_the_statement_timeout_holds_under_the_api(warehouse_url, slow_role, api_config):
    volume = Dataset(id="volume_synthetique", title="Volume (synthétique)", description="Lignes synthétiques.",
                     licence="etalab-2.0", sources=("cog",), primary_key=("id",))
    config = ApiConfig(database_url=role_url(warehouse_url, slow_role), rate=0)
    with make_client(config, datasets_path=None) as api:
        api.app.state.api.catalog.datasets = {"volume_synthetique": volume}
        quick = api.get("/api/datasets/volume_synthetique/rows", params={"page_size": 10})
        assert quick.status_code == 200 and len(quick.json()["data"]) == 10
        heavy = api.get("/api/datasets/volume_synthetique/aggregate", params={"group_by": "texte", "agg": "count"},
                        headers={"Accept-Language": "en"})
    assert heavy.status_code == 422, heavy.text
    assert heavy.headers["content-type"] == "application/problem+json"
    assert heavy.json()["title"] == "Query too expensive"


def test_the_connection_limit_holds_under_the_api(warehouse_url, api_config):
    """A role allowed one connection: while the API holds it, a request that needs another one is a 503
    problem with Retry-After, not a crash; once it is back, requests pass again."""
    role = ensure_api_role(warehouse_url, role=f"territoire_api_c{uuid.uuid4().hex[:8]}",
                           limits=RoleLimits(connection_limit=1))
    try:
        with make_client(api_config, database_url=role_url(warehouse_url, role), pool_size=2) as api:
            assert api.get("/api/datasets/dim_territoire/rows").status_code == 200
            with api.app.state.api.pool.connection():  # the role's only connection, held
                refused = api.get("/api/datasets/dim_territoire/aggregate", params={"agg": "count"})
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] and refused.json()["title"] == "Entrepôt indisponible"
            assert api.get("/api/datasets/dim_territoire/aggregate", params={"agg": "count"}).status_code == 200
    finally:
        drop_api_role(warehouse_url, role)
