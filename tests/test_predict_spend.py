"""Spend in the next H days (pipeline.predict.spend): shapes and bounds, seeds, the rules of time, the interval."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline.config import SliceConfig, SpendConfig, ValueConfig
from pipeline.errors import DataError
from pipeline.predict.spend import COLUMNS, SpendForecast, _conformal_quantile, fit_spend, interval_coverage, \
    spend_rows
from pipeline.slices import SliceSet

FEW = SliceConfig(max_slices=4)                 # four past cutoffs keep the suite fast


def _slices(tx, ret, config=FEW):
    return SliceSet(tx, ret, 90, config=config)


def _cutoff(slices):
    return (slices.end - slices.H).normalize()


@pytest.fixture(scope="module")
def synthetic():
    from pipeline.ingest.samples import generate_transactions

    return generate_transactions(n_customers=300, seed=5)


@pytest.fixture(scope="module")
def fitted(synthetic):
    slices = _slices(*synthetic)
    cutoff = _cutoff(slices)
    return slices, cutoff, fit_spend(slices, cutoff)


@pytest.fixture(scope="module")
def cdnow_sample():
    from pipeline.ingest import load_cdnow

    raw = load_cdnow("sample")
    tx = pd.DataFrame({"customer_id": raw["customer_id"].astype(str),
                       "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
                       "amount": raw["dollar_value"].astype(float)})
    tx["invoice_id"] = tx["customer_id"] + "|" + raw["date"]
    return tx


def test_forecast_shape_bounds_and_words(fitted):
    slices, cutoff, fc = fitted
    X = slices.at(cutoff).X
    pred = fc.predict(X)
    assert isinstance(fc, SpendForecast) and list(pred.columns) == list(COLUMNS)
    assert pred.index.equals(X.index) and np.isfinite(pred.to_numpy()).all()
    assert (pred["spend_low"] >= 0).all()
    assert (pred["spend_low"] <= pred["expected_spend"] + 1e-9).all()
    assert (pred["expected_spend"] <= pred["spend_high"] + 1e-9).all()
    assert (pred["spend_low"] == 0).mean() > 0.5          # most customers may well spend nothing
    assert "80% interval" in fc.description and "out of time" in fc.description
    assert fc.validation["out_of_time"] and fc.validation["chosen"] in fc.validation["candidates"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fc.quantile = 0.0


def test_forecast_is_deterministic(synthetic, fitted):
    slices, cutoff, fc = fitted
    again = fit_spend(_slices(*synthetic), cutoff)
    X = slices.at(cutoff).X
    pd.testing.assert_frame_equal(fc.predict(X), again.predict(X))
    assert again.description == fc.description


def test_lines_on_or_after_the_cutoff_are_never_read(synthetic, fitted):
    tx, ret = synthetic
    slices, cutoff, fc = fitted
    later = pd.to_datetime(tx["date"]) >= cutoff
    changed = tx.copy()
    changed.loc[later, "amount"] = changed.loc[later, "amount"] * 7.0 + 3.0         # the future, rewritten
    changed = changed.drop(changed.index[later.to_numpy()][::3])                    # and partly erased
    assert later.any() and not changed.equals(tx)
    other = fit_spend(_slices(changed, ret), cutoff)
    X = slices.at(cutoff).X
    pd.testing.assert_frame_equal(fc.predict(X), other.predict(X))


def test_interval_coverage_by_hand():
    actual = [0.0, 5.0, 10.0, 20.0, 8.0]
    low = [0.0, 0.0, 5.0, 0.0, 8.0]
    high = [1.0, 10.0, 8.0, 30.0, 9.0]
    # 0 in [0, 1], 5 in [0, 10], 10 not in [5, 8], 20 in [0, 30], 8 in [8, 9] (bounds count as inside)
    assert interval_coverage(actual, low, high) == pytest.approx(4 / 5)
    assert np.isnan(interval_coverage([], [], []))


def test_conformal_quantile_by_hand():
    scores = np.arange(1.0, 11.0)[::-1]                  # 10 calibration scores 1..10
    assert _conformal_quantile(scores, 0.8) == 9.0       # the ceil(11 x 0.8) = 9th smallest
    assert _conformal_quantile(scores, 0.95) == 10.0     # never beyond the largest


def test_one_past_slice_is_calibrated_in_time_and_says_so(synthetic):
    slices = _slices(*synthetic, config=SliceConfig(max_slices=1))
    cutoff = _cutoff(slices)
    fc = fit_spend(slices, cutoff)
    pred = fc.predict(slices.at(cutoff).X)
    assert not fc.validation["out_of_time"] and "in time only" in fc.description
    assert (pred["spend_low"] <= pred["expected_spend"]).all() and (pred["expected_spend"] <= pred["spend_high"]).all()


def test_too_short_for_a_past_slice(synthetic):
    slices = _slices(*synthetic)
    with pytest.raises(DataError, match="too short"):
        fit_spend(slices, slices.start + pd.Timedelta(days=100))


def test_cdnow_sample_row_is_graded_with_its_coverage(cdnow_sample):
    from pipeline.grading import normalized_gini

    slices = _slices(cdnow_sample, None)
    cutoff = _cutoff(slices)
    fc = fit_spend(slices, cutoff)
    rows = spend_rows(slices, cutoff, ValueConfig(), SpendConfig(), forecast=fc)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {"key", "target", "model", "role", "n", "mae", "median_ae", "gini", "top_share", "roc_auc",
                        "coverage", "width"}
    assert (row["key"], row["target"], row["role"]) == ("spend_hybrid", "spend", "model")
    test = slices.at(cutoff)
    assert row["n"] == len(test.X)
    pred = fc.predict(test.X)
    truth = test.y["spend"].to_numpy()
    inside = (truth >= pred["spend_low"].to_numpy()) & (truth <= pred["spend_high"].to_numpy())
    assert row["coverage"] == pytest.approx(inside.mean())
    assert row["width"] == pytest.approx((pred["spend_high"] - pred["spend_low"]).mean())
    assert 0.6 <= row["coverage"] <= 0.95
    # it ranks next-period spend better than "same as the last 90 days"
    assert row["gini"] > normalized_gini(truth, test.X["spend_90d"])
