"""Every bad input is a 4xx with a readable JSON answer, never a 500, on SQLite and PostgreSQL.

Python's ``json`` reads ``NaN``, ``Infinity``, ``-Infinity`` and ``1e400`` (as ``inf``) and ``"\\ud800"`` (a lone
surrogate); bodies are therefore written here with ``json.dumps(ensure_ascii=True, allow_nan=True)`` and sent as
raw bytes, as a client in another language would. Every answer is read back strictly: UTF-8, no NaN/Infinity
constants, no control characters or lone surrogates in any string of it.
"""
from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service_support import database, make_key, small_scorer

NAN, INF = float("nan"), float("inf")
BIG = "<<1e400>>"                 # written as the bare literal 1e400, which Python's json reads as inf
NON_FINITE = [NAN, INF, -INF, BIG, "-" + BIG]
BAD_TEXT = ["\x00", "INV\x00001", "\x1f", "a\x7fb", "tab\there", "line\nbreak", "\ud800", "\udfff", "x\udc00y"]


class Api:
    def __init__(self, client: TestClient, key: str, url: str):
        self.client, self.url = client, url
        self.h = {"Authorization": f"Bearer {key}"}

    def send(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str | None = "application/json"):
        if raw is None and body is not None:
            raw = dumps(body)
        headers = self.h | ({"content-type": content_type} if content_type else {})
        return self.client.request(method, path, headers=headers, content=raw)


def dumps(body: Any) -> bytes:
    """JSON as a lenient client writes it: NaN/Infinity literals, lone surrogates as \\uXXXX escapes."""
    text = json.dumps(body, ensure_ascii=True, allow_nan=True)
    return text.replace(f'"-{BIG}"', "-1e400").replace(f'"{BIG}"', "1e400").encode("ascii")


def strict(resp) -> Any:
    """The answer as strict JSON; fails on NaN/Infinity, bad UTF-8, control characters or lone surrogates."""
    def refuse(constant):
        raise AssertionError(f"{constant} in the answer")

    data = json.loads(resp.content.decode("utf-8"), parse_constant=refuse)

    def walk(x):
        if isinstance(x, str):
            assert not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in x), ascii(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            assert math.isfinite(x)
    walk(data)
    return data


def errors(resp, status: int = 422) -> list[dict]:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/json")
    body = strict(resp)
    assert isinstance(body["detail"], list) and body["detail"]
    for e in body["detail"]:
        assert set(e) >= {"loc", "msg", "type"} and e["msg"]
    return body["detail"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    from service.core.config import Settings
    from service.main import create_app

    with database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        key = make_key(url, "bad-inputs", rate=1e6)
        settings = Settings(database_url=url, max_body_bytes=200_000, log_requests=False)
        with TestClient(create_app(settings, scorer=small_scorer())) as client:
            yield Api(client, key, url)


def cid(i: int = 0) -> str:
    return str(small_scorer().model.table.index[i])


def tx(**line) -> dict:
    return {"transactions": [{"date": "2024-01-01", **line}]}


# field -> (method, path, body for a value, error location, a good value)
NUMBERS = {
    "amount": ("POST", "/customers/{cid}/transactions", lambda v: tx(amount=v),
               ["body", "transactions", 0, "amount"], 12.5),
    "quantity": ("POST", "/customers/{cid}/transactions", lambda v: tx(quantity=v, unit_price=2),
                 ["body", "transactions", 0, "quantity"], 3),
    "unit_price": ("POST", "/customers/{cid}/transactions", lambda v: tx(quantity=2, unit_price=v),
                   ["body", "transactions", 0, "unit_price"], 1.5),
    "score.recency_days": ("POST", "/score", lambda v: {"recency_days": v}, ["body", "recency_days"], 30),
    "score.frequency": ("POST", "/score", lambda v: {"frequency": v}, ["body", "frequency"], 3),
    "score.monetary": ("POST", "/score", lambda v: {"monetary": v}, ["body", "monetary"], 250.0),
    "score.tenure_days": ("POST", "/score", lambda v: {"tenure_days": v}, ["body", "tenure_days"], 400),
    "redeem.order_amount": ("POST", "/coupons/CPN-NOPE/redeem", lambda v: {"order_amount": v},
                            ["body", "order_amount"], 50),
    "campaign.control_share": ("PUT", "/campaigns/num-a", lambda v: {"name": "N", "control_share": v},
                               ["body", "control_share"], 0.2),
    "campaign.max_value": ("PUT", "/campaigns/num-b", lambda v: {"name": "N", "max_value": v},
                           ["body", "max_value"], 300),
    "campaign.max_coupons": ("PUT", "/campaigns/num-c", lambda v: {"name": "N", "max_coupons": v},
                             ["body", "max_coupons"], 10),
}

# field -> (method, path, body for a value, error location, a good value, max length)
TEXTS = {
    "invoice_id": ("POST", "/customers/{cid}/transactions", lambda v: tx(amount=5, invoice_id=v),
                   ["body", "transactions", 0, "invoice_id"], "INV-1", 64),
    "product_id": ("POST", "/customers/{cid}/transactions", lambda v: tx(amount=5, product_id=v),
                   ["body", "transactions", 0, "product_id"], "SKU-1", 64),
    "score.customer_id": ("POST", "/score", lambda v: {"customer_id": v}, ["body", "customer_id"], "{cid}", 64),
    "issue.customer_id": ("POST", "/coupons/issue", lambda v: {"customer_id": v, "campaign": "no-such"},
                          ["body", "customer_id"], "{cid}", 64),
    "issue.campaign": ("POST", "/coupons/issue", lambda v: {"customer_id": cid(), "campaign": v},
                       ["body", "campaign"], "no-such", 64),
    "campaign.name": ("PUT", "/campaigns/txt-a", lambda v: {"name": v}, ["body", "name"], "Spring", 200),
    "campaign.segment": ("PUT", "/campaigns/txt-b", lambda v: {"name": "S", "audience": {"segments": [v]}},
                         ["body", "audience", "segments", 0], "{segment}", 64),
}


def _fill(value: Any) -> Any:
    if isinstance(value, str):
        return value.format(cid=cid(), segment=small_scorer().model.table["segment"].iloc[0])
    return value


# ----------------------------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf", "1e400", "-1e400"])
@pytest.mark.parametrize("field", list(NUMBERS))
def test_non_finite_number_is_422_naming_the_field(api, field, value):
    method, path, body, loc, _ = NUMBERS[field]
    detail = errors(api.send(method, path.format(cid=cid(1)), body(value)))
    assert [e["loc"] for e in detail] == [loc]
    assert "input" not in detail[0]                                  # NaN / inf cannot be written back
    if field != "campaign.max_coupons":                               # an integer field says "integer"
        assert detail[0]["type"] == "finite_number" and "finite" in detail[0]["msg"]


@pytest.mark.parametrize("field", list(NUMBERS))
def test_the_same_fields_accept_a_finite_number(api, field):
    """The control for the test above: the template is right and only the value was refused."""
    method, path, body, _, good = NUMBERS[field]
    r = api.send(method, path.format(cid=cid(1)), body(good))
    assert r.status_code in (200, 201, 404), r.text[:300]           # 404: the coupon code does not exist
    strict(r)


@pytest.mark.parametrize("value", [NAN, INF, BIG])
def test_non_finite_attribute_value_is_refused_by_validation(api, value):
    detail = errors(api.send("POST", "/score", {"attributes": {"income": value}}))
    assert detail[0]["loc"][:3] == ["body", "attributes", "income"] and detail[0]["type"] == "finite_number"


def test_integer_beyond_any_float_and_true_are_refused(api):
    detail = errors(api.send("POST", "/score", raw=b'{"monetary": 1' + b"0" * 400 + b"}"))
    assert detail[0]["loc"] == ["body", "monetary"] and "input" not in detail[0]   # 401 digits: not echoed
    detail = errors(api.send("POST", "/score", {"monetary": True}))
    assert detail[0]["loc"] == ["body", "monetary"] and detail[0]["input"] is True


# ----------------------------------------------------------------------------------------------- text

@pytest.mark.parametrize("value", BAD_TEXT, ids=[ascii(v) for v in BAD_TEXT])
@pytest.mark.parametrize("field", list(TEXTS))
def test_control_characters_and_lone_surrogates_are_422(api, field, value):
    method, path, body, loc, *_ = TEXTS[field]
    detail = errors(api.send(method, path.format(cid=cid(2)), body(value)))
    assert [e["loc"] for e in detail] == [loc]
    assert detail[0]["type"] == "text_characters" and "input" not in detail[0]
    bad = next(c for c in value if ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF)
    assert f"U+{ord(bad):04X} at position {value.index(bad)}" in detail[0]["msg"]


@pytest.mark.parametrize("field", list(TEXTS))
def test_oversize_text_is_422(api, field):
    method, path, body, loc, _, longest = TEXTS[field]
    detail = errors(api.send(method, path.format(cid=cid(2)), body("x" * (longest + 1))))
    assert [e["loc"] for e in detail] == [loc] and detail[0]["type"] in ("string_too_long", "string_pattern_mismatch")


@pytest.mark.parametrize("field", list(TEXTS))
def test_the_same_fields_accept_good_text(api, field):
    method, path, body, _, good, _ = TEXTS[field]
    r = api.send(method, path.format(cid=cid(2)), body(_fill(good)))
    assert r.status_code in (200, 201, 404), r.text[:300]           # 404: the campaign does not exist
    strict(r)


def test_a_surrogate_pair_is_text_not_an_error(api):
    """"\\ud83d\\ude00" is one character (an emoji), not two lone surrogates: accepted and stored as it."""
    r = api.send("PUT", "/campaigns/emoji", {"name": "Spring \U0001F600"})
    assert r.status_code in (200, 201) and strict(r)["name"] == "Spring \U0001F600"
    r = api.send("POST", f"/customers/{cid(3)}/transactions", tx(amount=7, invoice_id="INV-\U0001F600"))
    assert r.status_code == 201, r.text[:300]


@pytest.mark.parametrize("key", ["\ud800", "\x00", "k" * 201])
def test_bad_attribute_names_are_422(api, key):
    detail = errors(api.send("POST", "/score", {"attributes": {key: 1}}))
    assert detail[0]["loc"][:2] == ["body", "attributes"] and detail[0]["loc"][-1] == "[key]"


def test_bad_attribute_text_values_are_422(api):
    for value, kind in (("\ud800", "text_characters"), ("v" * 201, "string_too_long")):
        detail = errors(api.send("POST", "/score", {"attributes": {"region": value}}))
        assert detail[0]["loc"][:3] == ["body", "attributes", "region"] and detail[0]["type"] == kind
    detail = errors(api.send("POST", "/score", {"attributes": {"region": None}}))
    assert detail[0]["loc"] == ["body", "attributes", "region"] and "number or text" in detail[0]["msg"]


@pytest.mark.parametrize("method, path, name", [
    ("GET", "/customers/a%00b", "customer_id"),
    ("GET", "/customers/%1F", "customer_id"),
    ("GET", "/customers/x%7F", "customer_id"),
    ("POST", "/customers/%00/transactions", "customer_id"),
    ("GET", "/campaigns/spring%00", "campaign_id"),
    ("PUT", "/campaigns/%0A", "campaign_id"),
    ("POST", "/coupons/CPN%00X/redeem", "code"),
    ("POST", "/coupons/" + "C" * 33 + "/redeem", "code"),
    ("GET", "/campaigns/" + "c" * 65, "campaign_id"),
])
def test_bad_path_ids_are_422(api, method, path, name):
    body = {"PUT": {"name": "X"}, "GET": None}.get(method, tx(amount=5) if "customers" in path
                                                        else {"order_amount": 5})
    detail = errors(api.send(method, path, body))
    mine = [e for e in detail if e["loc"] == ["path", name]]
    assert mine and any(w in mine[0]["msg"] for w in ("control characters", "campaign id", "at most"))


def test_percent_encoded_surrogate_in_a_path_is_a_4xx(api):
    r = api.send("GET", "/customers/%ED%A0%80")          # the UTF-8 bytes of U+D800: not UTF-8, read as U+FFFD
    assert 400 <= r.status_code < 500
    strict(r)


# ----------------------------------------------------------------------------------------------- storage

@pytest.mark.parametrize("invoice", ["A\x00B", "\x00", "A\ud800B"], ids=["nul-inside", "nul", "surrogate"])
def test_nul_or_surrogate_invoice_id_is_422_and_nothing_is_stored(api, invoice):
    """Was: a 500 on PostgreSQL (text cannot hold NUL) and stored with 201 on SQLite."""
    customer = cid(4)
    before = strict(api.send("GET", f"/customers/{customer}"))["api_transactions"]
    detail = errors(api.send("POST", f"/customers/{customer}/transactions",
                             {"transactions": [{"date": "2024-02-01", "amount": 9.5, "invoice_id": "OK-1"},
                                               {"date": "2024-02-01", "amount": 3, "invoice_id": invoice}]}))
    assert [e["loc"] for e in detail] == [["body", "transactions", 1, "invoice_id"]]
    assert strict(api.send("GET", f"/customers/{customer}"))["api_transactions"] == before   # the good line neither


def test_nan_and_good_lines_together_store_nothing(api):
    customer = cid(5)
    before = strict(api.send("GET", f"/customers/{customer}"))["api_transactions"]
    detail = errors(api.send("POST", f"/customers/{customer}/transactions",
                             {"transactions": [{"date": "2024-02-01", "amount": 9.5},
                                               {"date": "2024-02-02", "amount": NAN}]}))
    assert [e["loc"] for e in detail] == [["body", "transactions", 1, "amount"]]
    assert strict(api.send("GET", f"/customers/{customer}"))["api_transactions"] == before


# ----------------------------------------------------------------------------------------------- bodies

def test_unknown_fields_holding_unwritable_values_are_422(api):
    detail = errors(api.send("POST", "/score", {"monetary": 5, "extra": NAN}))
    assert detail[0]["loc"] == ["body", "extra"] and detail[0]["type"] == "extra_forbidden" and "input" not in detail[0]
    detail = errors(api.send("POST", "/score", {"\ud800": 1}))            # the key itself cannot be written back
    assert detail[0]["type"] == "string_unicode" and "surrogate" in detail[0]["msg"] and detail[0]["loc"] == ["body"]
    detail = errors(api.send("POST", f"/customers/{cid()}/transactions", {"transactions": [NAN, "\ud800"]}))
    assert [e["loc"] for e in detail] == [["body", "transactions", 0], ["body", "transactions", 1]]


def test_too_many_lines_and_too_many_errors(api):
    r = api.send("POST", f"/customers/{cid()}/transactions", {"transactions": [{"date": "2024-01-01", "amount": 1}]
                                                                              * 1001})
    assert errors(r)[0]["loc"] == ["body", "transactions"]
    r = api.send("POST", f"/customers/{cid()}/transactions", {"transactions": [{"date": "2024-01-01", "amount": NAN}]
                                                                              * 120})
    detail = errors(r)
    assert len(detail) == 51 and detail[-1]["type"] == "too_many_errors" and "70 more" in detail[-1]["msg"]


@pytest.mark.parametrize("raw, status, words", [
    (b"{not json", 422, "not valid JSON"),
    (b'{"monetary": 5', 422, "not valid JSON"),
    (b"", 422, "Field required"),
    (b'{"customer_id": "\xff\xfe"}', 400, "not UTF-8 (byte 0xff at position 17)"),
    (b"[" * 50_000 + b"]" * 50_000, 400, "nested too deeply"),
    (b'{"monetary": 1' + b"0" * 5000 + b"}", 400, "4300 digits"),
])
def test_unreadable_bodies(api, raw, status, words):
    r = api.send("POST", "/score", raw=raw)
    assert r.status_code == status, r.text[:300]
    body = strict(r)
    text = json.dumps(body["detail"])
    assert words in text, text
    if status == 422 and words == "not valid JSON":
        assert body["detail"][0]["loc"][0] == "body" and isinstance(body["detail"][0]["loc"][1], int)


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_body_that_is_not_declared_json_is_422(api, content_type):
    r = api.send("POST", "/score", raw=b"\xff\xfe\x00", content_type=content_type)
    detail = errors(r)
    assert "Content-Type: application/json" in detail[0]["msg"] and "input" not in detail[0]


def test_oversize_body_is_413_with_or_without_length(api):
    line = b'{"date": "2024-01-01", "amount": 1},'
    big = b'{"transactions": [' + line * 6000 + b'{"date": "2024-01-01", "amount": 1}]}'          # ~216 kB
    r = api.send("POST", f"/customers/{cid()}/transactions", raw=big)
    assert r.status_code == 413 and "limit" in strict(r)["detail"]

    def chunks():                                      # no Content-Length: the limit applies while reading
        yield b'{"transactions": ['
        for _ in range(60):
            yield line * 100
        yield b'{"date": "2024-01-01", "amount": 1}]}'
    r = api.client.post(f"/customers/{cid()}/transactions", content=chunks(),
                        headers=api.h | {"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in strict(r)["detail"]


# ----------------------------------------------------------------------------------------------- the handler itself

def test_handler_never_echoes_what_cannot_be_written():
    """Errors raised by route code (not only by pydantic) go through the same handler."""
    import asyncio

    from fastapi.exceptions import RequestValidationError

    from service.api.errors import validation_failed

    exc = RequestValidationError([
        {"loc": ("body", "a\ud800", 3), "msg": "bad \x00 value \ud800", "type": "value_error", "input": NAN},
        {"loc": ("body", "b"), "msg": "ok", "type": "value_error", "input": "x\ud800"},
        {"loc": ("body", "c"), "msg": "ok", "type": "value_error", "input": b"\xff"},
        {"loc": ("body", "d"), "msg": "ok", "type": "value_error", "input": "five"},
        {"loc": ("body", "e"), "msg": "ok", "type": "value_error", "input": {"nested": INF}},
    ])
    resp = asyncio.run(validation_failed(None, exc))
    assert resp.status_code == 422
    detail = json.loads(resp.body.decode("utf-8"), parse_constant=lambda c: pytest.fail(c))["detail"]
    assert detail[0]["loc"] == ["body", "a\\ud800", 3] and detail[0]["msg"] == "bad \\x00 value \\ud800"
    assert ["input" in d for d in detail] == [False, False, False, True, False]
    assert detail[3]["input"] == "five"                              # a short, plain input is still shown
