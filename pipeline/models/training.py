"""Training and evaluation of the zoo: target checks, the train/test split, class imbalance, cross-validation.

:func:`train_and_evaluate` fits every chosen :data:`~pipeline.models.zoo.REGISTRY` model (baselines always
included) on integer-encoded classes ``0..k-1`` (XGBoost requires that; ``TrainResult.labels`` maps them back)
and scores it on a test set; :func:`cross_validate_scores` is the one stratified k-fold used by the model lab
and by the learned coupon policy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

from pipeline.config import SEED
from pipeline.errors import DataError
from pipeline.log import logged
from pipeline.models.estimators import as_text
from pipeline.models.metrics import MetricReport, classification_metrics
from pipeline.models.zoo import REGISTRY, ZooSettings, build_pipeline, feature_types

__all__ = [
    "IMBALANCE_OPTIONS", "CV_METRICS", "ScoreBaseline", "TrainResult", "check_target", "split_train_test",
    "train_and_evaluate", "cross_validate_scores",
]

IMBALANCE_OPTIONS = {
    "none": "Train on the data as it is.",
    "class_weight": "Weight every row by the inverse frequency of its class (balanced weights).",
    "downsample": "Randomly drop rows of the larger classes in the training set until every class has as "
                  "many rows as the smallest one. The test set is never resampled.",
}

#: Metrics :func:`cross_validate_scores` can report (higher is better except ``log_loss``).
CV_METRICS = ("roc_auc", "balanced_accuracy", "accuracy", "log_loss")


# -- target and split checks ------------------------------------------------------------------------------

def check_target(y: Sequence, settings: ZooSettings | None = None, name: str = "target") -> pd.Series:
    """Validate a class target; returns it as a Series with text labels normalised.

    Raises DataError for missing values, a single class, or more classes than ``settings.max_classes``.
    """
    s = settings or ZooSettings()
    y = pd.Series(np.asarray(y, dtype=object) if not isinstance(y, pd.Series) else y).reset_index(drop=True)
    if y.isna().any():
        raise DataError(f"The {name} has {int(y.isna().sum()):,} missing values; drop those rows or pick "
                        "another column.")
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        y = y.map(as_text)
    n_classes = y.nunique()
    if n_classes < 2:
        raise DataError(f"The {name} has only one class ({y.iloc[0]!r} in all {len(y):,} rows); a classifier "
                        "needs at least two. Pick another column or a longer period.")
    if n_classes > s.max_classes:
        raise DataError(f"The {name} has {n_classes:,} distinct values - it looks like an id or a continuous "
                        f"number, not a class. Pick a column with at most {s.max_classes} classes, or bin it first.")
    return y


def split_train_test(X: pd.DataFrame, y: Sequence, test_size: float = 0.25,
                     settings: ZooSettings | None = None) -> list:
    """Stratified random split after checking the target and the row counts.

    Returns ``X_train, X_test, y_train, y_test``.
    """
    s = settings or ZooSettings()
    y = check_target(y, s)
    if len(X) != len(y):
        raise DataError(f"The features have {len(X):,} rows but the target has {len(y):,}; they must match.")
    if len(y) < s.min_rows:
        raise DataError(f"Only {len(y)} rows; training and testing a model needs at least {s.min_rows}.")
    counts = y.value_counts()
    n_test = int(np.ceil(test_size * len(y)))
    if counts.min() < 2 or n_test < len(counts):
        raise DataError(f"Class {counts.idxmin()!r} has {counts.min()} row(s) and the test set would have {n_test} "
                        f"rows for {len(counts)} classes; every class needs at least 2 rows and one test row. "
                        "Merge rare classes or add data.")
    X = X.reset_index(drop=True)
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=s.random_state)


def _encode_target(y_train, y_test, s: ZooSettings) -> tuple[list, np.ndarray, np.ndarray]:
    yt = check_target(y_train, s, "training target")
    ye = pd.Series(np.asarray(y_test, dtype=object) if not isinstance(y_test, pd.Series) else y_test)
    if ye.isna().any():
        raise DataError("The test target has missing values; drop those rows.")
    if not (pd.api.types.is_numeric_dtype(yt) or pd.api.types.is_bool_dtype(yt)):
        ye = ye.map(as_text)
    labels = sorted(yt.unique().tolist())
    unseen = set(ye.unique().tolist()) - set(labels)
    if unseen:
        raise DataError(f"The test set has classes {sorted(map(str, unseen))[:5]} that never occur in training; "
                        "use a stratified split or drop those rows.")
    index = {label: i for i, label in enumerate(labels)}
    return labels, yt.map(index).to_numpy(dtype=int), ye.map(index).to_numpy(dtype=int)


def _min_per_class(names: Sequence[str], cv_folds: int | None, s: ZooSettings) -> int:
    need = max(2, cv_folds or 0)
    if "svm" in names:
        need = max(need, s.calibration_cv + 2)
    if "stacked" in names:
        need = max(need, 2 * s.stack_cv)
    return need


def _check_rows(X_train: pd.DataFrame, X_test: pd.DataFrame, y: np.ndarray, labels: list, names, cv_folds,
                s: ZooSettings) -> None:
    if len(X_train) != len(y):
        raise DataError(f"X_train has {len(X_train):,} rows but y_train has {len(y):,}; they must match.")
    if len(X_train) < s.min_rows or len(X_test) == 0:
        raise DataError(f"{len(X_train)} training and {len(X_test)} test rows; need at least {s.min_rows} "
                        "training rows and one test row.")
    missing = [c for c in X_train.columns if c not in X_test.columns]
    if missing:
        raise DataError(f"The test table lacks columns {missing[:5]}; both tables need the same features.")
    counts = np.bincount(y, minlength=len(labels))
    need = _min_per_class(names, cv_folds, s)
    if counts.min() < need:
        raise DataError(f"Class {labels[int(counts.argmin())]!r} has only {counts.min()} training rows; the chosen "
                        f"models/folds need at least {need} per class. Add data, merge rare classes, or choose "
                        "fewer folds / drop the SVM and stacked models.")


# -- imbalance ------------------------------------------------------------------------------------------

def _resample(X: pd.DataFrame, y: np.ndarray, imbalance: str, seed: int):
    """Returns ``X, y, sample_weight`` for the chosen imbalance treatment (training set only)."""
    if imbalance not in IMBALANCE_OPTIONS:
        raise DataError(f"Unknown imbalance option '{imbalance}'; choose from {list(IMBALANCE_OPTIONS)}.")
    if imbalance == "class_weight":
        return X, y, compute_sample_weight("balanced", y)
    if imbalance == "downsample":
        rng = np.random.default_rng(seed)
        smallest = np.bincount(y).min()
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), smallest, replace=False)
                                       for c in np.unique(y)]))
        return X.iloc[keep].reset_index(drop=True), y[keep], None
    return X, y, None


# -- training and evaluation -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreBaseline:
    """A score-only baseline (e.g. BG/NBD expected purchases): binary targets only.

    Scores must be oriented so that higher means "more likely the positive class" (``labels[1]``;
    for churn pass e.g. ``exp(-expected_purchases)``). Hard predictions: score >= a threshold chosen on
    ``train_score`` (the quantile that flags the training prevalence), or, without training scores,
    the top ``positive_rate`` share of test rows (default: the training prevalence). Rank metrics use
    the raw score; the Brier score is NaN because the score is not a probability.
    """

    label: str
    test_score: np.ndarray
    train_score: np.ndarray | None = None
    positive_rate: float | None = None
    description: str = ""


@dataclass
class TrainResult:
    """Everything the model-lab page shows: the metric table, fitted pipelines, test probabilities."""

    table: pd.DataFrame
    pipelines: dict[str, Pipeline]
    proba: dict[str, np.ndarray]
    reports: dict[str, MetricReport]
    labels: list
    feature_types: dict[str, str]
    y_test: np.ndarray
    imbalance: str
    best: str | None = None
    warnings: list[str] = field(default_factory=list)


@logged("train_and_evaluate")
def train_and_evaluate(
    X_train: pd.DataFrame, y_train: Sequence, X_test: pd.DataFrame, y_test: Sequence,
    model_names: Sequence[str], imbalance: str = "none",
    progress_callback: Callable[[int, int, str], None] | None = None, cv_folds: int | None = None,
    extra_baseline_scores: Mapping[str, ScoreBaseline] | None = None, *,
    settings: ZooSettings | None = None, types: Mapping[str, str] | None = None,
) -> TrainResult:
    """Fit every chosen model (baselines always included) and score it on the test set.

    ``progress_callback(step, total, label)`` is called before each model with the number of models done
    so far, and once more with ``step == total`` and label ``"done"``. Baselines are fitted on the
    training data as given (no weights, no resampling). ``cv_folds`` adds stratified k-fold ROC AUC and
    balanced accuracy (mean and std) on the training set.
    """
    s = settings or ZooSettings()
    names = _resolve_names(model_names)
    types = dict(types) if types is not None else feature_types(X_train)
    X_train, X_test = X_train.reset_index(drop=True), X_test.reset_index(drop=True)
    labels, yt, ye = _encode_target(y_train, y_test, s)
    _check_rows(X_train, X_test, yt, labels, names, cv_folds, s)
    extra = dict(extra_baseline_scores or {})
    _check_score_baselines(extra, labels, len(X_test))
    Xr, yr, weights = _resample(X_train, yt, imbalance, s.random_state)
    total, y_test_labels = len(names) + len(extra), np.asarray(labels)[ye]
    rows, pipes, probas, reports = [], {}, {}, {}
    for step, name in enumerate(names):
        _progress(progress_callback, step, total, REGISTRY[name].label)
        fit_data = (X_train, yt, None) if REGISTRY[name].baseline else (Xr, yr, weights)
        pipe, proba, report, row = _run_model(name, types, s, fit_data, X_test, labels, y_test_labels, cv_folds)
        rows.append(row)
        pipes[name], probas[name], reports[name] = pipe, proba, report
    for step, (key, base) in enumerate(extra.items(), start=len(names)):
        _progress(progress_callback, step, total, base.label)
        report, row = _score_baseline_row(key, base, labels, yt, y_test_labels)
        rows.append(row)
        reports[key], probas[key] = report, np.asarray(base.test_score, dtype=float)
    _progress(progress_callback, total, total, "done")
    table = pd.DataFrame(rows).set_index("key")
    return TrainResult(table=table, pipelines=pipes, proba=probas, reports=reports, labels=labels,
                       feature_types=types, y_test=y_test_labels, imbalance=imbalance, best=_best(table))


def _run_model(name: str, types: Mapping[str, str], s: ZooSettings, fit_data: tuple, X_test: pd.DataFrame,
               labels: list, y_test: np.ndarray, cv_folds: int | None):
    """Fit one registry model, time fit and predict, score it; returns ``pipe, proba, report, row``."""
    spec = REGISTRY[name]
    pipe, train_s = _timed_fit(build_pipeline(name, types, s), *fit_data)
    start = time.perf_counter()
    proba = pipe.predict_proba(X_test[list(types)])
    predict_s = time.perf_counter() - start
    report = classification_metrics(y_test, np.asarray(labels)[proba.argmax(axis=1)], proba, labels)
    row = {"key": name, "model": spec.label, "baseline": spec.baseline, **report.scores,
           "train_s": train_s, "predict_s": predict_s}
    if cv_folds:
        row.update(_cv_scores(build_pipeline(name, types, s), *fit_data, cv_folds, s))
    return pipe, proba, report, row


def _resolve_names(model_names: Sequence[str]) -> list[str]:
    unknown = [n for n in model_names if n not in REGISTRY]
    if unknown:
        raise DataError(f"Unknown models {unknown}; choose from {list(REGISTRY)}.")
    baselines = [n for n, spec in REGISTRY.items() if spec.baseline]
    return baselines + [n for n in dict.fromkeys(model_names) if n not in baselines]


def _progress(callback, step: int, total: int, label: str) -> None:
    if callback is not None:
        callback(step, total, label)


def _timed_fit(pipe: Pipeline, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None):
    start = time.perf_counter()
    kwargs = {} if weights is None else {"model__sample_weight": weights}
    pipe.fit(X, y, **kwargs)
    return pipe, time.perf_counter() - start


def _cv_scores(pipe: Pipeline, X, y, weights, folds: int, s: ZooSettings) -> dict[str, float]:
    params = None if weights is None else {"model__sample_weight": weights}
    folds_scores = cross_validate_scores(pipe, X, y, folds, ("roc_auc", "balanced_accuracy"), s.random_state, params)
    return {f"cv_{m}_{stat}": float(getattr(np, stat)(values))
            for m, values in folds_scores.items() for stat in ("mean", "std")}


def cross_validate_scores(estimator: BaseEstimator, X: pd.DataFrame, y: Sequence, folds: int,
                          metrics: Sequence[str] = ("roc_auc", "balanced_accuracy"), random_state: int = SEED,
                          params: Mapping[str, object] | None = None) -> dict[str, np.ndarray]:
    """Per-fold test scores of ``estimator`` in shuffled stratified ``folds``-fold cross-validation.

    Parameters
    ----------
    metrics : names from :data:`CV_METRICS`; ROC AUC is one-vs-rest for more than two classes and
        ``log_loss`` is reported as a loss (positive).
    params : fit parameters routed to ``estimator.fit`` (e.g. ``{"model__sample_weight": w}``).

    Returns
    -------
    ``{metric: array of one score per fold}``, in the order of ``metrics``.
    """
    unknown = [m for m in metrics if m not in CV_METRICS]
    if unknown:
        raise DataError(f"Unknown cross-validation metrics {unknown}; choose from {list(CV_METRICS)}.")
    binary = len(np.unique(np.asarray(y))) == 2
    scorers = {"roc_auc": "roc_auc" if binary else "roc_auc_ovr", "balanced_accuracy": "balanced_accuracy",
               "accuracy": "accuracy", "log_loss": "neg_log_loss"}
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    res = cross_validate(estimator, X, y, cv=cv, scoring={m: scorers[m] for m in metrics},
                         params=None if params is None else dict(params), n_jobs=1)
    return {m: -res[f"test_{m}"] if m == "log_loss" else res[f"test_{m}"] for m in metrics}


def _check_score_baselines(extra: Mapping[str, ScoreBaseline], labels: list, n_test: int) -> None:
    for key, base in extra.items():
        if key in REGISTRY:
            raise DataError(f"Score baseline name '{key}' clashes with a model name; rename it.")
        if len(labels) != 2:
            raise DataError(f"Score baseline '{base.label}' needs a two-class target; this one has {len(labels)}.")
        if len(base.test_score) != n_test:
            raise DataError(f"Score baseline '{base.label}' has {len(base.test_score)} test scores for "
                            f"{n_test} test rows; pass one score per test row.")


def _score_baseline_row(key: str, base: ScoreBaseline, labels: list, y_train: np.ndarray, y_test: np.ndarray):
    score = np.asarray(base.test_score, dtype=float)
    if base.train_score is not None:
        threshold = float(np.quantile(np.asarray(base.train_score, dtype=float), 1 - y_train.mean()))
    else:
        rate = base.positive_rate if base.positive_rate is not None else float(y_train.mean())
        threshold = float(np.quantile(score, 1 - rate)) if rate > 0 else np.inf
    y_pred = np.where(score >= threshold, labels[1], labels[0])
    report = classification_metrics(y_test, y_pred, None, labels, score=score)
    row = {"key": key, "model": base.label, "baseline": True, **report.scores,
           "train_s": float("nan"), "predict_s": float("nan")}
    return report, row


def _best(table: pd.DataFrame) -> str | None:
    models = table[~table["baseline"].astype(bool)]
    if models.empty:
        return None
    ranked = models.sort_values(["roc_auc", "balanced_accuracy"], ascending=False, na_position="last")
    return str(ranked.index[0])
