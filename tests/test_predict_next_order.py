"""The next-order forecast (pipeline.predict.next_order): the person-period expansion checked by hand, the order
gaps, the within-week interpolation, and a fitted model's shapes, bounds, determinism and rules of time."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import NextOrderConfig
from pipeline.errors import DataError
from pipeline.predict.next_order import (GAP_COLUMNS, NextOrderForecast, fit_next_order, next_order_features,
                                         next_order_rows, order_gaps, person_periods)

#: Small and fast: a few thousand person-period rows, a few dozen boosting rounds.
FAST = NextOrderConfig(max_rows=20_000, max_iter=40)


def test_person_periods_by_hand():
    # ordered on day 17 (week 3), never (censored), day 7 (week 1), day 1 (week 1), day 90 (the short week 13)
    pp = person_periods([17, np.nan, 7, 1, 90], horizon_days=90, period_days=7)
    rows = {r: g for r, g in pp.groupby("row")}
    assert rows[0]["period"].tolist() == [1, 2, 3] and rows[0]["event"].tolist() == [0, 0, 1]
    assert rows[1]["period"].tolist() == list(range(1, 14)) and rows[1]["event"].sum() == 0
    assert rows[2]["period"].tolist() == [1] and rows[2]["event"].tolist() == [1]
    assert rows[3]["period"].tolist() == [1] and rows[3]["event"].tolist() == [1]
    assert rows[4]["period"].tolist() == list(range(1, 14)) and rows[4]["event"].tolist() == [0] * 12 + [1]
    assert len(pp) == 3 + 13 + 1 + 1 + 13
    with pytest.raises(DataError):
        person_periods([0], horizon_days=90)
    with pytest.raises(DataError):
        person_periods([91], horizon_days=90)


def test_order_gaps_by_hand():
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b", "c", "c"],
                       "date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-11", "2024-01-31",
                                               "2024-01-20", "2024-01-05", "2024-03-01"])})
    g = order_gaps(tx, pd.Index(["a", "b", "c", "d"]), "2024-02-10")
    # a: days 1, 11, 31 Jan -> 3 visits, last gap 20, due 31 Jan + 20 = 20 Feb = 11 days after 9 Feb
    assert g.loc["a"].tolist() == [3.0, 20.0, 11.0]
    assert g.loc["b", "visits"] == 1 and np.isnan(g.loc["b", "last_gap_days"]) and np.isnan(g.loc["b", "gap_due_days"])
    assert g.loc["c", "visits"] == 1                       # its March day is after the cutoff: not read
    assert g.loc["d"].isna().all()


class _Stub:
    """A 'classifier' whose hazard is (almost) 1 in week 2 and (almost) 0 in every other week."""

    def predict_proba(self, F):
        h = np.where(F["period"].to_numpy() == 2, 1.0, 0.0)
        return np.column_stack([1 - h, h])


def test_quantiles_interpolate_inside_the_week():
    X = pd.DataFrame({"recency_days": [5.0], "mean_days_between": [10.0],
                      **{c: [1.0] for c in GAP_COLUMNS}}, index=["x"])
    f = NextOrderForecast(_Stub(), ["recency_days", "mean_days_between", *GAP_COLUMNS], 90, NextOrderConfig(),
                          beta=0.1)
    out = f.predict(X)
    # every order falls on days 8..14 evenly: median day 11, 10 % at day 8 (7.7 -> 8), 90 % at day 14 (13.3 -> 14)
    assert out.loc["x", "next_days"] == 11 and out.loc["x", "next_low"] == 8 and out.loc["x", "next_high"] == 14
    assert out.loc["x", "p_order"] == pytest.approx(1.0)
    assert f.cdf_at(np.zeros((1, 14)) + np.r_[0, 0, np.ones(12)], [10.5]).tolist() == [0.5]
    dated = f.predict(X, as_of="2024-03-01")             # the last observed day is 29 Feb: day 11 = 11 March
    assert dated.loc["x", "next_date"] == pd.Timestamp("2024-03-11")
    assert "11 Mar 2024" in dated.loc["x", "description"]


@pytest.fixture(scope="module")
def synthetic():
    from pipeline.ingest import generate_transactions
    from pipeline.slices import SliceSet

    tx, ret = generate_transactions(n_customers=400, seed=5)
    slices = SliceSet(tx, ret)
    cutoff = slices.end - slices.H
    forecast = fit_next_order(slices, cutoff, FAST)
    return tx, ret, slices, cutoff, forecast


def test_forecast_shapes_and_bounds(synthetic):
    _, _, slices, cutoff, forecast = synthetic
    X = next_order_features(slices, cutoff)
    out = forecast.predict(X)
    assert out.index.equals(X.index)
    assert list(out.columns) == ["p_order", "next_days", "next_low", "next_high", "description"]
    assert out["p_order"].between(0, 1).all()
    assert (out["next_low"] <= out["next_days"]).all() and (out["next_days"] <= out["next_high"]).all()
    assert out[["next_low", "next_high"]].stack().between(1, slices.horizon_days).all()
    assert (out["next_days"] % 7 != 0).any()             # day counts, not whole weeks
    assert 0 <= forecast.beta <= 0.5
    assert forecast.info["validation_slice"] == str(slices.training_cutoffs(cutoff)[0].date())


def test_fit_is_deterministic(synthetic):
    _, _, slices, cutoff, forecast = synthetic
    X = next_order_features(slices, cutoff)
    again = fit_next_order(slices, cutoff, FAST)
    pd.testing.assert_frame_equal(forecast.predict(X), again.predict(X))
    assert again.beta == forecast.beta


def test_never_reads_lines_on_or_after_the_cutoff(synthetic):
    from pipeline.slices import SliceSet

    tx, ret, slices, cutoff, forecast = synthetic
    later = pd.to_datetime(tx["date"]) >= cutoff
    assert later.any()
    changed = tx.copy()
    rng = np.random.default_rng(0)
    changed.loc[later, "customer_id"] = rng.permutation(changed.loc[later, "customer_id"].to_numpy())
    changed.loc[later, "amount"] = changed.loc[later, "amount"] * 3.0
    other = SliceSet(changed, ret)
    assert other.end == slices.end
    refit = fit_next_order(other, cutoff, FAST)
    pd.testing.assert_frame_equal(forecast.predict(next_order_features(slices, cutoff)),
                                  refit.predict(next_order_features(other, cutoff)))


def test_value_rows_grade_the_baselines_customers(synthetic):
    from pipeline.grading import GRADE_COLUMNS, last_gap_days, next_order_days

    tx, _, slices, cutoff, _ = synthetic
    rows = next_order_rows(slices, cutoff, config=FAST)
    keys = {"key", *GRADE_COLUMNS}              # the graded table's columns (pipeline.value.ValueGrades)
    assert all(set(r) == keys for r in rows)
    hazard = {r["key"]: r for r in rows}["next_order_hazard"]
    ids = slices.at(cutoff).X.index
    graded = next_order_days(tx, ids, cutoff, slices.horizon_days).notna() & last_gap_days(tx, ids, cutoff).notna()
    assert hazard["target"] == "next_order" and hazard["role"] == "model" and hazard["n"] == int(graded.sum())
    assert hazard["mae"] >= 0 and 0 <= hazard["coverage"] <= 1 and hazard["width"] > 0
    assert np.isnan(hazard["gini"]) and np.isnan(hazard["top_share"])
    assert 0 <= {r["key"]: r for r in rows}["p_order_hazard"]["roc_auc"] <= 1
    typical = {r["key"]: r for r in rows}["next_order_typical"]
    assert typical["role"] == "BASELINE" and typical["n"] == hazard["n"] and np.isnan(typical["coverage"])


def test_one_past_cutoff_validates_on_a_share_and_none_is_refused(synthetic):
    from pipeline.config import SliceConfig
    from pipeline.slices import SliceSet

    tx, ret, slices, cutoff, _ = synthetic
    single = SliceSet(tx, ret, config=SliceConfig(max_slices=1))
    assert len(single.training_cutoffs(cutoff)) == 1
    forecast = fit_next_order(single, cutoff, FAST)
    assert "One past cutoff only" in forecast.info["note"]
    out = forecast.predict(next_order_features(single, cutoff))
    assert (out["next_low"] <= out["next_days"]).all() and (out["next_days"] <= out["next_high"]).all()
    with pytest.raises(DataError):
        fit_next_order(slices, slices.start + pd.Timedelta(days=100), FAST)
