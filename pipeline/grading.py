"""The measures and simple rules an out-of-time grade is made of, shared by every grader.

:mod:`pipeline.value` (the card's predictions), :mod:`pipeline.predict` (the sliced forecasts),
:mod:`pipeline.health.backtest` / ``retrain`` (churn models over time) and the card's churn model
(:func:`pipeline.customer.classifier.churn_check`) grade with the same rules, written once here: ranking measures
(normalised Gini, top share, precision among the riskiest), calibration error, one graded row per predictor
(:data:`GRADE_COLUMNS`), the next-order truth and its "last gap repeats" baseline, and the recency rule
(:class:`RecencyRule`). Ties in a ranking count as their average. Belongs here: measures and baselines that read
numbers only; nothing here fits a model or reads a dataset's settings beyond its arguments.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from pipeline.config import HealthConfig, ValueConfig

__all__ = ["GRADE_COLUMNS", "ranked_actual", "normalized_gini", "top_sum", "top_share", "top_share_precision",
           "calibration_error", "graded_row", "regression_row", "auc_row", "next_order_days", "last_gap_days",
           "RecencyRule", "recency_rule"]

#: Columns of a graded row after its key (``pipeline.value.ValueGrades.table``).
GRADE_COLUMNS = ["target", "model", "role", "n", "mae", "median_ae", "gini", "top_share", "roc_auc", "brier",
                 "calibration_error", "coverage", "width"]


def ranked_actual(actual, predicted) -> np.ndarray:
    """``actual`` in order of decreasing ``predicted``, each group of tied predictions replaced by its mean."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    order = np.argsort(-p, kind="stable")
    a, p = a[order], p[order]
    group = np.cumsum(np.r_[True, p[1:] != p[:-1]]) - 1
    return (np.bincount(group, weights=a) / np.bincount(group))[group]


def _gini(ranked: np.ndarray) -> float:
    n, total = len(ranked), ranked.sum()
    return float(np.cumsum(ranked).sum() / total / n - (n + 1) / (2 * n)) if n and total > 0 else float("nan")


def normalized_gini(actual, predicted) -> float:
    """Gini of the ranking by ``predicted`` over the Gini of the perfect ranking: 1 = perfect, 0 = no better than
    random (or a constant), -1 = reversed; NaN when nothing was spent."""
    a = np.asarray(actual, dtype=float)
    best = _gini(np.sort(a)[::-1])
    return _gini(ranked_actual(a, predicted)) / best if best > 0 else float("nan")


def top_sum(actual, predicted, k: int) -> float:
    """Sum of ``actual`` over the ``k`` rows ranked highest by ``predicted`` (ties: their average)."""
    k = int(min(max(k, 0), len(np.asarray(actual))))
    return float(ranked_actual(actual, predicted)[:k].sum())


def top_share(actual, predicted, share: float = ValueConfig.top_share) -> float:
    """Share of the total of ``actual`` held by the top ``share`` of rows ranked by ``predicted``."""
    a = np.asarray(actual, dtype=float)
    total = a.sum()
    return top_sum(a, predicted, math.ceil(share * len(a))) / total if total > 0 else float("nan")


def _days(transactions: pd.DataFrame, before=None, start=None) -> pd.DataFrame:
    """Distinct (customer_id, day) purchase days, optionally only days < ``before`` / >= ``start``."""
    day = pd.to_datetime(transactions["date"]).dt.normalize()
    keep = np.ones(len(day), dtype=bool)
    if before is not None:
        keep &= (day < pd.Timestamp(before)).to_numpy()
    if start is not None:
        keep &= (day >= pd.Timestamp(start)).to_numpy()
    out = pd.DataFrame({"customer_id": transactions.loc[keep, "customer_id"].astype(str), "day": day[keep]})
    return out.drop_duplicates().sort_values(["customer_id", "day"])


def next_order_days(transactions: pd.DataFrame, customers: pd.Index, cutoff, horizon_days: int) -> pd.Series:
    """Days from the last observed day (``cutoff - 1``) to each customer's first order in ``[cutoff, cutoff + H)``;
    NaN when they did not order in that window."""
    cutoff = pd.Timestamp(cutoff).normalize()
    days = _days(transactions, before=cutoff + pd.Timedelta(days=horizon_days), start=cutoff)
    first = days.groupby("customer_id", sort=False)["day"].min()
    return ((first - (cutoff - pd.Timedelta(days=1))).dt.days.astype(float)).reindex(customers)


def last_gap_days(transactions: pd.DataFrame, customers: pd.Index, cutoff) -> pd.Series:
    """The baseline "the last gap repeats": days from ``cutoff - 1`` to last purchase day + the gap between the
    last two purchase days, at least 1 (an overdue order is expected on the cutoff day); NaN with one purchase day."""
    cutoff = pd.Timestamp(cutoff).normalize()
    days = _days(transactions, before=cutoff)
    last_two = days.groupby("customer_id", sort=False).tail(2)
    g = last_two.groupby("customer_id", sort=False)["day"]
    last, gap = g.max(), g.max() - g.min()
    expected = (last + gap).where(gap > pd.Timedelta(0))
    out = (expected - (cutoff - pd.Timedelta(days=1))).dt.days.astype(float).clip(lower=1.0)
    return out.reindex(customers)


def top_share_precision(y_true: Sequence, score: Sequence, share: float = HealthConfig.top_share) -> float:
    """Share of positives (churners) among the ``share`` of rows with the highest score (at least one row)."""
    y, s = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    if len(y) == 0:
        return float("nan")
    n = max(1, int(np.ceil(share * len(y))))
    return float(y[np.argsort(-s, kind="stable")[:n]].mean())


def calibration_error(y_true: Sequence, proba: Sequence, bins: int = HealthConfig.calibration_bins) -> float:
    """Expected calibration error: over ``bins`` equal-width probability bins, |churn rate - mean probability|
    weighted by the bin's share of rows (0 = calibrated; NaN without rows)."""
    y, p = np.asarray(y_true, dtype=float), np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    b = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=bins) - np.bincount(b, weights=p, minlength=bins))
    return float(gap.sum() / len(y)) if n.sum() else float("nan")


def graded_row(key: str, target: str, model: str, role: str, n: int, **metrics: float) -> dict:
    """One graded row: every metric column present (NaN when not measured)."""
    nan = float("nan")
    return {"key": key, "target": target, "model": model, "role": role, "n": int(n),
            **{c: float(metrics.get(c, nan)) for c in GRADE_COLUMNS[4:]}}


def regression_row(key: str, target: str, model: str, role: str, actual, predicted, cfg: ValueConfig,
                    low=None, high=None) -> dict:
    """MAE, median absolute error, normalised Gini, top share; with an interval ``[low, high]`` its coverage
    (share of actual values inside) and mean width."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    err, n = np.abs(a - p), len(a)
    extra = {}
    if low is not None and high is not None and n:
        lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        extra = {"coverage": float(np.mean((a >= lo) & (a <= hi))), "width": float(np.mean(hi - lo))}
    return graded_row(key, target, model, role, n, mae=float(err.mean()) if n else float("nan"),
                median_ae=float(np.median(err)) if n else float("nan"), gini=normalized_gini(a, p),
                top_share=top_share(a, p, cfg.top_share), **extra)


def auc_row(key: str, target: str, model: str, role: str, y, score, probability: bool = False) -> dict:
    """ROC AUC of ``score`` for ``y``; when ``score`` is a probability, also the Brier score and calibration
    error."""
    from sklearn.metrics import roc_auc_score

    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    auc = float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")
    extra = {"brier": float(np.mean((score - y) ** 2)), "calibration_error": calibration_error(y, score)} \
        if probability and len(y) else {}
    return graded_row(key, target, model, role, len(y), roc_auc=auc, **extra)


@dataclass(frozen=True)
class RecencyRule:
    """The recency rule as a probability: the share of customers last seen ``recency_days`` ago who placed no order
    in the next H days, fitted (monotone in recency, :class:`sklearn.isotonic.IsotonicRegression`) on the latest
    fully observed period. ``recency``, ``rate``: its knots, interpolated between and clipped at the ends."""

    recency: np.ndarray
    rate: np.ndarray

    def probability(self, recency_days: object) -> np.ndarray:
        return np.interp(np.asarray(recency_days, dtype=float), self.recency, self.rate)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe knots (rebuild with :meth:`from_dict`)."""
        return {"recency": [float(v) for v in self.recency], "rate": [float(v) for v in self.rate]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecencyRule:
        return cls(np.asarray(d["recency"], dtype=float), np.asarray(d["rate"], dtype=float))


def recency_rule(recency_days: object, churned: object) -> RecencyRule | None:
    """:class:`RecencyRule` fitted on customers' recency and whether they then churned (None: fewer than 2
    distinct recencies or one outcome only)."""
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(recency_days, dtype=float), np.asarray(churned, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return None
    fit = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return RecencyRule(np.asarray(fit.X_thresholds_, float), np.asarray(fit.y_thresholds_, float))
