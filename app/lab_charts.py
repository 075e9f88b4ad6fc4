"""Plotly figures and display tables of the Model lab page: the results table with its baseline marker, the
confusion matrix, ROC/PR curves, calibration and permutation importance of a ``pipeline.models.lab.LabResult``.

Figures only (no Streamlit calls); the curve data comes from ``lab.curve_frame``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from pipeline.models import lab

__all__ = ["results_table", "confusion_figure", "roc_figure", "pr_figure", "calibration_figure",
           "importance_figure"]

AXIS_LABELS = {"fpr": "false positive rate", "tpr": "true positive rate", "importance_mean": "drop in ROC AUC"}
_LEGEND_BELOW = {"legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "title": None}}


def results_table(result: lab.LabResult) -> pd.DataFrame:
    """The metric table with a ``role`` column (BASELINE or model) second, instead of the boolean ``baseline``."""
    table = result.table.reset_index()
    table.insert(1, "role", np.where(table.pop("baseline"), "BASELINE", "model"))
    return table


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
    return px.bar(result.importance.head(15).iloc[::-1], x="importance_mean", y="feature", error_x="importance_std",
                  orientation="h", labels=AXIS_LABELS,
                  title=f"Permutation importance of the best model, {label} (drop in ROC AUC when a column is "
                        "shuffled)")
