"""Coupon reasons carry the dataset's unit (issue 19, item 4): money with its currency ("+£0.05", "cost £1.20"),
items on a basket log (no amounts: "0.05 items", and the reason says a coupon's value is counted in items); a
policy outside any dataset writes plain numbers. The unit is the policy's (``CouponPolicyConfig.currency``), set by
``build_scorer`` from the dataset and kept by ``ModelScorer.with_coupons``, so the card, the campaign list, the CLI
and the service (which builds its scorer with ``build_scorer``) say the same."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from pipeline import coupons as cp
from pipeline import units
from pipeline.errors import DataError
from pipeline.store import Dataset

N_CUSTOMERS = 500
MONEY = re.compile(r"[+-]?£?\d[\d,]*\.\d\d(?: items)?")      # a figure written by the policy


def _figures(reason: str) -> list[str]:
    """The policy's figures in a reason (not those of the churn rule it names: "0.97 orders expected")."""
    return MONEY.findall(re.sub(r"\(\d+% by [^)]*\)", "", reason))


def _customers() -> pd.DataFrame:
    """One customer per branch of the reason: guarded high value, best coupon, stretched basket, nothing pays."""
    return pd.DataFrame([
        {"customer_id": "guarded", "segment": "Champions", "churn_probability": 0.05, "order_value": 100.0,
         "expected_spend": 1500.0},
        {"customer_id": "offered", "segment": "At Risk", "churn_probability": 0.8, "order_value": 50.0},
        {"customer_id": "stretched", "segment": "Promising", "churn_probability": 0.5, "order_value": 30.0},
        {"customer_id": "nothing", "segment": "Promising", "churn_probability": 0.35, "order_value": 20.0},
    ])


CATALOGUE = (b"id,name,kind,value,min_spend,cost,eligible_segments,eligible_risk_bands,category,description\n"
             b"none,No coupon,none,0,0,0,*,*,,\n"
             b"pct10,10% off,percent,10,0,10%,*,Medium;High,,\n"
             b"amt,5 off 40,amount,5,40,5,*,*,,\n"
             b"winback,20% win-back,percent,20,0,20%,At Risk,High,,\n")


def _reasons(currency) -> pd.DataFrame:
    config = cp.CouponPolicyConfig() if currency == "default" else cp.CouponPolicyConfig(currency=currency)
    return cp.recommend_batch(_customers(), cp.load_catalogue(CATALOGUE), config, with_codes=False)


def test_reasons_on_a_money_dataset_carry_the_currency_and_the_same_numbers():
    plain, gbp, chf = _reasons("default"), _reasons("GBP"), _reasons("CHF")
    pd.testing.assert_frame_equal(plain.drop(columns="reason"), gbp.drop(columns="reason"))
    for p, g, c in zip(plain["reason"], gbp["reason"], chf["reason"]):
        assert "£" not in p and " items" not in p
        assert g.replace("£", "") == p                                   # only the unit is added
        assert c.replace(" CHF", "") == p
        figures = MONEY.findall(g)
        assert all("£" in f for f in figures), g
    offered = gbp.set_index("customer_id")["reason"]
    assert re.search(r"[+-]£\d+\.\d\d \(gain £", offered["offered"])     # "+£1.23 (gain £4.56 = ..."
    assert "margin at stake" in offered["offered"] and "expected discount cost" in offered["offered"]
    assert "£1,500.00 expected spend in 90 days" in offered["guarded"]
    assert "to the £40.00 minimum" in offered["stretched"]


def test_reasons_on_a_basket_log_count_items_and_say_so():
    plain, items = _reasons("default"), _reasons(None)
    pd.testing.assert_frame_equal(plain.drop(columns="reason"), items.drop(columns="reason"))
    for p, i in zip(plain["reason"], items["reason"]):
        assert not re.search(r"[£$€]|GBP", i), i
        figures = MONEY.findall(i)
        assert figures and all(f.endswith(" items") for f in figures), i
        assert i.endswith(cp.policy.ITEMS_NOTE) and "not money" in i
        back = (i.replace(" " + cp.policy.ITEMS_NOTE, "").replace("expected items bought", "expected spend")
                 .replace(" items", ""))
        assert back == p                                                 # the same numbers
    assert "1,500.00 items expected items bought in 90 days" in items.set_index("customer_id").at["guarded", "reason"]


def test_a_reason_without_figures_gets_no_note_and_a_bad_code_is_refused():
    none_eligible = cp.recommend_coupon({"customer_id": "x", "segment": "Promising", "churn_probability": 0.8,
                                         "order_value": 50.0},
                                        cp.load_catalogue(CATALOGUE.replace(b"*,Medium;High", b"Champions,High")
                                                          .replace(b"amt,5 off 40,amount,5,40,5,*,*",
                                                                   b"amt,5 off 40,amount,5,40,5,Champions,*")),
                                        cp.CouponPolicyConfig(currency=None))
    assert "none eligible" in none_eligible.reason and cp.policy.ITEMS_NOTE not in none_eligible.reason
    assert cp.CouponPolicyConfig(currency="gbp").currency == "GBP"
    with pytest.raises(DataError, match="Unknown currency"):
        cp.CouponPolicyConfig(currency="£")
    assert cp.CouponPolicyConfig().currency == units.UNKNOWN


def test_spend_exact_keeps_decimals_and_the_sign():
    assert units.spend_exact(0.05, "GBP", signed=True) == "+£0.05"
    assert units.spend_exact(-1.2, "GBP", signed=True) == "-£1.20"
    assert units.spend_exact(1234.5, "CHF") == "1,234.50 CHF"
    assert units.spend_exact(0.05, None, signed=True) == "+0.05 items"
    assert units.spend_exact(3.4, units.UNKNOWN) == "3.40" and units.spend_exact(None, "GBP") == units.DASH


# ---- the card and the campaign list on a dataset ------------------------------------------------------------------
def _raw() -> pd.DataFrame:
    from pipeline.ingest.samples import generate_raw

    raw = generate_raw(n_customers=N_CUSTOMERS, seed=3)
    return raw[(raw["CustomerID"].astype(str).str.strip() != "") & ~raw["InvoiceNo"].astype(str).str.startswith("C")]


def _shop() -> Dataset:
    """The synthetic sample (a gift shop paying in GBP)."""
    from pipeline.currency import currency_extra
    from pipeline.ingest.clean import clean_frame

    res = clean_frame(_raw())
    report = res.report.to_dict()
    return Dataset("shop", "shop", "transactions", transactions=res.transactions, returns=res.returns,
                   report=report, extra=currency_extra(res.transactions, report))


def _basket() -> Dataset:
    """The same sample as a basket log: member, day, item; the amount and price columns dropped."""
    from pipeline.currency import currency_extra
    from pipeline.ingest.clean import clean_frame

    raw = _raw()
    res = clean_frame(pd.DataFrame({"Member_number": raw["CustomerID"].astype(str),
                                    "Date": pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%d-%m-%Y"),
                                    "itemDescription": raw["Description"]}))
    report = res.report.to_dict()
    assert report["monetary_unit"] == "items"
    return Dataset("basket", "basket", "transactions", transactions=res.transactions, returns=res.returns,
                   report=report, extra=currency_extra(res.transactions, report))


@pytest.fixture(scope="module")
def scorers():
    from pipeline.customer import build_scorer

    return {"shop": build_scorer(_shop()), "basket": build_scorer(_basket())}


def _offered(scorer, n: int = 5) -> list[str]:
    """Customers whose reason has figures (a coupon offered or priced)."""
    reasons = scorer.index.coupon.reasons
    ids = list(scorer.index.coupon_rows)
    return [cid for cid, r in zip(ids, reasons) if _figures(r)][:n]


def _cards(scorer) -> list[str]:
    from pipeline.customer import CouponSetup, customer_profile

    other = scorer.with_coupons(CouponSetup.load())          # as the Customer page does: other rules, same unit
    ids = _offered(scorer)
    assert ids
    return [customer_profile(s, cid).coupon["reason"] for s in (scorer, other) for cid in ids]


def _campaign(scorer) -> pd.Series:
    from pipeline.campaign import campaign_list

    out = campaign_list(scorer.table, scorer.coupons.catalogue, scorer.coupons.policy, control_share=0.0,
                        facts=scorer.decisions.facts)
    return out["reason"][out["reason"].map(lambda r: bool(_figures(r)))]


def test_cards_and_campaign_lists_on_the_sample_show_pounds(scorers):
    shop = scorers["shop"]
    assert shop.coupons.policy.currency == "GBP"
    reasons = _cards(shop) + _campaign(shop).tolist()
    assert len(reasons) > 5
    for r in reasons:
        assert _figures(r) and all("£" in f for f in _figures(r)), r


def test_cards_and_campaign_lists_on_a_basket_log_show_items(scorers):
    basket = scorers["basket"]
    assert basket.coupons.policy.currency is None
    reasons = _cards(basket) + _campaign(basket).tolist()
    assert len(reasons) > 5
    for r in reasons:
        assert "£" not in r and cp.policy.ITEMS_NOTE in r, r
        assert _figures(r) and all(f.endswith(" items") for f in _figures(r)), r


def test_the_cli_campaign_list_is_in_the_files_unit(tmp_path, capsys):
    from pipeline.cli import main

    raw = _raw()
    path = tmp_path / "groceries.csv"
    pd.DataFrame({"Member_number": raw["CustomerID"].astype(str),
                  "Date": pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%d-%m-%Y"),
                  "itemDescription": raw["Description"]}).to_csv(path, index=False)
    out = tmp_path / "c.csv"
    assert main(["campaign", str(path), "--out", str(out)]) == 0
    reasons = pd.read_csv(out)["reason"].dropna()
    priced = reasons[reasons.map(lambda r: bool(_figures(r)))]
    assert len(priced) and not priced.str.contains("£").any()
    assert all(f.endswith(" items") for r in priced for f in _figures(r))
    capsys.readouterr()
    assert main(["campaign", str(path), "--currency", "GBP", "--out", str(tmp_path / "d.csv")]) == 2
    assert "counted in items" in capsys.readouterr().err
