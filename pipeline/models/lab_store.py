"""The last Model-lab comparison of each dataset, kept in the workspace so a reload or an app restart shows it again.

Layout: ``<workspace>/lab_results/<dataset id>/`` with ``meta.json`` (kind, target, settings, info, notes, the
options it was trained with, labels, feature types, best model, warnings, scores, seconds), Parquet tables (metric
table, train/test features, training target, importance, and each model's confusion matrix and curves), ``arrays.npz``
(the test target and every model's test probabilities, read with ``allow_pickle=False``) and ``models/<key>/`` (each
fitted pipeline through :func:`pipeline.models.persist.save_model`: skops with an allow-list, XGBoost JSON,
``.keras``). The folder is written beside the old one and swapped in, so a crash leaves the previous comparison.
Nothing is ever unpickled; a folder that cannot be read back gives None (the page then asks to train again).
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.models.lab import LabResult
from pipeline.models.metrics import METRIC_COLUMNS, MetricReport
from pipeline.models.persist import build_metadata, load_model, save_model
from pipeline.models.training import TrainResult
from pipeline.store import Workspace

__all__ = ["save_lab_result", "load_lab_result", "delete_lab_result"]

_FRAMES = ("confusion", "roc", "pr", "calibration")


def _folder(ws: Workspace, dataset_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", dataset_id or ""):
        raise DataError(f"Dataset id {dataset_id!r} is not valid.")
    return ws.path / "lab_results" / dataset_id


def _parquet(df: pd.DataFrame, path: Path) -> None:
    out = df.copy()
    out.columns = pd.Index([str(c) for c in out.columns], name=out.columns.name)
    out.to_parquet(path, index=True)


def _write(result: LabResult, options: dict[str, Any], tmp: Path) -> None:
    t = result.train
    (tmp / "reports").mkdir()
    for key, rep in t.reports.items():
        for name in _FRAMES:
            _parquet(getattr(rep, name), tmp / "reports" / f"{key}.{name}.parquet")
    for name, df in (("table", t.table), ("X_train", result.X_train), ("X_test", result.X_test),
                     ("y_train", result.y_train.to_frame("y")), ("importance", result.importance)):
        if df is not None:
            _parquet(df, tmp / f"{name}.parquet")
    np.savez(tmp / "arrays.npz", y_test=np.asarray(t.y_test), **{f"proba__{k}": np.asarray(v, dtype=float)
                                                                   for k, v in t.proba.items()})
    for key, pipe in t.pipelines.items():
        row = t.table.loc[key]
        meta = build_metadata(key, str(row["model"]), result.target, result.X_train[list(t.feature_types)],
                              result.y_train, t.feature_types, t.labels,
                              {c: row[c] for c in t.table.columns if c in METRIC_COLUMNS})
        save_model(pipe, meta, tmp / "models" / key)
    meta = {"kind": result.kind, "target": result.target, "settings": result.settings, "info": result.info,
            "notes": result.notes, "seconds": result.seconds, "options": options, "labels": list(t.labels),
            "feature_types": t.feature_types, "imbalance": t.imbalance, "best": t.best, "warnings": t.warnings,
            "scores": {k: r.scores for k, r in t.reports.items()}, "pipelines": list(t.pipelines)}
    (tmp / "meta.json").write_text(json.dumps(to_jsonable(meta), indent=2))


def save_lab_result(ws: Workspace, dataset_id: str, result: LabResult, options: dict[str, Any]) -> None:
    """Keep ``result`` (trained with ``options``) as the dataset's last comparison, replacing the previous one."""
    final = _folder(ws, dataset_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
    try:
        _write(result, to_jsonable(dict(options)), tmp)
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:6]}")
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_frame(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def _train(folder: Path, meta: dict) -> TrainResult:
    table = pd.read_parquet(folder / "table.parquet")
    with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
        y_test = arrays["y_test"]
        proba = {k[len("proba__"):]: arrays[k] for k in arrays.files if k.startswith("proba__")}
    reports = {}
    for key, scores in meta["scores"].items():
        frames = {n: pd.read_parquet(folder / "reports" / f"{key}.{n}.parquet") for n in _FRAMES}
        reports[key] = MetricReport(scores, **frames)
    pipelines = {key: load_model(folder / "models" / key)[0] for key in meta["pipelines"]}
    return TrainResult(table, pipelines, proba, reports, meta["labels"], meta["feature_types"], y_test,
                       meta["imbalance"], meta["best"], list(meta["warnings"]))


def load_lab_result(ws: Workspace, dataset_id: str) -> tuple[LabResult, dict[str, Any]] | None:
    """The dataset's last comparison and the options it was trained with, or None when there is none (or it
    cannot be read back safely)."""
    folder = _folder(ws, dataset_id)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        train = _train(folder, meta)
        y_train = pd.read_parquet(folder / "y_train.parquet")["y"]
        result = LabResult(meta["kind"], meta["target"], train, pd.read_parquet(folder / "X_train.parquet"),
                           y_train, pd.read_parquet(folder / "X_test.parquet"), meta["settings"], meta["info"],
                           meta["notes"], _read_frame(folder / "importance.parquet"), float(meta["seconds"]))
    except (OSError, KeyError, ValueError, json.JSONDecodeError, DataError):
        return None
    return result, meta["options"]


def delete_lab_result(ws: Workspace, dataset_id: str) -> None:
    """Forget the dataset's last comparison."""
    shutil.rmtree(_folder(ws, dataset_id), ignore_errors=True)
