"""Saved Model-lab models: save a fitted model of a comparison, list, load, name, delete and score with them.

Saved models live in ``Workspace.models_dir / <model id>`` written by :mod:`pipeline.models.persist` (no pickle).
Which one is live for a dataset (Customer page, Campaigns, the service) is decided by one pointer per dataset,
:mod:`pipeline.health.live`; this module only lists models and marks the live one.
"""
from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import ChurnConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.models.explain import feature_reference, predict_table
from pipeline.models.lab import LabResult
from pipeline.models.metrics import METRIC_COLUMNS
from pipeline.models.persist import ModelMetadata, build_metadata, load_model, read_metadata, save_model
from pipeline.store import Dataset, Workspace

__all__ = ["model_id", "save_lab_model", "list_models", "load_lab_model", "model_title", "delete_model",
           "score_dataset"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def model_id(name: str) -> str:
    """Folder name of a saved model: the name reduced to letters, digits, '-' and '_'."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", (name or "").strip()).strip("-")[:48]
    if not slug:
        raise DataError("Give the model a name (letters or digits) before saving it.")
    if re.fullmatch(r"v\d+", slug):
        raise DataError(f"'{slug}' looks like a retrain version (v1, v2, ...); give the model another name.")
    return slug


def save_lab_model(ws: Workspace, result: LabResult, key: str, name: str,
                   dataset: Dataset | None = None) -> str:
    """Save fitted model ``key`` of ``result`` as ``name`` in the workspace; returns its id.

    Raises DataError for score-only baselines, an unknown key, or a name already taken. The folder appears
    only when everything is written (``pipeline.models.persist.save_model`` is atomic).
    """
    if key not in result.train.pipelines:
        what = "a score, not a fitted model" if key in result.table.index else "not in this comparison"
        raise DataError(f"'{key}' is {what}; pick one of the trained models {list(result.train.pipelines)}.")
    mid = model_id(name)
    directory = ws.models_dir / mid
    if directory.exists():
        raise DataError(f"A saved model named '{mid}' already exists; choose another name or delete it first.")
    row = result.table.loc[key]
    metrics = {c: row[c] for c in result.table.columns
               if c in METRIC_COLUMNS or c in ("train_s", "predict_s") or c.startswith("cv_")}
    base = result.table[result.table["baseline"].astype(bool)]
    baselines = {k: {c: base.loc[k, c] for c in base.columns if c in METRIC_COLUMNS} for k in base.index}
    extra = {"name": name.strip(), "kind": result.kind, "settings": result.settings, "info": result.info,
             "notes": result.notes, "dataset": {"id": dataset.id, "name": dataset.name} if dataset else None,
             "baselines": baselines}
    types = result.train.feature_types
    meta = build_metadata(key, str(row["model"]), result.target, result.X_train[list(types)], result.y_train,
                          types, result.train.labels, metrics, reference=feature_reference(result.X_train, types),
                          extra=to_jsonable(extra))
    save_model(result.train.pipelines[key], meta, directory)
    return mid


def _model_dir(ws: Workspace, mid: str):
    if not _ID.match(mid or ""):
        raise DataError(f"Model id {mid!r} is not valid.")
    return ws.models_dir / mid


def list_models(ws: Workspace, live: str | None = None) -> list[dict[str, Any]]:
    """One row per readable saved model (newest first): id, name, model, target, kind, dataset, ROC AUC,
    balanced accuracy, created, and ``live`` (True for the model id ``live``, the current dataset's live model)."""
    rows = []
    for folder in sorted(p for p in ws.models_dir.iterdir() if p.is_dir() and _ID.match(p.name)):
        try:
            meta = read_metadata(folder)
        except DataError:
            continue
        rows.append({"id": folder.name, "name": meta.extra.get("name", folder.name), "model": meta.model_label,
                     "target": meta.target, "kind": meta.extra.get("kind"),
                     "dataset": (meta.extra.get("dataset") or {}).get("name"),
                     "roc_auc": meta.metrics.get("roc_auc"), "balanced_accuracy": meta.metrics.get("balanced_accuracy"),
                     "created": meta.created, "live": folder.name == live})
    return sorted(rows, key=lambda r: r["created"], reverse=True)


def load_lab_model(ws: Workspace, mid: str) -> tuple[Pipeline, ModelMetadata]:
    """Load saved model ``mid`` (DataError if missing, damaged or not allow-listed)."""
    directory = _model_dir(ws, mid)
    if not directory.is_dir():
        raise DataError(f"No saved model '{mid}' in this workspace (it may have been deleted).")
    return load_model(directory)


def model_title(meta: ModelMetadata) -> str:
    """The one name of a saved model on every page: ``Random forest 'Churn model of Sample (v2)'``."""
    return f"{meta.model_label} '{meta.extra.get('name') or meta.model_key}'"


def delete_model(ws: Workspace, mid: str) -> None:
    """Delete saved model ``mid``; DataError when it is the live model of a dataset (put another one live first)."""
    folder = _model_dir(ws, mid)
    for pointer in (ws.path / "health").glob("*/champion.json"):
        try:
            doc = json.loads(pointer.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("model_id") == mid:
            raise DataError(f"'{mid}' is the live model of a dataset ({pointer.parent.name}); put another model live "
                            "for it first, then delete this one.")
    shutil.rmtree(folder, ignore_errors=True)


def score_dataset(pipeline: Pipeline, meta: ModelMetadata, dataset: Dataset) -> pd.DataFrame:
    """Predictions of a saved model for every customer of ``dataset`` (``predicted`` + ``p_<label>``).

    Churn models score features as of the end of the data (live churn risk); segment models score the
    behavioural features; column models score the customer table's columns. Missing feature columns raise.
    """
    kind = meta.extra.get("kind")
    if kind in ("churn", "segment"):
        if dataset.kind != "transactions":
            raise DataError(f"This {kind} model scores transactions datasets; '{dataset.name}' is a customer table.")
        if kind == "churn":
            from pipeline.churn import live_features

            X, _ = live_features(dataset.transactions, dataset.returns,
                                 meta.extra.get("settings", {}).get("horizon", ChurnConfig.horizon_days))
        else:
            from pipeline.features import customer_features

            X = customer_features(dataset.transactions, dataset.returns)
    else:
        if dataset.customers is None:
            raise DataError(f"This model scores customer tables; '{dataset.name}' holds transactions.")
        X = dataset.customers.set_index("customer_id")
    missing = [c for c in meta.features if c not in X.columns]
    if missing:
        raise DataError(f"The dataset lacks the model's feature columns {missing[:5]}; score a dataset with the "
                        "same columns as the one the model was trained on.")
    return predict_table(pipeline, X[list(meta.features)], meta.class_labels)
