"""Honest churn datasets: features strictly before a cutoff, labels from the H days that follow.

Time convention (days). ``cutoff`` is the first day the features do *not* see: features and the BTYD fit use
rows dated before it; the label window is the ``H`` days ``[cutoff, cutoff + H)``, i.e. the brief's
``(cutoff, cutoff + H]`` with the cutoff at the end of the last observed day. Rows on or after
``cutoff + H`` are never read. A customer is in the dataset when they bought at least once before the
cutoff; ``churned`` = 1 when they made no purchase in the label window.

Out-of-time evaluation (:func:`out_of_time_split`): with ``end`` = the day after the last transaction,
train on cutoff ``end - 2H``, test on cutoff ``end - H``, and score everyone live with features as of ``end``.

Where the rows live: every function takes pandas frames ``(transactions, returns)`` or a :class:`History` (with
``returns`` None). Either way ``pipeline.engines.history.EngineHistory`` runs the per-customer SQL (features, BTYD
summary, label buyers) on a connection: frames are registered in DuckDB (:func:`as_history`), an engine's cleaned
views are queried where they are (DuckDB or Spark), so only one-row-per-customer tables reach pandas. Training and test sets larger than ``ChurnDataConfig.max_customers`` are a seeded random sample of
their customers (said in ``info``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.clv import BTYDModel
from pipeline.config import HORIZON_DAYS, SEED, ChurnConfig, ChurnDataConfig
from pipeline.engines.history import EngineHistory, History
from pipeline.errors import DataError
from pipeline.features import numeric_feature_columns

__all__ = [
    "LABEL", "BTYD_FEATURES", "BASELINE_SCORE_COLUMN", "ChurnSplit", "History", "as_history",
    "data_span", "feature_table", "btyd_columns", "churn_labels", "churn_dataset", "out_of_time_split",
    "live_features", "baseline_churn_score", "FEATURE_DECIMALS", "steady",
]

LABEL = "churned"
#: BTYD columns added to the behavioural features (BG/NBD fitted on data before the cutoff, horizon H).
BTYD_FEATURES = ("btyd_p_alive", "btyd_expected_purchases", "btyd_expected_aov", "btyd_expected_spend")
#: The churn baseline ranks customers by this column: more expected purchases -> less churn.
BASELINE_SCORE_COLUMN = "btyd_expected_purchases"


@dataclass(frozen=True)
class ChurnSplit:
    """Out-of-time churn data: train (cutoff end - 2H), test (cutoff end - H), live features (as of end)."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    X_live: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    btyd_live: BTYDModel | None = None
    btyd_test: BTYDModel | None = None         # fitted on rows before the test cutoff (grades BTYD predictions)


def as_history(transactions: pd.DataFrame | History, returns: pd.DataFrame | None = None) -> History:
    """``transactions`` when it is a :class:`History` already, else the frames registered in DuckDB
    (:meth:`EngineHistory.of_frames <pipeline.engines.history.EngineHistory.of_frames>`)."""
    if isinstance(transactions, History):
        if returns is not None:
            raise DataError("churn: a History holds its own returns; pass returns=None with it.")
        return transactions
    return EngineHistory.of_frames(transactions, returns)


def data_span(transactions: pd.DataFrame | History) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first purchase day, day after the last purchase)."""
    return as_history(transactions).span()


def _horizon(horizon_days) -> int:
    try:
        value = float(horizon_days)
    except (TypeError, ValueError) as exc:
        raise DataError(f"churn: horizon {horizon_days!r} is not a whole number of days; use e.g. "
                        f"{HORIZON_DAYS}.") from exc
    h = int(value) if np.isfinite(value) else 0
    if h < 1 or h != value:
        raise DataError(f"churn: horizon must be a whole number of days >= 1 (got {horizon_days!r}).")
    return h


def feature_table(transactions: pd.DataFrame | History, returns: pd.DataFrame | None, as_of,
                  horizon_days: int = ChurnConfig.horizon_days) -> tuple[pd.DataFrame, BTYDModel]:
    """Behavioural features + BTYD columns (BG/NBD and Gamma-Gamma fitted on rows before ``as_of``)."""
    history = as_history(transactions, returns)
    as_of = history.day(as_of)
    feats = history.features(as_of)
    if feats.empty:
        raise DataError(f"churn: no purchases before {as_of.date()}; choose a later cutoff date.")
    summary = history.btyd_summary(as_of)
    model = BTYDModel(horizon_days=horizon_days).fit(summary)
    X = feats.join(btyd_columns(model.predict_table(summary, next_order=False)).reindex(feats.index))
    return steady(X), model


#: Decimals the feature values are defined to: sums of the same amounts in another order differ in the 15th
#: digit (224.90999999999994 vs 224.91), and a tree model that split between the two would score the same customer
#: two ways; rounded, every engine and every order gives the same inputs.
FEATURE_DECIMALS = 9


def steady(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with its numeric columns rounded to :data:`FEATURE_DECIMALS` decimals (the others unchanged)."""
    num = [c for c in X.columns if pd.api.types.is_float_dtype(X[c])]
    if num:
        X = X.copy()
        X[num] = X[num].round(FEATURE_DECIMALS)
    return X


def btyd_columns(predictions: pd.DataFrame) -> pd.DataFrame:
    """The :data:`BTYD_FEATURES` columns from ``BTYDModel.predict_table`` output (same index)."""
    return predictions[[c.removeprefix("btyd_") for c in BTYD_FEATURES]].add_prefix("btyd_")


def churn_labels(transactions: pd.DataFrame | History, customers: pd.Index, cutoff,
                 horizon_days: int) -> pd.Series:
    """1 = no purchase in ``[cutoff, cutoff + horizon_days)`` days, for each customer in ``customers``."""
    cutoff = pd.Timestamp(cutoff).normalize()
    buyers = as_history(transactions).buyers(cutoff, cutoff + pd.Timedelta(days=horizon_days))
    return pd.Series((~customers.isin(buyers)).astype(int), index=customers, name=LABEL)


def _sample(X: pd.DataFrame, y: pd.Series, name: str, rules: ChurnDataConfig) -> tuple[pd.DataFrame, pd.Series,
                                                                                         dict[str, Any]]:
    """At most ``rules.max_customers`` customers: a random sample (seed ``SEED``) drawn from the sorted ids, so
    the same customers are kept whatever order the history returned them in."""
    n = len(y)
    if n <= rules.max_customers:
        return X, y, {}
    ids = np.sort(y.index.to_numpy(dtype=str))
    keep = y.index.isin(np.random.default_rng(SEED).choice(ids, rules.max_customers, replace=False))
    note = (f"The {name} set is a random sample of {rules.max_customers:,} of its {n:,} customers (seed {SEED}; "
            "ChurnDataConfig.max_customers): models are trained and graded on the driver.")
    return X.loc[keep], y.loc[keep], {"customers_before_sampling": n, "sample_note": note}


def _check_classes(y: pd.Series, name: str, cutoff: pd.Timestamp, rules: ChurnDataConfig) -> None:
    where = f"{name} set (cutoff {cutoff.date()})"
    if len(y) < rules.min_customers:
        raise DataError(f"churn: the {where} has {len(y)} customers, fewer than the {rules.min_customers} needed; "
                        "use more data or a later cutoff.")
    churned = int(y.sum())
    for label, n, fix in (("churned", churned, "a longer horizon"), ("active", len(y) - churned,
                                                                    "a shorter horizon")):
        if n < rules.min_class_count:
            raise DataError(f"churn: in the {where} only {n} of {len(y):,} customers are {label} (at least "
                            f"{rules.min_class_count} needed, the label must have two classes); try {fix}.")


def churn_dataset(transactions: pd.DataFrame | History, returns: pd.DataFrame | None, cutoff,
                  horizon_days: int = ChurnConfig.horizon_days, *, name: str = "churn",
                  rules: ChurnDataConfig | None = None) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
    """Features before ``cutoff``, label from ``[cutoff, cutoff + H)``.

    ``transactions`` is a canonical frame (with ``returns``) or a :class:`History` (``returns`` None).

    Returns
    -------
    X : features (``pipeline.features.FEATURE_COLUMNS`` + ``BTYD_FEATURES``), indexed by customer_id.
    y : ``churned`` (1 = no purchase in the window), same index.
    info : cutoff, label window, sizes, churn rate, column lists, BTYD fit note and parameters (and the sampling,
        when the set had more than ``rules.max_customers`` customers).
    """
    X, y, info, _ = _labelled(as_history(transactions, returns), cutoff, horizon_days, name,
                              rules or ChurnDataConfig())
    return X, y, info


def _labelled(history: History, cutoff, horizon_days: int, name: str, rules: ChurnDataConfig,
              slices=None) -> tuple[pd.DataFrame, pd.Series, dict[str, Any], BTYDModel]:
    """:func:`churn_dataset` plus the BTYD model fitted before the cutoff (read from ``slices`` when given)."""
    h = _horizon(horizon_days)
    start, end = history.span()
    cutoff = history.day(cutoff)
    label_end = cutoff + pd.Timedelta(days=h)
    if cutoff <= start or label_end > end:
        raise DataError(f"churn: cutoff {cutoff.date()} with horizon {h} days needs purchases from before the "
                        f"cutoff through {(label_end - pd.Timedelta(days=1)).date()}, but the data run from "
                        f"{start.date()} to {(end - pd.Timedelta(days=1)).date()}; choose a cutoff between "
                        f"{(start + pd.Timedelta(days=1)).date()} and {(end - pd.Timedelta(days=h)).date()} "
                        "or a shorter horizon.")
    if slices is not None and slices.horizon_days == h:
        part = slices.at(cutoff)
        X, model, labels = part.X, part.btyd, part.y["churned"].rename(LABEL)
    else:
        X, model = feature_table(history, None, cutoff, h)
        labels = churn_labels(history, X.index, cutoff, h)
    X, y, sampled = _sample(X, labels, name, rules)
    _check_classes(y, name, cutoff, rules)
    info = {
        "cutoff": str(cutoff.date()), "label_window": [str(cutoff.date()), str((label_end - pd.Timedelta(days=1))
                                                                                .date())],
        "horizon_days": h, "n_customers": len(y), "churn_rate": float(y.mean()), **sampled,
        "numeric_columns": numeric_feature_columns(X), "categorical_columns": ["country"],
        "btyd_model": model.kind_, "btyd_params": model.params_, "btyd_fit_note": model.fit_note_,
    }
    return X, y, info, model


def live_features(transactions: pd.DataFrame | History, returns: pd.DataFrame | None,
                  horizon_days: int = ChurnConfig.horizon_days) -> tuple[pd.DataFrame, BTYDModel]:
    """Features of every customer as of the end of the data (for live churn scores and the lookup page)."""
    history = as_history(transactions, returns)
    return feature_table(history, None, history.span()[1], _horizon(horizon_days))


def out_of_time_split(transactions: pd.DataFrame | History, returns: pd.DataFrame | None,
                      horizon_days: int = ChurnConfig.horizon_days, test_cutoff=None,
                      rules: ChurnDataConfig | None = None, slices=None) -> ChurnSplit:
    """Train with cutoff ``test_cutoff - H``, test with ``test_cutoff`` (default ``end - H``), live as of ``end``.

    ``transactions`` is a canonical frame (with ``returns``) or a :class:`History` (``returns`` None).
    ``slices``: the same data's :class:`pipeline.slices.SliceSet` for this horizon: its feature tables are used
    instead of computing them again (they are the same tables).
    """
    rules = rules or ChurnDataConfig()
    history = as_history(transactions, returns)
    h = _horizon(horizon_days)
    start, end = history.span()
    test_cut = end - pd.Timedelta(days=h) if test_cutoff is None else history.day(test_cutoff)
    train_cut = test_cut - pd.Timedelta(days=h)
    if train_cut - start < pd.Timedelta(days=rules.min_history_days) or test_cut + pd.Timedelta(days=h) > end:
        span = (end - start).days
        longest = max((span - rules.min_history_days) // 2, 0)
        raise DataError(f"churn: horizon {h} days is longer than the data allow: out-of-time evaluation needs "
                        f"2 x {h} days of labels after {rules.min_history_days} days of history, but the data "
                        f"span {span} days ({start.date()} to {(end - pd.Timedelta(days=1)).date()}); choose a "
                        f"horizon of at most {longest} days" + (" or an earlier test cutoff" if test_cutoff
                                                                else "") + ".")
    X_tr, y_tr, info_tr, _ = _labelled(history, train_cut, h, "training", rules, slices)
    X_te, y_te, info_te, btyd_test = _labelled(history, test_cut, h, "test", rules, slices)
    if slices is not None:
        X_live, model = slices.at(end).X, slices.at(end).btyd
    else:
        X_live, model = live_features(history, None, h)
    info = {"horizon_days": h, "data_start": str(start.date()), "data_end": str((end - pd.Timedelta(days=1))
                                                                                 .date()),
            "train": info_tr, "test": info_te,
            "live": {"as_of": str(end.date()), "n_customers": len(X_live), "btyd_fit_note": model.fit_note_}}
    return ChurnSplit(X_tr, y_tr, X_te, y_te, X_live, info, model, btyd_test)


def baseline_churn_score(X: pd.DataFrame) -> np.ndarray:
    """BG/NBD baseline churn score in (0, 1]: exp(-expected purchases in H), the chance of no purchase under a
    Poisson count with that mean. Ranks exactly like -expected purchases (for ROC/PR AUC)."""
    if BASELINE_SCORE_COLUMN not in X:
        raise DataError(f"churn baseline: column {BASELINE_SCORE_COLUMN!r} missing; build X with "
                        "pipeline.churn.churn_dataset or feature_table.")
    return np.exp(-X[BASELINE_SCORE_COLUMN].to_numpy(dtype=float))
