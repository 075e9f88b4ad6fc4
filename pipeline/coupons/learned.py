"""The learned coupon policy: an acceptance model fitted on a coupon-response history, recommending the coupon
type with the highest predicted acceptance x value.

The acceptance model is a model-zoo pipeline (:data:`pipeline.models.REGISTRY` via
:func:`pipeline.models.build_pipeline`) and it is evaluated with the zoo's cross-validation
(:func:`pipeline.models.cross_validate_scores`): there is no second model zoo here. The only modelling choice this
module makes is :data:`ACCEPTANCE_SETTINGS`, the zoo settings of the default acceptance model.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from pipeline.config import SEED
from pipeline.coupons.responses import ResponseData, prepare_responses
from pipeline.errors import DataError
from pipeline.models import REGISTRY, ZooSettings, build_pipeline, cross_validate_scores
from pipeline.models.zoo import category_positions

__all__ = [
    "DEFAULT_MODEL", "DEFAULT_LABEL", "BASELINE_LABEL", "ACCEPTANCE_SETTINGS", "acceptance_settings",
    "acceptance_pipeline", "model_label", "evaluate_acceptance_model", "LearnedCouponPolicy", "fit_learned_policy",
]

#: Registry key of the default acceptance model, and how tables and pages name it.
DEFAULT_MODEL = "xgboost"
DEFAULT_LABEL = "One-hot + XGBoost"
BASELINE_LABEL = "Majority baseline"
#: Zoo settings of the default acceptance model: more and deeper trees, each seeing 40% of the one-hot columns, and
#: one column per category (response histories hold few, clean categories: no pooling of rare ones).
#: In-vehicle coupons, 5-fold CV: ROC AUC 0.85 vs 0.50 for the majority baseline (benchmarks/bench_lookup.py).
ACCEPTANCE_SETTINGS = ZooSettings(xgb_trees=600, xgb_max_depth=8, xgb_colsample=0.4, min_category_count=None,
                                  max_categories=None)
_MISSING = "(missing)"


def acceptance_settings(model: str | None = None, seed: int = SEED, n_jobs: int = 1) -> ZooSettings:
    """Zoo settings of an acceptance model: :data:`ACCEPTANCE_SETTINGS` for the default (``model=None``), the
    zoo's defaults for a registry model; ``n_jobs=1`` because on 2 shared cores 2 threads made CV 10x slower."""
    return replace(ACCEPTANCE_SETTINGS if model is None else ZooSettings(), random_state=seed, n_jobs=n_jobs)


def model_label(model: str | None) -> str:
    """Display name of an acceptance model (``None``: the default one-hot + XGBoost)."""
    if model is None:
        return DEFAULT_LABEL
    if model not in REGISTRY:
        raise DataError(f"Unknown model '{model}'; choose from {list(REGISTRY)}.")
    return REGISTRY[model].label


def acceptance_pipeline(prep: ResponseData, model: str | None = None,
                        settings: ZooSettings | None = None) -> Pipeline:
    """Unfitted zoo pipeline for registry model ``model`` (``None``: :data:`DEFAULT_MODEL`) on ``prep``'s features."""
    types = {c: "categorical" for c in prep.categorical} | {c: "numeric" for c in prep.numeric}
    return build_pipeline(model or DEFAULT_MODEL, types, settings or acceptance_settings(model))


def evaluate_acceptance_model(history: pd.DataFrame, target: str | None = None, coupon_col: str | None = None,
                              n_splits: int = 5, seed: int = SEED, model: str | None = None,
                              n_jobs: int = 1) -> pd.DataFrame:
    """Stratified k-fold CV of the acceptance model next to a majority-class baseline.

    ``model``: a model-lab registry key, or ``None`` for the default one-hot + XGBoost.

    Returns
    -------
    DataFrame with rows ``model`` (the acceptance model, "Majority baseline") and columns ``roc_auc``,
    ``roc_auc_std``, ``accuracy``, ``log_loss``, ``n_rows``, ``n_splits``, ``fit_seconds``.
    """
    prep = prepare_responses(history, target, coupon_col)
    settings = acceptance_settings(model, seed, n_jobs)
    candidates = ((model_label(model), acceptance_pipeline(prep, model, settings)),
                  (BASELINE_LABEL, REGISTRY["majority"].factory(settings)))    # ignores the features: no preprocessing
    return pd.DataFrame([_cv_row(label, est, prep, n_splits, seed) for label, est in candidates])


def _cv_row(label: str, estimator: BaseEstimator, prep: ResponseData, n_splits: int, seed: int) -> dict:
    start = time.perf_counter()
    folds = cross_validate_scores(estimator, prep.X, prep.y, n_splits, ("roc_auc", "accuracy", "log_loss"), seed)
    return {"model": label, "roc_auc": folds["roc_auc"].mean(), "roc_auc_std": folds["roc_auc"].std(),
            "accuracy": folds["accuracy"].mean(), "log_loss": folds["log_loss"].mean(), "n_rows": len(prep.y),
            "n_splits": n_splits, "fit_seconds": time.perf_counter() - start}


@dataclass(frozen=True)
class _BoosterLayout:
    """Where each input lands in the fitted zoo preprocessor's output, to predict one person through the booster."""

    booster: object
    width: int
    categories: dict[str, dict[str, int]]     # categorical column -> {category: output position}
    numeric: list[str]
    numeric_positions: np.ndarray
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray


class LearnedCouponPolicy(BaseEstimator):
    """An acceptance model and the value of each coupon type; recommends the argmax of acceptance x value.

    A scikit-learn estimator: ``fit(history)`` reads the outcome column (``target``, or detected) and the coupon-type
    column (``coupon_col``, or detected) from the response history itself, so ``y`` is not used.

    Parameters
    ----------
    model : registry key of :data:`pipeline.models.REGISTRY`; ``None`` = :data:`DEFAULT_MODEL` with
        :data:`ACCEPTANCE_SETTINGS`.
    target, coupon_col : outcome and coupon-type columns of the history (``None``: detect them).
    values : value of each coupon type (default 1 each).
    settings : zoo settings (``None``: :func:`acceptance_settings` of ``model``).

    Attributes
    ----------
    model_ : the fitted zoo pipeline. ``target_``, ``coupon_column_`` : the columns used. ``coupon_types_`` : sorted
    coupon types. ``categorical_``, ``numeric_`` : feature columns (coupon column included). ``defaults_`` : training
    default per feature (most frequent category / median), used for anything a person does not give.
    ``values_`` : value per coupon type. ``choices_`` : what-if inputs, categories or (min, max) for numbers.
    """

    def __init__(self, model: str | None = None, target: str | None = None, coupon_col: str | None = None,
                 values: Mapping[str, float] | None = None, settings: ZooSettings | None = None):
        self.model = model
        self.target = target
        self.coupon_col = coupon_col
        self.values = values
        self.settings = settings

    def fit(self, X: pd.DataFrame, y: Sequence | None = None) -> LearnedCouponPolicy:
        """Fit on response history ``X`` (one row per offer, outcome column included); ``y`` is ignored."""
        prep = prepare_responses(X, self.target, self.coupon_col)
        types = sorted(prep.X[prep.coupon_column].unique().tolist())
        unknown = sorted(set(self.values or {}) - set(types))
        if unknown:
            raise DataError(f"coupon responses: values given for unknown coupon type(s) {unknown}; types are {types}.")
        self.model_ = acceptance_pipeline(prep, self.model, self.settings).fit(prep.X, prep.y)
        self.target_, self.coupon_column_, self.coupon_types_ = prep.target, prep.coupon_column, types
        self.categorical_, self.numeric_ = list(prep.categorical), list(prep.numeric)
        self.defaults_ = {c: prep.X[c].mode().iloc[0] for c in prep.categorical}
        self.defaults_ |= {c: float(prep.X[c].median()) for c in prep.numeric}
        self.choices_ = {c: sorted(prep.X[c].unique().tolist(), key=str) for c in self.feature_columns_
                         if c in prep.categorical}
        self.choices_ |= {c: (float(prep.X[c].min()), float(prep.X[c].max())) for c in prep.numeric}
        self.values_ = {t: float((self.values or {}).get(t, 1.0)) for t in types}
        self._layout = None
        return self

    @property
    def feature_columns_(self) -> list[str]:
        """The person's inputs: every feature except the coupon column."""
        return [c for c in self.categorical_ + self.numeric_ if c != self.coupon_column_]

    def with_values(self, values: Mapping[str, float]) -> LearnedCouponPolicy:
        """A copy using other coupon values (the fitted model is shared); unknown coupon types raise DataError."""
        unknown = sorted(set(values) - set(self.coupon_types_))
        if unknown:
            raise DataError(f"coupon values for unknown coupon type(s) {unknown}; types are {self.coupon_types_}.")
        other = copy.copy(self)
        other.values_ = {**self.values_, **{t: float(v) for t, v in values.items()}}
        return other

    def prepared(self, people: pd.DataFrame) -> pd.DataFrame:
        """The model's input rows for ``people`` (a column absent from ``people`` takes its training default):
        categories as stripped text with blanks as "(missing)", numbers as float with NaN for non-numbers."""
        frame = pd.DataFrame(index=range(len(people)))
        for c in self.categorical_:
            frame[c] = people[c].map(_category_text).to_numpy() if c in people.columns \
                else _category_text(self.defaults_[c])
        for c in self.numeric_:
            frame[c] = people[c].map(_number).to_numpy(float) if c in people.columns else _number(self.defaults_[c])
        return frame

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 2) probabilities of declining / accepting the offer each row of ``X`` (coupon column included)
        describes."""
        return self.model_.predict_proba(self.prepared(X))

    def _row(self, person: Mapping | pd.Series | pd.DataFrame) -> dict:
        """One person's features as :meth:`prepared` makes them, without building a table (fast)."""
        data = person.iloc[0].to_dict() if isinstance(person, pd.DataFrame) else dict(person)
        row = {c: _category_text(data.get(c, self.defaults_[c])) for c in self.categorical_}
        return row | {c: _number(data.get(c, self.defaults_[c])) for c in self.numeric_}

    def _frame(self, person: Mapping | pd.Series | pd.DataFrame) -> pd.DataFrame:
        """One row per coupon type: the person's features with the coupon column set to that type."""
        frame = pd.DataFrame([self._row(person)] * len(self.coupon_types_))
        frame[self.coupon_column_] = self.coupon_types_
        return frame

    def _fast_layout(self) -> _BoosterLayout | None:
        """The booster layout when the model is the zoo's XGBoost pipeline (else None), built once."""
        if getattr(self, "_layout", None) is None:
            self._layout = _booster_layout(self.model_) or False
        return self._layout or None

    def acceptance(self, person: Mapping | pd.Series | pd.DataFrame) -> pd.Series:
        """Predicted acceptance probability of each coupon type for one person (dict, Series or 1-row frame)."""
        layout = self._fast_layout()
        if layout is None:
            proba = self.model_.predict_proba(self._frame(person))[:, 1]
        else:  # same numbers as predict_proba, without scikit-learn's per-call validation
            X = _encode(layout, self._row(person), self.coupon_column_, self.coupon_types_)
            proba = layout.booster.inplace_predict(X.astype(np.float32))
        return pd.Series(np.asarray(proba, dtype=float), index=self.coupon_types_, name="acceptance")

    def recommend(self, person: Mapping | pd.Series | pd.DataFrame,
                  values: Mapping[str, float] | None = None) -> dict:
        """Coupon type with the highest acceptance x value, with a reason and the full ranking table."""
        vals = {**self.values_, **(values or {})}
        table = self.acceptance(person).to_frame()
        table["value"] = [float(vals.get(t, 1.0)) for t in table.index]
        table["expected_value"] = table["acceptance"] * table["value"]
        table = table.sort_values("expected_value", ascending=False).rename_axis("coupon").reset_index()
        best = table.iloc[0]
        nxt = (f"; next {table.at[1, 'coupon']}: {table.at[1, 'acceptance']:.0%} x {table.at[1, 'value']:.2f} = "
               f"{table.at[1, 'expected_value']:.2f}") if len(table) > 1 else ""
        reason = (f"{best['coupon']} has the highest expected value: {best['acceptance']:.0%} predicted acceptance "
                  f"x value {best['value']:.2f} = {best['expected_value']:.2f}{nxt}.")
        return {"coupon": best["coupon"], "acceptance": float(best["acceptance"]), "value": float(best["value"]),
                "expected_value": float(best["expected_value"]), "reason": reason, "table": table}


def _booster_layout(pipe: Pipeline) -> _BoosterLayout | None:
    """Output positions of the fitted zoo preprocessor (``num``: impute + scale, ``cat``: one-hot with an
    infrequent pool) in front of an XGBoost model; None for any other model."""
    model, prep = pipe.named_steps["model"], pipe.named_steps["prep"]
    if type(model).__name__ != "XGBClassifier":
        return None
    width, categories = 0, {}
    numeric, medians, means, scales = [], np.empty(0), np.empty(0), np.empty(0)
    for name, trans, cols in prep.transformers_:
        if name == "num":
            numeric, medians = list(cols), trans.named_steps["impute"].statistics_.astype(float)
            means, scales = trans.named_steps["scale"].mean_, trans.named_steps["scale"].scale_
            width += len(cols)
        elif name == "cat":
            enc = trans.named_steps["onehot"]
            for i, col in enumerate(cols):
                categories[col], width = category_positions(enc, i, width)
    booster = model.get_booster().copy()
    booster.set_param({"nthread": 1})          # a few rows: threads cost more than they save
    return _BoosterLayout(booster, width, categories, numeric, np.arange(len(numeric)), medians, means, scales)


def _encode(layout: _BoosterLayout, row: Mapping, coupon_column: str, coupon_types: Sequence) -> np.ndarray:
    """The preprocessor's output for one person (``row``) offered each coupon type, computed directly."""
    x = np.zeros(layout.width)
    if layout.numeric:
        values = np.array([row[c] for c in layout.numeric], dtype=float)
        values = np.where(np.isnan(values), layout.medians, values)
        x[layout.numeric_positions] = (values - layout.means) / layout.scales
    for col, positions in layout.categories.items():
        if col != coupon_column and str(row[col]) in positions:
            x[positions[str(row[col])]] = 1.0
    X = np.tile(x, (len(coupon_types), 1))
    coupon_positions = layout.categories.get(coupon_column, {})
    for r, t in enumerate(coupon_types):
        if str(t) in coupon_positions:
            X[r, coupon_positions[str(t)]] = 1.0
    return X


def _category_text(value: object) -> str:
    """A category as stripped text; missing or blank values are "(missing)" (as :func:`prepare_responses` does)."""
    missing = value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) or str(value).strip() == ""
    return _MISSING if missing else str(value).strip()


def _number(value: object) -> float:
    """A number as float; missing values and text that is not a number are NaN."""
    v = pd.to_numeric(value, errors="coerce")
    return float(v) if v is not None and not pd.isna(v) else np.nan


def fit_learned_policy(history: pd.DataFrame, target: str | None = None, coupon_col: str | None = None,
                       values: Mapping[str, float] | None = None, seed: int = SEED, model: str | None = None,
                       n_jobs: int = 1) -> LearnedCouponPolicy:
    """Fit a :class:`LearnedCouponPolicy` on all of ``history``; ``values`` = value per coupon type (default 1 each).

    ``model`` = a model-lab registry key (``"logreg"``, ``"forest"``, ...); ``None`` = one-hot + XGBoost, which
    also gets the fast one-person prediction path.
    """
    settings = acceptance_settings(model, seed, n_jobs)
    return LearnedCouponPolicy(model, target, coupon_col, values, settings).fit(history)
