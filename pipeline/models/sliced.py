"""Churn models trained on stacked past cutoffs (:mod:`pipeline.slices`), early-stopped and calibrated later.

:func:`fit_sliced` is the one way a churn model learns from slices, for the card's churn model
(:func:`pipeline.customer.classifier.default_churn_classifier`) and for every family the backtest grades
(:mod:`pipeline.health.backtest`): the training slices are the older ones, the newest labelled slice is the
*validation* slice (later than every training row): boosted trees stop adding trees when it stops improving,
and the probabilities are Platt-calibrated on it (a logistic regression's calibration is folded into its
coefficients, so its explanation stays exact; other families are wrapped in
:class:`~pipeline.models.estimators.PlattScaled`). Linear models read ``sign * log1p|x|`` of the numbers
(``ZooSettings.log_numbers``). Numeric columns that hardly vary in training (a degenerate BG/NBD P(alive)) are
left out (:func:`varying_types`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import SliceConfig
from pipeline.errors import DataError
from pipeline.models.zoo import REGISTRY, ZooSettings, build_preprocessor, feature_types

__all__ = ["varying_types", "churn_types", "fit_sliced", "platt"]

def varying_types(X: pd.DataFrame, types: Mapping[str, str]) -> dict[str, str]:
    """Feature types without the numeric columns that hardly vary (std below 1e-3 x |mean|, or constant)."""
    def flat(c: str) -> bool:
        v = pd.to_numeric(X[c], errors="coerce")
        return not v.std() > 1e-3 * abs(v.mean())
    return {c: t for c, t in types.items() if t != "numeric" or not flat(c)}


def churn_types(X: pd.DataFrame) -> dict[str, str]:
    """The churn model's inputs of a stacked training set: every feature that varies."""
    return varying_types(X, feature_types(X))


def platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of Platt scaling: logistic regression of ``y`` on ``logit(score)`` (no penalty)."""
    from sklearn.linear_model import LogisticRegression

    p = np.clip(np.asarray(score, dtype=float), 1e-9, 1 - 1e-9)
    z = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(z, np.asarray(y, dtype=int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _settings(name: str, settings: ZooSettings) -> ZooSettings:
    return dataclasses.replace(settings, log_numbers=name in ("logreg", "svm", "keras", "stacked"))


def fit_sliced(name: str, X_train: pd.DataFrame, y_train: pd.Series | np.ndarray,
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
    s = _settings(name, settings)
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
    slope, intercept = platt(pipe.predict_proba(X_valid[cols])[:, 1], np.asarray(y_valid, dtype=int))
    if name == "logreg":                      # logit is linear: fold the calibration into the coefficients
        model.coef_ = model.coef_ * slope
        model.intercept_ = model.intercept_ * slope + intercept
        return pipe
    from pipeline.models.estimators import PlattScaled

    return Pipeline([("prep", prep), ("model", PlattScaled(model, slope, intercept))])
