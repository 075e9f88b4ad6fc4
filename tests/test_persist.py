"""Saving and loading fitted pipelines: round trips, allow-listed types, tampering, atomic writes."""
from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline import models as m
from pipeline.models import persist as ps
from pipeline.errors import DataError

TINY = m.ZooSettings(forest_trees=15, xgb_trees=30, keras_epochs=3, keras_hidden=(8,), min_rows=10)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 150
    X = pd.DataFrame({"recency": rng.exponential(60, n), "orders": rng.poisson(3, n).astype(float),
                      "country": rng.choice(["UK", "France", "Germany"], n)})
    X.loc[::11, "country"] = None
    y = np.where(X["recency"] + rng.normal(0, 20, n) > 60, "churned", "active")
    return X, y


def _fit(name, X, y):
    types = m.feature_types(X)
    labels = sorted(set(y))
    y_enc = np.searchsorted(labels, y)
    return m.build_pipeline(name, types, TINY).fit(X, y_enc), types, labels, y_enc


def _meta(name, X, y, types, labels):
    metrics = {"roc_auc": 0.81, "brier": float("nan")}
    return ps.build_metadata(name, m.REGISTRY[name].label, "churned", X, y, types, labels, metrics,
                             reference=m.feature_reference(X, types), extra={"horizon_days": 90})


ROUND_TRIP = ["majority", "logreg", "tree", "forest", "xgboost", "svm",
              pytest.param("keras", marks=pytest.mark.slow), pytest.param("stacked", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_round_trip_keeps_predictions_and_metadata(name, data, tmp_path):
    X, y = data
    pipe, types, labels, y_enc = _fit(name, X, y)
    meta = _meta(name, X, y, types, labels)
    target = ps.save_model(pipe, meta, tmp_path / "models" / name)
    loaded, meta2 = ps.load_model(target)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert meta2 == meta == ps.read_metadata(target)
    assert meta2.class_labels == ["active", "churned"] and meta2.metrics["brier"] is None
    assert meta2.features["country"] == {"dtype": str(X["country"].dtype), "kind": "categorical"}
    assert meta2.data_hash == ps.data_hash(X, y) and meta2.versions["scikit-learn"]
    untrusted = set(sio.get_untrusted_types(file=target / "pipeline.skops"))
    assert untrusted <= ps.SAFE_TYPES
    assert not list((tmp_path / "models").glob(".*"))  # no temporary folders left behind


def test_xgboost_part_is_json_not_pickle(data, tmp_path):
    X, y = data
    pipe, types, labels, _ = _fit("xgboost", X, y)
    target = ps.save_model(pipe, _meta("xgboost", X, y, types, labels), tmp_path / "xgb")
    manifest = json.loads((target / "meta.json").read_text())["parts"]
    assert manifest == {"part0": {"kind": "xgboost", "file": "part0.json"}}
    assert "learner" in json.loads((target / "part0.json").read_text())


def _with_module_names(path, names: dict) -> None:
    """Rewrite the class modules named in a skops file (as files saved under other module paths name them)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    schema = members["schema.json"].decode()
    for old, new in names.items():
        schema = schema.replace(f'"__module__": "{old}"', f'"__module__": "{new}"')
    members["schema.json"] = schema.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)


@pytest.mark.parametrize("name", ["svm", "xgboost"])
def test_models_saved_before_the_package_split_still_load(name, data, tmp_path):
    # files written when the classes lived in pipeline/models.py and pipeline/persist.py name those modules
    X, y = data
    pipe, types, labels, _ = _fit(name, X, y)
    target = ps.save_model(pipe, _meta(name, X, y, types, labels), tmp_path / name)
    _with_module_names(target / "pipeline.skops", {new: old for old, new in ps.LEGACY_MODULES.items()})
    legacy = set(sio.get_untrusted_types(file=target / "pipeline.skops"))
    assert legacy & {"pipeline.models.ToFloat", "pipeline.persist.ExternalModel", "pipeline.models.ToText"}
    loaded, _ = ps.load_model(target)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X), rtol=0, atol=1e-12)


def test_unknown_type_in_skops_file_is_refused_before_loading(data, tmp_path):
    X, y = data
    pipe, types, labels, _ = _fit("logreg", X, y)
    target = ps.save_model(pipe, _meta("logreg", X, y, types, labels), tmp_path / "lr")
    evil = Pipeline([("run", FunctionTransformer(func=os.system)), ("model", pipe.named_steps["model"])])
    sio.dump(evil, target / "pipeline.skops")
    with pytest.raises(DataError, match=r"does not load: \[.*system"):
        ps.load_model(target)


@pytest.mark.parametrize("tamper, rule", [
    (lambda p: p["parts"].update({"part0": {"kind": "pickle", "file": "part0.json"}}), "unknown kind 'pickle'"),
    (lambda p: p["parts"]["part0"].update({"file": "../../etc/passwd.json"}), "inside the model folder"),
    (lambda p: p.update({"format": 99}), "format 99"),
    (lambda p: p["parts"].clear(), "missing or mismatched model part"),
    (lambda p: p["metadata"].update({"evil": 1}), "malformed"),
])
def test_tampered_manifest_is_refused(tamper, rule, data, tmp_path):
    X, y = data
    pipe, types, labels, _ = _fit("xgboost", X, y)
    target = ps.save_model(pipe, _meta("xgboost", X, y, types, labels), tmp_path / "xgb")
    payload = json.loads((target / "meta.json").read_text())
    tamper(payload)
    (target / "meta.json").write_text(json.dumps(payload))
    with pytest.raises(DataError, match=rule):
        ps.load_model(target)


def test_damaged_or_missing_files_are_data_errors(data, tmp_path):
    with pytest.raises(DataError, match="not a saved model"):
        ps.load_model(tmp_path / "nothing")
    X, y = data
    pipe, types, labels, _ = _fit("logreg", X, y)
    target = ps.save_model(pipe, _meta("logreg", X, y, types, labels), tmp_path / "lr")
    good_meta = (target / "meta.json").read_text()
    (target / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        ps.load_model(target)
    (target / "meta.json").write_text(good_meta)
    (target / "pipeline.skops").write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="not a readable skops file"):
        ps.load_model(target)


def test_xgboost_part_with_garbage_is_a_data_error(data, tmp_path):
    X, y = data
    pipe, types, labels, _ = _fit("xgboost", X, y)
    target = ps.save_model(pipe, _meta("xgboost", X, y, types, labels), tmp_path / "xgb")
    (target / "part0.json").write_text('{"learner": "__import__(\'os\')"}')
    with pytest.raises(DataError, match=r"\(xgboost\) could not be loaded safely \(\[.*Invalid cast"):
        ps.load_model(target)


def test_existing_directory_needs_overwrite_and_failed_save_leaves_nothing(data, tmp_path, monkeypatch):
    X, y = data
    pipe, types, labels, _ = _fit("xgboost", X, y)
    meta = _meta("xgboost", X, y, types, labels)
    target = ps.save_model(pipe, meta, tmp_path / "xgb")
    with pytest.raises(DataError, match="already exists"):
        ps.save_model(pipe, meta, target)
    ps.save_model(pipe, meta, target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xgb"]

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ps, "_save_part", boom)
    with pytest.raises(OSError, match="disk full"):
        ps.save_model(pipe, meta, tmp_path / "other")
    with pytest.raises(OSError, match="disk full"):
        ps.save_model(pipe, meta, target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xgb"]  # old model intact, no temp folders
    loaded, _ = ps.load_model(target)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X))


def test_data_hash_changes_with_any_value():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    same = ps.data_hash(X.copy(), [0, 1])
    assert ps.data_hash(X, [0, 1]) == same
    assert ps.data_hash(X.assign(a=[1.0, 2.5]), [0, 1]) != same
    assert ps.data_hash(X, [1, 0]) != same
    assert ps.data_hash(X.rename(columns={"a": "c"}), [0, 1]) != same


@pytest.mark.slow
def test_keras_file_with_lambda_layer_is_refused(data, tmp_path):
    from pipeline.lazy import keras as lazy_keras

    keras = lazy_keras()
    X, y = data
    pipe, types, labels, _ = _fit("keras", X, y)
    target = ps.save_model(pipe, _meta("keras", X, y, types, labels), tmp_path / "nn")
    inputs = keras.Input(shape=(pipe.named_steps["model"].n_features_in_,))
    outputs = keras.layers.Lambda(lambda t: keras.ops.softmax(t[:, :2]))(inputs)
    keras.Model(inputs, outputs).save(target / "part0.keras")
    with pytest.raises(DataError, match="could not be loaded safely.*Lambda"):
        ps.load_model(target)
