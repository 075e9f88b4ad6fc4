"""Save and load fitted model pipelines without executable formats.

A saved model is a directory::

    meta.json         metadata (target, feature schema, labels, metrics, data hash, versions, time) + manifest
    pipeline.skops    the scikit-learn pipeline (skops.io), XGBoost/Keras parts replaced by placeholders
    part0.json        an XGBoost model in XGBoost's JSON format
    part1.keras       a Keras network in the native ``.keras`` format (loaded with ``safe_mode=True``)

Loading never unpickles: the skops file is loaded only when every non-default type in it is on the
``SAFE_TYPES`` allow-list. Writes go to a temporary sibling directory that is renamed into place. Files written
before the model modules became the ``pipeline.models`` package name their classes by the old module paths;
loading maps those names to the current ones (:data:`LEGACY_MODULES`) before checking the allow-list.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import platform
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import StackingClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

from pipeline.errors import DataError
from pipeline.models.estimators import KerasMLPClassifier, SubsampledClassifier

__all__ = [
    "FORMAT_VERSION", "SAFE_TYPES", "LEGACY_MODULES", "ModelMetadata", "ExternalModel", "build_metadata", "data_hash",
    "library_versions", "save_model", "load_model", "save_object", "load_object", "version_warnings", "read_metadata",
]

FORMAT_VERSION = 1
META_FILE, SKOPS_FILE = "meta.json", "pipeline.skops"

#: Types beyond skops' defaults that a saved pipeline of this project may contain. Anything else in a
#: skops file (a function, an unknown class) makes loading fail before any object is constructed.
SAFE_TYPES = frozenset({
    "numpy.dtype",
    "pipeline.models.estimators.ToFloat", "pipeline.models.estimators.ToText",
    "pipeline.models.estimators.SteadyScaler", "pipeline.models.estimators.SignedLog",
    "pipeline.models.estimators.PlattScaled",
    "pipeline.models.estimators.SubsampledClassifier", "pipeline.models.estimators.KerasMLPClassifier",
    "pipeline.models.persist.ExternalModel",
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold", "sklearn.utils._bunch.Bunch",
    # the fitted pieces of a customer scorer (pipeline.customer.scorer_store): gradient-boosting trees and the
    # clustering's feature transformer and names (plain data: no code runs when they are built)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "pipeline.cluster.features.CustomerFeatures", "pipeline.config.ClusterConfig",
    "pipeline.cluster.naming.ClusterNames", "pipeline.cluster.naming.Word",
})

#: Module paths that saved files may name, written before ``pipeline/models.py`` and ``pipeline/persist.py``
#: became the ``pipeline.models`` package -> where those classes live now (exact module names only).
LEGACY_MODULES = {"pipeline.models": "pipeline.models.estimators", "pipeline.persist": "pipeline.models.persist"}

_LIBRARIES = ("scikit-learn", "xgboost", "keras", "tensorflow", "skops", "numpy", "pandas")


@dataclass
class ModelMetadata:
    """What a saved model needs to be trusted and reused: schema, labels, metrics and provenance."""

    model_key: str
    model_label: str
    target: str
    features: dict[str, dict[str, str]]     # column -> {"dtype": pandas dtype, "kind": numeric|categorical}
    class_labels: list
    metrics: dict[str, float | None]
    data_hash: str
    versions: dict[str, str]
    created: str
    reference: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ExternalModel:
    """Placeholder left in the skops file where an XGBoost or Keras model was saved in its own format."""

    def __init__(self, kind: str, key: str):
        self.kind = kind
        self.key = key


def data_hash(X: pd.DataFrame, y: Sequence | None = None) -> str:
    """SHA-256 of the training table's values and column names (and the target, if given)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in X.columns]).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    if y is not None:
        h.update(pd.util.hash_pandas_object(pd.Series(np.asarray(y)), index=False).to_numpy().tobytes())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a saved model depends on (without importing them)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_metadata(model_key: str, model_label: str, target: str, X_train: pd.DataFrame, y_train: Sequence,
                   types: Mapping[str, str], class_labels: Sequence, metrics: Mapping[str, float],
                   reference: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> ModelMetadata:
    """Metadata for ``save_model``: schema from ``X_train``'s dtypes, hash of the training data, versions, time."""
    features = {str(c): {"dtype": str(X_train[c].dtype), "kind": types[c]} for c in types}
    return ModelMetadata(
        model_key=model_key, model_label=model_label, target=target, features=features,
        class_labels=[_plain(v) for v in class_labels], metrics={k: _plain(v) for k, v in metrics.items()},
        data_hash=data_hash(X_train, y_train), versions=library_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        reference={k: _plain(v) for k, v in (reference or {}).items()}, extra=dict(extra or {}),
    )


def save_model(pipeline: Pipeline, meta: ModelMetadata, directory: str | Path, overwrite: bool = False) -> Path:
    """Write ``pipeline`` and ``meta`` into ``directory`` atomically; returns the directory.

    Raises DataError if the directory exists and ``overwrite`` is False.
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise DataError(f"A saved model already exists at '{directory}'; choose another name or overwrite it.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        parts: dict[str, Any] = {}
        sio.dump(_strip(pipeline, parts), tmp / SKOPS_FILE)
        manifest = {key: _save_part(obj, key, tmp) for key, obj in parts.items()}
        payload = {"format": FORMAT_VERSION, "metadata": asdict(meta), "parts": manifest}
        (tmp / META_FILE).write_text(json.dumps(payload, indent=2, default=_plain, allow_nan=False))
        _swap_into_place(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_model(directory: str | Path) -> tuple[Pipeline, ModelMetadata]:
    """Load a directory written by ``save_model``.

    Raises DataError when the directory is incomplete, written by an unknown format version, or holds
    any type or model part outside the allow-list - nothing from such a directory is executed.
    """
    directory = Path(directory)
    meta = read_metadata(directory)
    payload = _read_meta(directory)
    stripped = _load_skops(directory / SKOPS_FILE)
    parts = {key: _load_part(directory, key, spec) for key, spec in payload["parts"].items()}
    pipeline = _restore(stripped, parts)
    if not isinstance(pipeline, Pipeline):
        raise DataError(f"'{directory}' does not hold a model pipeline; it may have been tampered with.")
    return pipeline, meta


def save_object(obj: Any, path: str | Path) -> Path:
    """Write one fitted estimator (or another object made of allow-listed types) as a skops file; returns the
    path. XGBoost and Keras models are not handled here (use :func:`save_model`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(obj, path)
    return path


def load_object(path: str | Path) -> Any:
    """Load a file written by :func:`save_object`: only when every type in it is on :data:`SAFE_TYPES` (or a
    skops default). Raises DataError otherwise - nothing from such a file is executed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"'{path}' is missing; the saved pieces are incomplete.")
    return _load_skops(path)


def read_metadata(directory: str | Path) -> ModelMetadata:
    """The metadata of a saved model without loading the model itself (for listing saved models).

    Raises DataError when the folder is not a saved model of this format or its metadata is malformed.
    """
    directory = Path(directory)
    payload = _read_meta(directory)
    try:
        return ModelMetadata(**payload["metadata"])
    except TypeError as exc:
        raise DataError(f"The metadata in '{directory / META_FILE}' is malformed ({exc}); re-save the model.") from exc


def version_warnings(meta: ModelMetadata) -> list[str]:
    """Human-readable differences between the saving and the current library versions."""
    now = library_versions()
    return [f"{lib}: saved with {old}, running {now.get(lib)}" for lib, old in meta.versions.items()
            if now.get(lib) != old]


# -- saving helpers ---------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """JSON-friendly scalar: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _is_xgboost(obj: Any) -> bool:
    return type(obj).__name__ == "XGBClassifier" and type(obj).__module__.startswith("xgboost")


def _strip(obj: Any, parts: dict[str, Any]) -> Any:
    """Shallow copy of the fitted model tree with XGBoost/Keras models swapped for ``ExternalModel``."""
    if isinstance(obj, Pipeline):
        new = copy.copy(obj)
        new.steps = [(name, _strip(step, parts)) for name, step in obj.steps]
        return new
    if isinstance(obj, StackingClassifier) and hasattr(obj, "estimators_"):
        new = copy.copy(obj)
        new.estimators_ = [_strip(est, parts) for est in obj.estimators_]
        new.named_estimators_ = _named(obj, new.estimators_)
        new.final_estimator_ = _strip(obj.final_estimator_, parts)
        return new
    if isinstance(obj, SubsampledClassifier) and hasattr(obj, "estimator_"):
        new = copy.copy(obj)
        new.estimator_ = _strip(obj.estimator_, parts)
        return new
    if (isinstance(obj, KerasMLPClassifier) and hasattr(obj, "model_")) or _is_xgboost(obj):
        key = f"part{len(parts)}"
        parts[key] = obj
        return ExternalModel("keras" if isinstance(obj, KerasMLPClassifier) else "xgboost", key)
    return obj


def _named(stack: StackingClassifier, fitted: list) -> Bunch:
    names = [name for name, est in stack.estimators if est != "drop"]
    return Bunch(**dict(zip(names, fitted)))


def _save_part(obj: Any, key: str, folder: Path) -> dict[str, Any]:
    if isinstance(obj, KerasMLPClassifier):
        obj.model_.save(folder / f"{key}.keras")
        return {"kind": "keras", "file": f"{key}.keras", "params": _plain(obj.get_params()),
                "classes": _plain(list(obj.classes_)), "n_features_in": int(obj.n_features_in_)}
    obj.save_model(folder / f"{key}.json")
    return {"kind": "xgboost", "file": f"{key}.json"}


def _swap_into_place(tmp: Path, directory: Path) -> None:
    if not directory.exists():
        tmp.rename(directory)
        return
    trash = directory.with_name(f".{directory.name}.{tmp.name}.old")
    directory.rename(trash)
    tmp.rename(directory)
    shutil.rmtree(trash, ignore_errors=True)


# -- loading helpers --------------------------------------------------------------------------------------

def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file() or not (directory / SKOPS_FILE).is_file():
        raise DataError(f"'{directory}' is not a saved model: it needs {META_FILE} and {SKOPS_FILE}.")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"'{path}' is not valid JSON ({exc}); the saved model is damaged.") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise DataError(f"'{path}' has format {payload.get('format') if isinstance(payload, dict) else '?'}; "
                        f"this app reads format {FORMAT_VERSION}. Re-train and save the model.")
    if not isinstance(payload.get("parts"), dict) or not isinstance(payload.get("metadata"), dict):
        raise DataError(f"'{path}' lacks its parts or metadata; the saved model is damaged.")
    return payload


def _load_skops(path: Path) -> Any:
    try:
        data = _current_module_names(path.read_bytes())
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # zip/JSON damage or an unknown node type
        raise DataError(f"'{path}' is not a readable skops file ({exc}).") from exc
    refused = sorted(set(untrusted) - SAFE_TYPES)
    if refused:
        raise DataError(f"'{path}' contains types this app does not load: {refused[:5]}. It was not written by "
                        "this app or has been tampered with; nothing was executed. Re-train the model instead.")
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise DataError(f"'{path}' could not be loaded ({exc}); re-train and save the model.") from exc


def _current_module_names(data: bytes) -> bytes:
    """The skops archive with class modules of :data:`LEGACY_MODULES` renamed (unchanged bytes if none)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        if not _rename_modules(schema):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as renamed:
            for item in archive.infolist():
                body = json.dumps(schema) if item.filename == "schema.json" else archive.read(item)
                renamed.writestr(item, body)
    return out.getvalue()


def _rename_modules(node: Any) -> bool:
    """Rename legacy ``__module__`` values in a skops schema in place; True if any was renamed."""
    changed = False
    if isinstance(node, dict):
        module = node.get("__module__")
        if isinstance(module, str) and module in LEGACY_MODULES:
            node["__module__"] = LEGACY_MODULES[module]
            changed = True
        for value in node.values():
            changed = _rename_modules(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _rename_modules(value) or changed
    return changed


def _part_path(directory: Path, key: str, spec: Mapping[str, Any], suffix: str) -> Path:
    name = str(spec.get("file", ""))
    if Path(name).name != name or not name.endswith(suffix) or not (directory / name).is_file():
        raise DataError(f"Model part '{key}' names the file {name!r}; expected a '{suffix}' file inside the "
                        "model folder. The saved model is damaged or tampered with.")
    return directory / name


def _load_part(directory: Path, key: str, spec: Any) -> Any:
    kind = spec.get("kind") if isinstance(spec, dict) else None
    try:
        if kind == "xgboost":
            return _load_xgboost(_part_path(directory, key, spec, ".json"))
        if kind == "keras":
            return _load_keras(_part_path(directory, key, spec, ".keras"), spec)
    except DataError:
        raise
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"Model part '{key}' ({kind}) could not be loaded safely ({first_line}).") from exc
    raise DataError(f"Model part '{key}' has unknown kind {kind!r}; only 'xgboost' and 'keras' parts are loaded.")


def _load_xgboost(path: Path) -> Any:
    from xgboost import XGBClassifier

    model = XGBClassifier()
    model.load_model(path)
    return model


def _load_keras(path: Path, spec: Mapping[str, Any]) -> KerasMLPClassifier:
    from pipeline.lazy import keras

    params = dict(spec["params"])
    params["hidden"] = tuple(params.get("hidden", ()))
    est = KerasMLPClassifier(**params)
    est.model_ = keras().saving.load_model(path, compile=False, safe_mode=True)
    est.classes_ = np.asarray(spec["classes"])
    est.n_features_in_ = int(spec["n_features_in"])
    return est


def _restore(obj: Any, parts: Mapping[str, Any]) -> Any:
    """Inverse of ``_strip``: put the loaded XGBoost/Keras models back in place."""
    if isinstance(obj, ExternalModel):
        part = parts.get(obj.key) if isinstance(obj.key, str) else None
        if part is None or (obj.kind == "keras") != isinstance(part, KerasMLPClassifier):
            raise DataError(f"The pipeline refers to a missing or mismatched model part {obj.key!r}; the saved "
                            "model is damaged.")
        return part
    if isinstance(obj, Pipeline):
        obj.steps = [(name, _restore(step, parts)) for name, step in obj.steps]
    elif isinstance(obj, StackingClassifier) and hasattr(obj, "estimators_"):
        obj.estimators_ = [_restore(est, parts) for est in obj.estimators_]
        obj.named_estimators_ = _named(obj, obj.estimators_)
        obj.final_estimator_ = _restore(obj.final_estimator_, parts)
    elif isinstance(obj, SubsampledClassifier) and hasattr(obj, "estimator_"):
        obj.estimator_ = _restore(obj.estimator_, parts)
    return obj
