"""After training: permutation importance, per-prediction drivers (SHAP / coefficients / occlusion), predictions.

Everything here takes a fitted zoo ``Pipeline(prep -> model)`` (see :mod:`pipeline.models.zoo`) and reports
per original column, mapping one-hot outputs back to their source column.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipeline.errors import DataError
from pipeline.models.estimators import as_text, to_float
from pipeline.models.zoo import output_sources

__all__ = ["permutation_importance_table", "feature_reference", "explain_row", "explain_rows", "driver_table",
           "driver_note", "predict_table"]


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
            value = np.nanmean(to_float(X[col])) if X[col].notna().any() else np.nan
            ref[col] = None if pd.isna(value) else float(value)
        else:
            mode = X[col].dropna().astype(object).map(as_text).mode()
            ref[col] = str(mode.iloc[0]) if len(mode) else None
    return ref


def explain_row(pipeline: Pipeline, row: pd.DataFrame, reference: Mapping[str, object] | None = None,
                class_index: int | None = None, top: int = 5, values: pd.DataFrame | None = None) -> pd.DataFrame:
    """Top drivers of one prediction, per original column (``feature, value, contribution``).

    XGBoost: SHAP values (``pred_contribs``, log-odds). Logistic regression: coefficient x standardized
    value (log-odds). Other models: occlusion - predicted probability minus the probability with the
    column set to its ``reference`` value. Positive pushes towards ``class_index`` (default: the
    positive class for binary targets, the predicted class otherwise). ``attrs["method"]`` names the method.
    ``values``: the row's own values when ``row`` holds what the model reads after a step of its own (clipping):
    the table then shows them, with ``model_value`` and ``capped`` (see :func:`driver_table`).
    """
    row = row.iloc[[0]]
    if class_index is None:
        proba = pipeline.predict_proba(row)[0]
        class_index = 1 if len(proba) == 2 else int(proba.argmax())
    contrib = explain_rows(pipeline, row, reference, class_index)
    if values is None:
        return driver_table(row.iloc[0], contrib.iloc[0], top, contrib.attrs["method"])
    return driver_table(values.iloc[0], contrib.iloc[0], top, contrib.attrs["method"], inputs=row.iloc[0])


def explain_rows(pipeline: Pipeline, X: pd.DataFrame, reference: Mapping[str, object] | None = None,
                 class_index: int = 1) -> pd.DataFrame:
    """Per-row contributions of every original column towards ``class_index`` (rows x columns, ``X``'s index;
    ``attrs["method"]``), by :func:`explain_row`'s methods; each row's numbers are those of ``explain_row`` on
    that row alone, computed for many rows in one pass."""
    model = pipeline.named_steps["model"]
    if type(model).__name__ == "XGBClassifier":
        contrib, method = _xgb_contributions(pipeline, X, class_index), "shap (log-odds)"
    elif isinstance(model, LogisticRegression):
        contrib, method = _linear_contributions(pipeline, X, class_index), "coefficient x value (log-odds)"
    else:
        if reference is None:
            raise DataError("Explaining this model needs reference values; pass feature_reference(X_train, types).")
        contrib, method = _occlusion_contributions(pipeline, X, reference, class_index), "occlusion (probability)"
    contrib.index = X.index
    contrib.attrs["method"] = method
    return contrib


def driver_table(values: pd.Series, contributions: pd.Series, top: int = 5, method: str = "",
                 inputs: pd.Series | None = None) -> pd.DataFrame:
    """The top ``top`` drivers of one row (``feature, value, contribution``, largest absolute contribution first)
    from its ``values`` and its row of :func:`explain_rows`.

    ``inputs``: what the model read when that differs from what a person is shown (``values``, the row's own
    figures): adds ``model_value`` and ``capped`` ("above" / "below": the own value lies beyond the model's cap,
    which the model treats every larger / smaller value as; "filled": the row has no value of its own and the model
    read a stand-in; "" otherwise). :func:`driver_note` says it in words.
    """
    features = list(contributions.index)
    table = pd.DataFrame({"feature": features, "value": [values[c] for c in features],
                          "contribution": contributions.to_numpy()})
    if inputs is not None:
        table["model_value"] = [inputs[c] for c in features]
        table["capped"] = [_capped(v, m) for v, m in zip(table["value"], table["model_value"])]
    table = table.reindex(table["contribution"].abs().sort_values(ascending=False).index).head(top)
    table = table.reset_index(drop=True)
    table.attrs["method"] = method
    return table


def _capped(value: object, model_value: object) -> str:
    """How a shown value relates to what the model read (see :func:`driver_table`)."""
    try:
        v, m = float(value), float(model_value)
    except (TypeError, ValueError):
        return ""
    if np.isnan(m):
        return ""
    if np.isnan(v):
        return "filled"
    return "above" if v > m else "below" if v < m else ""


def driver_note(capped: str, model_value: str) -> str:
    """The words beside a driver whose value the model does not read as it is (``model_value`` already written
    with its unit, e.g. ``£62,166.70``): "the model treats anything above £62,166.70 alike"."""
    if capped in ("above", "below"):
        return f"the model treats anything {capped} {model_value} alike"
    if capped == "filled":
        return f"none of their own yet: the model reads {model_value}"
    if capped == "withheld":
        return "not shown: this prediction does not hold up on this dataset"
    return ""


def _by_source(pipeline: Pipeline, values: np.ndarray) -> pd.DataFrame:
    sources = output_sources(pipeline.named_steps["prep"])
    frame = pd.DataFrame(np.atleast_2d(values), columns=sources)
    if len(set(sources)) == len(sources):
        return frame
    return frame.T.groupby(level=0, sort=False).sum().T


def _xgb_contributions(pipeline: Pipeline, X: pd.DataFrame, class_index: int) -> pd.DataFrame:
    from xgboost import DMatrix

    Xt = pipeline.named_steps["prep"].transform(X)
    contrib = pipeline.named_steps["model"].get_booster().predict(DMatrix(Xt), pred_contribs=True)
    if contrib.ndim == 3:  # multiclass: (rows, classes, features + bias)
        values = contrib[:, class_index, :-1]
    else:  # binary: log-odds of class 1
        values = contrib[:, :-1] * (1 if class_index == 1 else -1)
    return _by_source(pipeline, values)


def _linear_contributions(pipeline: Pipeline, X: pd.DataFrame, class_index: int) -> pd.DataFrame:
    Xt = pipeline.named_steps["prep"].transform(X)
    coef = pipeline.named_steps["model"].coef_
    weights = coef[0] * (1 if class_index == 1 else -1) if coef.shape[0] == 1 else coef[class_index]
    return _by_source(pipeline, weights[None, :] * np.asarray(Xt))


def _occlusion_contributions(pipeline: Pipeline, X: pd.DataFrame, reference: Mapping,
                             class_index: int) -> pd.DataFrame:
    """Probability minus the probability with one column set to its reference value (one batch of variants)."""
    columns = [c for c in X.columns if c in reference]
    k = len(columns) + 1
    variants = X.iloc[np.repeat(np.arange(len(X)), k)].reset_index(drop=True).astype(object)
    for i, col in enumerate(columns, start=1):
        variants.loc[np.arange(i, len(variants), k), col] = reference[col]
    proba = pipeline.predict_proba(variants)[:, class_index].reshape(len(X), k)
    return pd.DataFrame(proba[:, :1] - proba[:, 1:], columns=columns)


def predict_table(pipeline: Pipeline, X: pd.DataFrame, labels: Sequence) -> pd.DataFrame:
    """Predicted label and one probability column per class (``p_<label>``), index kept."""
    proba = pipeline.predict_proba(X)
    out = pd.DataFrame(proba, index=X.index, columns=[f"p_{label}" for label in labels])
    out.insert(0, "predicted", np.asarray(labels)[proba.argmax(axis=1)])
    return out
