"""The service under real traffic, in process: a retried purchase is stored once (Idempotency-Key, invoice line
numbers), a card behind its lines is rebuilt on read and at start-up, requests above capacity get a fast 503
while /health answers, and a key's rate limit holds across workers (Redis)."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from conftest import unavailable
from service_support import ALL_SCOPES, database, make_key, small_scorer


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request, tmp_path):
    from service.core.config import Settings
    from service.main import create_app

    with database(request.param, tmp_path) as url:
        key = make_key(url, "all", ALL_SCOPES)
        with TestClient(create_app(Settings(database_url=url, log_requests=False), scorer=small_scorer())) as c:
            c.headers["Authorization"] = f"Bearer {key}"
            yield c, url


def _count(url: str, customer: str) -> int:
    from service.core.db import make_engine, session_factory
    from service.models import Transaction

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return s.scalar(select(func.count()).where(Transaction.customer_id == customer))
    finally:
        engine.dispose()


def test_same_idempotency_key_ten_times_is_stored_once(api):
    c, url = api
    cid = small_scorer().model.table.index[3]
    body = {"transactions": [{"date": "2024-12-20", "amount": 12.5}]}
    answers = [c.post(f"/customers/{cid}/transactions", json=body, headers={"Idempotency-Key": "order-77"})
               for _ in range(10)]
    assert [a.status_code for a in answers] == [201] * 10
    first = answers[0].json()
    assert first["stored"] == 1 and not first["replayed"] and "Idempotent-Replayed" not in answers[0].headers
    for again in answers[1:]:
        assert again.headers["Idempotent-Replayed"] == "true" and again.json()["replayed"]
        assert again.json()["transaction_ids"] == first["transaction_ids"]
    assert _count(url, cid) == 1
    other = c.post(f"/customers/{cid}/transactions", json={"transactions": [{"date": "2024-12-20", "amount": 13}]},
                   headers={"Idempotency-Key": "order-77"})
    assert other.status_code == 422 and "different request" in other.text and _count(url, cid) == 1
    bad = c.post(f"/customers/{cid}/transactions", json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 422


def test_invoice_lines_sent_twice_are_stored_once(api):
    c, url = api
    cid = small_scorer().model.table.index[4]
    body = {"transactions": [{"date": "2024-12-20", "amount": 10, "invoice_id": "INV-9", "product_id": "A"},
                             {"date": "2024-12-20", "amount": 5, "invoice_id": "INV-9", "product_id": "B"}]}
    first = c.post(f"/customers/{cid}/transactions", json=body)
    retry = c.post(f"/customers/{cid}/transactions", json=body)       # a blind retry without a key
    assert first.status_code == 201 and first.json()["stored"] == 2
    assert retry.status_code == 200 and retry.json() | {"card": None} == {
        "stored": 0, "skipped": 2, "transaction_ids": [], "replayed": True, "card": None}
    assert retry.json()["card"]["scores"] == first.json()["card"]["scores"] and _count(url, cid) == 2
    changed = {"transactions": [{"date": "2024-12-20", "amount": 11, "invoice_id": "INV-9", "product_id": "A"}]}
    assert c.post(f"/customers/{cid}/transactions", json=changed).status_code == 409
    third = {"transactions": [{"date": "2024-12-20", "amount": 11, "invoice_id": "INV-9", "line": 3}]}
    assert c.post(f"/customers/{cid}/transactions", json=third).json()["stored"] == 1 and _count(url, cid) == 3


def test_card_behind_its_lines_is_rebuilt_on_read_and_at_start_up(api, tmp_path):
    from service.core.config import Settings
    from service.core.db import make_engine, session_factory
    from service.main import create_app
    from service.models import CustomerCard, Transaction
    from service.transactions import behind

    c, url = api
    cid = small_scorer().model.table.index[5]
    c.post(f"/customers/{cid}/transactions", json={"transactions": [{"date": "2024-12-20", "amount": 40}]})
    monetary = c.get(f"/customers/{cid}").json()["scores"]["monetary"]
    engine = make_engine(url)
    with session_factory(engine)() as s:                     # a line committed without its card (by hand)
        row = s.scalars(select(Transaction).where(Transaction.customer_id == cid)).one()
        s.add(Transaction(dataset=row.dataset, customer_id=cid, invoice_id="HAND-1", date=row.date, amount=60.0,
                          received_at=row.received_at))
        s.commit()
    card = c.get(f"/customers/{cid}").json()
    assert card["api_transactions"] == 2 and card["scores"]["monetary"] == pytest.approx(monetary + 60.0)
    with session_factory(engine)() as s:                     # a card from before line counts: NULL
        s.execute(update(CustomerCard).values(line_count=None))
        s.commit()
    with TestClient(create_app(Settings(database_url=url, log_requests=False), scorer=small_scorer())):
        pass                                                 # start-up repairs it
    with session_factory(engine)() as s:
        assert behind(s, row.dataset) == [] and s.scalar(select(CustomerCard.line_count)) == 2
    engine.dispose()


def test_above_capacity_fast_503_and_health_answers():
    """Writes above the worker's limit are refused at once with Retry-After; /health is never shed and says
    degraded."""
    from fastapi import FastAPI

    from service.core.backpressure import Load, LoadShedder

    app = FastAPI()
    load = Load(max_inflight=8, max_writes=2)
    gate = asyncio.Event()

    @app.post("/slow")
    async def slow() -> dict:
        await gate.wait()
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "degraded" if load.degraded() else "ok"}

    app.add_middleware(LoadShedder, load=load)

    async def run() -> tuple[list[int], list[str], dict]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            held = [asyncio.create_task(c.post("/slow")) for _ in range(2)]
            await asyncio.sleep(0.05)
            over = await asyncio.wait_for(asyncio.gather(*(c.post("/slow") for _ in range(5))), 1.0)
            h = await asyncio.wait_for(c.get("/health"), 1.0)
            gate.set()
            done = await asyncio.gather(*held)
            return [r.status_code for r in done + list(over)], [r.headers.get("retry-after") for r in over], h.json()

    codes, retry, health_json = asyncio.run(run())
    assert codes == [200, 200] + [503] * 5 and retry == ["1"] * 5
    assert health_json == {"status": "degraded"} and load.shed == 5 and load.inflight == 0


def _redis_url() -> str:
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_timeout=0.5).ping()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"Redis not reachable at {url} ({type(exc).__name__})")
    return url


def test_rate_limit_holds_across_workers():
    """A key limited to 10/s (burst 10) sends 100 requests in well under a second through two workers: about 10
    pass in total, with Redis shared buckets and with each worker's share when there is no Redis."""
    import uuid

    from service.core.ratelimit import RateLimiter
    from service.keys import KeyInfo

    key = KeyInfo(int(uuid.uuid4().int % 10**12), "k", frozenset({"read"}), 10.0, None)
    url = _redis_url()
    for workers, redis_url in ((2, url), (2, "")):
        if not redis_url:
            key = KeyInfo(key.id + 1, "k", frozenset({"read"}), 10.0, None)
        w = [RateLimiter(100.0, 200.0, workers, redis_url) for _ in range(2)]
        allowed = sum(w[i % 2].allow(key)[0] for i in range(100))
        assert 10 <= allowed <= 12, (redis_url, allowed)


def test_redeem_retried_with_its_idempotency_key_gets_the_first_answer(api):
    c, _ = api
    assert c.put("/campaigns/retry", json={"name": "Retry", "control_share": 0.0}).status_code == 201
    code = None
    for cid in small_scorer().model.table.index[:60]:
        d = c.post("/coupons/issue", json={"customer_id": cid, "campaign": "retry"},
                   headers={"Idempotency-Key": f"issue-{cid}"})
        again = c.post("/coupons/issue", json={"customer_id": cid, "campaign": "retry"},
                       headers={"Idempotency-Key": f"issue-{cid}"})
        assert d.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == d.json()
        if d.json()["outcome"] == "issued":
            code, minimum = d.json()["code"], d.json()["min_spend"]
            break
    assert code, "no coupon issued to the first 60 customers"
    body = {"order_amount": max(minimum, 1.0) + 10}
    first = c.post(f"/coupons/{code}/redeem", json=body, headers={"Idempotency-Key": "redeem-1"})
    retry = c.post(f"/coupons/{code}/redeem", json=body, headers={"Idempotency-Key": "redeem-1"})
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    assert c.post(f"/coupons/{code}/redeem", json=body).status_code == 409        # without the key: a 2nd redeem
