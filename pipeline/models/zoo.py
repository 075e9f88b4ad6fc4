"""Model zoo for tabular classification: preprocessing, registry, training/evaluation, explanations.

Every model is a scikit-learn ``Pipeline(prep -> model)`` trained on integer-encoded classes
``0..k-1`` (XGBoost requires that); ``TrainResult.labels`` maps them back to the user's labels.
TensorFlow/Keras is imported only when a Keras model is fitted.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, StackingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.class_weight import compute_sample_weight

from pipeline.errors import DataError
from pipeline.lazy import keras as lazy_keras
from pipeline.metrics import MetricReport, classification_metrics
from pipeline.log import logged

__all__ = [
    "ZooSettings", "ModelSpec", "REGISTRY", "IMBALANCE_OPTIONS", "ScoreBaseline", "TrainResult",
    "ToFloat", "ToText", "SubsampledClassifier", "KerasMLPClassifier",
    "fast_models", "feature_types", "build_preprocessor", "build_pipeline", "transformed_feature_names",
    "safe_feature_name", "check_target", "split_train_test", "train_and_evaluate",
    "permutation_importance_table", "feature_reference", "explain_row", "predict_table",
]


@dataclass(frozen=True)
class ZooSettings:
    """Hyper-parameters and limits of the zoo. Defaults keep the full comparison on ~4,300 rows x 30
    features under a minute on 2 cores (see benchmarks/bench_models.py)."""

    random_state: int = 42
    n_jobs: int = 1                    # XGBoost's OpenMP threads busy-wait on shared cores: 2 was 10x slower
    tree_max_depth: int = 8
    forest_trees: int = 200
    xgb_trees: int = 300
    xgb_max_depth: int = 6
    xgb_learning_rate: float = 0.05
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
    min_category_count: int = 10       # rarer categories are pooled as "infrequent"
    max_categories: int = 30           # per categorical column, infrequent pool included
    min_rows: int = 20


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the registry: a factory building the unfitted estimator, and how to present it."""

    label: str
    factory: Callable[[ZooSettings], BaseEstimator]
    description: str
    fast: bool
    baseline: bool = False


IMBALANCE_OPTIONS = {
    "none": "Train on the data as it is.",
    "class_weight": "Weight every row by the inverse frequency of its class (balanced weights).",
    "downsample": "Randomly drop rows of the larger classes in the training set until every class has as "
                  "many rows as the smallest one. The test set is never resampled.",
}


# -- small estimators -------------------------------------------------------------------------------

class _Columnwise(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """A stateless column-by-column transformer: fit only records the input columns."""

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self


class ToFloat(_Columnwise):
    """Coerce every column to float; text that is not a number becomes missing (imputed next)."""

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([_to_float(frame[c]) for c in frame.columns])


class ToText(_Columnwise):
    """Turn every value into text (``3.0`` -> ``"3"``), keeping missing values missing."""

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([frame[c].astype(object).map(_as_text).to_numpy(dtype=object, na_value=np.nan)
                                for c in frame.columns])


def _to_float(s: pd.Series) -> np.ndarray:
    """Numbers (nullable dtypes and booleans included) as float64 with NaN for missing or non-numbers."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("boolean").astype("Float64")
    return pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _as_text(value) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


class SubsampledClassifier(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on a stratified random sample of at most ``max_samples`` rows."""

    def __init__(self, estimator=None, max_samples: int = 5000, random_state: int = 0):
        self.estimator = estimator
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        X, y = np.asarray(X), np.asarray(y)
        idx = np.arange(len(y))
        if len(y) > self.max_samples:
            idx, _ = train_test_split(idx, train_size=self.max_samples, stratify=y, random_state=self.random_state)
        kwargs = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)[idx]}
        self.estimator_ = clone(self.estimator).fit(X[idx], y[idx], **kwargs)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        self.n_samples_fit_ = len(idx)
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(np.asarray(X))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class KerasMLPClassifier(ClassifierMixin, BaseEstimator):
    """A dense ReLU network with a softmax output, trained through ``keras.wrappers.SKLearnClassifier``.

    This thin estimator adds what the Keras wrapper lacks inside scikit-learn meta-estimators:
    ``predict_proba`` and fit options that survive ``clone`` (the wrapper's clone drops ``fit_kwargs``).
    Seeds are fixed with ``keras.utils.set_random_seed(random_state)`` at every fit.
    """

    def __init__(self, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1, epochs: int = 30,
                 batch_size: int = 64, learning_rate: float = 1e-3, random_state: int = 0):
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        keras = lazy_keras()
        keras.utils.set_random_seed(self.random_state)
        X = np.asarray(X, dtype="float32")
        wrapper = keras.wrappers.SKLearnClassifier(
            model=_build_mlp,
            model_kwargs={"hidden": tuple(self.hidden), "dropout": self.dropout, "learning_rate": self.learning_rate},
            fit_kwargs={"epochs": self.epochs, "batch_size": self.batch_size, "verbose": 0, "shuffle": True},
        )
        extra = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight, dtype="float32")}
        wrapper.fit(X, np.asarray(y), **extra)
        self.model_ = wrapper.model_
        self.classes_ = wrapper.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype="float32")
        ops = lazy_keras().ops  # direct calls avoid re-tracing predict() for every small batch
        chunks = [ops.convert_to_numpy(self.model_(X[i:i + 4096], training=False)) for i in range(0, len(X), 4096)]
        out = np.concatenate(chunks).astype(float) if chunks else np.empty((0, len(self.classes_)))
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]




def _build_mlp(X, y, hidden, dropout, learning_rate):
    """Model-building function for SKLearnClassifier; ``y`` arrives one-hot encoded (n, k)."""
    keras = lazy_keras()
    inputs = keras.Input(shape=(X.shape[1],))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    outputs = keras.layers.Dense(y.shape[1], activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
    return model


# -- registry -----------------------------------------------------------------------------------------

def _majority(s: ZooSettings) -> BaseEstimator:
    return DummyClassifier(strategy="prior")


def _logreg(s: ZooSettings) -> BaseEstimator:
    return LogisticRegression(max_iter=2000, random_state=s.random_state)


def _tree(s: ZooSettings) -> BaseEstimator:
    return DecisionTreeClassifier(max_depth=s.tree_max_depth, min_samples_leaf=5, random_state=s.random_state)


def _forest(s: ZooSettings) -> BaseEstimator:
    return RandomForestClassifier(n_estimators=s.forest_trees, min_samples_leaf=2, n_jobs=s.n_jobs,
                                  random_state=s.random_state)


def _xgboost(s: ZooSettings) -> BaseEstimator:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=s.xgb_trees, max_depth=s.xgb_max_depth, learning_rate=s.xgb_learning_rate,
                         subsample=0.8, colsample_bytree=0.8, tree_method="hist", n_jobs=s.n_jobs,
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
    """Numbers: to float, median impute, standardize. Categories: to text, impute ``"missing"``, one-hot
    with unknown categories ignored and rare ones pooled (``min_frequency``/``max_categories``)."""
    s = settings or ZooSettings()
    numeric = [c for c, t in types.items() if t == "numeric"]
    categorical = [c for c, t in types.items() if t == "categorical"]
    num = Pipeline([("to_float", ToFloat()), ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler())])
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


def _output_sources(prep: ColumnTransformer) -> list[str]:
    """The original column behind each output column of the fitted preprocessor."""
    sources: list[str] = []
    for name, trans, cols in prep.transformers_:
        if name == "num":
            sources += list(cols)
        elif name == "cat":
            enc = trans.named_steps["onehot"]
            for i, col in enumerate(cols):
                infrequent = enc.infrequent_categories_[i]
                extra = 0 if infrequent is None else 1 - len(infrequent)
                sources += [col] * (len(enc.categories_[i]) + extra)
    return sources


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
        y = y.map(_as_text)
    n_classes = y.nunique()
    if n_classes < 2:
        raise DataError(f"The {name} has only one class ({y.iloc[0]!r} in all {len(y):,} rows); a classifier "
                        "needs at least two. Pick another column or a longer period.")
    if n_classes > s.max_classes:
        raise DataError(f"The {name} has {n_classes:,} distinct values - it looks like an id or a continuous "
                        f"number, not a class. Pick a column with at most {s.max_classes} classes, or bin it first.")
    return y


def split_train_test(X: pd.DataFrame, y: Sequence, test_size: float = 0.25, settings: ZooSettings | None = None):
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
        ye = ye.map(_as_text)
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
        row.update(_cv_scores(build_pipeline(name, types, s), *fit_data, cv_folds, len(labels), s))
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


def _cv_scores(pipe: Pipeline, X, y, weights, folds: int, n_classes: int, s: ZooSettings) -> dict[str, float]:
    auc = "roc_auc" if n_classes == 2 else "roc_auc_ovr"
    params = None if weights is None else {"model__sample_weight": weights}
    cv = StratifiedKFold(folds, shuffle=True, random_state=s.random_state)
    res = cross_validate(pipe, X, y, cv=cv, scoring={"roc_auc": auc, "balanced_accuracy": "balanced_accuracy"},
                         params=params, n_jobs=1)
    return {f"cv_{m}_{stat}": float(getattr(np, stat)(res[f"test_{m}"]))
            for m in ("roc_auc", "balanced_accuracy") for stat in ("mean", "std")}


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


# -- after training ----------------------------------------------------------------------------------------

def permutation_importance_table(pipeline: Pipeline, X: pd.DataFrame, y: Sequence, labels: Sequence,
                                 n_repeats: int = 5, random_state: int = 0,
                                 max_rows: int | None = 2000) -> pd.DataFrame:
    """Drop in ROC AUC when each original column is shuffled (``feature, importance_mean, importance_std``)."""
    index = {label: i for i, label in enumerate(labels)}
    y_enc = np.asarray([index[v] for v in np.asarray(y, dtype=object)])
    scoring = "roc_auc" if len(labels) == 2 else "roc_auc_ovr"
    max_samples = min(1.0, max_rows / len(X)) if max_rows else 1.0
    res = permutation_importance(pipeline, X, y_enc, scoring=scoring, n_repeats=n_repeats,
                                 random_state=random_state, max_samples=max_samples, n_jobs=1)
    table = pd.DataFrame({"feature": list(X.columns), "importance_mean": res.importances_mean,
                          "importance_std": res.importances_std})
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)


def feature_reference(X: pd.DataFrame, types: Mapping[str, str]) -> dict[str, object]:
    """Typical value per column (mean of numbers, most common category), JSON-friendly; used by
    ``explain_row``'s occlusion fallback and stored with saved models."""
    ref: dict[str, object] = {}
    for col, kind in types.items():
        if kind == "numeric":
            value = np.nanmean(_to_float(X[col])) if X[col].notna().any() else np.nan
            ref[col] = None if pd.isna(value) else float(value)
        else:
            mode = X[col].dropna().astype(object).map(_as_text).mode()
            ref[col] = str(mode.iloc[0]) if len(mode) else None
    return ref


def explain_row(pipeline: Pipeline, row: pd.DataFrame, reference: Mapping[str, object] | None = None,
                class_index: int | None = None, top: int = 5) -> pd.DataFrame:
    """Top drivers of one prediction, per original column (``feature, value, contribution``).

    XGBoost: SHAP values (``pred_contribs``, log-odds). Logistic regression: coefficient x standardized
    value (log-odds). Other models: occlusion - predicted probability minus the probability with the
    column set to its ``reference`` value. Positive pushes towards ``class_index`` (default: the
    positive class for binary targets, the predicted class otherwise). ``attrs["method"]`` names the method.
    """
    row = row.iloc[[0]]
    model = pipeline.named_steps["model"]
    if class_index is None:
        proba = pipeline.predict_proba(row)[0]
        class_index = 1 if len(proba) == 2 else int(proba.argmax())
    if type(model).__name__ == "XGBClassifier":
        contrib, method = _xgb_contributions(pipeline, row, class_index), "shap (log-odds)"
    elif isinstance(model, LogisticRegression):
        contrib, method = _linear_contributions(pipeline, row, class_index), "coefficient x value (log-odds)"
    else:
        if reference is None:
            raise DataError("Explaining this model needs reference values; pass feature_reference(X_train, types).")
        contrib, method = _occlusion_contributions(pipeline, row, reference, class_index), "occlusion (probability)"
    table = pd.DataFrame({"feature": contrib.index, "value": [row.iloc[0][c] for c in contrib.index],
                          "contribution": contrib.to_numpy()})
    table = table.reindex(table["contribution"].abs().sort_values(ascending=False).index).head(top)
    table = table.reset_index(drop=True)
    table.attrs["method"] = method
    return table


def _by_source(pipeline: Pipeline, values: np.ndarray) -> pd.Series:
    sources = _output_sources(pipeline.named_steps["prep"])
    return pd.Series(values, index=sources).groupby(level=0, sort=False).sum()


def _xgb_contributions(pipeline: Pipeline, row: pd.DataFrame, class_index: int) -> pd.Series:
    from xgboost import DMatrix

    Xt = pipeline.named_steps["prep"].transform(row)
    contrib = pipeline.named_steps["model"].get_booster().predict(DMatrix(Xt), pred_contribs=True)
    if contrib.ndim == 3:  # multiclass: (rows, classes, features + bias)
        values = contrib[0, class_index, :-1]
    else:  # binary: log-odds of class 1
        values = contrib[0, :-1] * (1 if class_index == 1 else -1)
    return _by_source(pipeline, values)


def _linear_contributions(pipeline: Pipeline, row: pd.DataFrame, class_index: int) -> pd.Series:
    Xt = pipeline.named_steps["prep"].transform(row)[0]
    coef = pipeline.named_steps["model"].coef_
    weights = coef[0] * (1 if class_index == 1 else -1) if coef.shape[0] == 1 else coef[class_index]
    return _by_source(pipeline, weights * Xt)


def _occlusion_contributions(pipeline: Pipeline, row: pd.DataFrame, reference: Mapping, class_index: int):
    columns = [c for c in row.columns if c in reference]
    variants = pd.concat([row] * (len(columns) + 1), ignore_index=True).astype(object)
    for i, col in enumerate(columns, start=1):
        variants.loc[i, col] = reference[col]
    proba = pipeline.predict_proba(variants)[:, class_index]
    return pd.Series(proba[0] - proba[1:], index=columns)


def predict_table(pipeline: Pipeline, X: pd.DataFrame, labels: Sequence) -> pd.DataFrame:
    """Predicted label and one probability column per class (``p_<label>``), index kept."""
    proba = pipeline.predict_proba(X)
    out = pd.DataFrame(proba, index=X.index, columns=[f"p_{label}" for label in labels])
    out.insert(0, "predicted", np.asarray(labels)[proba.argmax(axis=1)])
    return out
