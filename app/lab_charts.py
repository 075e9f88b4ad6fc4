"""Plotly figures and display tables of the Model lab page: the results table with its baseline marker, the
confusion matrix, ROC/PR curves, calibration and permutation importance of a ``pipeline.models.lab.LabResult``.

Figures only (no Streamlit calls); the curve data comes from ``lab.curve_frame``.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from pipeline.labels import label as column_label
from pipeline.models import lab

__all__ = ["header", "worded", "results_table", "confusion_figure", "roc_figure", "pr_figure", "calibration_figure",
           "importance_figure"]

AXIS_LABELS = {"fpr": "false positive rate", "tpr": "true positive rate", "importance_mean": "drop in ROC AUC"}
_LEGEND_BELOW = {"legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "title": None}}


def header(column: str) -> str:
    """A table header in words (``roc_auc`` -> "ROC AUC", ``cv_roc_auc_mean`` -> "ROC AUC, mean over folds")."""
    m = re.fullmatch(r"cv_(.+)_(mean|std)", str(column))
    if m:
        return f"{column_label(m.group(1))}, {'mean' if m.group(2) == 'mean' else 'spread'} over folds"
    return column_label(str(column))


def worded(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every header in words (values untouched)."""
    return table.rename(columns={c: header(c) for c in table.columns})


def results_table(result: lab.LabResult) -> pd.DataFrame:
    """The metric table, headers in words: the model, its role (simple rule or model), then the measures."""
    table = result.table.reset_index().drop(columns="key")
    table.insert(1, "role", np.where(table.pop("baseline"), "simple rule (baseline)", "model"))
    return worded(table)


def confusion_figure(result: lab.LabResult, key: str, label: str) -> go.Figure:
    """Test-set confusion matrix of model ``key`` (categorical axes)."""
    fig = px.imshow(result.train.reports[key].confusion, text_auto=True, color_continuous_scale="Blues",
                    title=f"Confusion matrix: {label} (test set)")
    return fig.update_xaxes(type="category").update_yaxes(type="category")


def roc_figure(result: lab.LabResult, cls: str | None) -> go.Figure:
    """ROC curve of every model on the test set (one-vs-rest for class ``cls`` with more than two classes)."""
    fig = px.line(lab.curve_frame(result, "roc", cls), x="fpr", y="tpr", color="model", labels=AXIS_LABELS,
                  title="ROC curves (test set)")
    return fig.update_layout(**_LEGEND_BELOW)


def pr_figure(result: lab.LabResult, cls: str | None) -> go.Figure:
    """Precision-recall curve of every model on the test set."""
    fig = px.line(lab.curve_frame(result, "pr", cls), x="recall", y="precision", color="model",
                  title="Precision-recall curves (test set)")
    return fig.update_layout(**_LEGEND_BELOW)


def calibration_figure(result: lab.LabResult, cls: str | None) -> go.Figure:
    """Predicted probability against the observed share, with the diagonal of perfect calibration."""
    fig = px.line(lab.curve_frame(result, "calibration", cls), x="mean_predicted", y="fraction_positive",
                  color="model", markers=True, title="Calibration: predicted probability vs observed share")
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"})
    return fig.update_layout(**_LEGEND_BELOW)


def importance_figure(result: lab.LabResult, label: str) -> go.Figure:
    """Permutation importance (top 15) of the best model, ``label``."""
    top = result.importance.head(15).iloc[::-1]
    return px.bar(top.assign(feature=top["feature"].map(column_label)), x="importance_mean", y="feature",
                  error_x="importance_std", orientation="h", labels=AXIS_LABELS | {"feature": column_label("feature")},
                  title=f"Permutation importance of the best model, {label} (drop in ROC AUC when a column is "
                        "shuffled)")
