"""A campaign sent on a day inside the data: its audience, groups and segments are as of the send date (purchases
before it), its results count purchases after it, its cost counts redeemed coupons only, and a follow-up too short
to judge gives "too short" instead of numbers (pipeline.campaign.asof / results). By hand on ten customers, and on
Online Retail against an independent pandas recomputation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline import campaign as cm
from pipeline.config import RFMConfig
from pipeline.customer.facts import Fact
from pipeline.grading import RecencyRule
from pipeline.errors import DataError

# Ten customers, send date 2024-03-01 (RFM snapshot = that day), data up to 2024-04-10.
# Before the send date: a1..a6 one order of 30 on 01-01 .. 01-06 (recency 60 .. 55 days), c1 c2 two orders (last
# 02-20, 02-22: recency 10, 8), d1 d2 three orders (last 02-26, 02-28: recency 4, 2).
#   R score = ceil(rank / 2) by recency: a1 a2 -> 1, a3 a4 -> 2, a5 a6 -> 3, c1 c2 -> 4, d1 d2 -> 5
#   F score: one order (average rank 3.5 of 10) -> 2, two orders (7.5) -> 4, three orders (9.5) -> 5
#   segments: a1..a4 Hibernating (R 1-2, F 2), a5 a6 About to Sleep (R 3, F 2), c1 c2 Loyal (R 4, F 4),
#             d1 d2 Champions (R 5, F 5)
# After it: a1 one order of 40 (two lines 25 + 15) on 03-05; a2 20 on 03-12 and 60 on 03-20; a3 50 on 04-05 (after
# the 30-day window [03-01, 03-31)); d2 10 on 04-10. At the end of the data (snapshot 04-11) a1..a3 are recent and
# Hibernating is a4 a5 a6, who never buy again: an audience taken there converts 0% by construction.
LINES = [
    ("a1", "1001", "2024-01-01", 30.0), ("a2", "1002", "2024-01-02", 30.0), ("a3", "1003", "2024-01-03", 30.0),
    ("a4", "1004", "2024-01-04", 30.0), ("a5", "1005", "2024-01-05", 30.0), ("a6", "1006", "2024-01-06", 30.0),
    ("c1", "1011", "2024-02-10", 50.0), ("c1", "1012", "2024-02-20", 50.0),
    ("c2", "1013", "2024-02-12", 50.0), ("c2", "1014", "2024-02-22", 50.0),
    ("d1", "1021", "2024-02-06", 80.0), ("d1", "1022", "2024-02-16", 80.0), ("d1", "1023", "2024-02-26", 80.0),
    ("d2", "1024", "2024-02-08", 80.0), ("d2", "1025", "2024-02-18", 80.0), ("d2", "1026", "2024-02-28", 80.0),
    ("a1", "2001", "2024-03-05", 25.0), ("a1", "2001", "2024-03-05", 15.0),
    ("a2", "2002", "2024-03-12", 20.0), ("a2", "2003", "2024-03-20", 60.0),
    ("a3", "2004", "2024-04-05", 50.0), ("d2", "2005", "2024-04-10", 10.0),
]
SENT = "2024-03-01"
# One coupon for everyone: 10% off an order of 30 or more, costing the discount given.
CATALOGUE = pd.DataFrame([
    {"id": "none", "name": "No coupon", "kind": "none", "value": 0, "min_spend": 0, "cost": "0",
     "eligible_segments": "*", "eligible_risk_bands": "*"},
    {"id": "pct10", "name": "10% off", "kind": "percent", "value": 10, "min_spend": 30, "cost": "10%",
     "eligible_segments": "*", "eligible_risk_bands": "*"}])
# Campaign "wake-up", control share 0.5: control points a1 0.321, a2 0.615, a3 0.920, a4 0.041
#   -> control a1 a4, treated a2 a3.


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    from pipeline.customer import CouponSetup, build_scorer
    from pipeline.ingest import build_dataset

    path = tmp_path_factory.mktemp("asof") / "shop.csv"
    pd.DataFrame([{"InvoiceNo": i, "CustomerID": c, "InvoiceDate": d, "Quantity": 1, "UnitPrice": a,
                   "StockCode": "P" + c[0]} for c, i, d, a in LINES]).to_csv(path, index=False)
    return build_scorer(build_dataset(path, "shop.csv"), coupons=CouponSetup.load(CATALOGUE))


def hibernating_list(scorer, share=0.5, name="wake-up"):
    aud = cm.campaign_audience(scorer, SENT)
    return cm.campaign_list(aud.table, scorer.coupons.catalogue, scorer.coupons.policy, segment="Hibernating",
                            campaign_id=name, control_share=share, send_date=SENT, as_of=aud.as_of_text)


def test_audience_is_the_segment_before_the_send_date(scorer):
    aud = cm.campaign_audience(scorer, SENT)
    assert str(aud.as_of.date()) == SENT
    seg = aud.table["segment"]
    assert sorted(seg[seg == "Hibernating"].index) == ["a1", "a2", "a3", "a4"]
    assert seg[["a5", "a6"]].eq("About to Sleep").all() and seg[["c1", "c2"]].eq("Loyal").all()
    assert seg[["d1", "d2"]].eq("Champions").all()
    assert aud.table.loc[["a1", "a4", "c1", "d2"], "recency_days"].tolist() == [60, 57, 10, 2]
    assert aud.table.loc[["a1", "c1", "d1"], "frequency"].tolist() == [1, 2, 3]
    assert (aud.table["monetary"] == aud.table.index.map({"c1": 100.0, "c2": 100.0, "d1": 240.0, "d2": 240.0})
            .fillna(30.0)).all()                                                        # nothing after 03-01 counted
    # the end-of-data table (what the page used before) names other customers: those who never bought again
    end = scorer.table["segment"]
    assert sorted(end[end == "Hibernating"].index) == ["a4", "a5", "a6"]
    # a send date after the data: the end-of-data table is the latest known
    assert cm.campaign_audience(scorer, "2030-01-01").table["segment"].equals(scorer.table["segment"])
    with pytest.raises(DataError, match="no purchases before the send date"):
        cm.campaign_audience(scorer, "2023-06-01")


def test_results_by_hand_send_date_inside_the_data(scorer):
    lst = hibernating_list(scorer)
    assert lst.set_index("customer_id")["group"].to_dict() == {"a1": "control", "a2": "treated", "a3": "treated",
                                                               "a4": "control"}
    assert (lst["audience_as_of"] == SENT).all() and (lst["send_date"] == SENT).all()
    treated = lst[lst["group"] == "treated"]
    assert (treated["coupon_id"] == "pct10").all() and treated["coupon_code"].ne("").all()
    res = cm.campaign_results(lst, scorer.history.transactions, catalogue=scorer.coupons.catalogue, min_group=2,
                              currency="GBP")
    assert res.status == "measured" and res.measured
    g = res.groups.set_index("group")
    # treated: a2 bought 20 + 60 in the window, a3 only after it -> 1 of 2, revenue 80, 40 per customer
    # control: a1 bought 40, a4 nothing -> 1 of 2, revenue 40, 20 per customer
    assert g.loc["treated", ["customers", "buyers", "revenue"]].tolist() == [2, 1, 80]
    assert g.loc["control", ["customers", "buyers", "revenue"]].tolist() == [2, 1, 40]
    assert res.effects.set_index("metric").loc["revenue_per_customer", "difference"] == pytest.approx(20)
    # cost: a2 redeems on the 60 order (the 20 one is below the minimum spend of 30): 10% x 60 = 6.00;
    # a3's coupon is not redeemed (no order in the window). Issued: 2 coupons, their expected cost apart.
    assert (res.coupons_issued, res.redeemed, res.cost, res.redemption_source) == (2, 1, 6.0, "purchases")
    assert res.issued_expected_cost == pytest.approx(treated["expected_cost"].sum(), abs=0.01)
    assert (res.incremental_revenue, res.net) == pytest.approx((40.0, 0.35 * 40 - 6.0))
    assert "£40.00 against £20.00 (+£20.00" in res.summary and "GBP" not in res.summary
    assert res.notes == []
    tx = scorer.history.transactions
    red, _, _ = cm.redeemed_coupons(lst, tx[tx["date"] >= SENT], scorer.coupons.catalogue)     # no window end
    assert red[["customer_id", "order_value", "cost"]].values.tolist() == [["a2", 60.0, 6.0], ["a3", 50.0, 5.0]]


def test_cost_counts_only_redeemed_coupons(scorer):
    lst = hibernating_list(scorer)
    tx = scorer.history.transactions
    nobody = tx[~((tx["date"] >= SENT) & tx["customer_id"].isin(["a2", "a3"]))]      # treated never buy again
    res = cm.campaign_results(lst, nobody, catalogue=CATALOGUE, min_group=2, currency="GBP")
    assert (res.redeemed, res.cost) == (0, 0.0) and res.issued_expected_cost > 0      # issued, not a cost
    # a redemption record decides instead of purchases: a3's code redeemed on an order of 50 -> 5.00
    code = lst.set_index("customer_id").at["a3", "coupon_code"]
    rec = cm.campaign_results(lst, tx, catalogue=CATALOGUE, min_group=2,
                              redemptions=pd.DataFrame({"coupon_code": [code], "order_value": [50.0]}))
    assert (rec.redeemed, rec.cost, rec.redemption_source) == (1, 5.0, "record")


def test_too_short_follow_up_says_so_instead_of_numbers(scorer):
    lst = hibernating_list(scorer)
    tx = scorer.history.transactions
    short = cm.campaign_results(lst, tx[tx["date"] < "2024-03-13"], catalogue=CATALOGUE, min_group=2)
    assert short.status == "too_short" and not short.measured
    assert short.groups.empty and short.effects.empty
    assert (short.cost, short.net, short.incremental_revenue, short.redeemed) == (None, None, None, None)
    assert "only 12 of the 30 days" in short.summary and "2024-03-30" in short.summary
    assert short.to_dict()["status"] == "too_short"
    few = cm.campaign_results(lst, tx, catalogue=CATALOGUE)                     # 2 + 2 customers < MIN_GROUP
    assert few.status == "too_short" and "Too few customers" in few.summary and few.groups.empty


def test_a_list_chosen_after_the_send_date_is_refused(scorer):
    end_of_data = cm.campaign_list(scorer.table, CATALOGUE, segment="Hibernating", campaign_id="wake-up",
                                   control_share=0.5, send_date=SENT,
                                   as_of=str(scorer.history.as_of.date()))
    with pytest.raises(DataError, match="after the send date 2024-03-01"):
        cm.campaign_results(end_of_data, scorer.history.transactions, min_group=2)
    old = hibernating_list(scorer).drop(columns=["audience_as_of"])              # saved before the column existed
    res = cm.campaign_results(old, scorer.history.transactions, catalogue=CATALOGUE, min_group=2)
    assert any("does not record the day its audience" in n for n in res.notes)


def test_no_buyers_blames_ids_only_when_they_are_unknown(scorer):
    lst = hibernating_list(scorer)
    tx = scorer.history.transactions
    quiet = cm.campaign_results(lst, tx[~((tx["date"] >= SENT) & tx["customer_id"].str.startswith("a"))],
                                catalogue=CATALOGUE, min_group=2)
    assert quiet.notes == ["None of the 4 listed customers bought in the window."]
    alien = tx.assign(customer_id="z" + tx["customer_id"])
    res = cm.campaign_results(lst, alien, catalogue=CATALOGUE, min_group=2)
    assert any("same customer ids" in n for n in res.notes)


def test_withheld_churn_model_is_not_used_for_churn_bands(scorer):
    """Churn withheld on a dataset: the audience's churn risk (as of the send date) is the rule that held up, read
    from the dataset's one decision, and the audience says so; a model that held up is used."""
    class Model:
        metrics = {"roc_auc": 0.48}
        description = "a model"
        features = ["recency_days"]

        def probability(self, X):
            return np.full(len(X), 0.99)

    from pipeline.customer import facts

    h = scorer.settings.horizon_days
    note = "Not shown: no better than the recency rule (ROC AUC 0.48 vs 0.70)."
    rule = RecencyRule(np.array([0.0, 100.0]), np.array([0.1, 0.9]))        # 0.1 + 0.008 x recency days
    risk = facts.ChurnRisk("recency", Fact("hidden", note), h, None, rule, {"model": 0.48, "recency": 0.70}, "a model")
    withheld = dataclasses.replace(scorer, decisions=dataclasses.replace(scorer.decisions, churn=Model(), risk=risk))
    aud = cm.campaign_audience(withheld, SENT)
    # as of the send date: a1 last bought 60 days before it (0.58), d2 2 days (0.116); not the model's 0.99
    assert aud.table.loc[["a1", "d2"], "churn_probability"].tolist() == pytest.approx([0.58, 0.116])
    assert (aud.table["churn_source"] == "recency").all()
    assert any("the recency rule" in n and "withheld" in n and note in n for n in aud.notes)
    lst = cm.campaign_list(aud.table, CATALOGUE, band="Medium", campaign_id="wake-up", send_date=SENT,
                           as_of=aud.as_of_text)
    assert set(lst["customer_id"]) == {"a1", "a2", "a3", "a4", "a5", "a6"}          # 0.54 .. 0.58: Medium
    assert lst.loc[lst["group"] == "treated", "reason"].str.contains("by the recency rule").all()
    shown = dataclasses.replace(withheld, decisions=dataclasses.replace(
        withheld.decisions, risk=facts.ChurnRisk("model", Fact("shown", ""), h, Model())))
    aud = cm.campaign_audience(shown, SENT)
    assert (aud.table["churn_probability"] == 0.99).all() and not any("Churn bands" in n for n in aud.notes)


def test_withheld_spend_and_p_alive_are_not_used_by_campaign_coupons(scorer):
    """Expected spend and P(alive) withheld: the list's coupons are those of the spend of the 90 days before the
    send date and no P(alive), the list shows no expected spend, and the audience says so."""
    hidden = Fact("hidden", "Not shown.")
    facts = dataclasses.replace(scorer.decisions.facts,
                                facts={**scorer.decisions.facts.facts, "expected_spend": hidden, "p_alive": hidden})
    decided = dataclasses.replace(scorer.decisions, facts=facts)
    aud = cm.campaign_audience(dataclasses.replace(scorer, decisions=decided), SENT)
    assert any("Expected spend is withheld" in n for n in aud.notes) and any("P(alive)" in n for n in aud.notes)
    kw = dict(campaign_id="wake-up", control_share=0.0, send_date=SENT, as_of=aud.as_of_text)
    lst = cm.campaign_list(aud.table, CATALOGUE, facts=facts, **kw)
    by_rule = cm.campaign_list(aud.table.assign(expected_spend=aud.table["spend_90d"], p_alive=1.0), CATALOGUE, **kw)
    assert lst["coupon_id"].tolist() == by_rule["coupon_id"].tolist()
    assert lst["expected_value"].tolist() == by_rule["expected_value"].tolist()
    assert lst["expected_spend"].isna().all()


# ---- Online Retail, sent 2011-09-01 --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def online_retail():
    from pipeline.customer import build_scorer
    from pipeline.ingest import build_dataset

    ds = build_dataset(dataset("online_retail.csv"), "online_retail.csv")
    return build_scorer(ds)


def _segments_by_pandas(tx: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """RFM segments as of ``day`` recomputed here with pandas: recency, distinct invoices, quantile scores, rules."""
    before = tx[tx["date"] < day]
    per = before.groupby(before["customer_id"].astype(str)).agg(last=("date", "max"), f=("invoice_id", "nunique"))
    recency = (day - per["last"].dt.normalize()).dt.days
    r = np.ceil((-recency).rank(method="average", pct=True) * 5).clip(1, 5)
    f = np.ceil(per["f"].rank(method="average", pct=True) * 5).clip(1, 5)
    rules = pd.read_csv(RFMConfig().segments_file)
    out = pd.Series("Unassigned", index=per.index, dtype=object)
    for rule in rules[::-1].itertuples():                                   # first matching rule wins
        out[r.between(rule.r_min, rule.r_max) & f.between(rule.f_min, rule.f_max)] = rule.segment
    return out


@pytest.mark.slow
def test_online_retail_sent_2011_09_01_matches_pandas(online_retail):
    sc, sent = online_retail, "2011-09-01"
    day = pd.Timestamp(sent)
    tx = sc.history.transactions
    aud = cm.campaign_audience(sc, sent)
    by_pandas = _segments_by_pandas(tx, day)
    assert aud.table["segment"].sort_index().equals(by_pandas.sort_index().rename("segment"))
    lst = cm.campaign_list(aud.table, sc.coupons.catalogue, sc.coupons.policy, segment="At Risk",
                           campaign_id="or-autumn", control_share=0.3, send_date=sent, as_of=aud.as_of_text)
    assert set(lst["customer_id"]) == set(by_pandas[by_pandas == "At Risk"].index)
    res = cm.campaign_results(lst, tx, currency="GBP", catalogue=sc.coupons.catalogue)
    assert res.status == "measured"
    # independent recomputation of the groups from the lines dated in [2011-09-01, 2011-10-01)
    window = tx[(tx["date"] >= day) & (tx["date"] < day + pd.Timedelta(days=30))]
    spend = window.groupby(window["customer_id"].astype(str))["amount"].sum()
    groups = lst.set_index("customer_id")["group"]
    g = res.groups.set_index("group")
    for name in ("treated", "control"):
        ids = groups[groups == name].index
        bought = spend.reindex(ids).dropna()
        assert g.loc[name, "customers"] == len(ids)
        assert g.loc[name, "buyers"] == len(bought) > 0                                   # non-degenerate
        assert g.loc[name, "revenue"] == pytest.approx(bought.sum(), abs=0.01)
    # redeemed cost: each treated holder's first order in the window reaching the coupon's minimum spend
    cat = sc.coupons.catalogue.set_index("id")
    orders = window.groupby([window["customer_id"].astype(str), "invoice_id"]).agg(date=("date", "min"),
                                                                                   value=("amount", "sum"))
    orders = orders.reset_index().sort_values(["date", "invoice_id"])
    cost, n = 0.0, 0
    for row in lst[(lst["group"] == "treated") & (lst["coupon_code"] != "")].itertuples():
        c = cat.loc[row.coupon_id]
        mine = orders[(orders["customer_id"] == row.customer_id) & (orders["value"] >= float(c["min_spend"]))]
        if len(mine):
            v, spec = mine["value"].iloc[0], str(c["cost"])
            cost += round(float(spec[:-1]) / 100 * v if spec.endswith("%") else
                          (float(spec) if spec else (c["value"] / 100 * v if c["kind"] in ("percent", "category")
                                                     else c["value"])), 2)
            n += 1
    assert (res.redeemed, res.cost) == (n, pytest.approx(cost, abs=0.05)) and 0 < n < res.coupons_issued
    assert res.summary.count("£") >= 2 and "GBP" not in res.summary


def test_as_of_the_end_of_the_data_is_the_scorers_own_table(scorer):
    """The as-of recomputation is the scorer's: taken at the end of the data it gives the card's segments, churn
    columns and clusters exactly (one owner per figure, no second RFM)."""
    from pipeline.campaign.asof import _as_of

    end = scorer.history.as_of
    mine = _as_of(scorer, end, scorer.churn_risk, [], None)
    theirs = scorer.table.reindex(mine.index)
    for col in ("segment", "recency_days", "frequency", "monetary", "risk_band", "cluster", "cluster_name"):
        assert mine[col].astype(str).tolist() == theirs[col].astype(str).tolist(), col
    assert np.allclose(mine["churn_probability"], theirs["churn_probability"])
    assert len(mine) == len(scorer.table)
