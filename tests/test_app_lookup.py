"""AppTest: the Customer lookup page through the real router (card, what-if, unknown ids, campaign export,
coupon catalogue, learned coupon policy, customer tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline.store import Workspace

PAGE = "pages/lookup.py"


def _sample(at):
    at.button(key="sample_synthetic").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    return at


def _mall(at):
    at.file_uploader(key="uploader").upload("Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes(), "text/csv")
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    return at


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_needs_data_first(at):
    at.switch_page(PAGE).run()
    assert not at.exception and "No data yet" in at.info[0].value


@pytest.mark.slow
def test_card_and_what_if_on_the_sample(at):
    _sample(at)
    ids = at.selectbox(key="lookup_customer").options
    assert len(ids) > 4000
    pick = ids[0]
    at.selectbox(key="lookup_customer").set_value(pick).run()
    assert not at.exception and not at.error
    m = _metrics(at)
    for label in ("Segment", "Churn risk", "P(alive)", "Recency (days)", "Orders", "Spend",
                  "Avg order value", "Days between orders", "Expected next order"):
        assert label in m, label
    assert at.query_params["customer"] == pick                    # a shareable link to this card
    assert at.get("plotly_chart"), "purchase timeline"
    drivers = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    assert len(drivers) == 5
    assert any("Default churn model" in c.value for c in at.caption)
    assert any(md.value.startswith("**Coupon:") for md in at.markdown)
    before = m["Churn risk"]
    at.number_input(key=f"wi_recency_days_{pick}").set_value(700).run()
    assert not at.exception
    after = [x.value for x in at.metric if x.label == "Churn risk"]
    assert after[0] == before and after[-1] != before and after[-1].endswith("High")   # the card stays, what-if moves
    segments = [x.value for x in at.metric if x.label == "Segment"]
    assert segments[-1] in ("At Risk", "Can't Lose Them", "Hibernating")

    # campaign export for the High churn band
    at.radio(key="camp_by").set_value("Churn band").run()
    at.button(key="camp_build").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "coupon_code" in d.value.columns)
    assert (table["risk_band"] == "High").all() and len(table) > 100
    issued = table[table["coupon_id"] != "none"]
    assert issued["coupon_code"].is_unique and table["reason"].str.len().gt(20).all()
    assert len(at.get("download_button")) >= 2

    # the recommender check against its baselines
    hits = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert {"Item-item cosine", "Top sellers"} <= set(hits["method"])


@pytest.mark.slow
def test_unknown_and_one_purchase_customers(at):
    _sample(at)
    at.query_params["customer"] = "NO-SUCH-ID"
    at.run()
    assert not at.exception
    assert "not in" in at.error[0].value and "Check the id" in at.error[0].value
    assert "Segment" in _metrics(at)                                  # the what-if (typical customer) still works
    ws = Workspace(at.session_state["workspace_id"])
    tx = ws.load_dataset(at.session_state["dataset_id"]).transactions
    orders = tx.groupby("customer_id")["invoice_id"].nunique()
    one = str(orders[orders == 1].index[0])
    at.selectbox(key="lookup_customer").set_value(one).run()
    assert not at.exception and not at.error
    assert _metrics(at)["Days between orders"] == "–"
    assert any("One purchase" in i.value for i in at.info)


def test_customer_table_card_what_if_and_unknown_id(at):
    _mall(at)
    at.query_params["customer"] = "9999"
    at.run()
    assert not at.exception and "not in" in at.error[0].value and "0001" in at.error[0].value
    at.selectbox(key="lookup_customer").set_value("0001").run()
    assert not at.exception and not at.error
    assert any(md.value.startswith("**Cluster ") for md in at.markdown)
    assert any("learned policy" in i.value for i in at.info)
    key = "wi_Annual Income (k$)_0001"
    first = [x.value for x in at.metric if x.label == "Cluster"][-1]
    at.number_input(key=key).set_value(130).run()
    at.number_input(key="wi_Spending Score (1-100)_0001").set_value(95).run()
    assert not at.exception
    assert [x.value for x in at.metric if x.label == "Cluster"][-1] != first


def test_catalogue_upload_errors_and_restore(at):
    _mall(at)
    at.file_uploader(key="cat_upload").upload("bad.csv", b"id,name,kind,value\nx,X,bogus,5\n", "text/csv")
    at.run()
    assert not at.exception
    assert "coupon catalogue" in at.error[0].value and "kind" in at.error[0].value
    assert len(at.tabs) == 5 and "Cluster" in _metrics(at)                          # the rest of the page is drawn
    ws = Workspace(at.session_state["workspace_id"])
    assert ws.read_json("coupon_catalogue") is None                                   # nothing saved
    at.file_uploader(key="cat_upload").upload("empty.csv", b"", "text/csv")
    at.run()
    assert not at.exception and "empty" in at.error[0].value
    good = b"id,name,kind,value,eligible_risk_bands\nnone,No coupon,none,0,*\nbig,Big,percent,30,High\n"
    at.file_uploader(key="cat_upload").upload("good.csv", good, "text/csv")
    at.run()
    assert not at.exception and "saved" in at.success[0].value
    assert [r["id"] for r in ws.read_json("coupon_catalogue")] == ["none", "big"]
    at.button(key="cat_reset").click().run()
    assert ws.read_json("coupon_catalogue") is None


def responses(n: int = 300, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    age = rng.choice(["below21", "26", "50plus"], n)
    coupon = rng.choice(["Coffee", "Dinner"], n)
    likes = np.where(coupon == "Coffee", age == "below21", age != "below21")
    accepted = np.where(rng.random(n) < 0.85, likes, ~likes)
    df = pd.DataFrame({"age": age, "weather": rng.choice(["Sunny", "Rainy"], n), "coupon": coupon,
                       "accepted": np.where(accepted, "yes", "no")})
    return df.to_csv(index=False).encode()


@pytest.mark.slow
def test_learned_policy_train_evaluate_and_what_if(at):
    _mall(at)
    at.radio(key="learn_src").set_value("Upload a file").run()
    no_outcome = pd.read_csv(pd.io.common.BytesIO(responses())).drop(columns=["accepted"]).to_csv(index=False)
    at.file_uploader(key="learn_upload").upload("resp.csv", no_outcome.encode(), "text/csv")
    at.run()
    assert not at.exception and "no yes/no column" in at.error[0].value
    at.file_uploader(key="learn_upload").upload("resp.csv", responses(), "text/csv")
    at.run()
    assert not at.exception and not at.error
    at.selectbox(key="learn_folds").set_value(3).run()
    at.button(key="learn_train").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "roc_auc" in d.value.columns).set_index("model")
    assert table.loc["Majority baseline", "roc_auc"] == 0.5
    assert table.loc["One-hot + XGBoost", "roc_auc"] > 0.7
    at.selectbox(key="lp_age").set_value("below21").run()
    assert any(md.value.startswith("**Learned policy: Coffee") for md in at.markdown)
    at.selectbox(key="lp_age").set_value("50plus").run()
    assert any(md.value.startswith("**Learned policy: Dinner") for md in at.markdown)


def test_customer_table_campaign_and_learning_from_a_table_without_outcome(at):
    _mall(at)
    ws = Workspace(at.session_state["workspace_id"])
    ws.save_segment("vip", at.session_state["dataset_id"], ["0001", "0002", "0003"])
    at.run()
    at.radio(key="camp_by").set_value("Saved selection").run()
    assert at.selectbox(key="camp_saved").value == "vip"
    at.button(key="camp_build").click().run()
    assert not at.exception and "learned policy" in at.error[0].value          # no purchases: EV rules cannot apply
    at.radio(key="learn_src").set_value("A saved customer table").run()
    assert not at.exception and "no yes/no column" in at.error[-1].value
    assert "Spending Score (1-100)" in at.error[-1].value
