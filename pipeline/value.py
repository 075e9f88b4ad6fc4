"""Grading the customer card's predictions out of time, each against a naive baseline, on the user's own data.

The split is :func:`pipeline.churn.out_of_time_split`'s: features and the BTYD fit use the rows before the test
cutoff ``end - H``, the truth is what customers did in the H days after it; the spend model learns from the cutoff
``end - 2H`` (its own next H days). Graded targets (one row per predictor, baselines marked):

* **spend** in the next H days: BG/NBD x Gamma-Gamma (what the card shows), a gradient-boosting regressor on the
  behavioural features (Poisson loss), and the baseline "same as the last H days": MAE, normalised Gini and the
  share of next-period revenue captured by the top 10 % the predictor ranks highest;
* **orders** (purchase days) in the next H days: BG/NBD expected purchases vs "same as the last H days";
* **next order**: days from the last observed day to the next order, BG/NBD (when expected purchases reach 1, the
  date the card shows) vs "the last gap between orders repeats" (never before the cutoff); MAE and median absolute
  error in days, on customers with two purchase days or more who did order again within H days (the others' next
  date is not known yet);
* **p_alive**: how well P(alive) ranks who buys again (ROC AUC) vs the baseline "more recent = more alive";
* **churn**: the BG/NBD churn score's ROC AUC, the baseline the card's churn model must beat.

The measures and baselines (Gini, top share, the last-gap rule, the recency rule) are :mod:`pipeline.grading`'s.
What the card then shows is decided in :mod:`pipeline.customer.facts`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipeline.config import HORIZON_DAYS, ValueConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.grading import GRADE_COLUMNS, auc_row, last_gap_days, next_order_days, recency_rule, regression_row
from pipeline.log import logged

__all__ = ["TARGETS", "BASELINES", "METRICS", "ValueGrades", "window_activity", "spend_regressor", "grade_values"]

#: Graded targets: key -> what is predicted.
TARGETS = {"spend": "Spend in the next H days", "orders": "Orders in the next H days",
           "next_order": "Days to the next order", "p_alive": "Buys again in the next H days (P(alive))",
           "churn": "No order in the next H days (churn)"}
#: Per target: the baseline row every other row is compared with, and the metrics compared.
BASELINES = {"spend": "spend_last", "orders": "orders_last", "next_order": "next_order_last_gap",
             "p_alive": "p_alive_recency", "churn": "churn_btyd"}
METRICS = {"spend": ("mae", "gini", "top_share"), "orders": ("mae", "gini", "top_share"),
           "next_order": ("mae", "median_ae"), "p_alive": ("roc_auc",), "churn": ("roc_auc", "brier")}
#: Metrics where lower is better (the others: higher is better).
LOWER_IS_BETTER = ("mae", "median_ae", "brier", "calibration_error")


@dataclass(frozen=True)
class ValueGrades:
    """The graded table (index ``key``; columns ``target, model, role, n, mae, median_ae, gini, top_share,
    roc_auc``; ``role`` is ``BASELINE`` or ``model``), the split it was graded on (``info``) and notes."""

    table: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, key: str) -> pd.Series | None:
        """One predictor's row, or None when it was not graded."""
        return self.table.loc[key] if key in self.table.index else None

    def beats(self, key: str, baseline: str, metrics: tuple[str, ...]) -> dict[str, bool | None]:
        """For each metric, whether predictor ``key`` beats ``baseline`` (None: not graded or too few customers)."""
        mine, base = self.row(key), self.row(baseline)
        out: dict[str, bool | None] = {}
        for m in metrics:
            if mine is None or base is None or mine["n"] < ValueConfig().min_graded \
                    or not (np.isfinite(mine[m]) and np.isfinite(base[m])):
                out[m] = None
            else:
                out[m] = bool(mine[m] < base[m]) if m in LOWER_IS_BETTER else bool(mine[m] > base[m])
        return out

    def verdict(self, key: str) -> dict[str, bool | None]:
        """Whether row ``key`` beats its target's baseline on each of the target's :data:`METRICS`."""
        target = str(self.table.loc[key, "target"])
        return self.beats(key, BASELINES[target], METRICS[target]) if target in BASELINES else {}

    def to_json(self) -> dict[str, Any]:
        """JSON-safe: ``info``, ``rows`` (the table, key first, each model row with ``beats_baseline``: metric ->
        true/false/null) and ``notes``."""
        rows = self.table.reset_index().to_dict(orient="records")
        for row in rows:
            if row["role"] != "BASELINE":
                row["beats_baseline"] = self.verdict(row["key"])
        return to_jsonable({"info": self.info, "rows": rows, "notes": self.notes})

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ValueGrades:
        """The grades back from :meth:`to_json` (missing metrics as NaN; ``beats_baseline`` is recomputed)."""
        rows = [{k: v for k, v in row.items() if k != "beats_baseline"} for row in doc.get("rows", [])]
        table = pd.DataFrame(rows, columns=["key", *GRADE_COLUMNS]).set_index("key")
        for col in GRADE_COLUMNS[4:]:
            table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
        table["n"] = table["n"].astype(int)
        return cls(table, dict(doc.get("info", {})), list(doc.get("notes", [])))


# ------------------------------------------------------------------------------------------------- measures

def window_activity(transactions: pd.DataFrame, customers: pd.Index, start, end) -> pd.DataFrame:
    """``spend`` and ``orders`` (distinct purchase days) of each customer in ``[start, end)`` (0 when none)."""
    dates = pd.to_datetime(transactions["date"])
    inside = (dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(end))
    tx = transactions.loc[inside]
    ids = tx["customer_id"].astype(str)
    g = tx.assign(day=dates[inside].dt.normalize()).groupby(ids, sort=False)
    out = pd.DataFrame({"spend": g["amount"].sum(), "orders": g["day"].nunique().astype(float)})
    return out.reindex(customers).fillna(0.0)


# --------------------------------------------------------------------------------------------------- grading

def spend_regressor(cfg: ValueConfig = ValueConfig()):
    """The spend model: gradient boosting with a Poisson loss (non-negative, mostly-zero spend), fixed seed."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(loss="poisson", max_iter=cfg.regressor_iterations,
                                         learning_rate=cfg.regressor_learning_rate, random_state=cfg.random_state)


def _spend_rows(split, tx: pd.DataFrame, cuts: dict[str, pd.Timestamp], h: int, cfg: ValueConfig) -> list[dict]:
    """BG/NBD x Gamma-Gamma, the regressor and "same as the last H days" for spend, and the orders rows."""
    from pipeline.features import numeric_feature_columns

    H = pd.Timedelta(days=h)
    test, train = cuts["test"], cuts["train"]
    now = window_activity(tx, split.X_test.index, test, test + H)
    before = window_activity(tx, split.X_test.index, test - H, test)
    y_train = window_activity(tx, split.X_train.index, train, train + H)["spend"]
    cols = numeric_feature_columns(split.X_train)
    with threadpool_limits(cfg.threads):      # OpenMP threads spin on a busy machine: one is several times faster
        model = spend_regressor(cfg).fit(split.X_train[cols], y_train)
        learned = np.clip(model.predict(split.X_test[cols]), 0.0, None)
    return [
        regression_row("spend_btyd", "spend", "BG/NBD x Gamma-Gamma expected spend", "model", now["spend"],
                        split.X_test["btyd_expected_spend"], cfg),
        regression_row("spend_model", "spend", "Gradient boosting on the customer features", "model",
                        now["spend"], learned, cfg),
        regression_row("spend_last", "spend", f"Same as the last {h} days (baseline)", "BASELINE", now["spend"],
                        before["spend"], cfg),
        regression_row("orders_btyd", "orders", "BG/NBD expected orders", "model", now["orders"],
                        split.X_test["btyd_expected_purchases"], cfg),
        regression_row("orders_last", "orders", f"Same as the last {h} days (baseline)", "BASELINE",
                        now["orders"], before["orders"], cfg),
    ]


def _next_order_rows(split, tx: pd.DataFrame, test: pd.Timestamp, h: int, cfg: ValueConfig) -> list[dict]:
    """BG/NBD's next-order date vs the last gap, on repeat customers who ordered again within H days."""
    from pipeline.clv import btyd_summary

    ids = split.X_test.index
    actual = next_order_days(tx, ids, test, h)
    naive = last_gap_days(tx, ids, test)
    btyd = split.btyd_test
    pred = btyd.predict_table(btyd_summary(tx, test))["days_to_next_order"].reindex(ids)
    pred = np.ceil(pred.fillna(btyd.max_next_order_days))            # the card's date: last day + ceil(days)
    graded = actual.notna() & naive.notna()
    return [
        regression_row("next_order_btyd", "next_order", "BG/NBD expected next order date", "model",
                        actual[graded], pred[graded], cfg) | {"gini": float("nan"), "top_share": float("nan")},
        regression_row("next_order_last_gap", "next_order", "The last gap between orders repeats (baseline)",
                        "BASELINE", actual[graded], naive[graded], cfg) | {"gini": float("nan"),
                                                                           "top_share": float("nan")},
    ]


def _ranking_rows(split, slices) -> list[dict]:
    """Who buys again / who churns: BG/NBD P(alive), the churn model's chance of an order (1 - its risk) and the
    recency baseline; the card's churn model against the BG/NBD score and the recency rule (its churn rate by
    days since the last order, fitted on the period before)."""
    from pipeline.churn import baseline_churn_score
    from pipeline.customer.classifier import churn_check

    y = split.y_test.to_numpy()
    again, X = 1 - y, split.X_test
    rows = [auc_row("p_alive_btyd", "p_alive", "BG/NBD P(alive)", "model", again, X["btyd_p_alive"])]
    check = churn_check(slices)
    if check is not None:
        p = check["proba"].reindex(X.index).to_numpy(float)
        rows.append(auc_row("p_alive_churn_model", "p_alive", "1 - the churn model's risk (chance of an order)",
                             "model", again, 1 - p, probability=True))
    rows += [auc_row("p_alive_recency", "p_alive", "More recent = more alive (baseline)", "BASELINE", again,
                      -X["recency_days"].to_numpy(float))]
    if check is not None:
        rows.append(auc_row("churn_model", "churn", "The churn model (stacked past cutoffs, calibrated)", "model",
                             y, check["proba"].reindex(X.index).to_numpy(float), probability=True))
    rows.append(auc_row("churn_btyd", "churn", "BG/NBD expected purchases (baseline)", "BASELINE", y,
                         baseline_churn_score(X), probability=True))
    rule = recency_rule(split.X_train["recency_days"], split.y_train)
    if rule is not None:
        rows.append(auc_row("churn_recency", "churn", "The recency rule (baseline)", "BASELINE", y,
                             rule.probability(X["recency_days"]), probability=True))
    return rows


def _sliced_rows(rows, slices, test: pd.Timestamp, cfg: ValueConfig) -> list[dict]:
    """The rows of a forecast trained on stacked past cutoffs (none when the data are too short for it)."""
    try:
        return rows(slices, test, cfg)
    except DataError:
        return []


@logged("value_grades")
def grade_values(transactions: pd.DataFrame, returns: pd.DataFrame | None = None,
                 horizon_days: int = HORIZON_DAYS, *, split=None, slices=None,
                 cfg: ValueConfig = ValueConfig()) -> ValueGrades:
    """Grade every prediction of the card out of time (see the module docstring).

    Parameters
    ----------
    transactions, returns : canonical tables (``pipeline.ingest``).
    horizon_days : H.
    split : a :class:`pipeline.churn.ChurnSplit` already built for these data and H (else built here).
    slices : the data's :class:`pipeline.slices.SliceSet` for H (else built here): the models trained on stacked
        past cutoffs learn from it, and the card's models reuse what was fitted for the grading.
    cfg : top share, minimum graded customers, the regressor's settings.
    """
    from pipeline.churn import out_of_time_split
    from pipeline.slices import SliceSet

    t0 = time.perf_counter()
    slices = slices or SliceSet(transactions, returns, split.info["horizon_days"] if split else horizon_days)
    split = split or out_of_time_split(transactions, returns, horizon_days, slices=slices)
    h = int(split.info["horizon_days"])
    if split.btyd_test is None:
        raise DataError("value: the out-of-time split has no BTYD model for the test cutoff; build it with "
                        "pipeline.churn.out_of_time_split.")
    cuts = {k: pd.Timestamp(split.info[k]["cutoff"]) for k in ("train", "test")}
    from pipeline.predict.next_order import next_order_rows
    from pipeline.predict.spend import spend_rows

    rows = (_spend_rows(split, transactions, cuts, h, cfg) + _sliced_rows(spend_rows, slices, cuts["test"], cfg)
            + _next_order_rows(split, transactions, cuts["test"], h, cfg)
            + _sliced_rows(next_order_rows, slices, cuts["test"], cfg) + _ranking_rows(split, slices))
    table = pd.DataFrame(rows, columns=["key", *GRADE_COLUMNS]).set_index("key")
    info = {"horizon_days": h, "train_cutoff": split.info["train"]["cutoff"],
            "test_cutoff": split.info["test"]["cutoff"], "test_window": split.info["test"]["label_window"],
            "n_customers": len(split.X_test), "top_share": cfg.top_share,
            "btyd_fit_note": split.info["test"]["btyd_fit_note"], "seconds": round(time.perf_counter() - t0, 2)}
    notes = [f"Graded on the {len(split.X_test):,} customers who bought before {info['test_cutoff']}, against what "
             f"they did in the next {h} days ({info['test_window'][0]} to {info['test_window'][1]}); the spend "
             f"model learned from the {h} days after {info['train_cutoff']}.",
             "Next order: graded on customers with two purchase days or more who ordered again within "
             f"{h} days ({int(table.loc['next_order_btyd', 'n']):,}); the others' next date is not known yet."]
    return ValueGrades(table, info, notes)
