"""A fitted classifier ready to score and explain one customer: the churn model a card shows, or the Model lab's
active model on a customer table.

Belongs here: :class:`FittedClassifier` (pipeline + features + labels + the reference for per-row drivers), the
wrapper of a model saved in the Model lab (:func:`saved_classifier`) and the default churn model trained out of
time (:func:`default_churn_classifier`). Training itself lives in :mod:`pipeline.models`; this module only adapts a
fitted model to one-customer scoring.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, SEED
from pipeline.errors import DataError

if TYPE_CHECKING:
    from pipeline.churn import ChurnSplit
    from pipeline.slices import SliceSet
    from pipeline.models import ZooSettings
    from pipeline.models.persist import ModelMetadata

__all__ = ["ProbabilisticClassifier", "FittedClassifier", "saved_classifier", "default_churn_classifier",
           "churn_check", "fit_on_slices", "GAP_FEATURES"]

#: Features measured between a customer's purchase days: none of their own with a single purchase day.
GAP_FEATURES = ("mean_days_between", "median_days_between", "std_days_between")


class ProbabilisticClassifier(Protocol):
    """What scoring needs of a fitted scikit-learn classifier (or pipeline)."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


@dataclass
class FittedClassifier:
    """A fitted classification pipeline with what is needed to score and explain one customer.

    ``positive_index`` is the class whose probability is reported (churned = 1 for churn models; ``None``: the
    predicted class of each row). ``bounds``: numeric column -> (min, max) seen in training; inputs are clipped.

    What the model reads (:meth:`inputs`: clipped) is not what a person is shown (:meth:`shown_values`: the
    customer's own figures); the drivers show the latter and say where the model caps them.
    """

    pipeline: ProbabilisticClassifier
    features: list[str]
    class_labels: list[object]
    target: str
    label: str
    source: str                       # "active" (Model lab) or "default"
    description: str
    reference: dict[str, object] = field(default_factory=dict)
    positive_index: int | None = 1
    metrics: dict[str, object] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def inputs(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's columns, numeric ones clipped to ``bounds`` (one vectorised step: on the what-if path)."""
        if not self.bounds:
            return X[self.features]
        cols = list(self.bounds)
        lo, hi = (np.array([self.bounds[c][i] for c in cols]) for i in (0, 1))
        values = np.clip(X[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float), lo, hi) \
            if any(X[c].dtype == object for c in cols) else np.clip(X[cols].to_numpy(float), lo, hi)
        data = {f: X[f].to_numpy() for f in self.features} | {c: values[:, j] for j, c in enumerate(cols)}
        return pd.DataFrame(data, index=X.index)[self.features]

    _inputs = inputs

    def shown_values(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's columns as a person is shown them: the rows' own values, not clipped; the days between
        orders of a customer with one purchase day (tenure = recency) are missing, since there is no gap yet (the
        model reads the tenure, a lower bound: :func:`pipeline.features.derive_features`)."""
        own = X[self.features].copy()
        gaps = [c for c in GAP_FEATURES if c in own]
        if gaps and {"recency_days", "tenure_days"} <= set(X.columns):
            one_day = (pd.to_numeric(X["tenure_days"], errors="coerce")
                       == pd.to_numeric(X["recency_days"], errors="coerce")).to_numpy(bool)
            if one_day.any():
                own[gaps] = own[gaps].astype(float)
                own.loc[one_day, gaps] = np.nan
        return own

    def score(self, X: pd.DataFrame, top: int = 5) -> tuple[float, pd.DataFrame]:
        """Positive-class probability and the top drivers of a one-row frame (inputs prepared once)."""
        from pipeline.models import explain_row

        Xi = self.inputs(X)
        p = float(self.pipeline.predict_proba(Xi)[0, self.positive_index if self.positive_index is not None else 1])
        drivers = explain_row(self.pipeline, Xi, self.reference, class_index=self.positive_index, top=top,
                              values=self.shown_values(X)) if top else pd.DataFrame()
        return p, drivers

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (rows x classes)."""
        return self.pipeline.predict_proba(self.inputs(X))

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for every row."""
        return self.proba(X)[:, self.positive_index if self.positive_index is not None else 1]

    def drivers(self, row: pd.DataFrame, top: int = 5, class_index: int | None = None) -> pd.DataFrame:
        """Top per-customer contributions (``feature, value, contribution, model_value, capped``;
        ``attrs['method']``): values as shown (:meth:`shown_values`), contributions of what the model read."""
        from pipeline.models import explain_row

        idx = self.positive_index if class_index is None else class_index
        return explain_row(self.pipeline, self.inputs(row), self.reference, class_index=idx, top=top,
                           values=self.shown_values(row))

    def prediction(self, frame: pd.DataFrame) -> dict[str, object]:
        """The predicted class of a one-row frame: ``target, predicted, probability, class_index, model``."""
        proba = self.proba(frame)[0]
        idx = int(proba.argmax())
        return {"target": self.target, "predicted": self.class_labels[idx], "probability": float(proba[idx]),
                "class_index": idx, "model": self.label}


def _positive_index(labels: Sequence[object]) -> int:
    text = [str(v) for v in labels]
    for yes in ("1", "1.0", "True", "true", "yes", "churned"):
        if yes in text:
            return text.index(yes)
    return len(text) - 1


def saved_classifier(pipeline: ProbabilisticClassifier, meta: ModelMetadata,
                     source: str = "active") -> FittedClassifier:
    """Wrap a saved model (the dataset's live model, ``pipeline.health.live.load_live``), named as every page
    names it (``pipeline.models.saved.model_title``)."""
    from pipeline.models.saved import model_title

    auc = meta.metrics.get("roc_auc")
    what = f"ROC AUC {auc:.3f} on its test set" if isinstance(auc, (int, float)) else "no ROC AUC recorded"
    binary = len(meta.class_labels) == 2
    return FittedClassifier(pipeline, list(meta.features), list(meta.class_labels), meta.target, meta.model_label,
                            source, f"Live model: {model_title(meta)} (target {meta.target}; {what}).",
                            dict(meta.reference), _positive_index(meta.class_labels) if binary else None,
                            dict(meta.metrics))


def default_churn_classifier(transactions: pd.DataFrame, returns: pd.DataFrame | None,
                             horizon_days: int = HORIZON_DAYS, seed: int = SEED,
                             split: ChurnSplit | None = None, slices: SliceSet | None = None) -> FittedClassifier:
    """The card's churn model: ``SliceConfig.churn_model`` (logistic regression on ``sign * log1p`` of the
    behavioural and BTYD features) trained on stacked past cutoffs, calibrated on the newest
    (:func:`pipeline.models.sliced.fit_sliced`).

    Out-of-time check first: trained on the slices whose labels end by ``end - H`` and scored on the customers
    as of ``end - H`` (labelled by the last H days); its ROC AUC is reported. The model used is then trained the
    same way on the slices whose labels end by the end of the data and scores everyone as of the end.
    ``slices``: the dataset's :class:`pipeline.slices.SliceSet` (built here when None; ``split`` is kept for
    callers that hold one and is not needed). Inputs are clipped to the range seen in training.
    """
    from pipeline.config import SliceConfig
    from pipeline.models import ZooSettings, feature_reference
    from pipeline.slices import SliceSet

    settings, config = ZooSettings(random_state=seed), SliceConfig()
    slices = slices or SliceSet(transactions, returns, horizon_days)
    metrics, how = {}, "no out-of-time check: the data are too short for two periods"
    check = churn_check(slices, config.churn_model, seed)
    if check is not None:
        metrics = check["metrics"]
        how = (f"out-of-time ROC AUC {metrics['roc_auc']:.3f} (trained on past cutoffs up to "
               f"{metrics['train_cutoff']}, tested on customers as of {metrics['test_cutoff']})")
    pipe, X, y = fit_on_slices(slices, slices.end, config.churn_model, settings, config)
    n_rows = len(y)
    types = {c: ("numeric" if pd.api.types.is_numeric_dtype(X[c]) else "categorical") for c in X.columns}
    n_slices = X.attrs.get("slices", 1)
    desc = (f"Default churn model: logistic regression on {len(types)} behavioural and BTYD features, trained on "
            f"{n_rows:,} customer x cutoff rows from {n_slices} past cutoff{'s' if n_slices != 1 else ''} (each "
            f"labelled by the {horizon_days} days after it) and calibrated on the latest; {how}. Mark a model in "
            "the Model lab to use it instead.")
    bounds = {c: (float(X[c].min()), float(X[c].max())) for c, t in types.items() if t == "numeric"}
    return FittedClassifier(pipe, list(types), [0, 1], "churned", "Logistic regression (default)", "default", desc,
                            feature_reference(X[list(types)], types), 1, metrics, bounds)


def churn_check(slices: SliceSet, name: str | None = None, seed: int = SEED) -> dict | None:
    """The card's churn model graded out of time (computed once per ``slices``): trained for use at ``end - H``,
    scored on the customers as of then and compared with the last H days. ``{"proba": Series (index
    customer_id), "y": Series, "metrics": {roc_auc, brier, calibration_error, n_test, train_cutoff,
    test_cutoff}}``; None when the data are too short or the test period has one class."""
    from pipeline.config import SliceConfig
    from pipeline.models import ZooSettings

    config = SliceConfig()
    name = name or config.churn_model

    def make() -> dict | None:
        from sklearn.metrics import roc_auc_score

        from pipeline.grading import calibration_error

        end, H = slices.end, slices.H
        try:
            test = slices.at(end - H)
            pipe, X, _ = fit_on_slices(slices, end - H, name, ZooSettings(random_state=seed), config)
        except DataError:
            return None
        y = test.y["churned"]
        if len(np.unique(y)) < 2:
            return None
        p = pd.Series(pipe.predict_proba(test.X[list(X.columns)])[:, 1], index=test.X.index)
        metrics = {"roc_auc": float(roc_auc_score(y, p)), "brier": float(np.mean((p - y) ** 2)),
                   "calibration_error": calibration_error(y, p), "n_test": len(y),
                   "train_cutoff": str((end - 2 * H).date()), "test_cutoff": str((end - H).date())}
        return {"proba": p, "y": y, "metrics": metrics}
    return slices.memo(("churn_check", name, seed), make)


def fit_on_slices(slices: SliceSet, cutoff: pd.Timestamp, name: str, settings: ZooSettings,
                   config) -> tuple[object, pd.DataFrame, pd.Series]:
    """``(pipeline, training X, training labels)`` of family ``name`` for use at ``cutoff``: trained on the older slices
    whose labels end by ``cutoff``, validated and calibrated on the newest (trained on it alone when it is the
    only one)."""
    from pipeline.models.sliced import churn_types, fit_sliced

    cuts = slices.training_cutoffs(cutoff)
    if not cuts:
        raise DataError(f"churn: no labelled period ends by {pd.Timestamp(cutoff).date()}; the data are too short "
                        "for a churn model.")
    valid = slices.at(cuts[0])
    train_cuts = cuts[1:] or cuts[:1]
    X, y = slices.stack(train_cuts)
    if valid.y is None or len(np.unique(y["churned"])) < 2:
        raise DataError("churn: the training periods hold one class only; use a longer horizon or more data.")
    types = churn_types(X)
    Xv, yv = (valid.X, valid.y["churned"]) if len(cuts) > 1 else (None, None)
    pipe = fit_sliced(name, X, y["churned"], Xv, yv, types=types, settings=settings, config=config)
    X = X[list(types)]
    X.attrs["slices"] = len(train_cuts)
    return pipe, X, y["churned"]
