"""AppTest: the Campaigns page through the real router (campaign export, coupon catalogue, learned coupon policy,
recommender check), on the sample transactions and on a customer table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline.store import Workspace

PAGE = "pages/campaigns.py"


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


def test_needs_data_first(at):
    at.switch_page(PAGE).run()
    assert not at.exception and "No data yet" in at.info[0].value


def test_four_tabs_on_a_customer_table(at):
    _mall(at)
    assert [t.label for t in at.tabs] == ["Campaign export", "Coupon catalogue", "Learned coupon policy",
                                          "Recommender check"]
    assert at.radio(key="camp_by").options == ["All customers", "Cluster", "Saved selection"]
    assert "id" in at.data_editor(key="cat_editor").value.columns
    assert any("needs transactions" in i.value for i in at.info)          # no recommender on a customer table


@pytest.mark.slow
def test_campaign_export_and_recommender_check_on_the_sample(at):
    _sample(at)
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

    # the list is kept for this dataset across page switches
    at.switch_page("pages/customer.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception and any("coupon_code" in d.value.columns for d in at.dataframe)


def test_catalogue_upload_errors_and_restore(at):
    _mall(at)
    at.file_uploader(key="cat_upload").upload("bad.csv", b"id,name,kind,value\nx,X,bogus,5\n", "text/csv")
    at.run()
    assert not at.exception
    assert "coupon catalogue" in at.error[0].value and "kind" in at.error[0].value
    assert len(at.tabs) == 4 and at.button(key="camp_build") and at.radio(key="learn_src")  # the rest is drawn
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
