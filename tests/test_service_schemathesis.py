"""Schemathesis over the service's own OpenAPI document: no 5xx, every response matches its documented schema.

Runs in process (ASGI transport) against SQLite, with a key holding every scope and a rate high enough not to
be hit. Generated ids are mostly unknown, so documented 404s are expected (the "positive data accepted" check is
left out for that reason); what must never happen is a server error or an undocumented status / body.

Schemathesis' pytest plugin (``from_fixture`` / ``parametrize``) fails on pytest 9 (``'Function' object has no
attribute '_nodeid'``), so each operation's Hypothesis strategy is driven directly with ``@given``.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service_support import make_key, small_scorer


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from fastapi.testclient import TestClient

    from service.core.config import Settings
    from service.main import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('st') / 'service.db'}"
    key = make_key(url, "schemathesis", rate=1e6)
    app = create_app(Settings(database_url=url, log_requests=False), scorer=small_scorer())
    with TestClient(app):                          # runs the lifespan (database, scorer) once
        yield schemathesis.openapi.from_asgi("/openapi.json", app), key


def _operations():
    from service.main import create_app

    paths = create_app().openapi()["paths"]          # the document only: no lifespan, no data loaded
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


@pytest.mark.slow
@pytest.mark.parametrize("label", _operations())
def test_openapi_contract(api, label):
    schema, key = api
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    check()
