"""A real uvicorn process: kill -9 during a load of transactions and coupon issues, then restart -> every
acknowledged write is there and nothing was issued twice; then 100 concurrent issues over HTTP -> one code."""
from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from service_support import Server, make_key, small_dataset, small_scorer

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path):
    """(workspace folder, database URL, key, dataset id): the small dataset saved in a workspace with its scorer,
    which every start of the server loads (as it loads what the app fitted) instead of fitting it again."""
    from pipeline.customer.parts import ScoringSettings
    from pipeline.customer.scorer_store import save_scorer, scorer_fingerprint
    from pipeline.store import Workspace

    url = f"sqlite:///{tmp_path / 'service.db'}"
    key = make_key(url, "load", rate=1e6)
    ws = Workspace("ws", tmp_path)
    ds = ws.save_dataset(dataclasses.replace(small_dataset()))     # a copy: saving dates it
    fp = scorer_fingerprint(ws.dataset_content_hash(ds.id), ScoringSettings(), None, None, None)
    save_scorer(small_scorer().model, ws.scorer_dir(ds.id) / fp[:16], fp)     # the run's one fit of this data
    return ws.path, url, key, ds.id


def _issue(client, key, customer, campaign):
    return client.post("/coupons/issue", json={"customer_id": customer, "campaign": campaign},
                       headers={"Authorization": f"Bearer {key}"})


def test_kill9_during_load_then_restart(server_env):
    from service.core.db import make_engine, session_factory
    from service.models import Campaign, CouponDecision, Transaction

    tmp, url, key, dataset = server_env
    h = {"Authorization": f"Bearer {key}"}
    server = Server(dataset, tmp, url)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base, timeout=30) as c:
            assert c.put("/campaigns/crash", json={"name": "Crash", "control_share": 0.1, "max_coupons": 40},
                         headers=h).status_code == 201
        ids = small_scorer().model.table.index.tolist()
        acked_tx: list[int] = []
        acked_codes: dict[str, tuple[str, str | None]] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def worker(w: int) -> None:
            i = 0
            with httpx.Client(base_url=server.base, timeout=30) as c:
                while not stop.is_set():
                    i += 1
                    try:
                        if i % 2:
                            cid = f"new-{w}-{i}" if i % 3 == 0 else ids[(w * 97 + i) % len(ids)]
                            r = c.post(f"/customers/{cid}/transactions", headers=h, json={"transactions": [
                                {"date": "2024-12-20", "amount": 10 + i, "invoice_id": f"L{w}-{i}"}]})
                            if r.status_code == 201:
                                with lock:
                                    acked_tx.extend(r.json()["transaction_ids"])
                        else:
                            cid = ids[(w * 31 + i) % len(ids)]
                            r = _issue(c, key, cid, "crash")
                            if r.status_code == 200:
                                with lock:
                                    acked_codes[cid] = (r.json()["outcome"], r.json()["code"])
                    except httpx.HTTPError:
                        return                          # the server is gone

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(4.0)
        server.kill9()                                  # mid-load, no graceful shutdown
        stop.set()
        for t in threads:
            t.join(30)
        assert acked_tx and acked_codes, "the load produced no acknowledged writes before the kill"

        engine = make_engine(url)
        with session_factory(engine)() as s:
            stored = set(s.scalars(select(Transaction.id)))
            assert set(acked_tx) <= stored
            per_customer = s.execute(select(CouponDecision.customer_id, func.count())
                                     .group_by(CouponDecision.customer_id)).all()
            assert all(n == 1 for _, n in per_customer)
            issued = s.scalar(select(func.count()).where(CouponDecision.outcome == "issued"))
            camp = s.get(Campaign, "crash")
            assert camp.issued_count == issued <= 40
            assert _cards_behind(s) == []               # lines and card commit together: none behind
        engine.dispose()

        server = Server(dataset, tmp, url)                  # restart on the same database
        server.wait_ready()
        with httpx.Client(base_url=server.base, timeout=30) as c:
            for cid, (outcome, code) in acked_codes.items():
                again = _issue(c, key, cid, "crash").json()
                assert again["replayed"] and (again["outcome"], again["code"]) == (outcome, code)
            stats = c.get("/campaigns/crash", headers=h).json()
            assert stats["issued"] == issued and stats["decisions"] == len(per_customer)
            _hundred_concurrent_issues(c, key)
    finally:
        server.stop()


def _cards_behind(s) -> list:
    """Customers whose stored card was not built from exactly their stored lines (any dataset)."""
    from service.models import CustomerCard, Transaction

    n = select(Transaction.dataset, Transaction.customer_id, func.count().label("n")) \
        .group_by(Transaction.dataset, Transaction.customer_id).subquery()
    return s.execute(select(n.c.customer_id).outerjoin(
        CustomerCard, (CustomerCard.dataset == n.c.dataset) & (CustomerCard.customer_id == n.c.customer_id))
        .where(CustomerCard.line_count.is_(None) | (CustomerCard.line_count != n.c.n))).all()


def _hundred_concurrent_issues(c: httpx.Client, key: str) -> None:
    """100 simultaneous issues for one customer and campaign -> one answer, one code, budget of 1 held."""
    h = {"Authorization": f"Bearer {key}"}
    table = small_scorer().model.table
    assert c.put("/campaigns/rush", json={"name": "Rush", "control_share": 0, "max_coupons": 1},
                 headers=h).status_code == 201
    barrier = threading.Barrier(100)

    def one(i):
        barrier.wait()
        for attempt in range(200):                    # above capacity: a fast 503, retried as a client would
            r = _issue(c, key, table.index[5], "rush")
            if r.status_code != 503:
                return r.json()
            assert r.headers["Retry-After"] == "1"
            time.sleep(0.05 + 0.002 * ((i * 7 + attempt) % 50))
        raise AssertionError("still 503 after 200 tries")
    with ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(one, range(100)))
    assert len({(a["outcome"], a["code"]) for a in answers}) == 1
    assert sum(not a["replayed"] for a in answers) == 1
    others = [_issue(c, key, table.index[i], "rush").json() for i in range(6, 30)]
    issued = [a for a in answers[:1] + others if a["outcome"] == "issued"]
    assert len(issued) <= 1
    assert c.get("/campaigns/rush", headers=h).json()["issued"] == len(issued)
