"""Coupon catalogue, expected-value policy (hand-checked numbers), codes, and the learned acceptance policy."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline import coupons as cp
from pipeline.errors import DataError

HEADER = "id,name,kind,value,min_spend,cost,eligible_segments,eligible_risk_bands,category,description\n"
SMALL = HEADER + (
    "none,No coupon,none,0,0,0,*,*,,\n"
    "pct10,10% off,percent,10,0,10%,*,Medium;High,,\n"
    "ship,Free shipping,free_shipping,6,0,4,*,*,,\n"
    "winback,20% win-back,percent,20,0,20%,At Risk;Hibernating,High,,\n"
)


def small(extra: str = "") -> pd.DataFrame:
    return cp.load_catalogue((SMALL + extra).encode())


def champion(**kw) -> dict:
    return {"customer_id": "c1", "segment": "Champions", "churn_probability": 0.05, "order_value": 100.0,
            "expected_spend": 500.0, **kw}


# ----------------------------------------------------------------------------------------------- catalogue

def test_default_catalogue_loads_with_a_no_coupon_row():
    cat = cp.load_catalogue()
    assert list(cat.columns) == list(cp.CATALOGUE_COLUMNS)
    assert (cat["kind"] == "none").sum() == 1
    assert set(cat["kind"]) <= set(cp.KINDS) and cat["id"].is_unique
    assert set(cat.loc[cat["kind"] == "percent", "cost"]) <= {"10%", "20%"}


def test_catalogue_from_dataframe_path_and_bytes_agree(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(SMALL)
    a, b, c = cp.load_catalogue(p), cp.load_catalogue(SMALL.encode()), cp.load_catalogue(small())
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


def test_optional_columns_get_defaults():
    cat = cp.load_catalogue(b"id,name,kind,value\nship,Free shipping,free_shipping,5\n")
    row = cat.iloc[0]
    assert (row["min_spend"], row["cost"], row["eligible_segments"], row["eligible_risk_bands"]) == (0.0, "", "*", "*")


@pytest.mark.parametrize("content, fragments", [
    (b"", ["empty"]),
    (b"   \n", ["empty"]),
    (HEADER.encode(), ["no coupons"]),
    (b"id,name,price\nx,X,3\n", ["missing column", "kind", "value"]),
    ((HEADER + "a,A,bogus,5,0,,*,*,,\n").encode(), ["'kind' must be one of", "bogus"]),
    ((HEADER + "a,A,amount,abc,0,,*,*,,\n").encode(), ["'value' must be a number", "abc"]),
    ((HEADER + "a,A,amount,5,-3,,*,*,,\n").encode(), ["'min_spend'"]),
    ((HEADER + "a,A,percent,150,0,,*,*,,\n").encode(), ["0 < value <= 100"]),
    ((HEADER + "a,A,amount,5,0,lots,*,*,,\n").encode(), ["'cost'", "lots"]),
    ((HEADER + "a,A,amount,5,0,,Whales,*,,\n").encode(), ["unknown segment", "Whales"]),
    ((HEADER + "a,A,amount,5,0,,*,Severe,,\n").encode(), ["unknown risk band", "Severe"]),
    ((HEADER + "a,A,amount,5,0,,*,*,,\na,B,amount,6,0,,*,*,,\n").encode(), ["unique", "'a'"]),
])
def test_malformed_catalogue_raises_dataerror_naming_the_problem(content, fragments):
    with pytest.raises(DataError) as err:
        cp.load_catalogue(content)
    for f in fragments:
        assert f in str(err.value)


def test_catalogue_reports_every_bad_cell_at_once():
    bad = (HEADER + "a,A,bogus,x,0,,*,*,,\n").encode()
    msg = str(pytest.raises(DataError, cp.load_catalogue, bad).value)
    assert "'kind'" in msg and "'value'" in msg and "row" in msg


def test_missing_file_is_a_dataerror(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        cp.load_catalogue(tmp_path / "nope.csv")


def test_segment_and_band_names_are_normalised():
    cat = cp.load_catalogue((HEADER + "a,A,amount,5,0,,at risk; champions,high;LOW,,\n").encode())
    assert cat.at[0, "eligible_segments"] == "At Risk;Champions"
    assert cat.at[0, "eligible_risk_bands"] == "High;Low"


# ----------------------------------------------------------------------------------------------- policy

@pytest.mark.parametrize("p, band", [(0.0, "Low"), (0.2999, "Low"), (0.3, "Medium"), (0.5999, "Medium"),
                                     (0.6, "High"), (1.0, "High")])
def test_risk_bands_follow_config_thresholds(p, band):
    assert cp.risk_band(p) == band
    assert cp.risk_band(p, cp.CouponPolicyConfig(risk_thresholds=(0.01, 0.02))) == ("Low" if p < 0.01 else
                                                                                   "Medium" if p < 0.02 else "High")


def test_low_risk_high_value_customer_gets_no_coupon():
    rec = cp.recommend_coupon(champion(), small())
    assert rec.coupon_id == "none" and rec.expected_value == 0.0 and rec.risk_band == "Low"
    assert "5%" in rec.reason and "500.00" in rec.reason and "no discount" in rec.reason


def test_guard_withholds_wildcard_coupons_even_when_their_ev_is_positive():
    # A cheap, generous assumption set makes the wildcard free-shipping coupon worth it on paper;
    # the low-risk/high-value guard still gives no coupon because the catalogue does not name them.
    generous = cp.CouponPolicyConfig(margin=0.9, max_uplift=1.0)
    cat = cp.load_catalogue(HEADER.encode() + b"ship,Free shipping,free_shipping,6,0,0.01,*,*,,\n")
    rec = cp.recommend_coupon(champion(), cat, generous)
    assert rec.candidates.set_index("coupon_id").at["ship", "expected_value"] > 0
    assert rec.coupon_id == "none"
    # a low-risk customer who is not high value gets it on EV alone
    rec = cp.recommend_coupon(champion(segment="Promising"), cat, generous)
    assert rec.coupon_id == "ship"


def test_catalogue_can_explicitly_target_low_risk_high_value_customers():
    rec = cp.recommend_coupon(champion(), small("vip,VIP gift,free_shipping,6,0,4,Champions,Low,,\n"))
    assert rec.coupon_id == "vip"
    assert "explicitly" in rec.reason and "VIP gift" in rec.reason


def test_high_value_by_spend_threshold():
    cat = cp.load_catalogue(HEADER.encode() + b"ship,Free shipping,free_shipping,6,0,0.01,*,*,,\n")
    generous = cp.CouponPolicyConfig(margin=0.9, max_uplift=1.0, high_value_segments=(), high_value_min_spend=400.0)
    assert cp.recommend_coupon(champion(), cat, generous).coupon_id == "none"            # 500 >= 400
    assert cp.recommend_coupon(champion(expected_spend=300.0), cat, generous).coupon_id == "ship"


def test_high_risk_customer_gets_an_eligible_coupon_with_the_best_ev():
    rec = cp.recommend_coupon({"customer_id": "c2", "segment": "At Risk", "churn_probability": 0.8,
                               "order_value": 50.0}, small())
    cands = rec.candidates.set_index("coupon_id")
    eligible = cands[cands["eligible"]]
    assert set(eligible.index) == {"pct10", "ship", "winback"}
    assert rec.coupon_id == eligible["expected_value"].idxmax() and rec.expected_value > 0
    assert rec.expected_value == eligible["expected_value"].max()
    assert "80%" in rec.reason and f"{rec.expected_value:+.2f}" in rec.reason


def test_ineligible_segments_are_excluded():
    only_winback = cp.load_catalogue(HEADER.encode() + b"winback,20% win-back,percent,20,0,20%,At Risk;Hibernating,High,,\n")
    base = {"churn_probability": 0.8, "order_value": 50.0}
    at_risk = cp.recommend_coupon({"customer_id": "a", "segment": "At Risk", **base}, only_winback)
    promising = cp.recommend_coupon({"customer_id": "b", "segment": "Promising", **base}, only_winback)
    assert at_risk.coupon_id == "winback"
    assert promising.coupon_id == "none" and not promising.candidates["eligible"].any()
    assert "none eligible" in promising.reason
    medium = cp.recommend_coupon({"customer_id": "c", "segment": "At Risk", "churn_probability": 0.5,
                                  "order_value": 50.0}, only_winback)
    assert medium.coupon_id == "none"                                                     # band High only


def test_expected_value_matches_hand_computation():
    # free shipping, face 6 on a 40 order: depth 0.15, uplift = 0.5 * (1 - e^-1) * 1.2 = 0.379272
    # extra purchase prob = 0.5 churn * 0.379272 = 0.189636; value at stake = 0.35 * 40 = 14.00
    # gain = 0.189636 * 14 = 2.6549; cost = (0.5 * 0.7 + 0.189636) * 4 = 2.1585; EV = +0.4964
    cat = cp.load_catalogue(HEADER.encode() + b"ship,Free shipping,free_shipping,6,0,4,*,*,,\n")
    rec = cp.recommend_coupon({"customer_id": "x", "segment": "Need Attention", "churn_probability": 0.5,
                               "order_value": 40.0}, cat)
    uplift = 0.5 * (1 - math.exp(-1)) * 1.2
    ev = 0.5 * uplift * 14 - (0.35 + 0.5 * uplift) * 4
    assert rec.coupon_id == "ship" and rec.expected_value == round(ev, 2) == 0.50
    for number in ("50%", "+0.50", "2.65", "19.0%", "14.00", "2.16"):
        assert number in rec.reason


def test_min_spend_stretch_is_counted():
    # order 30, min spend 40: reach = (30/40)^2 = 0.5625; stretched baskets earn
    # (1 - 0.5) * 0.5625 * 0.7 * 0.35 * (40 - 30) = 0.6891
    cat = cp.load_catalogue(HEADER.encode() + b"amt,5 off 40,amount,5,40,5,*,*,,\n")
    rec = cp.recommend_coupon({"customer_id": "x", "segment": "Promising", "churn_probability": 0.5,
                               "order_value": 30.0}, cat)
    assert "0.69 from baskets stretched to the 40.00 minimum" in rec.reason


def test_every_reason_is_non_empty_and_states_numbers():
    customers = pd.DataFrame([
        champion(), champion(customer_id="c2", segment="At Risk", churn_probability=0.8, expected_spend=0.0),
        champion(customer_id="c3", segment="Promising", churn_probability=0.45, expected_spend=10.0),
        champion(customer_id="c4", segment="", churn_probability=0.65),
    ])
    out = cp.recommend_batch(customers, small())
    assert out["reason"].str.len().gt(40).all()
    assert out["reason"].str.contains(r"\d+%").all()


def test_a_rules_churn_risk_is_named_in_the_reason_and_changes_nothing_else():
    """When churn risk comes from a simple rule (the churn model withheld on the dataset), the reason says which
    rule and what it read; every number and the choice are those of the same risk without a basis."""
    base = champion(customer_id="c2", segment="At Risk", churn_probability=0.68, expected_spend=0.0)
    basis = "the recency rule: 210 days since the last order"
    plain, ruled = (cp.recommend_batch(pd.DataFrame([base | extra]), small(), with_codes=False)
                    for extra in ({}, {"churn_basis": basis}))
    assert ruled["reason"].iloc[0].startswith(f"At Risk, High churn risk (68% by {basis}): ")
    assert ruled["reason"].iloc[0].replace(f" by {basis}", "") == plain["reason"].iloc[0]
    pd.testing.assert_frame_equal(ruled.drop(columns="reason"), plain.drop(columns="reason"))
    one = cp.recommend_coupon(cp.CustomerContext("c2", "At Risk", 0.68, 50.0, churn_basis=basis), small())
    assert f"(68% by {basis})" in one.reason and " by " not in cp.recommend_coupon(
        cp.CustomerContext("c2", "At Risk", 0.68, 50.0), small()).reason


def test_category_coupons_follow_the_predicted_next_category():
    cat = cp.load_catalogue(HEADER.encode() + b"dyn,15% off next,category,15,0,15%,*,*,,\n"
                                              b"toys,15% off toys,category,15,0,15%,*,*,Toys,\n")
    base = {"segment": "Promising", "churn_probability": 0.7, "order_value": 40.0}
    unknown = cp.recommend_coupon({"customer_id": "a", **base}, cat).candidates.set_index("coupon_id")
    assert not unknown.at["dyn", "eligible"] and unknown.at["toys", "eligible"]
    garden = cp.recommend_coupon({"customer_id": "b", "next_category": "Garden", **base}, cat).candidates
    toys = cp.recommend_coupon({"customer_id": "c", "next_category": "Toys", **base}, cat).candidates
    g, t = garden.set_index("coupon_id"), toys.set_index("coupon_id")
    assert t.at["toys", "extra_purchase_probability"] > g.at["toys", "extra_purchase_probability"]
    assert t.at["toys", "expected_value"] == t.at["dyn", "expected_value"]


def test_batch_matches_single_recommendations():
    rng = np.random.default_rng(1)
    n = 60
    customers = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "segment": rng.choice(cp.RFM_SEGMENTS, n),
        "churn_probability": rng.uniform(0, 1, n), "order_value": rng.uniform(10, 200, n),
        "expected_spend": rng.uniform(0, 600, n), "p_alive": rng.uniform(0.2, 1, n)})
    out = cp.recommend_batch(customers)
    for i in range(0, n, 7):
        rec = cp.recommend_coupon(customers.iloc[i].to_dict())
        assert (out.at[i, "coupon_id"], out.at[i, "expected_value"], out.at[i, "reason"]) == \
            (rec.coupon_id, rec.expected_value, rec.reason)
    assert list(out.columns) == ["customer_id", "coupon_id", "coupon_name", "expected_value", "reason", "coupon_code",
                                 "expected_cost", "incremental_revenue"]
    assert (out["coupon_code"] == "").eq(out["coupon_id"] == "none").all()
    # EV = margin x incremental revenue - cost, per customer; nothing issued costs or earns nothing
    margin = cp.CouponPolicyConfig().margin
    assert np.allclose(margin * out["incremental_revenue"] - out["expected_cost"], out["expected_value"], atol=0.02)
    none = out["coupon_id"] == "none"
    assert none.any() and (out.loc[none, ["expected_cost", "incremental_revenue"]] == 0).all().all()
    assert (out.loc[~none, "expected_cost"] > 0).all()


def test_order_value_from_rfm_columns_and_bad_context():
    rfm_like = pd.DataFrame({"customer_id": ["a"], "segment": ["At Risk"], "churn_probability": [0.8],
                             "monetary": [150.0], "frequency": [3]})
    assert cp.recommend_batch(rfm_like, small())["coupon_id"].iloc[0] != "none"
    with pytest.raises(DataError, match="between 0 and 1"):
        cp.recommend_batch(rfm_like.assign(churn_probability=1.5), small())
    with pytest.raises(DataError, match="order_value"):
        cp.recommend_batch(rfm_like.drop(columns=["monetary"]), small())
    with pytest.raises(DataError, match="churn_probability"):
        cp.recommend_batch(rfm_like.drop(columns=["churn_probability"]), small())


# ----------------------------------------------------------------------------------------------- codes

def test_coupon_codes_are_unique_reproducible_and_seeded():
    ids = [f"c{i}" for i in range(20_000)] + ["c1", "c1"]           # repeated customers too
    coupons = ["pct10"] * len(ids)
    codes = cp.coupon_codes(ids, coupons, prefix="XMAS", seed=7)
    assert len(set(codes)) == len(codes)
    assert all(c.startswith("XMAS-") and len(c) == 15 for c in codes)
    assert list(cp.coupon_codes(ids[:50], coupons[:50], prefix="XMAS", seed=7)) == list(codes[:50])
    assert cp.coupon_codes(ids[:50], coupons[:50], seed=8)[0] != cp.coupon_codes(ids[:50], coupons[:50], seed=7)[0]


def test_short_codes_still_unique_after_collisions():
    # 4 base32 chars = 2^20 codes: 20,000 draws collide ~190 times; every collision must be re-hashed
    codes = cp.coupon_codes([f"c{i}" for i in range(20_000)], ["x"] * 20_000, prefix="", length=4)
    assert len(set(codes)) == 20_000 and all(len(c) == 4 for c in codes)


def test_batch_codes_unique():
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(3000)], "segment": "At Risk",
                              "churn_probability": 0.9, "order_value": 50.0})
    out = cp.recommend_batch(customers, small())
    assert (out["coupon_code"] != "").all() and out["coupon_code"].is_unique


# ----------------------------------------------------------------------------------------------- learned policy

def responses(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Young people accept 'Coffee' offers, older people accept 'Dinner' offers (80/20 noise)."""
    rng = np.random.default_rng(seed)
    age = rng.choice(["below21", "21", "26", "50plus"], n)
    coupon = rng.choice(["Coffee", "Dinner"], n)
    young = np.isin(age, ["below21", "21"])
    likes = np.where(coupon == "Coffee", young, ~young)
    accepted = np.where(rng.random(n) < 0.8, likes, ~likes)
    return pd.DataFrame({"age": age, "weather": rng.choice(["Sunny", "Rainy"], n),
                         "temperature": rng.choice([30, 55, 80], n), "coupon": coupon,
                         "accepted": np.where(accepted, "yes", "no")})


@pytest.fixture(scope="module")
def small_policy():
    return cp.fit_learned_policy(responses(), seed=0)


def test_learned_policy_recommends_by_acceptance(small_policy):
    pol = small_policy
    assert (pol.target_, pol.coupon_column_, pol.coupon_types_) == ("accepted", "coupon", ["Coffee", "Dinner"])
    young, old = pol.recommend({"age": "21"}), pol.recommend({"age": "50plus", "weather": "Rainy"})
    assert young["coupon"] == "Coffee" and old["coupon"] == "Dinner"
    assert young["acceptance"] > 0.6 and "predicted acceptance" in young["reason"]
    assert f"{young['acceptance']:.0%}" in young["reason"]


def test_learned_policy_describes_its_what_if_inputs(small_policy):
    pol = small_policy
    assert pol.feature_columns_ == ["age", "weather", "temperature"]
    assert pol.choices_["age"] == ["21", "26", "50plus", "below21"] and pol.choices_["temperature"] == (30.0, 80.0)
    assert pol.defaults_["temperature"] == 55.0


def test_learned_policy_weighs_acceptance_by_value(small_policy):
    rec = small_policy.recommend({"age": "21"}, values={"Dinner": 100.0})
    assert rec["coupon"] == "Dinner"
    assert rec["expected_value"] == pytest.approx(rec["acceptance"] * 100.0)


def test_learned_policy_fast_path_equals_predict_proba(small_policy):
    for person in ({"age": "21"}, {"age": "26", "temperature": 80}, {"age": "never-seen", "temperature": None}):
        fast = small_policy.acceptance(person).to_numpy()
        slow = small_policy.model_.predict_proba(small_policy._frame(person))[:, 1]
        np.testing.assert_allclose(fast, slow, rtol=1e-6)


def test_learned_policy_with_a_model_lab_model():
    df = responses()
    # a forest (trees capture the age x coupon interaction; a linear model without interactions cannot)
    table = cp.evaluate_acceptance_model(df, n_splits=3, seed=0, model="forest").set_index("model")
    assert table.loc["Random forest", "roc_auc"] > 0.7 and table.loc["Majority baseline", "roc_auc"] == 0.5
    pol = cp.fit_learned_policy(df, seed=0, model="forest")
    assert pol._fast_layout() is None                                  # generic predict_proba path
    assert pol.recommend({"age": "below21"})["coupon"] == "Coffee"
    with pytest.raises(DataError, match="Unknown model"):
        cp.fit_learned_policy(df, model="nope")


def test_learned_policy_is_a_scikit_learn_estimator_built_from_the_zoo(small_policy):
    from sklearn.base import clone
    from sklearn.utils.validation import check_is_fitted

    from pipeline.models import REGISTRY

    values = {"Dinner": 2.0}
    est = cp.LearnedCouponPolicy(model="forest", values=values)
    assert est.get_params() == {"model": "forest", "target": None, "coupon_col": None, "values": values,
                                "settings": None}                              # parameters untouched in __init__
    assert est.fit(responses()) is est and est.values is values and est.target is None
    check_is_fitted(est)
    fitted = [k for k in vars(est) if not k.startswith("_") and k not in est.get_params()]
    assert fitted and all(k.endswith("_") for k in fitted)
    assert type(est.model_.named_steps["model"]) is type(REGISTRY["forest"].factory(cp.ACCEPTANCE_SETTINGS))
    assert est.values_ == {"Coffee": 1.0, "Dinner": 2.0}
    assert not hasattr(clone(est), "model_") and clone(est).get_params() == est.get_params()
    # the default: the zoo's XGBoost pipeline (prep -> model) with the acceptance settings
    xgb = small_policy.model_.named_steps["model"]
    assert type(xgb).__name__ == "XGBClassifier" and xgb.n_estimators == cp.ACCEPTANCE_SETTINGS.xgb_trees
    assert list(small_policy.model_.named_steps) == ["prep", "model"]


def test_learned_policy_batch_probabilities_and_values(small_policy):
    people = responses(20, seed=3).drop(columns=["accepted"])
    proba = small_policy.predict_proba(people)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
    one = small_policy.acceptance(people.iloc[0].to_dict())[people.iloc[0]["coupon"]]
    assert proba[0, 1] == pytest.approx(one, rel=1e-6)
    richer = small_policy.with_values({"Dinner": 50.0})
    assert richer.values_["Dinner"] == 50.0 and small_policy.values_["Dinner"] == 1.0
    assert richer.recommend({"age": "21"})["coupon"] == "Dinner" and richer.model_ is small_policy.model_
    with pytest.raises(DataError, match="unknown coupon type"):
        small_policy.with_values({"Bar": 2.0})


def test_values_for_unknown_coupon_types_rejected():
    with pytest.raises(DataError, match="unknown coupon type"):
        cp.fit_learned_policy(responses(), values={"Bar": 2.0})


def test_yes_no_detection_and_errors():
    df = responses()
    assert cp.detect_response_column(df) == "accepted"
    assert cp.yes_no_columns(df) == ["accepted"]
    renamed = df.rename(columns={"accepted": "result"})
    assert cp.detect_response_column(renamed) == "result"                      # the only yes/no column
    with pytest.raises(DataError) as err:
        cp.detect_response_column(df.drop(columns=["accepted"]))
    msg = str(err.value)
    assert "no yes/no column" in msg and "age, weather, temperature, coupon" in msg
    with pytest.raises(DataError, match="not yes/no"):
        cp.detect_response_column(df, target="age")
    with pytest.raises(DataError, match="does not exist"):
        cp.detect_response_column(df, target="nope")
    with pytest.raises(DataError, match="coupon-type column"):
        cp.fit_learned_policy(df.rename(columns={"coupon": "thing"}))


def test_too_few_answers_rejected():
    with pytest.raises(DataError, match="at least 50"):
        cp.fit_learned_policy(responses(30))


def in_vehicle() -> pd.DataFrame:
    return pd.read_csv(dataset("in-vehicle-coupon-recommendation.csv"))


def test_in_vehicle_response_file_without_yes_no_column_is_rejected():
    df = in_vehicle().drop(columns=["Y"])
    with pytest.raises(DataError) as err:
        cp.evaluate_acceptance_model(df)
    msg = str(err.value)
    assert "has_children" in msg and "direction_same" in msg       # the yes/no columns it considered
    assert cp.detect_response_column(in_vehicle()) == "Y"
    assert cp.detect_coupon_column(in_vehicle()) == "coupon"


@pytest.mark.slow
def test_learned_policy_on_in_vehicle_beats_majority_baseline():
    df = in_vehicle()
    table = cp.evaluate_acceptance_model(df, n_splits=5, seed=42, n_jobs=1).set_index("model")
    model, base = table.loc["One-hot + XGBoost"], table.loc["Majority baseline"]
    assert base["accuracy"] == pytest.approx((df["Y"] == 1).mean(), abs=1e-3)    # 7,210 / 12,684 = 0.568
    assert base["roc_auc"] == 0.5
    assert model["roc_auc"] >= 0.82 and model["accuracy"] > base["accuracy"] + 0.1
    pol = cp.fit_learned_policy(df, seed=42, n_jobs=1)
    rec = pol.recommend(df.drop(columns=["Y", "coupon"]).iloc[0].to_dict())
    assert rec["coupon"] in pol.coupon_types_ and len(rec["table"]) == 5
