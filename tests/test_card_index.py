"""The card index (pipeline.customer.index): every customer's card from the precomputed parts equals the card
composed on its own, and each batch rule (drivers, coupons, top items, next items) equals its one-customer form."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline import customer as pf
from pipeline.coupons import coupon_batch, prepare_catalogue, recommend_coupon
from pipeline.customer.index import coupon_inputs, top_items
from pipeline.ingest import generate_transactions
from pipeline.models import explain_row, explain_rows
from pipeline.store import Dataset


@pytest.fixture(scope="module")
def scorer() -> pf.ModelScorer:
    tx, ret = generate_transactions(n_customers=250, seed=11)
    return pf.build_scorer(Dataset("t250", "synthetic 250", "transactions", transactions=tx, returns=ret))


def _frames(p: pf.CustomerProfile) -> dict:
    return {k: getattr(p, k) for k in ("drivers", "top_categories", "top_products", "next_items", "candidates")}


def test_every_card_from_the_index_equals_the_card_composed_alone(scorer):
    assert scorer.index is not None and len(scorer.index.ids) == len(scorer.table)
    alone = dataclasses.replace(scorer, index=None)
    for cid in scorer.table.index:
        fast, slow = pf.customer_profile(scorer, cid), pf.customer_profile(alone, cid)
        assert fast.to_json() == slow.to_json(), cid
        for name, frame in _frames(fast).items():
            pd.testing.assert_frame_equal(frame, _frames(slow)[name], check_dtype=False, obj=f"{cid} {name}")
        assert fast.drivers.attrs == slow.drivers.attrs


def test_the_scorer_and_its_index_are_immutable(scorer):
    """No field of the scorer or its card index can be set, no cell of its table written; a rescored copy is new."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        scorer.index = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        scorer.index.stale = frozenset()
    with pytest.raises(dataclasses.FrozenInstanceError):
        scorer.history.as_of = None
    col = scorer.table.columns.get_loc("monetary")
    before = float(scorer.table.iloc[0, col])
    with pytest.raises(ValueError, match="read-only"):
        scorer.table.iloc[0, col] = before + 1.0
    cid = str(scorer.table.index[0])
    new = pd.DataFrame({"customer_id": [cid], "invoice_id": ["N9"], "date": [scorer.history.as_of],
                        "quantity": [1.0], "unit_price": [5.0], "amount": [5.0], "product_id": ["P1"],
                        "product_name": ["x"], "category": ["Garden"], "country": [None]})
    again = pf.rescore(scorer, cid, new)
    assert again.table.at[cid, "monetary"] == pytest.approx(before + 5.0) and scorer.table.iloc[0, col] == before
    assert again.decisions is scorer.decisions and again.recommender is scorer.recommender


def test_timeline_only_when_asked(scorer):
    cid = scorer.table.index[0]
    assert pf.customer_profile(scorer, cid, timeline=False).timeline.empty
    assert len(pf.customer_profile(scorer, cid).timeline) == scorer.table.loc[cid, "frequency"]


def test_rescored_customer_is_no_longer_read_from_the_index(scorer):
    cid = scorer.table.index[3]
    new = pd.DataFrame({"customer_id": [cid], "invoice_id": ["N1"], "date": [scorer.history.as_of],
                        "quantity": [1.0], "unit_price": [500.0], "amount": [500.0], "product_id": ["P1"],
                        "product_name": ["New thing"], "category": ["Garden"], "country": [None]})
    s2 = pf.rescore(scorer, cid, new)
    assert not s2.index.covers(cid) and s2.index.covers(scorer.table.index[4])
    card = pf.customer_profile(s2, cid)
    assert card.scores["monetary"] == pytest.approx(scorer.table.loc[cid, "monetary"] + 500.0)
    assert "Garden" in set(card.top_categories["category"])
    assert card.top_products["spend"].iloc[0] == pytest.approx(500.0)      # the new line tops their products


def test_top_items_by_hand():
    lines = pd.DataFrame({"customer_id": ["b", "a", "a", "a", "a", "b"],
                          "invoice_id": ["1", "2", "2", "3", "4", "5"],
                          "category": ["Toys", "Garden", "Toys", "Garden", "Books", None],
                          "amount": [5.0, 10.0, 30.0, 20.0, 30.0, 7.0]})
    out = top_items(lines, "category", 2)
    assert out.to_dict("records") == [
        {"customer_id": "a", "category": "Garden", "spend": 30.0, "lines": 2, "orders": 2},   # tie on spend and
        {"customer_id": "a", "category": "Books", "spend": 30.0, "lines": 1, "orders": 1},    # more lines first
        {"customer_id": "b", "category": "Toys", "spend": 5.0, "lines": 1, "orders": 1}]
    assert top_items(lines.assign(category=None), "category").empty


def test_explain_rows_equal_explain_row_for_each_row(scorer):
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    churn = scorer.decisions.churn
    X = churn._inputs(scorer.table.iloc[:25])
    rows = explain_rows(churn.pipeline, X, churn.reference, 1)
    for i in range(len(X)):
        one = explain_row(churn.pipeline, X.iloc[[i]], churn.reference, 1, top=len(rows.columns))
        got = rows.iloc[i][one["feature"]].to_numpy()
        np.testing.assert_array_equal(got, one["contribution"].to_numpy())
    y = np.array((scorer.table["churn_probability"].iloc[:25] > 0.5).astype(int))
    y[:2] = [0, 1]
    forest = Pipeline([("prep", clone(churn.pipeline.named_steps["prep"])),      # a copy: the scorer's stays
                       ("model", RandomForestClassifier(n_estimators=5, random_state=0))]).fit(X, y)
    occl = explain_rows(forest, X.iloc[:4], churn.reference, 1)
    assert occl.attrs["method"].startswith("occlusion")
    for i in range(4):
        one = explain_row(forest, X.iloc[[i]], churn.reference, 1, top=100).set_index("feature")["contribution"]
        np.testing.assert_allclose(occl.iloc[i][one.index].to_numpy(), one.to_numpy(), rtol=0, atol=1e-12)


def test_coupon_batch_row_equals_recommend_coupon(scorer):
    frame = coupon_inputs(scorer.table.iloc[:40], scorer.next_categories())
    cat = prepare_catalogue()
    batch = coupon_batch(frame, cat, scorer.coupons.policy)
    for i, row in frame.iterrows():
        one, many = recommend_coupon(row.to_dict(), None, scorer.coupons.policy), batch.recommendation(i)
        assert (one.coupon_id, one.reason, one.expected_value, one.risk_band) == \
            (many.coupon_id, many.reason, many.expected_value, many.risk_band)
        pd.testing.assert_frame_equal(one.candidates, many.candidates)


def test_next_items_table_equals_top_k(scorer):
    rec = scorer.recommender
    ids = list(scorer.table.index[:30])
    table = rec.top_k_table(ids, 3)
    for cid in ids:
        mine = table[table["customer_id"] == cid].drop(columns=["customer_id"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, rec.top_k(cid, 3))
    first = table.groupby("customer_id", sort=False)["item"].first()
    assert first.reindex(ids).tolist() == scorer.table.loc[ids, "next_item"].tolist()


# ----------------------------------------------------------------------------------------------- scoring fixes

def test_coupon_policy_reads_the_category_of_the_next_product(scorer):
    rec = scorer.recommender
    assert rec.item_col_ == "product_id"                            # the recommender recommends products
    cats = scorer.next_categories()
    categories = set(scorer.history.transactions["category"].dropna())
    assert set(cats) <= categories and (cats == rec.category_of(scorer.table["next_item"]).to_numpy()).all()
    cid = scorer.table.index[0]
    row = scorer.table.loc[cid]
    garden = prepare_catalogue(pd.DataFrame({"id": ["none", "cat"], "name": ["No", "Cat"], "kind": ["none", "category"],
                                             "value": [0, 15], "category": ["", cats[cid]]}))
    setup = pf.CouponSetup(garden.table, scorer.coupons.policy, prepared=garden)
    card = pf.customer_profile(scorer.with_coupons(setup), cid)
    used = scorer.decisions.facts.usable(scorer.table.loc[[cid]]).iloc[0]      # withheld predictions are not used
    expected = recommend_coupon({"customer_id": cid, "segment": row["segment"],
                                 "churn_probability": row["churn_probability"], "order_value": row["avg_order_value"],
                                 "expected_spend": used["expected_spend"], "p_alive": used["p_alive"],
                                 "next_category": cats[cid]}, garden, scorer.coupons.policy)
    pd.testing.assert_frame_equal(card.candidates, expected.candidates)
    mismatch = recommend_coupon({**dict(customer_id=cid, segment=row["segment"],
                                        churn_probability=row["churn_probability"],
                                        order_value=row["avg_order_value"]), "next_category": row["next_item"]},
                                garden, scorer.coupons.policy)
    assert card.candidates["extra_purchase_probability"].iloc[0] > \
        mismatch.candidates["extra_purchase_probability"].iloc[0]         # the category matches: 1.3 vs 0.5


def test_face_value_by_hand():
    from pipeline.coupons import face_value

    assert face_value("percent", 10, 30, 50.0) == 5.0                 # 10% of the larger of basket and min spend
    assert face_value("category", 20, 60, 50.0) == 12.0
    assert face_value("amount", 5, 40, 10.0) == 5.0 and face_value("free_shipping", 6, 20, 100.0) == 6.0


def _return(cid: str, day: pd.Timestamp, amount: float) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [cid], "invoice_id": ["R9"], "date": [day], "quantity": [1.0],
                         "unit_price": [amount], "amount": [amount], "product_id": [None], "product_name": [None],
                         "category": [None], "country": [None]})


def test_returns_count_in_the_rescored_return_rate(scorer):
    h = scorer.history
    cid = next(c for c in scorer.table.index if scorer.table.loc[c, "return_count"] == 0)
    row = scorer.table.loc[cid]
    later = h.as_of + pd.Timedelta(days=2)                        # after the data's end: moves the scoring day
    one = pf.rescore_one(scorer, cid, None, _return(cid, later, 25.0))
    new = one.table.loc[cid]
    assert new["return_count"] == 1
    assert new["return_rate"] == pytest.approx(25.0 / (row["monetary"] + 25.0))
    assert one.history.as_of == later.normalize() + pd.Timedelta(days=1)
    assert new["recency_days"] == row["recency_days"] + 3                   # scored three days later
    full = pf.rescore(scorer, cid, None, _return(cid, later, 25.0))
    assert full.table.loc[cid, "return_rate"] == pytest.approx(new["return_rate"])
    assert pf.customer_profile(one, cid).to_json() == pf.customer_profile(full, cid).to_json()
    with pytest.raises(Exception, match="only returns"):
        pf.rescore_one(scorer, "brand-new", None, _return("brand-new", later, 5.0))
