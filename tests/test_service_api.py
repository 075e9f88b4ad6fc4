"""Behaviour of the scoring service through FastAPI's TestClient, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipeline.campaign import in_control_group
from service_support import ALL_SCOPES, database, make_key, small_dataset, small_scorer


@dataclass
class Env:
    client: TestClient
    keys: dict[str, str]
    url: str

    def h(self, who: str = "all") -> dict:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@contextmanager
def service(backend: str, tmp_path, scorer):
    from service.core.config import Settings
    from service.main import create_app

    with database(backend, tmp_path) as url:
        keys = {"all": make_key(url, "all"), "reader": make_key(url, "reader", ["read"]),
                "slow": make_key(url, "slow", ALL_SCOPES, rate=1.0, burst=3)}
        settings = Settings(database_url=url, max_body_bytes=200_000, log_requests=True,
                            key_cache_seconds=0.3)
        with TestClient(create_app(settings, scorer=scorer)) as client:
            yield Env(client, keys, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path):
    with service(request.param, tmp_path, small_scorer()) as e:
        yield e


@pytest.fixture(scope="module")
def dayless(tmp_path_factory):
    """100 customers of the small dataset written to a CSV without its invoice column and loaded as a user's file
    would be: each customer's purchase days are their orders. (dataset, scorer)."""
    from pipeline.customer.scoring import build_scorer
    from pipeline.ingest.datasets import build_dataset
    from service.scoring import Scorer

    tx = small_dataset().transactions
    tx = tx[tx["customer_id"].isin(tx["customer_id"].drop_duplicates().iloc[:100])]
    path = tmp_path_factory.mktemp("dayless") / "dayless.csv"
    tx[["customer_id", "date", "quantity", "unit_price", "product_id", "category", "country"]].to_csv(path, index=False)
    ds = build_dataset(path, "dayless.csv")
    return ds, Scorer("dayless", build_scorer(ds))


@pytest.fixture(params=["sqlite", "postgresql"])
def dayless_env(request, tmp_path, dayless):
    with service(request.param, tmp_path, dayless[1]) as e:
        yield e


def ids(n: int = 5) -> list[str]:
    return small_scorer().model.table.index[:n].tolist()


def loc(resp) -> list:
    return [e["loc"] for e in resp.json()["detail"]]


# ----------------------------------------------------------------------------------------------- auth

def test_health_is_public_and_auth_codes(env):
    c = env.client
    assert c.get("/health").json()["status"] == "ok"
    cid = ids(1)[0]
    r = c.get(f"/customers/{cid}")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert c.get(f"/customers/{cid}", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get(f"/customers/{cid}", headers={"Authorization": "Basic abc"}).status_code == 401
    assert c.get(f"/customers/{cid}", headers=env.h("reader")).status_code == 200
    r = c.post("/score", json={"recency_days": 10}, headers=env.h("reader"))
    assert r.status_code == 403 and "'score' scope" in r.json()["detail"]


def test_revoked_key_is_refused(env):
    from service.core.db import make_engine, session_factory
    from service.keys import revoke_key

    cid = ids(1)[0]
    assert env.client.get(f"/customers/{cid}", headers=env.h("reader")).status_code == 200
    engine = make_engine(env.url)
    with session_factory(engine)() as s:
        assert revoke_key(s, "reader")
    engine.dispose()
    time.sleep(0.35)                                         # a checked key is remembered key_cache_seconds
    assert env.client.get(f"/customers/{cid}", headers=env.h("reader")).status_code == 401


def test_rate_limit_429(env):
    cid = ids(1)[0]
    codes = [env.client.get(f"/customers/{cid}", headers=env.h("slow")).status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    r = env.client.get(f"/customers/{cid}", headers=env.h("slow"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


# ----------------------------------------------------------------------------------------------- customers

def test_card_and_unknown_customer(env):
    cid = ids(1)[0]
    card = env.client.get(f"/customers/{cid}", headers=env.h()).json()
    expected = small_scorer().model.table.loc[cid]
    assert card["customer_id"] == cid and card["segment"] == expected["segment"]
    assert card["scores"]["r_score"] == expected["r_score"] and card["risk_band"] in ("Low", "Medium", "High")
    churn = card["churn_probability"]      # the model's, or the simple rule's when the model does no better here
    assert churn == pytest.approx(expected["churn_probability"]) and card["churn_source"] == expected["churn_source"]
    if card["churn_source"] == "model":
        assert card["drivers"] and not card["churn_basis"]
    else:                                  # a withheld model explains nothing; the coupon names the rule
        assert not card["drivers"] and f"by {card['churn_basis']}" in card["coupon"]["reason"]
    assert 0 <= churn <= 1 and card["coupon"]["reason"]
    assert card["source"] == "dataset" and "population" in card["scoring"]
    r = env.client.get("/customers/no-such-id", headers=env.h())
    assert r.status_code == 404 and "no-such-id" in r.json()["detail"]


def test_transactions_rescore_existing_and_create_new(env):
    c, cid = env.client, ids(2)[1]
    before = c.get(f"/customers/{cid}", headers=env.h()).json()
    r = c.post(f"/customers/{cid}/transactions", headers=env.h(), json={"transactions": [
        {"date": "2024-12-30T10:00:00", "amount": 120.5, "invoice_id": "W1", "product_id": "P1"},
        {"date": "2024-12-30T10:00:00", "quantity": 2, "unit_price": 3.25, "invoice_id": "W1"},
        {"date": "2024-12-31", "amount": -10.0, "invoice_id": "R1"}]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stored"] == 3 and len(body["transaction_ids"]) == 3
    after = body["card"]
    assert after["scores"]["frequency"] == before["scores"]["frequency"] + 1
    assert after["scores"]["monetary"] == pytest.approx(before["scores"]["monetary"] + 127.0)
    assert after["api_transactions"] == 3 and after["source"] == "dataset+api"
    assert c.get(f"/customers/{cid}", headers=env.h()).json() == after        # stored card, any worker
    new = c.post("/customers/web-0001/transactions", headers=env.h(),
                 json={"transactions": [{"date": "2024-11-02", "amount": 40}]})
    assert new.status_code == 201
    card = new.json()["card"]
    assert card["source"] == "api" and card["scores"]["frequency"] == 1 and card["segment"]
    assert c.get("/customers/web-0001", headers=env.h()).json()["segment"] == card["segment"]
    only_return = c.post("/customers/web-0002/transactions", headers=env.h(),
                         json={"transactions": [{"date": "2024-11-02", "amount": -5}]})
    assert only_return.status_code == 409 and "return" in only_return.json()["detail"]


def test_line_without_invoice_joins_the_days_order_of_a_dataset_without_invoices(dayless_env, dayless):
    """The pipeline's rule, not a copy: on a dataset without invoices, a line sent without one on a day the customer
    bought on is part of that day's order (frequency unchanged); a line on a new day is a new order. The card's
    order count equals a pandas recount of the customer's purchase days, file and API lines together."""
    ds, c = dayless[0].transactions, dayless_env.client
    cid = ds["customer_id"].value_counts().index[0]
    mine = ds.loc[ds["customer_id"] == cid, "date"]
    before = c.get(f"/customers/{cid}", headers=dayless_env.h()).json()
    assert before["scores"]["frequency"] == mine.dt.normalize().nunique()
    sent = [f"{mine.max():%Y-%m-%d}T23:59:00", f"{mine.max() + pd.Timedelta(days=3):%Y-%m-%d}T08:00:00"]
    same_day = c.post(f"/customers/{cid}/transactions", headers=dayless_env.h(),
                      json={"transactions": [{"date": sent[0], "quantity": 3, "unit_price": 0.333}]})
    assert same_day.status_code == 201, same_day.text
    card = same_day.json()["card"]
    assert card["scores"]["frequency"] == before["scores"]["frequency"]
    assert card["scores"]["monetary"] == pytest.approx(before["scores"]["monetary"] + 0.999, abs=0.006)  # cents
    new_day = c.post(f"/customers/{cid}/transactions", headers=dayless_env.h(),
                     json={"transactions": [{"date": sent[1], "amount": 12.5}]}).json()["card"]
    recount = pd.concat([mine, pd.Series(pd.to_datetime(sent))]).dt.normalize().nunique()
    assert new_day["scores"]["frequency"] == recount == before["scores"]["frequency"] + 1
    assert c.get(f"/customers/{cid}", headers=dayless_env.h()).json()["scores"] == new_day["scores"]


def test_amount_from_quantity_and_price_is_the_pipelines(env):
    """quantity x unit_price is the line's amount in the API as in a cleaned file: 3 x 0.333 is 0.999 in both
    (not rounded to cents by the API alone), and the card's monetary is the pipeline's RFM figure of that line."""
    from sqlalchemy import create_engine, text

    from fixtures import frame
    from pipeline.ingest import clean_frame
    from pipeline.rfm import rfm_table

    raw = frame().assign(Quantity=[2, 1, 3, -1, 1, 2, 5], UnitPrice=[5.0, 20.0, 0.333, 2.0, 100.0, 1.0, 5.0])
    cleaned = clean_frame(raw).transactions
    in_file = float(cleaned.loc[cleaned["invoice_id"] == "1003", "amount"].iloc[0])
    r = env.client.post("/customers/web-cents/transactions", headers=env.h(),
                        json={"transactions": [{"date": "2024-11-02", "quantity": 3, "unit_price": 0.333}]})
    assert r.status_code == 201, r.text
    engine = create_engine(env.url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT amount FROM transactions WHERE customer_id = 'web-cents'")).scalar()
    engine.dispose()
    assert stored == in_file == pytest.approx(0.999, abs=1e-12)
    only = cleaned[cleaned["invoice_id"] == "1003"]                  # customer 0007's one purchase: that line
    assert r.json()["card"]["scores"]["monetary"] == rfm_table(only)["monetary"].iloc[0]


#: (line, the field its 422 must name)
BAD_LINES = [
    ({"date": "2024-01-01", "amount": 5, "colour": "red"}, "colour"),
    ({"date": "2024-01-01", "amount": "five"}, "amount"),
    ({"date": "not a date", "amount": 5}, "date"),
    ({"date": "1969-12-31", "amount": 5}, "date"),
    ({"amount": 5}, "date"),
    ({"date": "2024-01-01", "amount": 5e9}, "amount"),
    ({"date": "2024-01-01", "quantity": 2}, "amount"),
    ({"date": "2024-01-01", "amount": 0}, "amount"),
    ({"date": "2024-01-01", "quantity": 1, "unit_price": -3}, "unit_price"),
    ({"date": "2024-01-01", "amount": 5, "quantity": -1}, "quantity"),     # a return in a cleaned file
    ({"date": "2024-01-01", "amount": -5, "quantity": 0}, "quantity"),     # dropped by cleaning
    ({"date": "2024-01-01", "amount": 5, "invoice_id": ""}, "invoice_id"),
]


def test_bad_transaction_lines_name_the_field(env):
    """Each bad line, sent alone to one service (per backend): a 422 naming its field."""
    for line, field in BAD_LINES:
        r = env.client.post(f"/customers/{ids(1)[0]}/transactions", headers=env.h(), json={"transactions": [line]})
        assert r.status_code == 422, (line, r.status_code, r.text)
        text = json.dumps(r.json())
        assert field in text, (line, text)


def test_future_dates_bodies_and_encodings(env):
    c, url = env.client, f"/customers/{ids(1)[0]}/transactions"
    tomorrow = (datetime.now(timezone.utc) + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%S")
    later = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%d")
    assert c.post(url, headers=env.h(), json={"transactions": [{"date": tomorrow, "amount": 1}]}).status_code == 201
    r = c.post(url, headers=env.h(), json={"transactions": [{"date": later, "amount": 1}]})
    assert r.status_code == 422 and ["body", "transactions", 0, "date"] in loc(r)
    assert c.post(url, headers=env.h(), json={"transactions": []}).status_code == 422
    assert c.post(url, headers=env.h(), json={"purchases": []}).status_code == 422
    big = b'{"transactions": [' + b",".join([b'{"date": "2024-01-01", "amount": 1}'] * 400_000) + b"]}"
    r = c.post(url, headers=env.h() | {"content-type": "application/json"}, content=big)      # ~13 MB
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = c.post(url, headers=env.h() | {"content-type": "application/json"},
               content=b'{"transactions": [{"date": "2024-01-01", "amount": 1, "product_id": "\xff\xfe"}]}')
    assert 400 <= r.status_code < 500
    r = c.post(url, headers=env.h() | {"content-type": "application/json"}, content=b"{not json")
    assert r.status_code == 422
    r = c.get("/customers/" + "x" * 65, headers=env.h())
    assert r.status_code == 422 and ["path", "customer_id"] in loc(r)


# ----------------------------------------------------------------------------------------------- score

def test_score_what_if(env):
    c = env.client
    r = c.post("/score", headers=env.h(), json={"recency_days": 300, "frequency": 1, "monetary": 20})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["inputs"]["recency_days"] == 300 and body["segment"] and body["risk_band"] in ("Low", "Medium",
                                                                                               "High")
    loyal = c.post("/score", headers=env.h(), json={"recency_days": 2, "frequency": 40, "monetary": 5000}).json()
    assert loyal["churn_probability"] < body["churn_probability"]
    cid = ids(1)[0]
    own = c.post("/score", headers=env.h(), json={"customer_id": cid}).json()
    assert own["segment"] == small_scorer().model.table.loc[cid, "segment"]
    r = c.post("/score", headers=env.h(), json={"recency_days": -4})
    assert r.status_code == 422 and ["body", "recency_days"] in loc(r)
    r = c.post("/score", headers=env.h(), json={"attributes": {"income": 5}})
    assert r.status_code == 422 and ["body", "attributes"] in loc(r)
    assert c.post("/score", headers=env.h(), json={"customer_id": "nobody"}).status_code == 404


# ----------------------------------------------------------------------------------------------- coupons

def _campaign(c, h, cid="spring", **body):
    r = c.put(f"/campaigns/{cid}", headers=h, json={"name": "Spring", **body})
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_issue_is_idempotent_with_control_group_and_counts(env):
    c, h = env.client, env.h()
    _campaign(c, h, control_share=0.3)
    answers = {}
    for cid in ids(40):
        first = c.post("/coupons/issue", headers=h, json={"customer_id": cid, "campaign": "spring"}).json()
        again = c.post("/coupons/issue", headers=h, json={"customer_id": cid, "campaign": "spring"}).json()
        assert {k: v for k, v in again.items() if k != "replayed"} == {k: v for k, v in first.items()
                                                                        if k != "replayed"}
        assert again["replayed"] and not first["replayed"]
        assert (first["outcome"] == "control") == in_control_group(cid, "spring", 0.3)
        assert (first["code"] is not None) == (first["outcome"] == "issued")
        answers[cid] = first
    stats = c.get("/campaigns/spring", headers=h).json()
    outcomes = [a["outcome"] for a in answers.values()]
    assert stats["decisions"] == 40 and stats["control"] == outcomes.count("control")
    assert stats["issued"] == outcomes.count("issued") and stats["treated"] == 40 - stats["control"]
    codes = [a["code"] for a in answers.values() if a["code"]]
    assert len(codes) == len(set(codes))


def test_budget_audience_and_redeem(env):
    c, h = env.client, env.h()
    _campaign(c, h, "small", control_share=0, max_coupons=2)
    got = [c.post("/coupons/issue", headers=h, json={"customer_id": cid, "campaign": "small"}).json()
           for cid in ids(30)]
    issued = [g for g in got if g["outcome"] == "issued"]
    assert len(issued) == 2
    assert any("budget used up" in g["reason"] for g in got if g["outcome"] == "no_coupon")
    assert c.get("/campaigns/small", headers=h).json()["coupons_left"] == 0
    code = issued[0]["code"]
    r = c.post(f"/coupons/{code}/redeem", headers=h, json={"order_amount": 1.0})
    if issued[0]["min_spend"] > 1.0:
        assert r.status_code == 422 and ["body", "order_amount"] in loc(r)
    ok = c.post(f"/coupons/{code}/redeem", headers=h, json={"order_amount": 500.0})
    assert ok.status_code == 200 and ok.json()["code"] == code
    again = c.post(f"/coupons/{code}/redeem", headers=h, json={"order_amount": 500.0})
    assert again.status_code == 409 and "redeemed already" in again.json()["detail"]
    assert c.post("/coupons/CPN-NOPE/redeem", headers=h, json={"order_amount": 5}).status_code == 404
    assert c.get("/campaigns/small", headers=h).json()["redeemed"] == 1
    seg = small_scorer().model.table["segment"].iloc[0]
    _campaign(c, h, "only", control_share=0, audience={"segments": [seg]})
    for cid in ids(10):
        out = c.post("/coupons/issue", headers=h, json={"customer_id": cid, "campaign": "only"}).json()
        in_audience = small_scorer().model.table.loc[cid, "segment"] == seg
        assert in_audience or ("audience" in out["reason"] and out["outcome"] == "no_coupon")
    assert c.get("/campaigns/only", headers=h).json()["excluded"] == sum(
        small_scorer().model.table.loc[ids(10), "segment"] != seg)


def test_campaign_errors(env):
    c, h = env.client, env.h()
    r = c.post("/coupons/issue", headers=h, json={"customer_id": ids(1)[0], "campaign": "missing"})
    assert r.status_code == 404 and "PUT /campaigns/missing" in r.json()["detail"]
    _campaign(c, h, "x")
    assert c.post("/coupons/issue", headers=h, json={"customer_id": "nobody", "campaign": "x"}).status_code == 404
    r = c.put("/campaigns/y", headers=h, json={"name": "Y", "audience": {"segments": ["Kings"]}})
    assert r.status_code == 422 and ["body", "audience", "segments", 0] in loc(r)
    r = c.put("/campaigns/y", headers=h, json={"name": "Y", "control_share": 2})
    assert r.status_code == 422 and ["body", "control_share"] in loc(r)
    assert c.put("/campaigns/y", headers=env.h("reader"), json={"name": "Y"}).status_code == 403
    assert c.get("/campaigns/nope", headers=h).status_code == 404


# ----------------------------------------------------------------------------------------------- observability

class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_one_log_line_per_request_without_customer_data_and_metrics(env):
    cap = _Capture()
    logger = logging.getLogger("service.requests")
    logger.addHandler(cap)
    try:
        cid = ids(1)[0]
        env.client.get(f"/customers/{cid}", headers=env.h())
        env.client.post(f"/customers/{cid}/transactions", headers=env.h(),
                        json={"transactions": [{"date": "2024-12-01", "amount": 777.77}]})
    finally:
        logger.removeHandler(cap)
    lines = [json.loads(x) for x in cap.lines]
    assert len(lines) == 2
    assert lines[0]["route"] == "/customers/{customer_id}" and lines[0]["status"] == 200
    assert lines[1]["route"] == "/customers/{customer_id}/transactions" and lines[1]["key"] == "all"
    assert all(set(x) >= {"method", "route", "status", "ms", "key"} for x in lines)
    assert cid not in "".join(cap.lines) and "777" not in "".join(cap.lines)
    text = env.client.get("/metrics").text
    assert 'segments_http_requests_total{method="GET",route="/customers/{customer_id}",status="200"}' in text
    assert "segments_http_request_duration_seconds_bucket" in text and "segments_model_info{" in text
    assert cid not in text
