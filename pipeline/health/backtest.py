"""Rolling-origin backtest of churn models: does a score hold up month after month?

For cutoffs every N days across the data (counted back from the latest labelled cutoff ``end - H``, so the last row
is the window retraining is judged on), each model learns from the past cutoffs whose label windows end by the
cutoff (:mod:`pipeline.slices`: stacked customer x cutoff rows, each slice with its own BG/NBD fit as features; the
newest of them is the validation slice for early stopping and calibration, :func:`pipeline.models.sliced.fit_sliced`,
the same training as the card's churn model), then scores the customers as of the cutoff and is graded on the next
H days. The baselines are always present and marked: the majority class (the training churn rate), the BG/NBD
score exp(-expected purchases) and the recency rule (the churn rate by days since the last order on the validation
slice, isotonic). Per cutoff x model: ROC AUC, precision among the riskiest ``top_share`` of customers, Brier score,
calibration error (mean |observed - predicted| over ``calibration_bins`` equal-width bins, weighted by rows),
customers and churn rate. A cutoff whose test customers break the churn dataset's rules is skipped with a note.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, ChurnDataConfig, HealthConfig
from pipeline.errors import DataError
from pipeline.grading import calibration_error, recency_rule, top_share_precision

__all__ = ["BacktestResult", "BACKTEST_COLUMNS", "backtest_cutoffs", "run_backtest"]

#: Columns of :attr:`BacktestResult.table`, one row per cutoff x model.
BACKTEST_COLUMNS = ("cutoff", "model", "label", "baseline", "roc_auc", "top_precision", "brier", "calibration_error",
                    "n_customers", "churn_rate", "train_cutoff", "train_slices")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BacktestResult:
    """The backtest table (:data:`BACKTEST_COLUMNS`), its settings, notes on skipped cutoffs and the run time."""

    table: pd.DataFrame
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def records(self) -> list[dict[str, Any]]:
        """JSON-ready rows (NaN -> None)."""
        from pipeline.exports import to_jsonable

        return [to_jsonable(r) for r in self.table.to_dict(orient="records")]


def backtest_cutoffs(transactions: pd.DataFrame, horizon_days: int = HORIZON_DAYS,
                     every_days: int = HealthConfig.backtest_every_days,
                     rules: ChurnDataConfig | None = None) -> list[pd.Timestamp]:
    """Test cutoffs, oldest first: ``end - H``, then every ``every_days`` back while the training cutoff
    (``cutoff - H``) still has ``rules.min_history_days`` of history before it."""
    from pipeline.churn import data_span

    rules = rules or ChurnDataConfig()
    if int(every_days) < 1:
        raise DataError(f"backtest: --every must be at least 1 day (got {every_days}).")
    start, end = data_span(transactions)
    h = pd.Timedelta(days=int(horizon_days))
    cut, out = end - h, []
    while cut - h - start >= pd.Timedelta(days=rules.min_history_days):
        out.append(cut)
        cut -= pd.Timedelta(days=int(every_days))
    if not out:
        raise DataError(f"backtest: the data ({start.date()} to {(end - pd.Timedelta(days=1)).date()}) are too short "
                        f"for one cutoff with horizon {horizon_days} days: it needs {rules.min_history_days} days of "
                        f"history plus 2 x {horizon_days} days of labels. Use a shorter horizon.")
    return out[::-1]


def run_backtest(transactions: pd.DataFrame, returns: pd.DataFrame | None, horizon_days: int = HORIZON_DAYS,
                 every_days: int = HealthConfig.backtest_every_days, models: Sequence[str] = (),
                 progress: Progress | None = None, *, config: HealthConfig = HealthConfig(),
                 rules: ChurnDataConfig | None = None, slices=None) -> BacktestResult:
    """Train and grade ``models`` (default: the fast zoo models) plus the baselines at every cutoff.

    ``slices``: the dataset's :class:`pipeline.slices.SliceSet` for this horizon (built here when None). A cutoff
    whose test set breaks the churn dataset's rules (too few customers, one class) is skipped with a note;
    DataError when no cutoff is left.
    """
    from pipeline.models import fast_models
    from pipeline.slices import SliceSet

    t0 = time.perf_counter()
    models = list(models) or [m for m in fast_models() if m != "majority"]
    rules = rules or ChurnDataConfig()
    cutoffs = backtest_cutoffs(transactions, horizon_days, every_days, rules)
    slices = slices or SliceSet(transactions, returns, horizon_days, rules=rules)
    frames, notes = [], []
    for i, cut in enumerate(cutoffs):
        if progress is not None:
            progress(i, len(cutoffs), f"Cutoff {cut.date()}")
        try:
            frames.append(_grade(slices, cut, models, config, rules))
        except DataError as exc:
            notes.append(f"Cutoff {cut.date()} skipped: {exc}")
    if progress is not None:
        progress(len(cutoffs), len(cutoffs), "done")
    if not frames:
        raise DataError("backtest: no cutoff could be graded. " + " ".join(notes[:2]))
    table = pd.concat(frames, ignore_index=True)[list(BACKTEST_COLUMNS)]
    settings = {"horizon_days": int(horizon_days), "every_days": int(every_days), "models": models,
                "top_share": config.top_share, "cutoffs": [str(c.date()) for c in cutoffs],
                "slice_step_days": slices.config.step_days}
    return BacktestResult(table, settings, notes, time.perf_counter() - t0)


def _check_test(y: pd.Series, cutoff: pd.Timestamp, rules: ChurnDataConfig) -> None:
    churned = int(y.sum())
    if len(y) < rules.min_customers or min(churned, len(y) - churned) < rules.min_class_count:
        raise DataError(f"the test set as of {cutoff.date()} has {len(y):,} customers of whom {churned:,} churned "
                        f"(at least {rules.min_customers} customers and {rules.min_class_count} of each class "
                        "needed).")


def _grade(slices, cutoff: pd.Timestamp, models: list[str], config: HealthConfig,
           rules: ChurnDataConfig) -> pd.DataFrame:
    """One cutoff: fit every model on the slices before it, grade models and baselines on its customers."""
    from pipeline.churn import baseline_churn_score
    from pipeline.models import REGISTRY
    from pipeline.models.lab import BASELINE_KEY
    from pipeline.models.sliced import churn_types, fit_sliced

    test = slices.at(cutoff)
    cuts = slices.training_cutoffs(cutoff)
    if not cuts:
        raise DataError("no labelled period ends before it.")
    _check_test(test.y["churned"], cutoff, rules)
    valid, train_cuts = slices.at(cuts[0]), (cuts[1:] or cuts[:1])
    X, Y = slices.stack(train_cuts)
    y_tr = Y["churned"].to_numpy()
    if len(np.unique(y_tr)) < 2:
        raise DataError("its training periods hold one class only.")
    Xv, yv = (valid.X, valid.y["churned"]) if len(cuts) > 1 else (None, None)
    types = churn_types(X)
    y = test.y["churned"].to_numpy()
    scores = {}
    for name in models:
        pipe = fit_sliced(name, X, y_tr, Xv, yv, types=types, settings=_zoo(), config=slices.config)
        scores[name] = (REGISTRY[name].label, False, pipe.predict_proba(test.X[list(types)])[:, 1])
    rule_on = valid if len(cuts) > 1 else slices.at(train_cuts[0])
    recency = recency_rule(rule_on.X["recency_days"], rule_on.y["churned"])
    scores["majority"] = (REGISTRY["majority"].label, True, np.full(len(y), float(y_tr.mean())))
    scores[BASELINE_KEY] = ("BG/NBD expected purchases (baseline)", True, baseline_churn_score(test.X))
    if recency is not None:
        scores["recency_rule"] = ("Recency rule (baseline)", True, recency.probability(test.X["recency_days"]))
    rows = [{"model": key, "label": label, "baseline": base, **_metrics(y, p, config)}
            for key, (label, base, p) in scores.items()]
    return pd.DataFrame(rows).assign(cutoff=str(cutoff.date()), n_customers=len(y), churn_rate=float(y.mean()),
                                     train_cutoff=str(cuts[0].date()), train_slices=len(train_cuts))


def _zoo():
    from pipeline.models import ZooSettings

    return ZooSettings()


def _metrics(y: np.ndarray, p: np.ndarray, config: HealthConfig) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    return {"roc_auc": float(roc_auc_score(y, p)), "top_precision": top_share_precision(y, p, config.top_share),
            "brier": float(np.mean((p - y) ** 2)), "calibration_error": calibration_error(y, p,
                                                                                       config.calibration_bins)}
