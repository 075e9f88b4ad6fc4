"""Campaigns with a control group, by hand: the split of six customers, totals, saved campaigns, and treated vs
control results with their intervals (pipeline.campaign), and the CLI 'campaign --control' / 'campaign-results'."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline import campaign as cm
from pipeline.cli import main
from pipeline.errors import DataError
from pipeline.exports import to_csv_bytes
from pipeline.store import Workspace

# Control points of campaign "winback" (first 8 bytes of sha256("winback\x1f<id>") / 2**64):
#   c1 0.9793  c2 0.1075  c3 0.5952  c4 0.6230  c5 0.0056  c6 0.4956
# share 0.2 holds out c2 and c5; share 0.1 only c5; share 0 nobody.
IDS = ["c1", "c2", "c3", "c4", "c5", "c6"]


def six() -> pd.DataFrame:
    """Six scored customers (index customer_id), all High risk At Risk customers worth a coupon."""
    return pd.DataFrame({
        "segment": "At Risk", "churn_probability": 0.8, "risk_band": "High", "avg_order_value": 50.0,
        "expected_spend": 100.0, "p_alive": 1.0, "next_item": "", "cluster": 0, "cluster_name": "all",
    }, index=pd.Index(IDS, name="customer_id"))


@pytest.mark.parametrize("share, control", [(0.2, ["c2", "c5"]), (0.1, ["c5"]), (0.0, [])])
def test_control_split_by_hand(share, control):
    out = cm.campaign_list(six(), campaign_id="winback", control_share=share, send_date="2024-03-01")
    assert out.loc[out["group"] == "control", "customer_id"].tolist() == control
    held = out[out["group"] == "control"]
    assert (held["coupon_id"] == "control").all() and (held["coupon_code"] == "").all()
    assert (held[["expected_value", "expected_cost", "incremental_revenue"]] == 0).all().all()
    treated = out[out["group"] == "treated"]
    assert (treated["coupon_code"] != "").all() and treated["coupon_code"].is_unique
    assert (out["campaign_id"] == "winback").all() and (out["send_date"] == "2024-03-01").all()
    # the treated customers get exactly what the policy gives them without a control group
    full = cm.campaign_list(six(), campaign_id="winback", control_share=0.0).set_index("customer_id")
    for col in ("coupon_id", "coupon_code", "expected_value", "expected_cost"):
        assert treated.set_index("customer_id")[col].equals(full.loc[treated["customer_id"], col]), col


def test_totals_add_up_and_exclude_the_control_group():
    out = cm.campaign_list(six(), campaign_id="winback", control_share=0.2)
    t = cm.campaign_totals(out, "GBP")
    treated = out[out["group"] == "treated"]
    assert (t.customers, t.treated, t.control, t.coupons_issued) == (6, 4, 2, 4)
    assert t.coupons_by_type == {treated["coupon_name"].iloc[0]: 4}
    assert t.expected_cost == pytest.approx(treated["expected_cost"].sum(), abs=0.01) and t.expected_cost > 0
    assert t.incremental_revenue == pytest.approx(treated["incremental_revenue"].sum(), abs=0.01)
    assert t.expected_value == pytest.approx(0.35 * t.incremental_revenue - t.expected_cost, abs=0.05)
    assert t.currency == "GBP" and t.to_dict()["coupons_by_type"] == t.coupons_by_type


def test_bad_share_is_explained():
    with pytest.raises(DataError, match="between 0 and 1"):
        cm.campaign_list(six(), control_share=1.5)


def test_saved_campaigns_round_trip(tmp_path):
    ws = Workspace("w", tmp_path)
    out = cm.campaign_list(six(), campaign_id="winback", control_share=0.2, send_date="2024-03-01")
    cid = cm.campaign_id_for("  Win back / spring! ")
    assert cid == "Win-back-spring"
    meta = cm.save_campaign(ws, cm.SavedCampaign(cid, "Win back", "ds1", "Segment: At Risk", 0.2, "2024-03-01",
                                                 "GBP", cm.campaign_totals(out).to_dict()), out)
    assert meta.created
    assert [m.id for m in cm.list_campaigns(ws, "ds1")] == [cid] and cm.list_campaigns(ws, "other") == []
    again, table = cm.load_campaign(ws, cid)
    assert again == meta and table.equals(out)
    cm.delete_campaign(ws, cid)
    assert cm.list_campaigns(ws) == []
    with pytest.raises(DataError, match="not saved"):
        cm.load_campaign(ws, cid)
    with pytest.raises(DataError, match="give the campaign a name"):
        cm.campaign_id_for(" !! ")


# ---- results -----------------------------------------------------------------------------------------------------
# Sent 2024-03-01, 30-day window [03-01, 03-31). Treated c1 c3 c4 c6, control c2 c5 (share 0.2 above).
#   c1 30 (03-05)   c3 10 + 10 (03-02, 03-20)   c4 10 (03-10)   c6 nothing in the window (50 before, 100 on 04-15)
#   c2 10 (03-15)   c5 nothing.   x9 is not in the list (ignored).
# treated: conversion 3/4 = 0.75, revenue 30 20 10 0 -> mean 15, variance 500/3
# control: conversion 1/2 = 0.50, revenue 10 0 -> mean 5, variance 50
# conversion difference 0.25; Wilson(3/4) = (0.300639, 0.954409), Wilson(1/2) = (0.094532, 0.905468);
#   Newcombe: 0.25 - sqrt(0.449361^2 + 0.405468^2) = -0.355251, 0.25 + sqrt(0.204409^2 + 0.405468^2) = 0.704078
# revenue difference 10; se^2 = (500/3)/4 + 50/2 = 66.6667; Welch df = 66.6667^2 / (41.6667^2/3 + 25^2/1) = 3.6923
# incremental revenue = 10 x 4 treated = 40. Coupons: 4 x free shipping (order of 20 or more, costs 4), expected cost
# 4 x 2.00 = 8 when issued; redeemed: only c1 has an order of 20+ in the window -> cost 4; net = 0.35 x 40 - 4 = 10
POST = [("c1", "2024-03-05", 30.0), ("c3", "2024-03-02", 10.0), ("c3", "2024-03-20", 10.0), ("c4", "2024-03-10", 10.0),
        ("c6", "2024-02-20", 50.0), ("c6", "2024-04-15", 100.0), ("c2", "2024-03-15", 10.0), ("x9", "2024-03-03", 40.0)]


def post_tx() -> pd.DataFrame:
    df = pd.DataFrame(POST, columns=["customer_id", "date", "amount"])
    return df.assign(date=pd.to_datetime(df["date"]), invoice_id=[f"i{i}" for i in range(len(df))])


def fixture_list() -> pd.DataFrame:
    out = cm.campaign_list(six(), campaign_id="winback", control_share=0.2, send_date="2024-03-01",
                           as_of="2024-03-01")
    return out.assign(expected_cost=np.where(out["group"] == "treated", 2.0, 0.0))


def test_results_by_hand():
    res = cm.campaign_results(fixture_list(), post_tx(), currency="GBP", min_group=2)
    g = res.groups.set_index("group")
    assert g.loc["treated", ["customers", "buyers"]].tolist() == [4, 3]
    assert g.loc["control", ["customers", "buyers"]].tolist() == [2, 1]
    assert g.loc["treated", "revenue"] == 60 and g.loc["control", "revenue"] == 10
    conv, rev = res.effects.set_index("metric").loc["conversion_rate"], res.effects.set_index("metric").loc[
        "revenue_per_customer"]
    assert (conv["treated"], conv["control"], conv["difference"]) == pytest.approx((0.75, 0.5, 0.25))
    assert conv["ci_low"] == pytest.approx(-0.355251, abs=1e-5) and conv["ci_high"] == pytest.approx(0.704078, abs=1e-5)
    assert "Newcombe" in conv["method"] and "Welch" in rev["method"]
    half = stats.t.ppf(0.975, 3.6923) * np.sqrt(200 / 3)
    assert (rev["treated"], rev["control"], rev["difference"]) == pytest.approx((15, 5, 10))
    assert rev["ci_low"] == pytest.approx(10 - half, abs=1e-3) and rev["ci_high"] == pytest.approx(10 + half, abs=1e-3)
    assert (res.incremental_revenue, res.issued_expected_cost, res.cost, res.net) == pytest.approx((40, 8, 4, 10))
    assert (res.coupons_issued, res.redeemed, res.redemption_source) == (4, 1, "purchases")
    assert str(res.send_date.date()) == "2024-03-01" and str(res.window_end.date()) == "2024-03-31"
    assert "75.0% against 50.0%" in res.summary and "not clearly different" in res.summary
    assert "£15.00 against £5.00 (+£10.00" in res.summary and "GBP" not in res.summary
    assert res.notes == [] and res.campaign_id == "winback"


def test_wilson_and_welch_edge_cases():
    lo, hi = cm.wilson_interval(0, 10)
    assert lo == pytest.approx(0, abs=1e-12) and 0 < hi < 0.35        # never below 0, unlike Wald's [0, 0]
    assert cm.welch_interval(np.array([5.0, 5.0]), np.array([5.0, 5.0])) == (0.0, 0.0, 0.0)


def test_results_explain_bad_input():
    lst = fixture_list()
    with pytest.raises(DataError, match="before the send date"):
        cm.campaign_results(lst, post_tx(), send_date="2025-01-01")
    with pytest.raises(DataError, match="at least 2 customers in each group"):
        cm.campaign_results(lst.assign(group="treated"), post_tx())
    with pytest.raises(DataError, match="no single send date"):
        cm.campaign_results(lst.assign(send_date=""), post_tx())
    with pytest.raises(DataError, match="treated or control"):
        cm.campaign_results(lst.assign(group="maybe"), post_tx())
    short = cm.campaign_results(lst, post_tx()[post_tx()["date"] < "2024-03-21"], min_group=2)
    assert short.status == "too_short" and "only 20 of the 30 days" in short.summary and short.groups.empty
    with pytest.raises(DataError, match="Unknown currency"):
        cm.campaign_results(lst, post_tx(), currency="pounds")


# ---- CLI ---------------------------------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _raw_tx(path, rows):
    pd.DataFrame([{"InvoiceNo": f"{i}", "CustomerID": c, "InvoiceDate": d, "Quantity": 1, "UnitPrice": a,
                   "StockCode": "A"} for i, (c, d, a) in enumerate(rows)]).to_csv(path, index=False)
    return path


def test_cli_campaign_results_by_hand(tmp_path, capsys):
    lst = tmp_path / "list.csv"
    lst.write_bytes(to_csv_bytes(fixture_list()))
    code, res, _ = _run(capsys, "campaign-results", lst, _raw_tx(tmp_path / "after.csv", POST), "--min-group", 2,
                        "--json")
    assert code == 0 and res["send_date"] == "2024-03-01" and res["campaign_id"] == "winback"
    assert res["status"] == "measured"
    conv = res["effects"][0]
    assert conv["difference"] == pytest.approx(0.25) and conv["ci_low"] == pytest.approx(-0.355251, abs=1e-5)
    assert (res["incremental_revenue"], res["issued_expected_cost"], res["cost"], res["net"]) == \
        pytest.approx((40, 8, 4, 10))
    code, res, _ = _run(capsys, "campaign-results", lst, tmp_path / "after.csv", "--json")    # 2 per group
    assert code == 0 and res["status"] == "too_short" and "Too few customers" in res["summary"]
    code, _, err = _run(capsys, "campaign-results", lst, tmp_path / "after.csv", "--sent", "2030-01-01")
    assert code == 2 and "before the send date" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    from pipeline.ingest import generate_raw

    path = tmp_path_factory.mktemp("cli") / "shop.csv"
    generate_raw(n_customers=300, seed=5).to_csv(path, index=False)
    return path


def test_cli_campaign_with_control_group(shop_csv, tmp_path, capsys):
    code, s, _ = _run(capsys, "campaign", shop_csv, "--band", "High", "--name", "Spring winback", "--control", "0.2",
                      "--currency", "EUR", "--out", tmp_path / "c.csv")
    assert code == 0 and s["campaign_id"] == "Spring-winback" and s["currency"] == "EUR"
    out = cm.read_campaign_list(tmp_path / "c.csv")
    assert s["customers"] == len(out) and s["control"] == (out["group"] == "control").sum() > 0
    assert out["group"].eq("control").tolist() == cm.control_mask(out["customer_id"], "Spring-winback", 0.2).tolist()
    assert s["coupons_issued"] == (out["coupon_code"] != "").sum() == sum(s["coupons_by_type"].values())
    assert s["expected_cost"] == pytest.approx(pd.to_numeric(out["expected_cost"]).sum(), abs=0.05)
    assert (out["send_date"] == s["send_date"]).all() and s["send_date"]
    code, _, err = _run(capsys, "campaign", shop_csv, "--control", "2", "--out", tmp_path / "x.csv")
    assert code == 2 and "between 0 and 1" in err


def test_cli_campaign_sent_in_the_past_takes_customers_as_of_that_day(shop_csv, tmp_path, capsys):
    """'campaign --sent' inside the data: the list is chosen from the purchases before the send date (its
    segments are those of rfm_table with that snapshot), says so in audience_as_of, and is measured after it."""
    from pipeline.ingest import build_dataset
    from pipeline.rfm import rfm_table

    tx = build_dataset(shop_csv, "shop.csv").transactions
    sent = str((tx["date"].max().normalize() - pd.Timedelta(days=90)).date())
    code, s, _ = _run(capsys, "campaign", shop_csv, "--segment", "Hibernating", "--name", "past", "--control", "0.3",
                      "--sent", sent, "--out", tmp_path / "past.csv")
    assert code == 0 and s["send_date"] == sent
    out = cm.read_campaign_list(tmp_path / "past.csv")
    assert (out["audience_as_of"] == sent).all()
    before = rfm_table(tx[tx["date"] < sent], snapshot=sent)
    assert set(out["customer_id"]) == set(before.loc[before["segment"] == "Hibernating", "customer_id"])
    code, res, _ = _run(capsys, "campaign-results", tmp_path / "past.csv", shop_csv, "--min-group", 2, "--json")
    assert code == 0 and res["status"] == "measured" and res["cost"] is not None
