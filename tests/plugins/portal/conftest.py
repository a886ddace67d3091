"""A warehouse where the demo's datasets went through the real pipeline: the shipped samples loaded,
the marts built by dbt, each dataset audited by its Great Expectations suite, published when its
verdict allows it (warnings under a named override, as the demo does), exported, and the managers'
report built. The portal is then served from it, on a bare FastAPI app (TestClient) and on a real
uvicorn bound to a loopback port (for the browser tests)."""

from __future__ import annotations

import sys
import uuid

import pytest

from territoire import dbt, settings, warehouse
from tests.support.asgi_server import serve
from tests.support.gate import use_expectations_copy

sys.path.insert(0, str(settings.PROJECT_ROOT / "tests" / "dbt"))
from demo_loading import load_demo  # noqa: E402


def _publish_all(url: str) -> dict[str, str]:
    """Audit every declared dataset; publish and export those whose verdict allows it. {id: verdict}."""
    from territoire.datasets import load_datasets
    from territoire.publication.export import export_dataset
    from territoire.publication.publish import publish_table
    from territoire.quality.gate import audit

    verdicts = {}
    for dataset in load_datasets().values():
        outcome = audit(dataset, url)
        verdicts[dataset.id] = outcome.verdict
        if outcome.verdict == "passed":
            publish_table(dataset, outcome.run_id, url)
        elif outcome.verdict == "warnings":
            publish_table(dataset, outcome.run_id, url, override_by="tests du portail",
                          override_reason="avertissements connus des échantillons de démonstration")
        else:
            continue
        export_dataset(dataset, url)
    return verdicts


@pytest.fixture(scope="session")
def portal_site(admin_url, tmp_path_factory):
    """{url, verdicts, publication}: the demo published in a database of its own, the report built."""
    from territoire.datasets import load_datasets
    from territoire.quality.report import build_report

    tmp = tmp_path_factory.mktemp("portal")
    name = f"territoire_portal_{uuid.uuid4().hex[:10]}"
    url = warehouse.create_database(admin_url, name)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("TERRITOIRE_VAR_DIR", str(tmp / "var"))
        mp.setenv("TERRITOIRE_PUBLICATION_DIR", str(tmp / "publication"))
        mp.delenv("TERRITOIRE_PUBLIC_BASE_URL", raising=False)
        mp.delenv("AIRFLOW_CONN_TERRITOIRE_ALERTS", raising=False)
        use_expectations_copy(mp, tmp)
        mp.setenv("WAREHOUSE_URL", url)
        mp.delenv("TERRITOIRE_PORTAL_DATABASE_URL", raising=False)
        warehouse.ensure_schemas(url)
        load_demo(url)
        datasets = load_datasets()
        dbt.run(["build", "--select", *[f"+{d}" for d in datasets], "--resource-type", "model",
                 "--resource-type", "seed"], url, capture=True, target_path=tmp / "dbt_target")
        verdicts = _publish_all(url)
        build_report(url)
        yield {"url": url, "verdicts": verdicts, "publication": tmp / "publication", "datasets": datasets}
    finally:
        mp.undo()
        warehouse.drop_database(admin_url, name)


def portal_app():
    from fastapi import FastAPI

    from territoire.portal import router

    app = FastAPI()
    app.include_router(router)
    return app


@pytest.fixture(scope="session")
def client(portal_site):
    from fastapi.testclient import TestClient

    with TestClient(portal_app()) as c:
        yield c


@pytest.fixture(scope="session")
def portal_server(portal_site):
    """The portal on a real uvicorn, 127.0.0.1:<free port>; yields its base URL."""
    with serve(portal_app()) as base:
        yield base
