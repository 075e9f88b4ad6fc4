"""Custom scikit-learn estimators of the model zoo: column coercion, a scaler safe on constant columns, a subsampling
wrapper and a Keras network.

Everything here follows the scikit-learn contract (parameters stored untouched in ``__init__``, ``fit`` returns
``self``, fitted attributes end with ``_``) so it works inside ``Pipeline``, ``StackingClassifier`` and ``clone``.
Saved models refer to these classes by name (see :data:`pipeline.models.persist.SAFE_TYPES`); TensorFlow is
imported only when a Keras network is fitted or used.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from pipeline.lazy import keras as lazy_keras
from pipeline.params import keep_params

__all__ = ["ToFloat", "ToText", "SignedLog", "SteadyScaler", "SubsampledClassifier", "PlattScaled", "KerasMLPClassifier",
           "to_float", "as_text"]


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
        return np.column_stack([to_float(frame[c]) for c in frame.columns])


class ToText(_Columnwise):
    """Turn every value into text (``3.0`` -> ``"3"``), keeping missing values missing."""

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([_column_text(frame[c]) for c in frame.columns])


class SignedLog(_Columnwise):
    """``sign(x) * log(1 + |x|)`` of every column: counts and amounts with long tails become nearly normal, so a
    linear model is not driven by a few very large customers (missing values stay missing)."""

    def transform(self, X):
        a = np.asarray(X, dtype=float)
        return np.sign(a) * np.log1p(np.abs(a))


class SteadyScaler(StandardScaler):
    """:class:`~sklearn.preprocessing.StandardScaler` that does not blow up a numerically constant column.

    A column whose training spread is below ``rel_tol`` of its size (``std <= rel_tol * max(|mean|, 1)``) is
    centred but not divided by that spread: e.g. a BG/NBD ``p_alive`` of 1 ± 6e-11 on a degenerate fit would
    otherwise become unit-variance noise that a linear model learns from and that flips sign on the next cutoff.
    """

    def __init__(self, *, rel_tol: float = 1e-4, copy: bool = True, with_mean: bool = True, with_std: bool = True):
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.rel_tol = rel_tol

    def fit(self, X, y=None, sample_weight=None):
        super().fit(X, y, sample_weight)
        if self.scale_ is not None and self.mean_ is not None:
            steady = np.sqrt(self.var_) <= self.rel_tol * np.maximum(np.abs(self.mean_), 1.0)
            self.scale_ = np.where(steady, 1.0, self.scale_)
        return self


def _column_text(s: pd.Series) -> np.ndarray:
    """:func:`as_text` of every value; a column that holds only strings is already text (and fast to check)."""
    values = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return s.astype(object).map(as_text).to_numpy(dtype=object, na_value=np.nan)


def to_float(s: pd.Series) -> np.ndarray:
    """Numbers (nullable dtypes and booleans included) as float64 with NaN for missing or non-numbers."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("boolean").astype("Float64")
    return pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def as_text(value: object) -> object:
    """One value as text (``3.0`` -> ``"3"``); missing values (None, NaN, NA, NaT) stay ``np.nan``."""
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


class PlattScaled(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier (a whole ``Pipeline(prep -> model)``, reading the raw feature table) whose
    probability is recalibrated on a later period: ``sigmoid(slope * logit(p) + weight * log1p(X[anchor]) +
    intercept)`` (:func:`pipeline.models.sliced.blend`; ``anchor``: the BG/NBD expected-purchases column, None:
    plain Platt scaling). The ranking is the estimator's own when ``weight`` is 0."""

    def __init__(self, estimator=None, slope: float = 1.0, intercept: float = 0.0, weight: float = 0.0,
                 anchor: str | None = None):
        self.estimator = estimator
        self.slope = slope
        self.intercept = intercept
        self.weight = weight
        self.anchor = anchor

    def fit(self, X, y=None):               # already fitted: calibration is set by the caller
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self):
        return self.estimator.classes_

    def predict_proba(self, X):
        p = np.clip(self.estimator.predict_proba(X)[:, 1], 1e-9, 1 - 1e-9)
        z = self.slope * np.log(p / (1 - p)) + self.intercept
        if self.anchor is not None and self.weight:
            raw = pd.to_numeric(pd.DataFrame(X)[self.anchor], errors="coerce").fillna(0.0).to_numpy(float)
            z = z + self.weight * np.log1p(np.clip(raw, 0.0, None))
        q = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - q, q])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


class KerasMLPClassifier(ClassifierMixin, BaseEstimator):
    """A dense ReLU network with a softmax output, trained through ``keras.wrappers.SKLearnClassifier``.

    This thin estimator adds what the Keras wrapper lacks inside scikit-learn meta-estimators:
    ``predict_proba`` and fit options that survive ``clone`` (the wrapper's clone drops ``fit_kwargs``).
    Seeds are fixed with ``keras.utils.set_random_seed(random_state)`` at every fit.
    """

    def __init__(self, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1, epochs: int = 30,
                 batch_size: int = 64, learning_rate: float = 1e-3, random_state: int = 0):
        keep_params(self, locals())

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
