"""Schemathesis over the service's own OpenAPI document: no 5xx, every response matches its documented schema.

Runs in process (ASGI transport) against SQLite, with a key holding every scope and a rate high enough not to
be hit. Generated ids are mostly unknown, so documented 404s are expected (the "positive data accepted" check is
left out for that reason); what must never happen is a server error or an undocumented status / body.

Schemathesis' pytest plugin (``from_fixture`` / ``parametrize``) fails on pytest 9 (``'Function' object has no
attribute '_nodeid'``), so each operation's Hypothesis strategy is driven directly with ``@given``.

Two more runs: schema-violating (negative) cases must all be refused with a 4xx, and generated cases poisoned with
what Python's ``json`` reads but no schema can describe (NaN, ±Infinity, 1e400, control characters, lone
surrogates, in any value, key or path id) must all be a 400/422 with a writable answer.
"""
from __future__ import annotations

import copy
import json
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

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


def _operations(with_input: bool = False):
    from service.main import create_app

    paths = create_app().openapi()["paths"]          # the document only: no lifespan, no data loaded
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method, op in ops.items()
                  if not with_input or "{" in path or "requestBody" in op)


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


@pytest.mark.slow
@pytest.mark.parametrize("label", _operations(with_input=True))
def test_schema_violations_are_refused(api, label):
    """Negative cases (wrong types, out-of-range numbers, too long or patterned-out text): a 4xx, never a 2xx/5xx."""
    schema, key = api
    method, path = label.split(" ", 1)

    @given(case=schema[path][method].as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        case.call_and_validate(excluded_checks=[positive_data_acceptance, ignored_auth])  # the key is ours

    check()


# ------------------------------------------------------------------ values only a lenient JSON parser lets through

_BIG = "<<1e400>>"                                   # sent as the bare literal 1e400 (Python's json reads inf)
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf"), _BIG, "-" + _BIG])
_CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.just("\x7f")
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=4)
#: Text holding at least one control character or lone surrogate, somewhere in ordinary text.
BAD_TEXT = st.builds(lambda a, bad, b: a + bad + b, _PLAIN, _CONTROL | _SURROGATE, _PLAIN)
#: For a path id: control characters only (a surrogate has no UTF-8 form to percent-encode), and no '/' (an
#: encoded '/' is decoded before routing: another path, a 404 that proves nothing).
_SEGMENT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="/"), max_size=4)
BAD_PATH_TEXT = st.builds(lambda a, bad, b: a + bad + b, _SEGMENT, _CONTROL, _SEGMENT)
HOSTILE = NON_FINITE | BAD_TEXT


def _paths(value, at=()):
    """Every place in a JSON value: the value itself, then each member and item, recursively."""
    yield at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, (*at, k))


def _put(value, at, new):
    if not at:
        return new
    value = copy.deepcopy(value)
    parent = value
    for k in at[:-1]:
        parent = parent[k]
    parent[at[-1]] = new
    return value


def poison(data, body):
    """``body`` with one hostile value (or a hostile key added to one object)."""
    at = data.draw(st.sampled_from(list(_paths(body))), label="where")
    target = body
    for k in at:
        target = target[k]
    if isinstance(target, dict) and data.draw(st.booleans(), label="as a key"):
        return _put(body, (*at, data.draw(BAD_TEXT, label="key")), data.draw(HOSTILE | st.integers(), label="v"))
    return _put(body, at, data.draw(HOSTILE, label="value"))


def lenient_json(body) -> bytes:
    text = json.dumps(body, ensure_ascii=True, allow_nan=True)
    return text.replace(f'"-{_BIG}"', "-1e400").replace(f'"{_BIG}"', "1e400").encode("ascii")


@pytest.mark.slow
@pytest.mark.parametrize("label", _operations(with_input=True))
def test_hostile_values_are_a_4xx(api, label):
    schema, key = api
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy(), data=st.data())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case, data):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        has_body = isinstance(case.body, (dict, list))
        kwargs = {}
        if case.path_parameters and (not has_body or data.draw(st.booleans(), label="poison the path")):
            name = data.draw(st.sampled_from(sorted(case.path_parameters)), label="parameter")
            case.path_parameters = {**case.path_parameters,
                                    name: quote(data.draw(BAD_PATH_TEXT, label="path id"), safe="")}
            if has_body:
                kwargs["data"] = lenient_json(case.body)
        else:
            kwargs["data"] = lenient_json(poison(data, case.body))
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance], **kwargs)
        assert response.status_code in (400, 422), (response.status_code, kwargs.get("data", b"")[:300])
        json.loads(response.content.decode("utf-8"), parse_constant=lambda c: pytest.fail(f"{c} in the answer"))

    check()
