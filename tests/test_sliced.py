"""Multi-slice training data (pipeline.slices) and the churn models trained on it (pipeline.models.sliced):
targets by hand, which cutoffs a model may learn from, the future never read, the BTYD blend folded exactly into
a logistic regression, calibration error by hand, and the backtest's rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import SliceConfig
from pipeline.grading import calibration_error
from pipeline.ingest.samples import generate_transactions
from pipeline.slices import TARGETS, SliceSet


def _tx(rows) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": c, "invoice_id": f"{c}-{i}", "date": pd.Timestamp(d), "amount": a,
                          "quantity": 1.0, "unit_price": a, "product_id": "p", "product_name": "p",
                          "category": "c", "country": "UK"} for i, (c, d, a) in enumerate(rows)])


def test_slice_targets_by_hand():
    tx = _tx([("A", "2024-01-01", 10), ("A", "2024-02-05", 20), ("A", "2024-02-05", 5), ("A", "2024-02-20", 7),
              ("B", "2024-01-10", 50), ("B", "2024-04-20", 9), ("C", "2024-01-20", 3), ("D", "2024-05-30", 1)])
    s = SliceSet(tx, None, horizon_days=30)
    y = s.at("2024-02-01").y
    assert list(y.columns) == list(TARGETS) and list(y.index) == ["A", "B", "C"]   # D had not bought yet
    # A: two purchase days in [Feb 1, Mar 2): spend 32, first on Feb 5 = 5 days after the last observed day
    assert y.loc["A"].tolist() == [0, 32.0, 2.0, 5.0]
    assert y.loc["B", "churned"] == 1 and y.loc["B", "spend"] == 0 and np.isnan(y.loc["B", "next_days"])
    assert s.at("2024-05-20").y is None                     # its 30 days run past the data (last day May 30)


def test_a_model_at_a_cutoff_learns_only_from_slices_whose_labels_end_by_it():
    tx, _ = generate_transactions(300, seed=3)
    s = SliceSet(tx, None, horizon_days=60, config=SliceConfig(step_days=30, max_slices=4))
    t = s.end - pd.Timedelta(days=60)
    cuts = s.training_cutoffs(t)
    assert cuts[0] == t - pd.Timedelta(days=60) and len(cuts) <= 4
    assert all(c + pd.Timedelta(days=60) <= t for c in cuts)            # every label window ends by t
    assert all(a - b == pd.Timedelta(days=30) for a, b in zip(cuts, cuts[1:]))  # newest first, 30 days apart
    assert all(c - s.start >= pd.Timedelta(days=s.rules.min_history_days) for c in cuts)


def test_the_churn_model_never_reads_lines_on_or_after_its_cutoff():
    from pipeline.customer.classifier import fit_on_slices
    from pipeline.models import ZooSettings

    tx, _ = generate_transactions(400, seed=5)
    s = SliceSet(tx, None, horizon_days=60)
    t = s.end - pd.Timedelta(days=60)
    pipe, X, _ = fit_on_slices(s, t, "logreg", ZooSettings(), SliceConfig())
    future = tx["date"] >= t
    changed = tx.copy()
    changed.loc[future, "amount"] *= 3                             # the future is different...
    changed = changed.drop(changed.index[future][::2])             # ...and half of it never happened
    s2 = SliceSet(changed, None, horizon_days=60)
    pipe2, X2, _ = fit_on_slices(s2, t, "logreg", ZooSettings(), SliceConfig())
    test = s.at(t).X
    assert np.allclose(pipe.predict_proba(test[list(X.columns)]), pipe2.predict_proba(test[list(X2.columns)]))


def test_the_btyd_blend_is_folded_exactly_into_a_logistic_regression():
    """Platt scaling with log(1 + BG/NBD expected purchases) as a second input, fitted on the validation slice,
    becomes the logistic regression's own coefficients: same probabilities as applying the blend by hand."""
    import copy

    from pipeline.models.sliced import _fold, blend, churn_types, fit_sliced
    from pipeline.models.zoo import REGISTRY, build_preprocessor

    tx, _ = generate_transactions(500, seed=7)
    s = SliceSet(tx, None, horizon_days=60)
    cuts = s.training_cutoffs(s.end)
    X, y = s.stack(cuts[1:])
    valid = s.at(cuts[0])
    types = churn_types(X)
    folded = fit_sliced("logreg", X, y["churned"], valid.X, valid.y["churned"], types=types)
    # the same fit without calibration, blended by hand
    import dataclasses

    from pipeline.models import ZooSettings
    from sklearn.pipeline import Pipeline

    st = dataclasses.replace(ZooSettings(), log_numbers=True)
    prep = build_preprocessor(types, st).fit(X[list(types)])
    model = REGISTRY["logreg"].factory(st).fit(prep.transform(X[list(types)]), y["churned"].to_numpy())
    raw = Pipeline([("prep", prep), ("model", model)])
    p = raw.predict_proba(valid.X[list(types)])[:, 1]
    slope, weight, intercept = blend(p, valid.X["btyd_expected_purchases"], valid.y["churned"].to_numpy())
    test = s.at(s.end).X
    q = np.clip(raw.predict_proba(test[list(types)])[:, 1], 1e-9, 1 - 1e-9)
    z = slope * np.log(q / (1 - q)) + weight * np.log1p(test["btyd_expected_purchases"].to_numpy()) + intercept
    assert folded.predict_proba(test[list(types)])[:, 1] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-9)
    assert _fold(copy.deepcopy(raw), None, 1.0, 0.0, 0.0)       # no blend: a plain copy folds trivially


def test_calibration_error_by_hand():
    # bin 0-0.1: predicted 0.05 twice, one of two churned (0.5): |1 - 0.1| = 0.9 over 4 rows
    # bin 0.9-1.0: predicted 0.95 twice, both churned: |2 - 1.9| = 0.1
    assert calibration_error([1, 0, 1, 1], [0.05, 0.05, 0.95, 0.95]) == pytest.approx((0.9 + 0.1) / 4)
    assert calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)


def test_backtest_grades_every_family_against_the_rules_on_the_same_customers():
    from pipeline.health.backtest import run_backtest

    tx, ret = generate_transactions(400, seed=11)
    res = run_backtest(tx, ret, 60, 60, ["logreg", "xgboost"])
    t = res.table
    assert {"calibration_error", "train_slices"} <= set(t.columns)
    for _, g in t.groupby("cutoff"):
        assert set(g["model"]) == {"logreg", "xgboost", "majority", "bgnbd", "recency_rule"}
        assert g["n_customers"].nunique() == 1 and set(g.loc[g["baseline"], "model"]) == {"majority", "bgnbd",
                                                                                           "recency_rule"}
    assert (t["train_slices"] >= 1).all() and t["roc_auc"].between(0, 1).all()
