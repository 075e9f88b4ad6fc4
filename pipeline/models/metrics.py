"""Classification metrics, confusion matrices and curve data for the model comparison table.

Binary problems treat the second label (``labels[1]``) as the positive class; multiclass problems report
macro averages (one-vs-rest for ROC AUC, PR AUC and specificity).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from pipeline.errors import DataError

__all__ = [
    "METRIC_COLUMNS", "HIGHER_IS_BETTER", "MetricReport", "classification_metrics",
    "confusion_table", "roc_curves", "pr_curves", "calibration_table",
]

#: Metric names, in table order.
METRIC_COLUMNS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1",
    "roc_auc", "pr_auc", "mcc", "brier",
)
#: Direction of each metric (the Brier score is a loss).
HIGHER_IS_BETTER = {name: name != "brier" for name in METRIC_COLUMNS}


@dataclass(frozen=True)
class MetricReport:
    """Scores plus the data behind the confusion matrix and the curves of one model.

    ``roc``/``pr``/``calibration`` are long tables with a ``class`` column (one curve per class for
    multiclass, the positive class only for binary); they are empty when no probabilities were given.
    """

    scores: dict[str, float]
    confusion: pd.DataFrame
    roc: pd.DataFrame = field(default_factory=pd.DataFrame)
    pr: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)


def classification_metrics(
    y_true: Sequence, y_pred: Sequence, proba: np.ndarray | None = None,
    labels: Sequence | None = None, *, score: np.ndarray | None = None, n_bins: int = 10,
) -> MetricReport:
    """Every metric of the comparison table for one model.

    Parameters
    ----------
    y_true, y_pred : true and predicted labels.
    proba : (n, k) class probabilities, columns in the order of ``labels``; None if the model has none.
    labels : class labels; default: sorted union of ``y_true`` and ``y_pred``.
    score : binary only, a ranking score for the positive class used for ROC/PR AUC when
        ``proba`` is None (e.g. a score-only baseline). The Brier score is then NaN.
    n_bins : bins of the calibration curve.
    """
    y_true, y_pred = _as_array(y_true), _as_array(y_pred)
    labels = _labels(y_true, y_pred, labels)
    proba = _check_proba(proba, len(y_true), len(labels))
    binary = len(labels) == 2
    ranking = _ranking(proba, score, binary)
    with warnings.catch_warnings():  # a one-class test set is reported as NaN AUC, not as a warning
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        scores = _scores(y_true, y_pred, proba, labels, ranking)
    return MetricReport(
        scores=scores, confusion=confusion_table(y_true, y_pred, labels),
        roc=roc_curves(y_true, ranking, labels), pr=pr_curves(y_true, ranking, labels),
        calibration=calibration_table(y_true, proba, labels, n_bins=n_bins),
    )


def _scores(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, labels: list,
            ranking: dict | None) -> dict[str, float]:
    scores = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        **_precision_recall_f1(y_true, y_pred, labels),
        "specificity": _specificity(y_true, y_pred, labels),
        "roc_auc": _one_vs_rest_mean(y_true, ranking, labels, skm.roc_auc_score),
        "pr_auc": _one_vs_rest_mean(y_true, ranking, labels, skm.average_precision_score),
        "mcc": float(skm.matthews_corrcoef(y_true, y_pred)),
        "brier": _brier(y_true, proba, labels),
    }
    return {name: scores[name] for name in METRIC_COLUMNS}


def confusion_table(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> pd.DataFrame:
    """Confusion matrix as a labelled table: rows are true classes, columns predicted classes."""
    matrix = skm.confusion_matrix(y_true, y_pred, labels=list(labels))
    names = [str(label) for label in labels]
    return pd.DataFrame(matrix, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def roc_curves(y_true: Sequence, ranking: dict | None, labels: Sequence) -> pd.DataFrame:
    """ROC curve points (``class, fpr, tpr, threshold``) per scored class."""
    return _curves(y_true, ranking, labels, _roc_points)


def pr_curves(y_true: Sequence, ranking: dict | None, labels: Sequence) -> pd.DataFrame:
    """Precision-recall curve points (``class, recall, precision``) per scored class."""
    return _curves(y_true, ranking, labels, _pr_points)


def calibration_table(y_true: Sequence, proba: np.ndarray | None, labels: Sequence,
                      n_bins: int = 10) -> pd.DataFrame:
    """Reliability curve (``class, mean_predicted, fraction_positive``); empty without probabilities."""
    if proba is None:
        return pd.DataFrame(columns=["class", "mean_predicted", "fraction_positive"])
    y_true = np.asarray(y_true)
    classes = [1] if len(labels) == 2 else range(len(labels))
    frames = []
    for j in classes:
        hit = y_true == labels[j]
        if hit.all() or not hit.any():
            continue
        frac, mean = calibration_curve(hit, proba[:, j], n_bins=n_bins)
        frames.append(pd.DataFrame({"class": str(labels[j]), "mean_predicted": mean, "fraction_positive": frac}))
    return _concat(frames, ["class", "mean_predicted", "fraction_positive"])


# -- helpers ---------------------------------------------------------------------------------------

def _as_array(y: Sequence) -> np.ndarray:
    """Labels as a plain numpy array (object arrays of numbers confuse scikit-learn's type checks)."""
    y = np.asarray(y)
    return np.asarray(y.tolist()) if y.dtype == object else y


def _labels(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence | None) -> list:
    if len(y_true) != len(y_pred):
        raise DataError(f"y_true has {len(y_true)} values but y_pred has {len(y_pred)}; pass one prediction per row.")
    if len(y_true) == 0:
        raise DataError("No rows to evaluate: the test set is empty; use a larger dataset or a smaller test share.")
    if labels is None:
        return sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    labels = list(labels)
    unknown = (set(y_true.tolist()) | set(y_pred.tolist())) - set(labels)
    if unknown:
        raise DataError(f"Labels {sorted(map(str, unknown))[:5]} are not among the model's classes {labels[:10]}.")
    return labels


def _check_proba(proba: np.ndarray | None, n: int, k: int) -> np.ndarray | None:
    if proba is None:
        return None
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (n, k):
        raise DataError(f"Probabilities have shape {proba.shape}; expected ({n}, {k}): one column per class label.")
    return proba


def _ranking(proba: np.ndarray | None, score: np.ndarray | None, binary: bool) -> dict | None:
    """Scores used by rank metrics: {column index: score vector}."""
    if proba is not None:
        return {1: proba[:, 1]} if binary else dict(enumerate(proba.T))
    if score is not None:
        if not binary:
            raise DataError("A single score vector only ranks a binary target; pass class probabilities instead.")
        return {1: np.asarray(score, dtype=float)}
    return None


def _precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list) -> dict[str, float]:
    if len(labels) == 2:
        kwargs = {"average": "binary", "pos_label": labels[1]}
    else:
        kwargs = {"average": "macro", "labels": labels}
    p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0, **kwargs)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def _specificity(y_true: np.ndarray, y_pred: np.ndarray, labels: list) -> float:
    """True-negative rate of the positive class (binary) or its one-vs-rest macro average."""
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels).astype(float)
    total, predicted, actual = cm.sum(), cm.sum(axis=0), cm.sum(axis=1)
    tn = total - predicted - actual + np.diag(cm)
    negatives = total - actual
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = np.where(negatives > 0, tn / negatives, np.nan)
    return float(spec[1]) if len(labels) == 2 else float(np.nanmean(spec))


def _one_vs_rest_mean(y_true: np.ndarray, ranking: dict | None, labels: list, metric) -> float:
    """Mean of a binary rank metric over classes (one-vs-rest); NaN when undefined."""
    if ranking is None:
        return float("nan")
    values = []
    for j, s in ranking.items():
        hit = y_true == labels[j]
        if hit.any() and not hit.all():
            values.append(metric(hit, s))
    return float(np.mean(values)) if values else float("nan")


def _brier(y_true: np.ndarray, proba: np.ndarray | None, labels: list) -> float:
    """Binary: mean (p - y)^2 of the positive class. Multiclass: mean over rows of the squared error
    summed over the one-hot classes (range 0-2), as scikit-learn defines it."""
    if proba is None:
        return float("nan")
    if len(labels) == 2:
        return float(np.mean((proba[:, 1] - (y_true == labels[1])) ** 2))
    onehot = (y_true[:, None] == np.asarray(labels, dtype=object)[None, :]).astype(float)
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def _roc_points(hit: np.ndarray, s: np.ndarray) -> dict:
    fpr, tpr, thr = skm.roc_curve(hit, s)
    return {"fpr": fpr, "tpr": tpr, "threshold": thr}


def _pr_points(hit: np.ndarray, s: np.ndarray) -> dict:
    precision, recall, _ = skm.precision_recall_curve(hit, s)
    return {"recall": recall, "precision": precision}


def _curves(y_true: Sequence, ranking: dict | None, labels: Sequence, points) -> pd.DataFrame:
    y_true = np.asarray(y_true)
    frames = []
    for j, s in (ranking or {}).items():
        hit = y_true == labels[j]
        if hit.any() and not hit.all():
            frames.append(pd.DataFrame({"class": str(labels[j]), **points(hit, s)}))
    return _concat(frames, ["class"])


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
