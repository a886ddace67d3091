"""Schemathesis fuzzes every operation of the OpenAPI document: no 5xx, and every response (status,
content type, headers, body) matches what the document declares.

(The operations are driven with Hypothesis directly: schemathesis' `from_fixture` does not run
under pytest 9 yet.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from territoire.api import create_app
from territoire.api.config import ApiConfig


def _operation_paths() -> list[str]:
    # Building the app opens no connection: the document can be read without a warehouse.
    app = create_app(ApiConfig(database_url="postgresql://nobody@127.0.0.1:1/none"), datasets={})
    return [f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items() for method in item]


@pytest.fixture(scope="module")
def api_schema(api_config):
    return schemathesis.openapi.from_asgi("/api/openapi.json", create_app(api_config))


@pytest.mark.parametrize("label", _operation_paths())
def test_every_operation_conforms_to_the_openapi_document(api_schema, label):
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        # Column names are free text in the document (each dataset has its own): a well-formed request
        # naming a column the dataset lacks is rightly a 400, so "schema-valid data is accepted" cannot hold.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    fuzz()


def test_the_document_is_openapi_3_1(client):
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/api/datasets/{dataset_id}/rows", "/api/datasets/{dataset_id}/aggregate",
            "/api/datasets/{dataset_id}/export", "/api/search", "/api/territoires/{niveau}/{code}"} <= set(document["paths"])
