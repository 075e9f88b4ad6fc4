"""Churn models trained on stacked past cutoffs (:mod:`pipeline.slices`), early-stopped and calibrated later.

:func:`fit_sliced` is the one way a churn model learns from slices, for the card's churn model
(:func:`pipeline.customer.classifier.default_churn_classifier`) and for every family the backtest grades
(:mod:`pipeline.health.backtest`): the training slices are the older ones, the newest labelled slice is the
*validation* slice (later than every training row): boosted trees stop adding trees when it stops improving,
and the probability is calibrated on it together with the slice's BG/NBD score (:func:`blend`: Platt scaling with
log(1 + expected purchases) as a second input), so no family ranks below what BG/NBD alone knows on the latest
period. A logistic regression's blend is folded into its coefficients (it stays a logistic regression with exact
explanations); other families are wrapped in :class:`~pipeline.models.estimators.PlattScaled`. Linear models read
``sign * log1p|x|`` of the numbers (``ZooSettings.log_numbers``). Numeric columns that hardly vary in training (a degenerate BG/NBD P(alive)) are
left out (:func:`varying_types`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.churn import BASELINE_SCORE_COLUMN
from pipeline.config import SliceConfig
from pipeline.errors import DataError
from pipeline.models.zoo import REGISTRY, ZooSettings, build_preprocessor, feature_types

__all__ = ["varying_types", "churn_types", "fit_sliced", "blend"]

def varying_types(X: pd.DataFrame, types: Mapping[str, str]) -> dict[str, str]:
    """Feature types without the numeric columns that hardly vary (std below 1e-3 x |mean|, or constant)."""
    def flat(c: str) -> bool:
        v = pd.to_numeric(X[c], errors="coerce")
        return not v.std() > 1e-3 * abs(v.mean())
    return {c: t for c, t in types.items() if t != "numeric" or not flat(c)}


def churn_types(X: pd.DataFrame) -> dict[str, str]:
    """The churn model's inputs of a stacked training set: every feature that varies."""
    return varying_types(X, feature_types(X))


def blend(score: np.ndarray, anchor: pd.Series | np.ndarray | None, y: np.ndarray) -> tuple[float, float, float]:
    """``(slope, weight, intercept)``: logistic regression of ``y`` on ``logit(score)`` and ``log1p(anchor)``
    (the BG/NBD expected purchases; weight 0 without it), unpenalised. Platt scaling plus the BTYD score, fitted
    on the validation slice: a family's probability is calibrated and never throws away what BG/NBD knows."""
    from sklearn.linear_model import LogisticRegression

    p = np.clip(np.asarray(score, dtype=float), 1e-9, 1 - 1e-9)
    cols = [np.log(p / (1 - p))]
    if anchor is not None:
        cols.append(np.log1p(np.clip(pd.to_numeric(pd.Series(anchor), errors="coerce").fillna(0.0)
                                     .to_numpy(float), 0.0, None)))
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(np.column_stack(cols), np.asarray(y, dtype=int))
    w = fit.coef_[0]
    return float(w[0]), float(w[1]) if len(w) > 1 else 0.0, float(fit.intercept_[0])


#: Families that need rows they did not learn from to stop and calibrate (a linear model's own fit is calibrated).
_HELD_OUT = ("tree", "forest", "xgboost")


def _settings(name: str, settings: ZooSettings, config: SliceConfig, rows: int) -> ZooSettings:
    """The zoo's settings for stacked slices: numbers on a log scale for linear and kernel families; tree
    families regularised (:class:`~pipeline.config.SliceConfig`)."""
    leaf = max(settings.tree_min_leaf, int(config.min_leaf_share * rows))
    return dataclasses.replace(settings, log_numbers=name in ("logreg", "svm", "keras", "stacked"),
                               tree_max_depth=config.tree_max_depth, tree_min_leaf=leaf, forest_min_leaf=leaf,
                               xgb_trees=config.xgb_trees, xgb_max_depth=config.xgb_max_depth,
                               xgb_learning_rate=config.xgb_learning_rate,
                               xgb_min_child_weight=config.xgb_min_child_weight,
                               xgb_reg_lambda=config.xgb_reg_lambda)


def fit_sliced(*args, **kwargs) -> Pipeline:
    """:func:`_fit_sliced` with one BLAS/OpenMP thread: on a busy 2-core machine more threads spin (a churn
    logistic regression took 5.8 s with two and 0.5 s with one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fit_sliced(*args, **kwargs)


def _fit_sliced(name: str, X_train: pd.DataFrame, y_train: pd.Series | np.ndarray,
               X_valid: pd.DataFrame | None = None, y_valid: pd.Series | np.ndarray | None = None, *,
               types: Mapping[str, str] | None = None, settings: ZooSettings = ZooSettings(),
               config: SliceConfig = SliceConfig()) -> Pipeline:
    """A fitted ``Pipeline(prep -> model)`` of zoo family ``name`` on the training slices, early-stopped (XGBoost)
    and Platt-calibrated on the validation slice when one is given with both classes."""
    if name not in REGISTRY:
        raise DataError(f"Unknown model '{name}'; choose from {list(REGISTRY)}.")
    types = dict(types) if types is not None else churn_types(X_train)
    cols = list(types)
    y_tr = np.asarray(y_train, dtype=int)
    if len(np.unique(y_tr)) < 2:
        raise DataError("churn model: the training slices hold one class only; use a longer horizon or more data.")
    if X_valid is None and config.single_slice_valid > 0 and name in _HELD_OUT:
        X_train, y_tr, X_valid, y_valid = _hold_out(X_train, y_tr, config)
    s = _settings(name, settings, config, len(X_train))
    prep = build_preprocessor(types, s).fit(X_train[cols])
    model = REGISTRY[name].factory(s)
    valid = X_valid is not None and y_valid is not None and len(np.unique(np.asarray(y_valid))) == 2
    Xt = prep.transform(X_train[cols])
    if valid and name == "xgboost":
        model.set_params(early_stopping_rounds=config.early_stopping_rounds, eval_metric="logloss")
        model.fit(Xt, y_tr, eval_set=[(prep.transform(X_valid[cols]), np.asarray(y_valid, dtype=int))],
                  verbose=False)
    else:
        model.fit(Xt, y_tr)
    pipe = Pipeline([("prep", prep), ("model", model)])
    if not valid or config.calibration != "sigmoid" or REGISTRY[name].baseline:
        return pipe
    anchor = BASELINE_SCORE_COLUMN if BASELINE_SCORE_COLUMN in types else None
    slope, weight, intercept = blend(pipe.predict_proba(X_valid[cols])[:, 1],
                                     X_valid[anchor] if anchor else None, np.asarray(y_valid, dtype=int))
    if name == "logreg" and _fold(pipe, anchor, slope, weight, intercept):
        return pipe
    from pipeline.models.estimators import PlattScaled

    # explanations of a wrapped family use occlusion on the raw columns (there is no preprocessing step to read)
    return Pipeline([("prep", "passthrough"), ("model", PlattScaled(pipe, slope, intercept, weight, anchor))])


def _hold_out(X: pd.DataFrame, y: np.ndarray, config: SliceConfig):
    """One past slice only: a seeded random ``single_slice_valid`` share of its rows validates instead of a later
    slice (there is none); both parts keep both classes or nothing is held out."""
    rng = np.random.default_rng(config.random_state)
    hold = rng.random(len(y)) < config.single_slice_valid
    if len(np.unique(y[hold])) < 2 or len(np.unique(y[~hold])) < 2:
        return X, y, None, None
    return X.iloc[np.flatnonzero(~hold)], y[~hold], X.iloc[np.flatnonzero(hold)], y[hold]


def _position(prep, column: str | None) -> int | None:
    """Where ``column`` is in the preprocessor's output (None: not an input)."""
    from pipeline.models.zoo import output_sources

    return output_sources(prep).index(column) if column is not None else None


def _fold(pipe: Pipeline, anchor: str | None, slope: float, weight: float, intercept: float) -> bool:
    """Fold the blend into a logistic regression on ``sign * log1p`` numbers: the anchor's log1p is a linear
    function of its scaled input, so the blended model is a logistic regression again (exact explanations)."""
    prep, model = pipe.named_steps["prep"], pipe.named_steps["model"]
    coef, b0 = model.coef_ * slope, model.intercept_ * slope + intercept
    if anchor is not None and weight != 0.0:
        j = _position(prep, anchor)
        num = prep.named_transformers_["num"]
        if "log" not in num.named_steps:
            return False
        k = list(num.feature_names_in_).index(anchor)
        scale, mean = num.named_steps["scale"].scale_[k], num.named_steps["scale"].mean_[k]
        coef[0, j] += weight * scale
        b0 = b0 + weight * mean
    model.coef_, model.intercept_ = coef, b0
    return True
