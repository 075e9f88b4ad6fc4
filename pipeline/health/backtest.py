"""Rolling-origin backtest of churn models: does a score hold up month after month?

For cutoffs every N days across the data (counted back from the latest labelled cutoff ``end - H``, so the last row
is the window retraining is judged on), each model is trained on the customers as of ``cutoff - H`` labelled by the
H days that followed, then scores the customers as of ``cutoff`` and is graded on the next H days
(:func:`pipeline.churn.churn_dataset`, the same honest split as the Model lab). Models come from the one zoo
(:func:`pipeline.models.train_and_evaluate`); the majority class and the BG/NBD expected-purchases score are the
baseline rows, always present and marked. Per cutoff x model: ROC AUC, precision among the riskiest ``top_share``
of customers, Brier score, customers and churn rate.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, ChurnDataConfig, HealthConfig
from pipeline.errors import DataError

__all__ = ["BacktestResult", "BACKTEST_COLUMNS", "backtest_cutoffs", "run_backtest", "top_share_precision",
           "churn_score_baseline"]

#: Columns of :attr:`BacktestResult.table`, one row per cutoff x model.
BACKTEST_COLUMNS = ("cutoff", "model", "label", "baseline", "roc_auc", "top_precision", "brier", "n_customers",
                    "churn_rate", "train_cutoff")

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


def top_share_precision(y_true: Sequence, score: Sequence, share: float = HealthConfig.top_share) -> float:
    """Share of positives (churners) among the ``share`` of rows with the highest score (at least one row)."""
    y, s = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    if len(y) == 0:
        return float("nan")
    n = max(1, int(np.ceil(share * len(y))))
    return float(y[np.argsort(-s, kind="stable")[:n]].mean())


def churn_score_baseline(X_train: pd.DataFrame, X_test: pd.DataFrame):
    """The BG/NBD baseline row of a churn comparison (as in the Model lab): ``(key, ScoreBaseline)``."""
    from pipeline.churn import baseline_churn_score
    from pipeline.models import ScoreBaseline
    from pipeline.models.lab import BASELINE_KEY

    return BASELINE_KEY, ScoreBaseline("BG/NBD expected purchases (baseline)",
                                       test_score=baseline_churn_score(X_test),
                                       train_score=baseline_churn_score(X_train),
                                       description="exp(-expected purchases in H) from a BG/NBD fit before the "
                                                   "cutoff")


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
                 rules: ChurnDataConfig | None = None) -> BacktestResult:
    """Train and grade ``models`` (default: the fast zoo models) plus the baselines at every cutoff.

    A cutoff whose training or test set breaks the churn dataset's rules (too few customers, one class) is
    skipped with a note; DataError when no cutoff is left.
    """
    from pipeline.models import fast_models

    t0 = time.perf_counter()
    models = list(models) or [m for m in fast_models() if m != "majority"]
    cutoffs = backtest_cutoffs(transactions, horizon_days, every_days, rules)
    cache: dict[pd.Timestamp, tuple] = {}
    frames, notes = [], []
    for i, cut in enumerate(cutoffs):
        if progress is not None:
            progress(i, len(cutoffs), f"Cutoff {cut.date()}")
        try:
            train = _labelled(cache, transactions, returns, cut - pd.Timedelta(days=horizon_days), horizon_days,
                              "training", rules)
            test = _labelled(cache, transactions, returns, cut, horizon_days, "test", rules)
        except DataError as exc:
            notes.append(f"Cutoff {cut.date()} skipped: {exc}")
            continue
        frames.append(_grade(train, test, models, cut, horizon_days, config))
    if progress is not None:
        progress(len(cutoffs), len(cutoffs), "done")
    if not frames:
        raise DataError("backtest: no cutoff could be graded. " + " ".join(notes[:2]))
    table = pd.concat(frames, ignore_index=True)[list(BACKTEST_COLUMNS)]
    settings = {"horizon_days": int(horizon_days), "every_days": int(every_days), "models": models,
                "top_share": config.top_share, "cutoffs": [str(c.date()) for c in cutoffs]}
    return BacktestResult(table, settings, notes, time.perf_counter() - t0)


def _labelled(cache: dict, transactions: pd.DataFrame, returns: pd.DataFrame | None, cutoff: pd.Timestamp,
              horizon_days: int, name: str, rules: ChurnDataConfig | None) -> tuple:
    """``(X, y, info)`` of one cutoff, computed once (a test cutoff is often a later training cutoff)."""
    from pipeline.churn import churn_dataset

    if cutoff not in cache:
        try:
            cache[cutoff] = churn_dataset(transactions, returns, cutoff, horizon_days, name=name, rules=rules)
        except DataError as exc:
            cache[cutoff] = exc
    hit = cache[cutoff]
    if isinstance(hit, DataError):
        raise hit
    return hit


def _grade(train: tuple, test: tuple, models: list[str], cutoff: pd.Timestamp, horizon_days: int,
           config: HealthConfig) -> pd.DataFrame:
    """One cutoff: fit every model on ``train``, grade models and baselines on ``test``."""
    from pipeline.models import train_and_evaluate

    (X_tr, y_tr, _), (X_te, y_te, info) = train, test
    key, base = churn_score_baseline(X_tr, X_te)
    result = train_and_evaluate(X_tr, y_tr, X_te, y_te, models, extra_baseline_scores={key: base})
    y = (np.asarray(result.y_test) == result.labels[1]).astype(int)
    rows = []
    for name, row in result.table.iterrows():
        proba = np.asarray(result.proba[name], dtype=float)
        score = proba[:, 1] if proba.ndim == 2 else proba
        rows.append({"model": name, "label": row["model"], "baseline": bool(row["baseline"]),
                     "roc_auc": row["roc_auc"], "top_precision": top_share_precision(y, score, config.top_share),
                     "brier": row["brier"]})
    return pd.DataFrame(rows).assign(cutoff=str(cutoff.date()), n_customers=int(info["n_customers"]),
                                     churn_rate=float(info["churn_rate"]),
                                     train_cutoff=str((cutoff - pd.Timedelta(days=horizon_days)).date()))
