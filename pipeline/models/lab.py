"""Model lab: build a target, train and compare the zoo, keep the result, save/load/activate models.

This is the orchestration the Model lab page and the ``churn``/``train`` CLI commands share. Three targets:

* **churn** (transactions): out-of-time split from :func:`pipeline.churn.out_of_time_split` - train on features
  as of ``end - 2H`` labelled by the next ``H`` days, test on features as of ``end - H``; the BG/NBD
  expected-purchases score is an extra baseline row.
* **column** (customer table): any column as the class target, chosen features, stratified random split.
* **segment** (transactions): the RFM segment. Segments are computed from the R and F scores, so the features
  they are made of are dropped by default (:data:`SEGMENT_LEAKY_FEATURES`) and a leakage note is returned.

A fitted model of a comparison is saved, listed, loaded and deleted by :mod:`pipeline.models.saved`.
:func:`verdicts` ends a comparison with one plain line per model (does it beat the simple rule?).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from pipeline.config import ChurnConfig, LabConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.grading import top_sum
from pipeline.models.explain import permutation_importance_table
from pipeline.models.training import ScoreBaseline, TrainResult, split_train_test, train_and_evaluate
from pipeline.models.zoo import REGISTRY, ZooSettings, feature_types
from pipeline.store import Dataset

__all__ = [
    "TARGET_KINDS", "SEGMENT_LEAKY_FEATURES", "BASELINE_KEY", "LabOptions", "LabResult",
    "default_features", "run_comparison", "run_churn_comparison", "run_table_comparison", "run_segment_comparison",
    "metric_records", "curve_frame", "headline", "verdict", "verdicts", "rule_metric", "RULE_NAMES",
]

Progress = Callable[[int, int, str], None]

#: Target kinds: key -> what it predicts.
TARGET_KINDS = {
    "churn": "No purchase in the next H days (transactions)",
    "column": "A column of a customer table",
    "segment": "The RFM segment (transactions)",
}
#: Features from which the RFM segment (R and F scores) can be read off: recency, frequency, the recent-activity
#: windows (which reveal recency), gaps between orders (tenure / frequency) and average order value
#: (monetary / frequency).
SEGMENT_LEAKY_FEATURES = (
    "recency_days", "frequency", "avg_order_value", "mean_days_between", "median_days_between",
    "orders_30d", "spend_30d", "orders_60d", "spend_60d", "orders_90d", "spend_90d",
    "orders_trend_90d", "spend_trend_90d",
)
#: Key of the BG/NBD score row in a churn comparison.
BASELINE_KEY = "bgnbd"
#: Short names of the simple rules a model must beat (keys of the baseline rows).
RULE_NAMES = {BASELINE_KEY: "BG/NBD", "majority": "the majority class"}


@dataclass
class LabResult:
    """One comparison: the zoo's result plus what is needed to show, explain and save it."""

    kind: str
    target: str
    train: TrainResult
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    settings: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    importance: pd.DataFrame | None = None
    seconds: float = 0.0

    @property
    def table(self) -> pd.DataFrame:
        return self.train.table

    @property
    def best(self) -> str | None:
        return self.train.best


# -- targets ------------------------------------------------------------------------------------------------

def default_features(table: pd.DataFrame, target: str) -> list[str]:
    """Every column except ``customer_id``, the target, all-empty columns and text columns unique per row (ids)."""
    out = []
    for col in table.columns:
        s = table[col]
        if col in ("customer_id", target) or s.isna().all():
            continue
        if not pd.api.types.is_numeric_dtype(s) and len(s) > 20 and s.nunique(dropna=True) == s.notna().sum():
            continue
        out.append(col)
    return out


def _step(progress: Progress | None, step: int, total: int, label: str) -> None:
    if progress is not None:
        progress(step, total, label)


def _n_steps(models: Sequence[str], extra: int = 0) -> int:
    """Progress steps: every model (baselines always run), score baselines, then permutation importance."""
    names = {n for n, spec in REGISTRY.items() if spec.baseline} | set(models)
    return len(names) + extra + 1


@dataclass(frozen=True)
class LabOptions:
    """What a Model-lab comparison runs: the target kind (see :data:`TARGET_KINDS`), the models, the imbalance
    treatment and CV folds, and the options of each kind (churn: ``horizon``/``cutoff``; column: ``target``,
    ``features``, ``numeric``, ``categorical``; segment: ``drop_leaky``)."""

    kind: str
    models: Sequence[str] = ()
    imbalance: str = "none"
    cv_folds: int | None = None
    horizon: int = ChurnConfig.horizon_days
    cutoff: str | None = None                      # churn test cutoff (ISO date); None: end of data - H
    target: str | None = None
    features: Sequence[str] | None = None          # None: default_features of the table
    numeric: Sequence[str] = ()
    categorical: Sequence[str] = ()
    drop_leaky: bool = True


@dataclass(frozen=True)
class _Run:
    """How to train: the models, imbalance treatment, CV folds, progress callback and settings."""

    models: Sequence[str]
    imbalance: str
    cv_folds: int | None
    progress: Progress | None
    settings: ZooSettings | None
    lab: LabConfig

    def record(self) -> dict[str, Any]:
        return {"models": list(self.models), "imbalance": self.imbalance, "cv_folds": self.cv_folds}


@dataclass(frozen=True)
class _Problem:
    """One comparison's data: the split, feature types, score baselines, and what is recorded with it."""

    kind: str
    target: str
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    record: dict[str, Any]                         # the options saved with a model (JSON-ready)
    info: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    types: dict[str, str] | None = None
    baselines: dict[str, ScoreBaseline] | None = None


def _evaluate(problem: _Problem, run: _Run) -> LabResult:
    """Train the zoo, then the permutation importance of the best model; progress counts one step per model."""
    start = time.perf_counter()
    total = _n_steps(run.models, len(problem.baselines or {}))

    def inner(step: int, _total: int, label: str) -> None:
        if label != "done":                                   # "done" is reported once, after the importance
            _step(run.progress, step, total, label)

    p, lab = problem, run.lab
    result = train_and_evaluate(p.X_train, p.y_train, p.X_test, p.y_test, list(run.models), run.imbalance,
                                inner if run.progress else None, run.cv_folds, p.baselines,
                                settings=run.settings, types=p.types)
    importance = None
    if result.best is not None:
        _step(run.progress, total - 1, total, f"Permutation importance of {REGISTRY[result.best].label}")
        importance = permutation_importance_table(
            result.pipelines[result.best], p.X_test.reset_index(drop=True)[list(result.feature_types)],
            result.y_test, result.labels, n_repeats=lab.importance_repeats, random_state=lab.random_state,
            max_rows=lab.importance_rows)
    _step(run.progress, total, total, "done")
    return LabResult(p.kind, p.target, result, p.X_train.reset_index(drop=True), pd.Series(np.asarray(p.y_train)),
                     p.X_test.reset_index(drop=True), p.record, p.info, p.notes, importance,
                     time.perf_counter() - start)


def run_churn_comparison(transactions: Any, returns: pd.DataFrame | None,
                         horizon: int = ChurnConfig.horizon_days, cutoff: object = None,
                         models: Sequence[str] = (),
                         imbalance: str = "none", cv_folds: int | None = None, progress: Progress | None = None,
                         *, settings: ZooSettings | None = None, lab: LabConfig = LabConfig()) -> LabResult:
    """Out-of-time churn comparison with the majority and BG/NBD baselines.

    ``cutoff`` is the test cutoff (default end - H); the training cutoff is ``cutoff - H``. ``transactions`` is
    a canonical frame (with ``returns``) or a :class:`pipeline.churn.History` (``returns`` None), e.g.
    ``pipeline.engines.history.EngineHistory`` on Spark.
    """
    from pipeline.churn import LABEL, baseline_churn_score, out_of_time_split

    run = _Run(models, imbalance, cv_folds, progress, settings, lab)
    _step(progress, 0, _n_steps(models, 1), "Building churn features and labels")
    split = out_of_time_split(transactions, returns, horizon, test_cutoff=cutoff)
    base = ScoreBaseline("BG/NBD expected purchases (baseline)", test_score=baseline_churn_score(split.X_test),
                         train_score=baseline_churn_score(split.X_train),
                         description="exp(-expected purchases in H) from a BG/NBD fit before the cutoff")
    info = split.info
    notes = [f"BTYD fit (test cutoff {info['test']['cutoff']}): {info['test']['btyd_fit_note']}"]
    notes += [part["sample_note"] for part in (info["train"], info["test"]) if "sample_note" in part]
    record = {"horizon": int(info["horizon_days"]), "cutoff": info["test"]["cutoff"],
              "train_cutoff": info["train"]["cutoff"], **run.record()}
    return _evaluate(_Problem("churn", LABEL, split.X_train, split.y_train, split.X_test, split.y_test, record, info,
                              notes, baselines={BASELINE_KEY: base}), run)


def run_table_comparison(customers: pd.DataFrame, target: str, features: Sequence[str] | None = None,
                         models: Sequence[str] = (), imbalance: str = "none", cv_folds: int | None = None,
                         progress: Progress | None = None, numeric: Sequence[str] = (),
                         categorical: Sequence[str] = (), *, settings: ZooSettings | None = None,
                         lab: LabConfig = LabConfig()) -> LabResult:
    """Predict column ``target`` of a customer table from ``features`` (default :func:`default_features`).

    ``numeric`` forces columns to be read as numbers (DataError if they hold text); ``categorical`` forces
    number codes (e.g. education 1-4) to be one-hot encoded as categories.
    """
    if target not in customers.columns:
        raise DataError(f"Target column {target!r} is not in the table; pick one of {list(customers.columns)[:20]}.")
    features = list(features) if features is not None else default_features(customers, target)
    if target in features:
        raise DataError(f"The target {target!r} is also among the features; remove it from the features.")
    if not features:
        raise DataError("No features chosen; pick at least one column besides the target.")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise DataError(f"Columns {both} are marked both numeric and categorical; choose one for each.")
    run = _Run(models, imbalance, cv_folds, progress, settings, lab)
    types = feature_types(customers[features], numeric=numeric, categorical=categorical)
    X_tr, X_te, y_tr, y_te = split_train_test(customers[features], customers[target].reset_index(drop=True),
                                              lab.test_size, settings)
    record = {"target": target, "features": features, "numeric": list(numeric), "categorical": list(categorical),
              **run.record()}
    info = {"n_rows": len(customers), "n_train": len(X_tr), "n_test": len(X_te), "test_size": lab.test_size}
    return _evaluate(_Problem("column", target, X_tr, y_tr, X_te, y_te, record, info, types=types), run)


def run_segment_comparison(transactions: pd.DataFrame, returns: pd.DataFrame | None,
                           models: Sequence[str] = (), imbalance: str = "none", cv_folds: int | None = None,
                           progress: Progress | None = None, rules: pd.DataFrame | None = None,
                           drop_leaky: bool = True, *, settings: ZooSettings | None = None,
                           lab: LabConfig = LabConfig()) -> LabResult:
    """Predict the RFM segment from behavioural features as of the end of the data.

    The segment is a function of the R and F scores; with ``drop_leaky`` the features it can be read from
    (:data:`SEGMENT_LEAKY_FEATURES`) are removed. Either way ``notes`` carries the leakage warning.
    """
    from pipeline.features import customer_features
    from pipeline.rfm import rfm_table

    run = _Run(models, imbalance, cv_folds, progress, settings, lab)
    _step(progress, 0, _n_steps(models), "Building customer features and RFM segments")
    X = customer_features(transactions, returns)
    seg = rfm_table(transactions, rules=rules).set_index("customer_id")["segment"]
    y = seg.reindex(X.index.astype(str))
    if drop_leaky:
        X = X.drop(columns=[c for c in SEGMENT_LEAKY_FEATURES if c in X.columns])
        note = ("The RFM segment is computed from the R (recency) and F (frequency) scores. The features it is "
                f"made of were dropped ({', '.join(SEGMENT_LEAKY_FEATURES)}), but the remaining ones still "
                "correlate with them, so these scores are optimistic.")
    else:
        note = ("Leakage: the RFM segment is computed from the R (recency) and F (frequency) scores, and recency "
                "and frequency are among the features, so the models can read the answer off them. These scores "
                "say nothing about predicting anything new.")
    X_tr, X_te, y_tr, y_te = split_train_test(X, y.reset_index(drop=True), lab.test_size, settings)
    record = {"drop_leaky": drop_leaky, **run.record()}
    info = {"n_rows": len(X), "n_train": len(X_tr), "n_test": len(X_te), "features": list(X.columns)}
    return _evaluate(_Problem("segment", "segment", X_tr, y_tr, X_te, y_te, record, info, [note]), run)


def run_comparison(dataset: Dataset, options: LabOptions, progress: Progress | None = None,
                   rules: pd.DataFrame | None = None, *, settings: ZooSettings | None = None) -> LabResult:
    """Run the comparison ``options`` describe on ``dataset`` (DataError when the dataset cannot have that target)."""
    o = options
    common = {"models": o.models, "imbalance": o.imbalance, "cv_folds": o.cv_folds or None, "progress": progress,
              "settings": settings}
    if o.kind == "column":
        if dataset.customers is None:
            raise DataError(f"'{dataset.name}' holds transactions; a column target needs a customer table.")
        if o.target is None:
            raise DataError("A column comparison needs a target column; pick one.")
        return run_table_comparison(dataset.customers, o.target, o.features, numeric=o.numeric,
                                    categorical=o.categorical, **common)
    if o.kind not in TARGET_KINDS:
        raise DataError(f"Unknown target kind {o.kind!r}; choose one of {list(TARGET_KINDS)}.")
    if dataset.transactions is None:
        raise DataError(f"'{dataset.name}' is a customer table; churn and RFM-segment targets need transactions.")
    if o.kind == "churn":
        return run_churn_comparison(dataset.transactions, dataset.returns, o.horizon, o.cutoff, **common)
    return run_segment_comparison(dataset.transactions, dataset.returns, rules=rules, drop_leaky=o.drop_leaky,
                                  **common)


# -- presenting results ----------------------------------------------------------------------------------------

def metric_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The metric table as JSON-ready rows (``key`` first; NaN -> None)."""
    rows = table.reset_index().to_dict(orient="records")
    return [{k: to_jsonable(v) for k, v in row.items()} for row in rows]


def curve_frame(result: LabResult, which: str, cls: str | None = None) -> pd.DataFrame:
    """ROC (``fpr, tpr``), precision-recall (``recall, precision``) or calibration (``mean_predicted,
    fraction_positive``) points of every model, long format with a ``model`` column; one class (default: the
    positive class of a binary target, the first class otherwise)."""
    if which not in ("roc", "pr", "calibration"):
        raise DataError(f"Unknown curve {which!r}; use 'roc', 'pr' or 'calibration'.")
    frames = []
    for key, report in result.train.reports.items():
        points = getattr(report, which)
        if points.empty:
            continue
        wanted = cls if cls is not None else points["class"].iloc[0]
        frames.append(points[points["class"] == str(wanted)].assign(model=result.table.loc[key, "model"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["class", "model"])


def headline(result: LabResult, lab: LabConfig = LabConfig()) -> dict[str, Any]:
    """The one plain sentence that opens the results, with its numbers (``sentence``, ``k``, ``n_model``,
    ``n_baseline``, ``model``). Churn: of the ``lab.headline_top`` test customers the best model ranks riskiest, how
    many did not buy again, against the BG/NBD baseline's riskiest (tied scores count as their average). Other
    targets: the best model's balanced accuracy against always guessing the most common class."""
    best, table = result.best, result.table
    if best is None:
        return {"sentence": "No model was trained; only the baselines ran.", "model": None}
    label = str(table.loc[best, "model"])
    if result.kind == "churn" and BASELINE_KEY in result.train.proba:
        churned = (result.train.y_test == result.train.labels[1]).astype(float)
        k = min(lab.headline_top, len(churned))
        n = round(top_sum(churned, result.train.proba[best][:, 1], k))
        m = round(top_sum(churned, result.train.proba[BASELINE_KEY], k))
        h, cutoff = result.settings.get("horizon"), result.settings.get("cutoff")
        return {"sentence": f"Of the {k:,} customers {label} ranks riskiest, {n:,} did not buy again in the {h} days "
                            f"after {cutoff}, against {m:,} for the BG/NBD baseline.",
                "k": k, "n_model": n, "n_baseline": m, "model": best}
    mine, base = table.loc[best, "balanced_accuracy"], table.loc["majority", "balanced_accuracy"]
    return {"sentence": f"{label}, the best model here, gets a balanced accuracy of {mine:.0%} on the test rows, "
                        f"against {base:.0%} for always guessing the most common class.", "model": best}


def rule_metric(kind: str) -> str:
    """The measure a model must beat its simple rule on: ROC AUC for churn (a ranking of who leaves), balanced
    accuracy for the other targets (as in :func:`headline`)."""
    return "roc_auc" if kind == "churn" else "balanced_accuracy"


def verdict(model: str, value: float | None, rule: str, rule_value: float | None, metric: str) -> str:
    """One plain line: ``Random forest: beats the simple rule (BG/NBD) by 0.030 ROC AUC — use it``, or
    ``...: does not beat the simple rule (BG/NBD: ROC AUC 0.896 vs 0.903) — keep the rule``."""
    from pipeline.labels import label

    what = label(metric)
    if not (isinstance(value, (int, float)) and np.isfinite(value)) or \
            not (isinstance(rule_value, (int, float)) and np.isfinite(rule_value)):
        return f"{model}: could not be graded against the simple rule ({rule}) — keep the rule"
    gain = float(value) - float(rule_value)
    if gain > 0:
        by = f"{gain:.3f}" if gain >= 0.0005 else "less than 0.001"
        return f"{model}: beats the simple rule ({rule}) by {by} {what} — use it"
    return f"{model}: does not beat the simple rule ({rule}: {what} {value:.3f} vs {rule_value:.3f}) — keep the rule"


def verdicts(result: LabResult) -> list[str]:
    """One line per trained model of a comparison: does it beat the best simple rule (baseline row) of the same
    test set on :func:`rule_metric`?"""
    metric, table = rule_metric(result.kind), result.table
    if metric not in table.columns:
        return []
    rules = table[table["baseline"].astype(bool)][metric].dropna()
    if rules.empty:
        return [verdict(str(table.loc[k, "model"]), table.loc[k, metric], "none ran", None, metric)
                for k in table.index if not table.loc[k, "baseline"]]
    best = rules.idxmax()
    name = RULE_NAMES.get(best, str(table.loc[best, "model"]))
    return [verdict(str(table.loc[k, "model"]), table.loc[k, metric], name, float(rules[best]), metric)
            for k in table.index if not table.loc[k, "baseline"]]
