"""The model zoo: settings, the registry of classifiers, feature typing and the preprocessing pipeline.

Every model is a scikit-learn ``Pipeline(prep -> model)`` built by :func:`build_pipeline` from a
:data:`REGISTRY` entry and a frozen :class:`ZooSettings`; this is the one place model families and their
hyper-parameters are written (the learned coupon policy builds its model here too). Training, evaluation and
cross-validation live in :mod:`pipeline.models.training`, explanations in :mod:`pipeline.models.explain`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, StackingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from pipeline.config import SEED
from pipeline.errors import DataError
from pipeline.models.estimators import (KerasMLPClassifier, SignedLog, SteadyScaler, SubsampledClassifier, ToFloat,
                                        ToText)

__all__ = [
    "ZooSettings", "ModelSpec", "REGISTRY", "fast_models", "feature_types", "build_preprocessor", "build_pipeline",
    "safe_feature_name", "transformed_feature_names", "output_sources", "category_positions",
]


@dataclass(frozen=True)
class ZooSettings:
    """Hyper-parameters and limits of the zoo. Defaults keep the full comparison on ~4,300 rows x 30
    features under a minute on 2 cores (see benchmarks/bench_models.py)."""

    random_state: int = SEED
    n_jobs: int = 1                    # XGBoost's OpenMP threads busy-wait on shared cores: 2 was 10x slower
    tree_max_depth: int = 8
    tree_min_leaf: int = 5
    forest_trees: int = 200
    xgb_trees: int = 300
    xgb_max_depth: int = 6
    xgb_learning_rate: float = 0.05
    xgb_colsample: float = 0.8         # share of (one-hot) columns each XGBoost tree sees
    xgb_min_child_weight: float = 1.0
    xgb_reg_lambda: float = 1.0
    forest_min_leaf: int = 2
    svm_max_samples: int = 5000        # the SVM trains on a stratified sample above this many rows
    svm_c: float = 1.0
    calibration_cv: int = 3
    keras_hidden: tuple[int, ...] = (64, 32)
    keras_dropout: float = 0.1
    keras_epochs: int = 30
    keras_batch_size: int = 64
    keras_learning_rate: float = 1e-3
    stack_cv: int = 3
    max_classes: int = 50              # more distinct target values than this looks like an id
    min_category_count: int | None = 10  # rarer categories are pooled as "infrequent" (None: no pooling)
    max_categories: int | None = 30      # per categorical column, infrequent pool included (None: no limit)
    min_rows: int = 20
    log_numbers: bool = False          # numbers through SignedLog before scaling (the sliced churn model)


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the registry: a factory building the unfitted estimator, and how to present it."""

    label: str
    factory: Callable[[ZooSettings], BaseEstimator]
    description: str
    fast: bool
    baseline: bool = False


# -- registry -----------------------------------------------------------------------------------------

def _majority(s: ZooSettings) -> BaseEstimator:
    return DummyClassifier(strategy="prior")


def _logreg(s: ZooSettings) -> BaseEstimator:
    return LogisticRegression(max_iter=2000, random_state=s.random_state)


def _tree(s: ZooSettings) -> BaseEstimator:
    return DecisionTreeClassifier(max_depth=s.tree_max_depth, min_samples_leaf=s.tree_min_leaf, random_state=s.random_state)


def _forest(s: ZooSettings) -> BaseEstimator:
    return RandomForestClassifier(n_estimators=s.forest_trees, min_samples_leaf=s.forest_min_leaf, n_jobs=s.n_jobs,
                                  random_state=s.random_state)


def _xgboost(s: ZooSettings) -> BaseEstimator:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=s.xgb_trees, max_depth=s.xgb_max_depth, learning_rate=s.xgb_learning_rate,
                         subsample=0.8, colsample_bytree=s.xgb_colsample, min_child_weight=s.xgb_min_child_weight,
                         reg_lambda=s.xgb_reg_lambda, tree_method="hist", n_jobs=s.n_jobs,
                         random_state=s.random_state)


def _svm(s: ZooSettings) -> BaseEstimator:
    calibrated = CalibratedClassifierCV(SVC(kernel="rbf", C=s.svm_c, gamma="scale", random_state=s.random_state),
                                        method="sigmoid", cv=s.calibration_cv)
    return SubsampledClassifier(calibrated, max_samples=s.svm_max_samples, random_state=s.random_state)


def _keras_mlp(s: ZooSettings) -> BaseEstimator:
    return KerasMLPClassifier(hidden=s.keras_hidden, dropout=s.keras_dropout, epochs=s.keras_epochs,
                              batch_size=s.keras_batch_size, learning_rate=s.keras_learning_rate,
                              random_state=s.random_state)


def _stacked(s: ZooSettings) -> BaseEstimator:
    return StackingClassifier(
        estimators=[("keras", _keras_mlp(s)), ("svm", _svm(s))],
        final_estimator=LogisticRegression(max_iter=2000, random_state=s.random_state),
        cv=StratifiedKFold(s.stack_cv, shuffle=True, random_state=s.random_state),
        stack_method="predict_proba", n_jobs=1,
    )


REGISTRY: dict[str, ModelSpec] = {
    "majority": ModelSpec("Majority class (baseline)", _majority,
                          "Always predicts the most common class; probabilities are the class shares.", True, True),
    "logreg": ModelSpec("Logistic regression", _logreg, "Linear model on scaled numbers and one-hot categories.", True),
    "tree": ModelSpec("Decision tree", _tree, "One tree, depth-limited; easy to read, rarely the most accurate.", True),
    "forest": ModelSpec("Random forest", _forest, "Average of many decorrelated trees.", True),
    "xgboost": ModelSpec("XGBoost", _xgboost, "Gradient-boosted trees (histogram method).", True),
    "svm": ModelSpec("SVM (RBF)", _svm, "Kernel SVM with sigmoid-calibrated probabilities; trained on a "
                     "stratified sample when the data is large.", False),
    "keras": ModelSpec("Neural network (Keras)", _keras_mlp, "Small multilayer perceptron (TensorFlow).", False),
    "stacked": ModelSpec("Stacked Keras + SVM -> LR", _stacked, "Logistic regression on out-of-fold probabilities "
                         "of the Keras network and the SVM.", False),
}


def fast_models() -> list[str]:
    """Registry keys of the models quick enough to train interactively."""
    return [name for name, spec in REGISTRY.items() if spec.fast]


# -- features and preprocessing ------------------------------------------------------------------------

def feature_types(X: pd.DataFrame, numeric: Sequence[str] = (), categorical: Sequence[str] = ()) -> dict[str, str]:
    """Decide ``"numeric"`` or ``"categorical"`` per column; ``numeric``/``categorical`` force a choice.

    Raises DataError for date columns and for text columns forced numeric.
    """
    if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
        raise DataError("No feature columns: pass a table with at least one column besides the target.")
    unknown = (set(numeric) | set(categorical)) - set(X.columns)
    if unknown:
        raise DataError(f"Columns {sorted(map(str, unknown))} are not in the table; pick from {list(X.columns)[:20]}.")
    types = {}
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.PeriodDtype):
            raise DataError(f"Column '{col}' holds dates; models need numbers or categories. Turn it into a "
                            "number (e.g. days since the first date) or leave it out.")
        if col in numeric:
            _check_numeric(s, col)
            types[col] = "numeric"
        elif col in categorical or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            types[col] = "categorical"
        else:
            types[col] = "numeric"
    return types


def _check_numeric(s: pd.Series, col: str) -> None:
    converted = pd.to_numeric(s, errors="coerce")
    bad = s[converted.isna() & s.notna()]
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.astype(str).unique()[:3])
        raise DataError(f"Column '{col}' was set to numeric but {len(bad):,} of {len(s):,} values are not numbers "
                        f"(e.g. {examples}). Treat it as categorical or clean those values.")


def build_preprocessor(types: Mapping[str, str], settings: ZooSettings | None = None) -> ColumnTransformer:
    """Numbers: to float (then ``sign * log1p|x|`` when ``settings.log_numbers``), median impute, standardize (numerically constant columns only centred: SteadyScaler). Categories: to text, impute ``"missing"``, one-hot
    with unknown categories ignored and rare ones pooled (``min_frequency``/``max_categories``)."""
    s = settings or ZooSettings()
    numeric = [c for c, t in types.items() if t == "numeric"]
    categorical = [c for c, t in types.items() if t == "categorical"]
    log = [("log", SignedLog())] if s.log_numbers else []
    num = Pipeline([("to_float", ToFloat()), *log,
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", SteadyScaler())])
    cat = Pipeline([("to_text", ToText()), ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=s.min_category_count,
                                             max_categories=s.max_categories, sparse_output=False))])
    parts = [("num", num, numeric)] if numeric else []
    parts += [("cat", cat, categorical)] if categorical else []
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)


def build_pipeline(name: str, types: Mapping[str, str], settings: ZooSettings | None = None) -> Pipeline:
    """Unfitted ``Pipeline(prep -> model)`` for registry entry ``name``."""
    if name not in REGISTRY:
        raise DataError(f"Unknown model '{name}'; choose from {list(REGISTRY)}.")
    s = settings or ZooSettings()
    return Pipeline([("prep", build_preprocessor(types, s)), ("model", REGISTRY[name].factory(s))])


_UNSAFE = str.maketrans({"[": "(", "]": ")", "<": "lt"})


def safe_feature_name(name: str) -> str:
    """Feature name without the characters XGBoost refuses (``[``, ``]``, ``<``)."""
    return re.sub(r"\s+", " ", str(name).translate(_UNSAFE)).strip()


def transformed_feature_names(pipeline: Pipeline) -> list[str]:
    """Names of the model's input columns (after one-hot encoding), safe for XGBoost."""
    return [safe_feature_name(n) for n in pipeline.named_steps["prep"].get_feature_names_out()]


def output_sources(prep: ColumnTransformer) -> list[str]:
    """The original column behind each output column of the fitted preprocessor."""
    sources: list[str] = []
    for name, trans, cols in prep.transformers_:
        if name == "num":
            sources += list(cols)
        elif name == "cat":
            for i, col in enumerate(cols):
                _, end = category_positions(trans.named_steps["onehot"], i, len(sources))
                sources += [col] * (end - len(sources))
    return sources


def category_positions(encoder: OneHotEncoder, i: int, start: int = 0) -> tuple[dict[str, int], int]:
    """``({category: output position}, end)`` of column ``i`` of a fitted one-hot encoder whose outputs start at
    ``start``: one position per frequent category in order, then one shared by the pooled infrequent ones."""
    pooling = encoder.min_frequency is not None or encoder.max_categories is not None
    infrequent = encoder.infrequent_categories_[i] if pooling else None
    pooled = set() if infrequent is None else {str(c) for c in infrequent}
    frequent = [str(c) for c in encoder.categories_[i] if str(c) not in pooled]
    positions = {c: start + k for k, c in enumerate(frequent)}
    end = start + len(frequent)
    if pooled:
        positions |= dict.fromkeys(pooled, end)
        end += 1
    return positions, end
