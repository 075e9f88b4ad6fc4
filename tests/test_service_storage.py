"""The database owns correctness: versioned schema, one decision per customer and campaign, a budget that holds
under 100 concurrent requests, redeem once, newer cards win. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from pipeline.dbschema import apply
from pipeline.health.predictions import MIGRATIONS as LOG_MIGRATIONS
from service.core.db import make_engine, session_factory
from service.migrations import MIGRATIONS, current_version, upgrade
from service.models import Base, Campaign, CouponDecision, SchemaVersion
from service_support import database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    with database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine, session_factory(engine)
        engine.dispose()


LATEST = MIGRATIONS[-1][0]
DATA = Path(__file__).parent / "data"


def _declared() -> list:
    """Every table the service's database holds: the models and the prediction log (created by the migrations)."""
    from pipeline.health.predictions import _md as log_tables

    return Base.metadata.sorted_tables + log_tables.sorted_tables


def _assert_schema_is_the_declared_one(engine) -> None:
    insp = inspect(engine)
    assert set(insp.get_table_names()) == {t.name for t in _declared()}
    for table in _declared():
        got = {c["name"]: c["nullable"] for c in insp.get_columns(table.name)}
        want = {c.name: c.nullable for c in table.columns}
        assert got == want, table.name
        indexes = [i for i in insp.get_indexes(table.name) if "duplicates_constraint" not in i]   # PG: UNIQUE
        assert {i["name"]: bool(i["unique"]) for i in indexes} == \
            {i.name: bool(i.unique) for i in table.indexes}, table.name
        fks = [(f["constrained_columns"], f["referred_table"]) for f in insp.get_foreign_keys(table.name)]
        assert fks == [([fk.parent.name], fk.column.table.name) for fk in table.foreign_keys], table.name
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("coupon_decisions")}
    assert ("campaign_id", "customer_id") in uniques


def test_migrations_are_versioned_idempotent_and_match_the_models(db):
    engine, _ = db
    assert current_version(engine) == LATEST and upgrade(engine) == LATEST
    _assert_schema_is_the_declared_one(engine)
    with engine.connect() as conn:                           # the prediction log is migrated with the service
        assert conn.exec_driver_sql("SELECT max(version) FROM health_predictions_schema").scalar() == \
            LOG_MIGRATIONS[-1][0]


@pytest.mark.parametrize("release", [1, 2])
def test_database_of_an_earlier_release_upgrades_to_the_models(tmp_path, release):
    """``tests/data/service_v<N>.sql``: a SQLite database written by the release whose schema was version N (with
    lines sent without an invoice, then named ``API-YYYYMMDD``), dumped as SQL. Migration N alone, run on an empty
    database, gives the same schema (the first migrations derive their DDL from today's models); upgrading the old
    file gives the models' schema, keeps every row, moves the invoice-less lines into the pipeline's day orders and
    marks their customers' cards for a rebuild."""
    def schema(engine) -> dict:
        insp = inspect(engine)
        return {t: ([(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns(t)],
                    sorted(map(repr, insp.get_indexes(t) + insp.get_unique_constraints(t) + insp.get_foreign_keys(t))),
                    insp.get_pk_constraint(t)) for t in insp.get_table_names() if not t.startswith("health_")}

    old_url, fresh_url = tmp_path / "old.db", tmp_path / "fresh.db"
    with sqlite3.connect(old_url) as con:
        con.executescript((DATA / f"service_v{release}.sql").read_text())
    old, fresh = make_engine(f"sqlite:///{old_url}"), make_engine(f"sqlite:///{fresh_url}")
    with fresh.begin() as conn:
        apply(conn, SchemaVersion.__table__, MIGRATIONS[:release])
    assert current_version(old) == release and schema(old) == schema(fresh)

    assert upgrade(old) == LATEST and current_version(old) == LATEST
    _assert_schema_is_the_declared_one(old)
    with old.connect() as conn:
        lines = conn.execute(text("SELECT id, customer_id, invoice_id FROM transactions ORDER BY id")).all()
        cards = dict(conn.execute(text("SELECT customer_id, line_count FROM customer_cards")).all())
        logged = conn.execute(text("SELECT customer_id, churn_source FROM health_predictions")).all()
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar() == 1
    assert [tuple(r) for r in lines] == [(1, "c1", "c1|2024-05-01"), (2, "c1", "c1|2024-05-01"), (3, "c1", "INV9"),
                                         (4, "c2", "c2|2024-05-03")]
    assert cards == {"c1": None, "c2": None}                 # behind their lines: rebuilt at start-up
    with session_factory(old)() as s:
        from service.transactions import behind

        assert behind(s, "ds") == ["c1", "c2"]
    assert [tuple(r) for r in logged] == ([("c1", None)] if release == 1 else [])
    old.dispose()
    fresh.dispose()


def test_concurrent_upgrades_apply_each_migration_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engines = [make_engine(url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(upgrade, engines)) == [LATEST] * 4
    with engines[0].connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == LATEST
    for e in engines:
        e.dispose()


def test_workers_starting_together_on_postgresql_migrate_once(tmp_path):
    """Eight processes' worth of engines upgrade one empty PostgreSQL schema at the same moment: one applies each
    migration (the service's and the prediction log's), the others wait on the schema lock and find them done."""
    with database("postgresql", tmp_path) as url:
        engines = [make_engine(url) for _ in range(8)]
        assert _parallel(8, lambda i: upgrade(engines[i])) == [LATEST] * 8
        with engines[0].connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == LATEST
            assert conn.exec_driver_sql("SELECT count(*) FROM health_predictions_schema").scalar() == \
                len(LOG_MIGRATIONS)
        _assert_schema_is_the_declared_one(engines[0])
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
            "invoice_id": invoice or "c|2024-05-01", "product_id": None, "line_no": line_no}


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
