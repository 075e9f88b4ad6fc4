"""Campaign lists (pipeline.campaign): selection, policy agreement, unique codes, learned policy, catalogue storage."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import fixtures

from pipeline import campaign as cm
from pipeline import coupons as cp
from pipeline.errors import DataError
from pipeline.exports import to_csv_bytes
from pipeline.store import Workspace


def scored(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A per-customer table shaped like ModelScorer.table (index customer_id)."""
    rng = np.random.default_rng(seed)
    churn = rng.uniform(0, 1, n)
    t = pd.DataFrame({
        "segment": rng.choice(["Champions", "At Risk", "Hibernating", "New Customers"], n),
        "churn_probability": churn, "risk_band": cp.risk_bands(churn),
        "avg_order_value": rng.uniform(10, 120, n), "expected_spend": rng.uniform(0, 300, n),
        "p_alive": rng.uniform(0.2, 1, n), "next_item": rng.choice(["Toys", "Kitchen", ""], n),
        "cluster": rng.integers(0, 3, n), "cluster_name": "c",
    }, index=pd.Index([f"C{i:03d}" for i in range(n)], name="customer_id"))
    t.loc["C000", ["segment", "risk_band", "churn_probability"]] = ["At Risk", "High", 0.9]
    return t


def test_selection_by_segment_cluster_band_and_ids():
    t = scored()
    assert set(cm.select_customers(t, segment="At Risk")["segment"]) == {"At Risk"}
    assert set(cm.select_customers(t, cluster=2)["cluster"]) == {2}
    assert set(cm.select_customers(t, band="High")["risk_band"]) == {"High"}
    both = cm.select_customers(t, segment="At Risk", band="High")
    assert ((both["segment"] == "At Risk") & (both["risk_band"] == "High")).all()
    assert list(cm.select_customers(t, customer_ids=["C001", "C002", "nobody"]).index) == ["C001", "C002"]
    assert len(cm.select_customers(t)) == len(t)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"segment": "Loyal"}, "no customers in segment 'Loyal'"),
    ({"cluster": 9}, "no customers in cluster 9"),
    ({"band": "Extreme"}, "not one of Low, Medium, High"),
    ({"customer_ids": ["nobody"]}, "no customers match"),
])
def test_bad_selection_is_explained(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        cm.select_customers(scored(), **kwargs)


def test_campaign_matches_the_policy_and_has_unique_codes():
    t = scored()
    out = cm.campaign_list(t, band="High", control_share=0.0)
    assert list(out.columns) == list(cm.CAMPAIGN_COLUMNS)
    chosen = t[t["risk_band"] == "High"]
    ref = cp.recommend_batch(pd.DataFrame({
        "customer_id": chosen.index, "segment": chosen["segment"].to_numpy(),
        "churn_probability": chosen["churn_probability"].to_numpy(), "order_value": chosen["avg_order_value"].to_numpy(),
        "expected_spend": chosen["expected_spend"].to_numpy(), "p_alive": chosen["p_alive"].to_numpy(),
        "next_category": chosen["next_item"].to_numpy()}))
    for col in ("coupon_id", "expected_value", "reason", "coupon_code"):
        assert out[col].tolist() == ref[col].tolist(), col
    issued = out[out["coupon_id"] != "none"]
    assert len(issued) and issued["coupon_code"].is_unique and (issued["coupon_code"] != "").all()
    assert (out.loc[out["coupon_id"] == "none", "coupon_code"] == "").all()
    assert out["reason"].str.len().gt(20).all()


def test_campaign_uses_the_given_catalogue():
    cat = pd.DataFrame({"id": ["none", "big"], "name": ["No coupon", "Big one"], "kind": ["none", "percent"],
                        "value": [0, 30], "eligible_risk_bands": ["*", "High"]})
    out = cm.campaign_list(scored(), cat, band="High", control_share=0.0)
    assert set(out["coupon_id"]) <= {"none", "big"} and (out["coupon_id"] == "big").any()


def test_campaign_export_is_formula_safe():
    t = scored().rename(index={"C000": "=HYPERLINK(\"http://x\")"})
    out = cm.campaign_list(t, customer_ids=[t.index[0]])
    text = to_csv_bytes(out).decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert pd.read_csv(io.StringIO(text))["customer_id"].iloc[0].startswith("'=")


def test_summary_adds_up():
    out = cm.campaign_list(scored())
    s = cm.campaign_summary(out)
    assert s["customers"].sum() == len(out) and s["share"].sum() == pytest.approx(1, abs=1e-3)
    assert s["total_expected_value"].sum() == pytest.approx(out["expected_value"].sum(), abs=0.05)


# ----------------------------------------------------------------------------------------------- learned policy

def responses(n: int = 400, seed: int = 1) -> pd.DataFrame:
    return fixtures.responses(n, seed, yes=1, no=0)


@pytest.fixture(scope="module")
def policy():
    return cp.fit_learned_policy(responses(), seed=0)


def test_learned_batch_equals_one_by_one(policy):
    people = responses(30, seed=7).drop(columns=["coupon", "accepted"])
    people.index = pd.Index([f"p{i}" for i in range(len(people))], name="customer_id")
    batch = cm.learned_batch(people, policy)
    for cid, row in people.iterrows():
        one = policy.recommend(row.to_dict())
        got = batch.set_index("customer_id").loc[cid]
        assert got["coupon_id"] == one["coupon"]
        assert got["expected_value"] == pytest.approx(one["expected_value"], abs=1e-4)
    assert batch["coupon_code"].is_unique


def test_customer_table_campaign_needs_a_learned_policy(policy):
    people = responses(20).drop(columns=["coupon", "accepted", "income"]).assign(cluster=0, cluster_name="all")
    people.index = pd.Index([f"p{i}" for i in range(len(people))], name="customer_id")
    with pytest.raises(DataError, match="learned policy"):
        cm.campaign_list(people, cluster=0)
    with pytest.raises(DataError, match="no RFM segments"):
        cm.campaign_list(people, segment="Champions", learned=policy)
    out = cm.campaign_list(people, cluster=0, learned=policy, values={"Dinner": 3.0}, control_share=0.0)
    assert set(out["coupon_id"]) <= {"Coffee", "Dinner"} and out["segment"].isna().all()
    assert "income not in the table" in out["reason"].iloc[0]
    assert (out["expected_value"] <= 3.0).all()


# ----------------------------------------------------------------------------------------------- catalogue storage

def test_workspace_catalogue_save_restore(tmp_path):
    ws = Workspace("w", tmp_path)
    cat, warn = cm.workspace_catalogue(ws)
    assert warn is None and cat.equals(cp.load_catalogue())
    mine = cat[cat["id"].isin(["none", "pct10"])].assign(value=lambda d: d["value"].where(d["id"] != "pct10", 15))
    cm.save_workspace_catalogue(ws, mine)
    again, _ = cm.workspace_catalogue(ws)
    assert again["id"].tolist() == ["none", "pct10"] and again["value"].tolist() == [0.0, 15.0]
    with pytest.raises(DataError, match="kind"):
        cm.save_workspace_catalogue(ws, mine.assign(kind="bogus"))
    assert cm.workspace_catalogue(ws)[0]["id"].tolist() == ["none", "pct10"]      # the bad one was not saved
    cm.reset_workspace_catalogue(ws)
    assert len(cm.workspace_catalogue(ws)[0]) == len(cp.load_catalogue())


def test_damaged_saved_catalogue_falls_back_with_a_warning(tmp_path):
    ws = Workspace("w", tmp_path)
    ws.write_json(cm.CATALOGUE_DOC, [{"id": "x", "name": "X", "kind": "percent", "value": 500}])
    cat, warn = cm.workspace_catalogue(ws)
    assert "not valid" in warn and len(cat) == len(cp.load_catalogue())


# ----------------------------------------------------------------------------------------------- CLI

@pytest.fixture(scope="module")
def tx_csv(tmp_path_factory):
    from pipeline.ingest import generate_raw

    path = tmp_path_factory.mktemp("cli") / "shop.csv"
    generate_raw(n_customers=300, seed=5).to_csv(path, index=False)
    return path


def _run(capsys, *argv):
    import json

    from pipeline.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_cli_profile_and_unknown_customer(tx_csv, capsys):
    code, card, _ = _run(capsys, "profile", tx_csv, "--customer", "10007", "--json")
    assert code == 0 and card["customer_id"] == "10007"
    for key in ("segment", "scores", "cluster", "churn_probability", "p_alive", "expected_orders", "expected_spend",
                "next_order_date", "coupon"):
        assert key in card, key
    hidden = card["facts"]["churn_probability"]["status"] == "hidden"   # no better than BG/NBD: null, withheld
    churn = card["withheld"]["churn_probability"] if hidden else card["churn_probability"]
    assert card["coupon"]["reason"] and 0 <= churn <= 1 and (card["churn_probability"] is None) == hidden
    code, _, err = _run(capsys, "profile", tx_csv, "--customer", "nobody")
    assert code == 2 and err.startswith("error: customer id 'nobody' is not in") and err.count("\n") == 1


def test_cli_campaign_csv_and_excel(tx_csv, tmp_path, capsys):
    code, summary, _ = _run(capsys, "campaign", tx_csv, "--band", "High", "--out", tmp_path / "c.csv")
    assert code == 0 and summary["customers"] > 0
    out = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig", dtype={"customer_id": str})
    assert list(out.columns) == list(cm.CAMPAIGN_COLUMNS) and (out["risk_band"] == "High").all()
    assert summary["coupons_issued"] == out["coupon_code"].notna().sum()
    code, _, _ = _run(capsys, "campaign", tx_csv, "--segment", "At Risk", "--out", tmp_path / "c.xlsx")
    assert code == 0 and (pd.read_excel(tmp_path / "c.xlsx")["segment"] == "At Risk").all()
    code, _, err = _run(capsys, "campaign", tx_csv, "--segment", "Nope", "--out", tmp_path / "x.csv")
    assert code == 2 and "no customers in segment 'Nope'" in err


def test_cli_coupons_check(tmp_path, capsys):
    code, out, _ = _run(capsys, "coupons-check", cp.DEFAULT_CATALOGUE)
    assert code == 0 and out["valid"] and out["coupons"] == len(cp.load_catalogue()) - 1
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,kind,value\na,A,percent,150\n")
    code, _, err = _run(capsys, "coupons-check", bad)
    assert code == 2 and "0 < value <= 100" in err


def test_cli_coupon_learn_and_recommend_eval(tx_csv, tmp_path, capsys):
    resp = tmp_path / "resp.csv"
    responses().to_csv(resp, index=False)
    code, out, _ = _run(capsys, "coupon-learn", resp, "--folds", "3", "--json")
    assert code == 0 and (out["target"], out["coupon_column"]) == ("accepted", "coupon")
    rows = {r["model"]: r for r in out["table"]}
    assert rows["Majority baseline"]["roc_auc"] == 0.5 and rows["One-hot + XGBoost"]["roc_auc"] > 0.7
    responses().drop(columns=["accepted"]).to_csv(resp, index=False)
    code, _, err = _run(capsys, "coupon-learn", resp)
    assert code == 2 and "no yes/no column" in err
    code, out, _ = _run(capsys, "recommend-eval", tx_csv, "--horizon", "90", "--json")
    methods = {r["method"] for r in out["table"]}
    assert code == 0 and {"Item-item cosine", "Top sellers", "Buy again (own most-bought)"} <= methods


def test_learned_policy_for_other_people_is_refused(policy):
    strangers = pd.DataFrame({"shoe_size": [40, 44]}, index=pd.Index(["a", "b"], name="customer_id"))
    with pytest.raises(DataError, match="none of the learned policy's inputs"):
        cm.learned_batch(strangers, policy)
