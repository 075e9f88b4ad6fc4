"""The database owns correctness: versioned schema, one decision per customer and campaign, a budget that holds
under 100 concurrent requests, redeem once, newer cards win. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, inspect, select

from service.core.db import make_engine, session_factory
from service.migrations import current_version, upgrade
from service.models import Base, Campaign, CouponDecision
from service_support import database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    with database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine, session_factory(engine)
        engine.dispose()


def test_migrations_are_versioned_idempotent_and_match_the_models(db):
    engine, _ = db
    assert current_version(engine) == 2 and upgrade(engine) == 2
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        got = {c["name"]: c["nullable"] for c in insp.get_columns(table.name)}
        want = {c.name: c.nullable for c in table.columns}
        assert got == want, table.name
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("coupon_decisions")}
    assert ("campaign_id", "customer_id") in uniques


def test_concurrent_upgrades_apply_each_migration_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engines = [make_engine(url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(upgrade, engines)) == [2, 2, 2, 2]
    with engines[0].connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == 2
    for e in engines:
        e.dispose()


def _campaign(factory, cid="c1", max_coupons=None, max_value=None, control_share=0.0):
    from service.coupons import save_campaign

    camp, _ = save_campaign(factory, cid, "ds", "C", control_share, max_coupons, max_value, {})
    return camp


def _plan(value=5.0):
    from service.coupons import Plan

    return Plan("treatment", "issued", "test", "pct10", "10% off", value, 0.0, 1.0)


def _parallel(n, fn):
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_100_concurrent_issues_for_one_customer_give_one_code(db):
    from service.coupons import record_decision

    _, factory = db
    camp = _campaign(factory, max_coupons=50)
    results = _parallel(100, lambda i: record_decision(factory, camp, "cust-1", _plan()))
    codes = {d.code for d, _ in results}
    assert len(codes) == 1 and None not in codes
    assert sum(not replayed for _, replayed in results) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CouponDecision)) == 1
        assert s.get(Campaign, "c1").issued_count == 1


@pytest.mark.parametrize("limit", [{"max_coupons": 7}, {"max_value": 33.0}])
def test_budget_never_exceeded_under_100_concurrent_customers(db, limit):
    from service.coupons import record_decision

    _, factory = db
    camp = _campaign(factory, **limit)
    results = _parallel(100, lambda i: record_decision(factory, camp, f"cust-{i}", _plan(5.0)))
    issued = [d for d, _ in results if d.outcome == "issued"]
    expected = 7 if "max_coupons" in limit else 6            # 6 x 5.00 <= 33 < 7 x 5.00
    assert len(issued) == expected and len({d.code for d in issued}) == expected
    assert all("budget used up" in d.reason for d, _ in results if d.outcome != "issued")
    with factory() as s:
        c = s.get(Campaign, "c1")
        assert c.issued_count == expected and c.issued_value == pytest.approx(expected * 5.0)


def test_redeem_once_under_concurrency(db):
    from service.coupons import Conflict, record_decision, redeem

    _, factory = db
    camp = _campaign(factory)
    code = record_decision(factory, camp, "cust-1", _plan())[0].code

    def attempt(i):
        try:
            redeem(factory, code, 100.0)
            return "ok"
        except Conflict:
            return "conflict"
    assert sorted(_parallel(20, attempt)) == ["conflict"] * 19 + ["ok"]


def _summary(rows: list[dict]) -> dict:
    """A card stand-in: a pure function of the lines it was built from."""
    return {"n": len(rows), "total": round(sum(r["amount"] for r in rows), 2)}


def _purchase(amount: float, invoice: str | None = None, line_no: int | None = None) -> dict:
    from datetime import datetime

    return {"date": datetime(2024, 5, 1, 12), "amount": amount, "quantity": None, "unit_price": None,
            "invoice_id": invoice or "API-20240501", "product_id": None, "line_no": line_no}


def test_concurrent_purchases_for_one_customer_leave_no_stale_card(db):
    """20 purchases for one customer at once: the stored card is built from exactly the committed lines."""
    from service.transactions import behind, card_state, write_purchases

    _, factory = db
    for rnd in range(3):
        _parallel(20, lambda i, c=f"c{rnd}": write_purchases(factory, "ds", c, [_purchase(1.0 + i)], _summary))
        with factory() as s:
            card, built_from, n = card_state(s, "ds", f"c{rnd}")
            assert n == built_from == 20 and card == {"n": 20, "total": sum(1.0 + i for i in range(20))}
            assert behind(s, "ds") == []


def test_card_behind_its_lines_is_found_and_rebuilt(db):
    from sqlalchemy import update

    from service.models import CustomerCard
    from service.transactions import behind, card_state, rebuild, write_purchases

    _, factory = db
    write_purchases(factory, "ds", "a", [_purchase(5.0)], _summary)
    write_purchases(factory, "ds", "b", [_purchase(7.0)], _summary)
    with factory() as s:                                     # a card written before line counts existed
        s.execute(update(CustomerCard).where(CustomerCard.customer_id == "b").values(line_count=None))
        s.commit()
        assert behind(s, "ds") == ["b"]
    assert rebuild(factory, "ds", "b", _summary) == {"n": 1, "total": 7.0}
    with factory() as s:
        assert behind(s, "ds") == [] and card_state(s, "ds", "b")[1:] == (1, 1)


def test_invoice_line_is_stored_once(db):
    import pytest

    from service.transactions import LineConflict, write_purchases

    _, factory = db
    first, _ = write_purchases(factory, "ds", "c", [_purchase(3.0, "INV1", 1), _purchase(4.0, "INV1", 2)], _summary)
    again, _ = write_purchases(factory, "ds", "c", [_purchase(3.0, "INV1", 1), _purchase(4.0, "INV1", 2)], _summary)
    assert len(first.ids) == 2 and again.ids == [] and again.skipped == 2 and again.card == {"n": 2, "total": 7.0}
    more, _ = write_purchases(factory, "ds", "c", [_purchase(3.0, "INV1", 1), _purchase(9.0, "INV1", 3)], _summary)
    assert len(more.ids) == 1 and more.skipped == 1 and more.card == {"n": 3, "total": 16.0}
    with pytest.raises(LineConflict):                        # same invoice line, another amount
        write_purchases(factory, "ds", "c", [_purchase(3.5, "INV1", 1)], _summary)


def test_idempotency_key_stores_once_and_refuses_another_body(db):
    import pytest

    from service.idempotency import IdempotentRequest, KeyReused
    from service.transactions import card_state, write_purchases

    _, factory = db
    idem = IdempotentRequest.of(1, "k-1", "POST", "/customers/c/transactions", {"a": 1})
    answers = _parallel(10, lambda i: write_purchases(factory, "ds", "c", [_purchase(2.0)], _summary, idem,
                                                       lambda w: {"ids": w.ids}))
    fresh = [w for w, stored in answers if w is not None]
    replays = [stored for w, stored in answers if stored is not None]
    assert len(fresh) == 1 and len(replays) == 9 and all(r["body"] == {"ids": fresh[0].ids} for r in replays)
    with factory() as s:
        assert card_state(s, "ds", "c")[1:] == (1, 1)
    other = IdempotentRequest.of(1, "k-1", "POST", "/customers/c/transactions", {"a": 2})
    with pytest.raises(KeyReused):
        write_purchases(factory, "ds", "c", [_purchase(2.0)], _summary, other)
