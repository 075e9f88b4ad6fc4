"""Every number on a customer's card is the customer's own, as of the card's date (issue 19, item 2).

For 200 seeded random customers (plus a few chosen edge cases) of the synthetic sample, CDNOW and Online Retail,
each figure the card shows - the tiles (recency, orders, spend, tenure, average order value, days between orders,
first/last order, R/F/M scores and segment, churn risk and band, P(alive), expected orders / spend / order value,
next order), the drivers table's values, the purchase timeline, the top categories and products, and the what-if
evaluated at the customer's own values - is compared with an independent pandas computation from the cleaned lines
as of the card's date (the day after the last line). The models are the scorer's: predictions are checked by
feeding the models the independently computed inputs. A driver the model caps must say so (``capped``) and carry
the value the model read (the training bound); a driver that is a prediction withheld on the dataset shows no
number. The counts of mismatches per kind are printed (``-s``) and in the assertion message.

CDNOW (23,502 customers) is cut to a fixed sample of 2,500 customers with every line of theirs before the scorer is
fitted: the card and the truth are computed from the same lines, so the sample checks the same equality as the whole
dataset, at less than half the cost of the scorer's fit. The synthetic sample and Online Retail are checked whole.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline import customer as pf

N_CUSTOMERS = 200
SEED = 19
SAMPLE_CUSTOMERS = 2500    # CDNOW customers the scorer is fitted on (all their lines)
GAP_FEATURES = ("mean_days_between", "median_days_between", "std_days_between")   # none with one purchase day


def _customer_sample(ds, n: int):
    """``ds`` restricted to ``n`` customers drawn with the fixed seed, with every line and return of theirs."""
    import dataclasses

    ids = np.sort(ds.transactions["customer_id"].astype(str).unique())
    if len(ids) <= n:
        return ds
    keep = set(np.random.default_rng(SEED).choice(ids, n, replace=False))
    tx = ds.transactions[ds.transactions["customer_id"].astype(str).isin(keep)].reset_index(drop=True)
    ret = ds.returns
    if ret is not None:
        ret = ret[ret["customer_id"].astype(str).isin(keep)].reset_index(drop=True)
    return dataclasses.replace(ds, transactions=tx, returns=ret)


def _build(key: str) -> pf.ModelScorer:
    """The scorer of the app's synthetic sample (4,997 customers) or the whole Online Retail export (4,338), or of a
    fixed sample of SAMPLE_CUSTOMERS of CDNOW's 23,502 customers (every line of theirs). The card is compared with
    the truth computed from the lines the scorer holds, so the sample checks the same equality as the whole of
    CDNOW, whose fit (churn model, value grades, forecasts on ten times the customers) costs twice as much."""
    from pipeline.ingest.datasets import build_dataset, sample_dataset

    if key == "online_retail":
        return pf.build_scorer(build_dataset(dataset("online_retail.csv"), "online_retail.csv"))
    ds = sample_dataset(key)
    return pf.build_scorer(_customer_sample(ds, SAMPLE_CUSTOMERS) if key == "cdnow" else ds)


@pytest.fixture(scope="module", params=["synthetic", "cdnow",
                                        pytest.param("online_retail", marks=pytest.mark.slow)])
def case(request) -> tuple[str, pf.ModelScorer, pd.DataFrame, dict]:
    """(dataset key, its scorer, the independent truth of every customer, each customer's line positions): built
    once per dataset."""
    scorer = _build(request.param)
    lines = scorer.history.transactions["customer_id"].astype(str)
    return request.param, scorer, _truth(scorer), lines.groupby(lines).indices


# ------------------------------------------------------------------------------------- the independent truth

def _truth(scorer: pf.ModelScorer) -> pd.DataFrame:
    """Every customer's figures from the cleaned lines, in plain pandas (no pipeline feature code), as of the day
    after the last line; the model outputs come from the scorer's models fed these inputs."""
    h = scorer.history
    tx = h.transactions.assign(cid=h.transactions["customer_id"].astype(str))
    as_of = tx["date"].max().normalize() + pd.Timedelta(days=1)
    assert h.as_of == as_of, "the card's date is the day after the last line"
    tx["day"] = tx["date"].dt.normalize()
    tx["qty"] = tx["quantity"].fillna(1.0)
    orders = tx.groupby(["cid", "invoice_id"]).agg(day=("day", "min"), spend=("amount", "sum"),
                                                   lines=("amount", "size"), qty=("qty", "sum")).reset_index()
    g = orders.groupby("cid")
    t = pd.DataFrame({"frequency": g.size().astype(float), "monetary": g["spend"].sum(),
                      "recency_days": (as_of - g["day"].max()).dt.days.astype(float),
                      "tenure_days": (as_of - g["day"].min()).dt.days.astype(float),
                      "avg_basket_lines": g["lines"].mean(), "avg_basket_quantity": g["qty"].mean()})
    t["first_purchase"] = tx.groupby("cid")["date"].min()
    t["last_purchase"] = tx.groupby("cid")["date"].max()
    t["avg_order_value"] = t["monetary"] / t["frequency"]
    days = tx[["cid", "day"]].drop_duplicates().sort_values(["cid", "day"])
    gaps = days.groupby("cid")["day"].diff().dt.days.dropna().groupby(days["cid"])
    t["visits"] = days.groupby("cid").size()
    t["mean_days_between"] = gaps.mean().reindex(t.index)            # none of their own with one purchase day
    t["median_days_between"] = gaps.median().reindex(t.index)
    n_gaps = gaps.size().reindex(t.index).fillna(0)
    t["std_days_between"] = np.where(n_gaps >= 2, gaps.std(ddof=1).reindex(t.index), np.where(n_gaps == 1, 0.0,
                                                                                              np.nan))
    age = (as_of - orders["day"]).dt.days
    for w in (30, 60, 90, 180):
        t[f"orders_{w}d"] = (age <= w).groupby(orders["cid"]).sum().astype(float)
        t[f"spend_{w}d"] = orders["spend"].where(age <= w, 0.0).groupby(orders["cid"]).sum()
    for kind in ("orders", "spend"):
        last, prev = t[f"{kind}_90d"], t[f"{kind}_180d"] - t[f"{kind}_90d"]
        t[f"{kind}_trend_90d"] = np.where(last + prev > 0, (last - prev) / (last + prev).where(last + prev > 0), 0.0)
    t["n_products"] = tx.dropna(subset=["product_id"]).groupby("cid")["product_id"].nunique() \
        .reindex(t.index).fillna(0).astype(float)
    t["n_categories"] = tx.dropna(subset=["category"]).groupby("cid")["category"].nunique() \
        .reindex(t.index).fillna(0).astype(float)
    ret = h.returns
    if ret is not None and len(ret):
        ret = ret[ret["date"] < as_of].assign(cid=ret["customer_id"].astype(str))
        rg = ret.groupby("cid")
        t["return_count"] = rg["invoice_id"].nunique().reindex(t.index).fillna(0).astype(float)
        back = rg["amount"].sum().abs().reindex(t.index).fillna(0.0)
    else:
        t["return_count"], back = 0.0, pd.Series(0.0, index=t.index)
    t["return_rate"] = back / (t["monetary"] + back)
    named = tx.dropna(subset=["country"])
    counts = named.groupby(["cid", "country"]).size().reset_index(name="n") \
        .sort_values(["cid", "n", "country"], ascending=[True, False, True]).drop_duplicates("cid")
    t["country"] = counts.set_index("cid")["country"].reindex(t.index).fillna("Unknown").astype(str)
    # R/F/M scores: quintiles of the average rank; the segment by the default rules
    for col, sign, out in (("recency_days", -1, "r_score"), ("frequency", 1, "f_score"), ("monetary", 1, "m_score")):
        t[out] = np.ceil((sign * t[col]).rank(method="average", pct=True) * 5).clip(1, 5).astype(int)
    from pipeline.rfm import assign_segments

    t["segment"] = assign_segments(t["r_score"], t["f_score"])
    _predictions(scorer, tx, as_of, t)
    return t


def _predictions(scorer: pf.ModelScorer, tx: pd.DataFrame, as_of: pd.Timestamp, t: pd.DataFrame) -> None:
    """BTYD and churn predictions of the independent inputs (BTYD summary in days, as lifetimes defines it)."""
    visit = tx.groupby(["cid", "day"])["amount"].sum().reset_index()
    g = visit.groupby("cid")
    first = g["day"].min()
    repeat = visit[visit["day"] > visit["cid"].map(first)]
    summary = pd.DataFrame({"frequency": (g.size() - 1).astype(float),
                            "recency": (g["day"].max() - first).dt.days.astype(float),
                            "T": (as_of - pd.Timedelta(days=1) - first).dt.days.astype(float),
                            "monetary_value": repeat.groupby("cid")["amount"].mean().reindex(first.index)
                            .fillna(0.0)})
    btyd = scorer.history.btyd.predict_table(summary, as_of=as_of)
    for k in ("p_alive", "expected_purchases", "expected_aov", "expected_spend"):
        t[f"btyd_{k}"] = btyd[k]
    t["expected_orders"] = btyd["expected_purchases"]
    for k in ("p_alive", "expected_aov", "expected_spend", "days_to_next_order", "next_order_date"):
        t[k] = btyd[k]
    fill = {c: t[c].fillna(t["tenure_days"]) for c in ("mean_days_between", "median_days_between")}
    X = t.assign(**fill, std_days_between=t["std_days_between"].fillna(0.0))  # the model's documented stand-ins
    from pipeline.churn import steady

    X = steady(X)                                 # the features are defined to 9 decimals (pipeline.churn)
    risk = scorer.decisions.risk          # the dataset's decision: the churn model or the rule that beat it
    if risk is not None:
        t["churn_probability"] = risk.probability(X)
        t["churn_basis"] = risk.basis(X)
    elif scorer.decisions.churn is not None:
        t["churn_probability"] = scorer.decisions.churn.probability(X)
    else:
        t["churn_probability"] = np.exp(-t["expected_orders"])
    facts = scorer.decisions.facts         # the chance of buying again: its graded source
    if facts is not None and getattr(facts, "again_source", "btyd") == "churn_model":
        t["p_alive"] = 1.0 - t["churn_probability"]
    _forecasts(scorer, visit, as_of, X, t)
    from pipeline.coupons import risk_bands

    t["risk_band"] = risk_bands(t["churn_probability"], scorer.coupons.policy)


def _forecasts(scorer, visit: pd.DataFrame, as_of: pd.Timestamp, X: pd.DataFrame, t: pd.DataFrame) -> None:
    """Spend and next order by the sources the card's facts chose, from the independent inputs: the spend forecast
    on the features, the hazard on them plus the last gap between purchase days, or the rule (last day + gap)."""
    facts, fc = scorer.decisions.facts, scorer.decisions.forecasts
    last_two = visit.sort_values("day").groupby("cid").tail(2).groupby("cid")["day"]
    gap = (last_two.max() - last_two.min()).dt.days.astype(float)
    gap = gap.where(gap > 0).reindex(t.index)
    due = gap + (last_two.max().reindex(t.index) - (as_of - pd.Timedelta(days=1))).dt.days.astype(float)
    t["usual_gap_days"] = gap
    for k in ("spend_low", "spend_high", "next_order_low", "next_order_high"):
        t[k] = None
    if facts is None or fc is None:
        return
    if facts.spend_source == "forecast":
        pred = fc.spend.predict(X)
        for k in ("expected_spend", "spend_low", "spend_high"):
            t[k] = pred[k]
    last = as_of - pd.Timedelta(days=1)
    if facts.next_source == "hazard":
        visits = visit.groupby("cid").size().astype(float).reindex(t.index)
        pred = fc.next_order.predict(X.assign(visits=visits, last_gap_days=gap, gap_due_days=due), as_of=as_of)
        t["days_to_next_order"], t["next_order_date"] = pred["next_days"], pred["next_date"]
        t["next_order_low"], t["next_order_high"] = pred["next_date_low"], pred["next_date_high"]
    elif facts.next_source == "rule":
        t["days_to_next_order"] = due
        t["next_order_date"] = last + pd.to_timedelta(due, unit="D")


def _timeline(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order: first line's time, spend, lines, quantity and the most common category (ties: first
    alphabetically; "" without any)."""
    g = lines.groupby("invoice_id")
    out = pd.DataFrame({"date": g["date"].min(), "amount": g["amount"].sum(), "lines": g.size(),
                        "quantity": g["quantity"].sum()})
    label = next((c for c in ("category", "product_name", "product_id") if lines[c].notna().any()), None)
    out["top_category"] = "" if label is None else \
        g[label].agg(lambda s: s.dropna().value_counts().sort_index(kind="stable").sort_values(
            ascending=False, kind="stable").index[0] if s.notna().any() else "")
    return out.reset_index().sort_values(["date", "invoice_id"], kind="stable").reset_index(drop=True)


def _top(lines: pd.DataFrame, column: str, n: int = 5) -> pd.DataFrame:
    known = lines.dropna(subset=[column])
    if known.empty:
        return pd.DataFrame(columns=[column, "spend", "lines", "orders"])
    g = known.groupby(column)
    out = pd.DataFrame({"spend": g["amount"].sum().round(9),      # equal money is equal: no float-noise ranks
                        "lines": g.size(), "orders": g["invoice_id"].nunique()})
    out = out.reset_index().sort_values(["spend", "lines", column], ascending=[False, False, True])
    return out.head(n).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ comparing

def _same(a: object, b: object, rel: float = 1e-9, abs_: float = 1e-6) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    missing = lambda x: x is None or (not isinstance(x, str) and pd.isna(x))  # noqa: E731
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    if isinstance(a, (pd.Timestamp, np.datetime64)) or isinstance(b, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(a) == pd.Timestamp(b)
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)


def _sample_ids(scorer: pf.ModelScorer, truth: pd.DataFrame) -> list[str]:
    """200 seeded random customers plus the edge cases: the biggest spender (above every training bound), the
    longest-lapsed, a one-order customer and customers with several orders on a single day."""
    ids = np.sort(scorer.ids.to_numpy(dtype=str))
    picked = list(np.random.default_rng(SEED).choice(ids, N_CUSTOMERS, replace=False))
    extra = [truth["monetary"].idxmax(), truth["recency_days"].idxmax()]
    extra += list(truth.index[truth["frequency"] == 1][:1])
    extra += list(truth.index[(truth["visits"] == 1) & (truth["frequency"] > 1)][:3])
    return list(dict.fromkeys(picked + [str(x) for x in extra]))


def _card_mismatches(scorer: pf.ModelScorer, truth: pd.DataFrame, positions: dict, cid: str, bad: Counter,
                     examples: list[str]) -> None:
    p = pf.customer_profile(scorer, cid)
    t = truth.loc[cid]

    def check(kind: str, shown: object, expected: object, **tol) -> None:
        if not _same(shown, expected, **tol):
            bad[kind] += 1
            if len(examples) < 12:
                examples.append(f"{cid} {kind}: card {shown!r} vs truth {expected!r}")

    for k in ("recency_days", "frequency", "monetary", "tenure_days", "r_score", "f_score", "m_score"):
        check(f"tile {k}", p.scores[k], t[k])
    check("tile segment", p.segment, t["segment"])
    check("tile avg_order_value", p.habits["avg_order_value"], t["avg_order_value"])
    check("tile days between orders", p.habits["mean_days_between"], t["mean_days_between"])
    for k in ("first_purchase", "last_purchase", "country"):
        check(f"tile {k}", p.habits[k], t[k])
    check("tile churn_probability", p.churn_probability, t["churn_probability"], abs_=1e-9)
    check("tile risk_band", p.risk_band, t["risk_band"])
    if getattr(p, "churn_basis", None) is not None and "churn_basis" in t:
        check("tile churn basis", p.churn_basis, t["churn_basis"])
    for k in ("p_alive", "expected_orders", "expected_spend", "expected_aov", "days_to_next_order",
              "next_order_date", "spend_low", "spend_high", "usual_gap_days", "next_order_low", "next_order_high"):
        check(f"tile {k}", p.value[k], t[k], abs_=1e-9)
    _drivers(scorer, p.drivers, t, check)
    lines = scorer.history.transactions.iloc[positions[cid]]
    tl = p.timeline
    want = _timeline(lines)
    check("timeline orders", len(tl), len(want))
    if len(tl) == len(want):
        for col in ("invoice_id", "date", "amount", "lines", "quantity", "top_category"):
            for a, b in zip(tl[col], want[col]):
                check(f"timeline {col}", a, b)
        check("timeline total", tl["amount"].sum(), t["monetary"])
    product = "product_name" if lines["product_name"].notna().any() else "product_id"
    for shown, column in ((p.top_categories, "category"), (p.top_products, product)):
        want = _top(lines, column)
        check(f"top {column} rows", len(shown), len(want))
        if len(shown) == len(want):
            for col in (column, "spend", "lines", "orders"):
                for a, b in zip(shown[col], want[col]):
                    check(f"top {column} {col}", a, b)
    _what_if(scorer, p, t, check)


def _drivers(scorer: pf.ModelScorer, drivers: pd.DataFrame, t: pd.Series, check) -> None:
    """Each driver shows the customer's own value; where the model read another (its training bound), the table
    says so and names that value."""
    risk = scorer.decisions.risk
    model = risk.model if risk is not None else scorer.decisions.churn
    bounds = model.bounds if model is not None else {}
    facts = scorer.decisions.facts
    hidden = {f for f, name in (("btyd_p_alive", "p_alive"), ("btyd_expected_purchases", "expected_orders"),
                                ("btyd_expected_spend", "expected_spend"))
              if facts is not None and not facts.get(name).visible}
    for _, d in drivers.iterrows():
        f = d["feature"]
        own = t[f]
        if f in hidden:                                  # a withheld prediction: no number, here either
            check(f"driver {f} withheld", (d["value"], d.get("model_value"), d.get("capped")),
                  (None, None, "withheld"))
            continue
        check(f"driver {f}", d["value"], own, abs_=1e-9)
        read = own
        if f in bounds and pd.notna(own):
            read = min(max(own, bounds[f][0]), bounds[f][1])
        elif f in GAP_FEATURES and pd.isna(own):          # one purchase day: the model reads the tenure (std 0)
            read = 0.0 if f == "std_days_between" else t["tenure_days"]
            read = min(max(read, bounds[f][0]), bounds[f][1]) if f in bounds else read
        if "model_value" not in drivers:
            check(f"driver {f} (model reads)", own, read, abs_=1e-9)      # nothing says the model read another
            continue
        check(f"driver {f} (model reads)", d["model_value"], read, abs_=1e-9)
        capped = "" if isinstance(own, str) else "filled" if pd.isna(own) else "above" if own > read + 1e-9 \
            else "below" if own < read - 1e-9 else ""
        check(f"driver {f} capped", d["capped"], capped)


def _what_if(scorer: pf.ModelScorer, p: pf.CustomerProfile, t: pd.Series, check) -> None:
    """The what-if started from the customer's own values (what the page's inputs hold) gives the card's numbers."""
    specs = pf.what_if_inputs(scorer, p.customer_id)
    inputs = {s["name"]: s["value"] for s in specs}
    for k, v in inputs.items():
        check(f"what-if input {k}", v, t[k])
    res = pf.what_if(scorer, inputs, p.customer_id)
    check("what-if churn_probability", res.churn_probability, p.churn_probability, abs_=1e-12)
    check("what-if risk_band", res.risk_band, p.risk_band)
    check("what-if segment", res.segment, p.segment)
    for k in ("r_score", "f_score", "m_score"):
        check(f"what-if {k}", res.scores[k], p.scores[k])
    check("what-if cluster", res.cluster, p.cluster)
    check("what-if cluster_name", res.cluster_name, p.cluster_name)
    for k in ("p_alive", "expected_orders", "expected_spend", "expected_aov", "days_to_next_order",
              "next_order_date", "spend_low", "spend_high", "usual_gap_days", "next_order_low", "next_order_high"):
        check(f"what-if {k}", res.value[k], p.value[k], abs_=1e-12)
    for k in ("coupon_id", "expected_value", "reason"):
        check(f"what-if coupon {k}", res.coupon.get(k), p.coupon.get(k), abs_=1e-12)
    a, b = res.drivers, p.drivers
    check("what-if drivers", list(a.columns) == list(b.columns) and len(a) == len(b)
          and all(_same(x, y, abs_=1e-12) for col in a.columns for x, y in zip(a[col], b[col])), True)


def test_every_number_on_the_card_is_the_customers_own(case):
    key, scorer, truth, positions = case
    ids = _sample_ids(scorer, truth)
    assert len(ids) >= N_CUSTOMERS
    bad: Counter = Counter()
    examples: list[str] = []
    for cid in ids:
        _card_mismatches(scorer, truth, positions, cid, bad, examples)
    total = sum(bad.values())
    print(f"{key}: {len(ids)} cards, {total} mismatches {dict(bad)}")
    assert total == 0, f"{key}: {total} mismatches over {len(ids)} cards: {dict(bad)}; e.g. " + "; ".join(examples)


def test_a_capped_driver_says_so_in_words():
    from pipeline.models.explain import driver_note

    assert driver_note("above", "£62,166.70") == "the model treats anything above £62,166.70 alike"
    assert driver_note("below", "2 days") == "the model treats anything below 2 days alike"
    assert driver_note("", "3") == ""
