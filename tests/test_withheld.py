"""A withheld churn prediction reaches nothing (issue 19, item 3).

When the churn model does no better than a simple rule on a dataset (:func:`pipeline.customer.facts.churn_risk`),
its probability is withheld everywhere: the scorer's table, risk bands, the card and its coupon reasons, the
what-if, campaign lists, the service's card / score / coupon answers and ``python -m pipeline profile --json`` use
the rule that held up and say which. Proved two ways on a basket log (the synthetic sample without amounts):
two *different* withheld models give byte-identical outputs (the withheld number has no influence), and no output
holds a withheld model's number; with the same model marked as holding up, the outputs are the model's.
"""
from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.customer.rescoring import rescore_one
from pipeline.store import Dataset

N_CUSTOMERS = 800


def _basket_frame() -> pd.DataFrame:
    """The synthetic sample as a basket log: ``Member_number, Date, itemDescription`` and no amount."""
    from pipeline.ingest.samples import generate_raw

    raw = generate_raw(n_customers=N_CUSTOMERS, seed=0)
    raw = raw[(raw["CustomerID"].astype(str).str.strip() != "") & ~raw["InvoiceNo"].astype(str).str.startswith("C")]
    return pd.DataFrame({"Member_number": raw["CustomerID"].astype(str),
                         "Date": pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%d-%m-%Y"),
                         "itemDescription": raw["Description"]})


def _model(churn, auc: float, scale: float = 1.0):
    """The dataset's churn model with a given out-of-time ROC AUC (and its coefficients scaled: other numbers)."""
    pipe = copy.deepcopy(churn.pipeline)
    lr = pipe.named_steps["model"]
    lr.coef_ = lr.coef_ * scale
    lr.intercept_ = lr.intercept_ * scale + (0.3 if scale != 1.0 else 0.0)
    return dataclasses.replace(churn, pipeline=pipe, metrics=dict(churn.metrics, roc_auc=auc))


@pytest.fixture(scope="module")
def basket():
    from pipeline.customer import build_scorer
    from pipeline.customer.classifier import default_churn_classifier
    from pipeline.ingest.clean import clean_frame

    frame = _basket_frame()
    res = clean_frame(frame)
    assert (res.transactions["amount"] == 1).all()          # spend counted in items
    ds = Dataset("basket", "basket", "transactions", transactions=res.transactions, returns=res.returns,
                 report=res.report.to_dict())                  # monetary_unit: items (no currency)
    default = default_churn_classifier(ds.transactions, ds.returns)          # what build_scorer trains
    loser_a, loser_b = _model(default, 0.48), _model(default, 0.48, scale=2.5)
    a = build_scorer(ds, churn=loser_a)
    assert a.coupons.policy.currency is None                  # coupon reasons count items, not money
    build = lambda churn: build_scorer(ds, churn=churn, clusters=a.clusters)   # noqa: E731
    return {"frame": frame, "ds": ds, "default": default, "a": a, "b": build(loser_b),
            "shown": build(_model(default, 0.99, scale=2.5)), "loser_a": loser_a, "loser_b": loser_b}


def _features(scorer) -> pd.DataFrame:
    from pipeline.churn import live_features

    h = scorer.history
    return live_features(h.transactions, h.returns, scorer.settings.horizon_days)[0].reindex(scorer.table.index)


def _numbers(obj) -> list[float]:
    """Every number in a JSON value."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return [float(obj)] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def _ids(scorer, n: int = 25) -> list[str]:
    """Customers of every risk band, the same for every scorer of the fixture."""
    t = scorer.table.sort_index()
    return list(dict.fromkeys(t.index[:: max(1, len(t) // n)].tolist()))[:n]


def _uses_rule(text: str, risk) -> bool:
    return f"by {risk.label}: " in text


# ------------------------------------------------------------------------------------------------- the decision

def test_a_churn_model_that_loses_to_a_simple_rule_is_withheld(basket):
    a, shown = basket["a"].decisions, basket["shown"].decisions
    assert a.risk.source in ("btyd", "recency") and a.risk.model is None and a.churn is basket["loser_a"]
    assert a.facts.get("churn_probability").note.startswith(f"The risk shown is {a.risk.label}'s.")
    assert a.risk.aucs["model"] == 0.48 and a.risk.aucs[a.risk.source] == max(a.risk.aucs.values())
    assert basket["b"].decisions.risk.source == a.risk.source and basket["b"].decisions.risk.model is None
    assert shown.risk.uses_model and shown.risk.model is shown.churn


def test_table_bands_and_basis_are_the_rules_and_ignore_the_withheld_model(basket):
    a, b = basket["a"], basket["b"]
    cols = ["churn_probability", "risk_band", "churn_source", "churn_basis"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])
    X = _features(a)
    for model in (basket["loser_a"], basket["loser_b"]):
        raw = model.probability(X)
        inner = (raw > 1e-6) & (raw < 1 - 1e-6)                     # both saturate at 1 for a few customers
        assert not np.isclose(a.table["churn_probability"].to_numpy(), raw, rtol=0, atol=1e-9)[inner].any()
    if a.decisions.risk.source == "btyd":
        expected = np.exp(-X["btyd_expected_purchases"].to_numpy(float))
    else:
        expected = a.decisions.risk.recency.probability(X["recency_days"])
    np.testing.assert_allclose(a.table["churn_probability"].to_numpy(), expected)
    assert a.table["churn_basis"].str.startswith(f"{a.decisions.risk.label}: ").all()
    assert set(a.table["risk_band"]) <= {"Low", "Medium", "High"} and a.table["risk_band"].nunique() > 1
    shown = basket["shown"]
    np.testing.assert_allclose(shown.table["churn_probability"].to_numpy(),
                               shown.decisions.churn.probability(_features(shown)))
    assert (shown.table["churn_source"] == "model").all() and (shown.table["churn_basis"] == "").all()


# ------------------------------------------------------------------------------------ card, coupon, what-if

def test_cards_and_coupon_reasons_use_the_rule_and_say_which(basket):
    from pipeline.customer import customer_profile

    a, b = basket["a"], basket["b"]
    raw = basket["loser_a"].probability(_features(a))
    pos = {cid: i for i, cid in enumerate(a.table.index)}
    for cid in _ids(a):
        ca, cb = customer_profile(a, cid).to_json(), customer_profile(b, cid).to_json()
        assert json.dumps(ca, sort_keys=True) == json.dumps(cb, sort_keys=True)    # the withheld model: no influence
        assert ca["churn_source"] == a.decisions.risk.source and _uses_rule(ca["coupon"]["reason"], a.decisions.risk)
        assert ca["churn_basis"] and ca["churn_basis"] in ca["coupon"]["reason"]
        assert ca["churn_probability"] == pytest.approx(a.table.at[cid, "churn_probability"])
        assert ca["drivers"] == [] and "churn_probability" not in ca["withheld"]
        assert raw[pos[cid]] not in _numbers(ca)
        assert not any("churn model's risk" in n for n in ca["notes"])


def test_a_shown_model_still_drives_the_card_and_the_coupon(basket):
    from pipeline.customer import customer_profile

    shown = basket["shown"]
    p = shown.decisions.churn.probability(_features(shown))
    for cid in _ids(shown, 10):
        card = customer_profile(shown, cid).to_json()
        i = shown.table.index.get_loc(cid)
        assert card["churn_source"] == "model" and card["churn_probability"] == pytest.approx(p[i])
        assert f"churn risk ({p[i]:.0%})" in card["coupon"]["reason"] and " by the " not in card["coupon"]["reason"]
        assert card["drivers"]


def test_what_if_uses_the_rule_and_says_which(basket):
    from pipeline.customer.whatif import what_if

    a, b, shown = basket["a"], basket["b"], basket["shown"]
    cid = _ids(a)[3]
    for inputs in ({}, {"recency_days": 210.0}, {"recency_days": 5.0, "frequency": 12.0}):
        ra, rb = what_if(a, inputs, cid), what_if(b, inputs, cid)
        assert (ra.churn_probability, ra.risk_band, ra.coupon) == (rb.churn_probability, rb.risk_band, rb.coupon)
        risk = a.decisions.risk
        assert ra.churn_source == risk.source and ra.drivers.empty and _uses_rule(ra.coupon["reason"], risk)
        assert ra.churn_basis in ra.coupon["reason"]
        rs = what_if(shown, inputs, cid)
        assert rs.churn_source == "model" and " by the " not in rs.coupon["reason"] and not rs.drivers.empty
    at_own = what_if(a, {}, cid)
    assert at_own.churn_probability == pytest.approx(a.table.at[cid, "churn_probability"])


def test_rescored_customer_and_swapped_model_keep_the_decision(basket):
    a = basket["a"]
    cid = _ids(a)[5]
    day = a.history.as_of
    lines = pd.DataFrame({"customer_id": cid, "invoice_id": "new-1", "date": [day], "quantity": [1.0],
                          "unit_price": [1.0], "amount": [1.0], "product_id": ["x"], "product_name": ["x"],
                          "category": [None], "country": [None]})
    one = rescore_one(a, cid, lines)
    assert one.table.at[cid, "churn_source"] == a.decisions.risk.source
    assert one.table.at[cid, "churn_basis"].startswith(f"{a.decisions.risk.label}: ")
    swapped = basket["shown"].with_churn(basket["loser_b"], _features(a))           # a champion that loses
    assert swapped.decisions.risk.model is None
    pd.testing.assert_series_equal(swapped.table["churn_probability"], a.table["churn_probability"])


# ------------------------------------------------------------------------------------------ campaigns

def test_campaign_list_by_churn_band_uses_the_rule(basket):
    from pipeline.campaign import campaign_list

    a, b = basket["a"], basket["b"]
    lists = [campaign_list(s.table.assign(next_category=s.next_categories()), s.coupons.catalogue, s.coupons.policy,
                           band="High", campaign_id="w") for s in (a, b)]
    pd.testing.assert_frame_equal(lists[0], lists[1])
    high = a.table.index[a.table["risk_band"] == "High"]
    assert sorted(lists[0]["customer_id"]) == sorted(high.astype(str))
    churn = a.churn_risk(_features(a))
    pd.testing.assert_frame_equal(churn, a.table[list(churn.columns)], check_dtype=False)


# ------------------------------------------------------------------------------------------ service and CLI

def test_service_card_score_and_coupon_use_the_rule(basket, tmp_path):
    from fastapi.testclient import TestClient

    from service.core.config import Settings
    from service.main import create_app
    from service.scoring import Scorer
    from service_support import make_key

    url = f"sqlite:///{tmp_path / 'service.db'}"
    key = {"Authorization": f"Bearer {make_key(url, 'all')}"}
    a = basket["a"]
    raw = basket["loser_a"].probability(_features(a))
    cid = _ids(a)[7]
    with TestClient(create_app(Settings(database_url=url, log_requests=False), scorer=Scorer("basket", a))) as c:
        health = c.get("/health").json()
        assert health["churn_risk"]["source"] == a.decisions.risk.source
        assert health["churn_risk"]["roc_auc"]["model"] == 0.48
        card = c.get(f"/customers/{cid}", headers=key).json()
        score = c.post("/score", headers=key, json={"customer_id": cid, "recency_days": 200}).json()
        assert c.put("/campaigns/win", headers=key, json={"name": "Win back"}).status_code in (200, 201)
        issued = c.post("/coupons/issue", headers=key, json={"customer_id": cid, "campaign": "win"}).json()
    assert card["churn_source"] == a.decisions.risk.source and _uses_rule(card["coupon"]["reason"], a.decisions.risk)
    assert card["churn_probability"] == pytest.approx(a.table.at[cid, "churn_probability"])
    assert raw[a.table.index.get_loc(cid)] not in _numbers(card)
    assert score["churn_source"] == a.decisions.risk.source and _uses_rule(score["coupon"]["reason"], a.decisions.risk)
    assert issued["outcome"] == "control" or _uses_rule(issued["reason"], a.decisions.risk)


def test_cli_profile_json_of_a_basket_log_follows_the_datasets_decision(basket, tmp_path, capsys):
    """The basket log as uploaded: ``profile --json`` gives the risk of the dataset's own decision (the default
    churn model when it beat every rule on a later period, else the rule, named) and nothing else."""
    from pipeline.cli import main
    from pipeline.customer import build_scorer

    path = tmp_path / "Groceries_dataset.csv"
    basket["frame"].to_csv(path, index=False)
    own = build_scorer(basket["ds"])                     # what the CLI builds from the same lines
    cid = _ids(own)[9]
    assert main(["profile", str(path), "--customer", cid, "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["churn_source"] == own.decisions.risk.source
    assert card["churn_probability"] == pytest.approx(own.table.at[cid, "churn_probability"])
    if own.decisions.risk.uses_model:
        assert card["facts"]["churn_probability"]["note"].startswith("Checked on a later period") and card["drivers"]
    else:
        assert card["facts"]["churn_probability"]["note"].startswith(f"The risk shown is {own.decisions.risk.label}'s.")
        assert _uses_rule(card["coupon"]["reason"], own.decisions.risk) and card["drivers"] == []


# ------------------------------------------------------------------- the same for P(alive) and expected spend

def test_withheld_p_alive_and_expected_spend_do_not_move_the_coupon(basket):
    """A hidden P(alive) is not used (1) and a hidden expected spend is replaced by the baseline that beat it (the
    spend of the last H days), on the card, its index and the what-if."""
    from pipeline.customer import customer_profile
    from pipeline.customer.facts import Fact
    from pipeline.customer.index import card_index
    from pipeline.customer.whatif import what_if

    a = basket["a"]
    hidden = dataclasses.replace(a.decisions.facts, facts=a.decisions.facts.facts | {
        "p_alive": Fact("hidden", "Not shown."), "expected_spend": Fact("hidden", "Not shown.")})
    decided = dataclasses.replace(a.decisions, facts=hidden)

    def variant(scale: float, indexed: bool):
        t = a.table.assign(p_alive=a.table["p_alive"] * scale, expected_spend=a.table["expected_spend"] * 9 * scale)
        index = card_index(t, a.history.transactions, a.coupons, decided, a.recommender) if indexed else None
        return dataclasses.replace(a, table=t, decisions=decided, index=index)

    cards = [variant(scale, indexed) for scale in (0.2, 0.9) for indexed in (True, False)]
    for cid in _ids(a, 12):
        coupons = [customer_profile(s, cid).to_json()["coupon"] for s in cards]
        assert all(c == coupons[0] for c in coupons[1:]), cid
        ifs = [what_if(s, {}, cid).coupon for s in cards] + [what_if(s, {"recency_days": 150.0}, cid).coupon
                                                            for s in cards[:1]]
        assert all(c["coupon_id"] == coupons[0]["coupon_id"] for c in ifs[:-1])
    from pipeline.campaign import campaign_list

    lists = [campaign_list(s.table.assign(next_category=s.next_categories()), s.coupons.catalogue, s.coupons.policy,
                           customer_ids=_ids(a, 12), campaign_id="w", control_share=0.0, facts=s.decisions.facts)
             for s in cards[:2]]
    pd.testing.assert_frame_equal(lists[0].drop(columns="expected_spend"), lists[1].drop(columns="expected_spend"))
    for row in lists[0].itertuples():                        # the list's coupon is the card's
        card = customer_profile(cards[0], row.customer_id).to_json()["coupon"]
        assert (row.coupon_id, row.expected_value) == (card["coupon_id"], card["expected_value"])
    used = hidden.usable(a.table)
    assert (used["p_alive"] == 1).all()
    np.testing.assert_allclose(used["expected_spend"], a.table["spend_90d"].fillna(0))
