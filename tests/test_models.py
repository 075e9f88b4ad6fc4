"""Model zoo: input checks, training/evaluation table, imbalance, explanations, real coupon data."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_validate

from pipeline import models as m
from pipeline.models.training import _resample
from pipeline.errors import DataError
from conftest import dataset

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
COUPONS = DATASETS / "in-vehicle-coupon-recommendation.csv"
TINY = m.ZooSettings(forest_trees=20, xgb_trees=40, keras_epochs=3, keras_hidden=(8,), min_rows=10)


def _frame(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Planted signal: the label follows `signal` and the coupon category; `noise` is noise.
    Column and category names carry the characters XGBoost refuses in feature names."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    coupon = rng.choice(["Restaurant(<20)", "Bar [late]", "Coffee House"], size=n)
    logit = 2.5 * signal + np.where(coupon == "Bar [late]", 1.5, 0.0) - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"signal": signal, "Income [k$]": rng.normal(50, 10, n), "coupon": coupon})
    X.loc[::17, "coupon"] = None
    X.loc[::13, "Income [k$]"] = np.nan
    return X, y


def _split(X, y, n_test=80):
    return X.iloc[n_test:], y[n_test:], X.iloc[:n_test], y[:n_test]


# -- input checks -------------------------------------------------------------------------------------

def test_feature_types_detects_and_forces():
    X = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"], "c": ["1", "2", None], "d": [True, False, True]})
    assert m.feature_types(X) == {"a": "numeric", "b": "categorical", "c": "categorical", "d": "numeric"}
    assert m.feature_types(X, numeric=["c"], categorical=["a"])["c"] == "numeric"
    assert m.feature_types(X, categorical=["a"])["a"] == "categorical"


def test_forcing_text_numeric_names_column_and_examples():
    X = pd.DataFrame({"income": ["10", "n/a", "$30k", "40"]})
    with pytest.raises(DataError, match=r"'income'.*2 of 4.*'n/a'"):
        m.feature_types(X, numeric=["income"])


def test_date_columns_and_empty_tables_are_refused():
    with pytest.raises(DataError, match="dates"):
        m.feature_types(pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2020-02-01"])}))
    with pytest.raises(DataError, match="No feature columns"):
        m.feature_types(pd.DataFrame(index=range(3)))


@pytest.mark.parametrize("y, rule", [
    (["a"] * 30, "only one class"),
    ([f"C{i:04d}" for i in range(300)], "looks like an id"),
    ([1.0, None, 0.0] * 10, "missing values"),
])
def test_bad_targets(y, rule):
    with pytest.raises(DataError, match=rule):
        m.check_target(y)


def test_split_refuses_too_few_rows_and_singleton_classes():
    X = pd.DataFrame({"x": range(12)})
    with pytest.raises(DataError, match="at least 20"):
        m.split_train_test(X, [0, 1] * 6)
    X = pd.DataFrame({"x": range(40)})
    with pytest.raises(DataError, match="'c' has 1 row"):
        m.split_train_test(X, ["a", "b"] * 19 + ["a", "c"])


def test_train_refuses_unseen_test_class_unknown_model_and_thin_classes():
    X, y = _frame()
    Xtr, ytr, Xte, yte = _split(X, y)
    with pytest.raises(DataError, match="never occur in training"):
        m.train_and_evaluate(Xtr, ytr, Xte, np.where(yte == 1, 2, 0), ["logreg"], settings=TINY)
    with pytest.raises(DataError, match="Unknown models"):
        m.train_and_evaluate(Xtr, ytr, Xte, yte, ["gpt"], settings=TINY)
    ythin = np.zeros(len(ytr), dtype=int)
    ythin[:3] = 1
    with pytest.raises(DataError, match="only 3 training rows.*at least 5"):
        m.train_and_evaluate(Xtr, ythin, Xte, yte, ["logreg"], cv_folds=5, settings=TINY)


# -- training and the metric table ----------------------------------------------------------------------

def test_fast_models_table_baseline_progress_and_best():
    X, y = _frame()
    Xtr, ytr, Xte, yte = _split(X, y)
    calls = []
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["xgboost", "logreg", "tree", "forest"],
                               progress_callback=lambda *a: calls.append(a), settings=TINY)
    assert list(res.table.index) == ["majority", "xgboost", "logreg", "tree", "forest"]
    assert calls == [(0, 5, "Majority class (baseline)"), (1, 5, "XGBoost"), (2, 5, "Logistic regression"),
                     (3, 5, "Decision tree"), (4, 5, "Random forest"), (5, 5, "done")]
    assert res.table["baseline"].tolist() == [True, False, False, False, False]
    train_majority = np.bincount(ytr).argmax()
    assert res.table.loc["majority", "accuracy"] == pytest.approx(np.mean(yte == train_majority))
    assert res.table.loc["majority", "roc_auc"] == pytest.approx(0.5)
    assert res.best in {"xgboost", "logreg", "tree", "forest"}
    assert res.table.loc[res.best, "roc_auc"] == res.table["roc_auc"].max()
    assert res.table.loc["logreg", "roc_auc"] > 0.8  # the planted signal is strong
    assert (res.table[["train_s", "predict_s"]] >= 0).all().all()
    proba = res.proba["logreg"]
    assert proba.shape == (80, 2) and np.allclose(proba.sum(axis=1), 1)
    expected = skm.roc_auc_score(yte, proba[:, 1])
    assert res.table.loc["logreg", "roc_auc"] == pytest.approx(expected)


def test_xgboost_trains_with_brackets_and_lt_in_names():
    X, y = _frame()
    pipe = m.build_pipeline("xgboost", m.feature_types(X), TINY).fit(X, y)
    names = m.transformed_feature_names(pipe)
    assert not any(ch in n for n in names for ch in "[]<")
    assert "coupon_Restaurant(lt20)" in names and "Income (k$)" in names
    assert len(m.output_sources(pipe.named_steps["prep"])) == len(names)


def test_rare_categories_are_pooled_and_unknown_ones_ignored():
    X = pd.DataFrame({"city": ["A"] * 30 + ["B"] * 30 + [f"rare{i}" for i in range(5)]})
    y = np.array([0, 1] * 32 + [0])
    pipe = m.build_pipeline("logreg", m.feature_types(X), TINY).fit(X, y)
    assert len(m.transformed_feature_names(pipe)) == 3  # A, B, and one pool of infrequent values
    proba = pipe.predict_proba(pd.DataFrame({"city": ["never seen"]}))
    assert proba.shape == (1, 2)


def test_multiclass_string_labels_use_macro_metrics():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    y = np.where(X["x"] < -0.4, "low", np.where(X["x"] > 0.4, "high", "mid"))
    res = m.train_and_evaluate(X.iloc[:200], y[:200], X.iloc[200:], y[200:], ["logreg", "xgboost"], settings=TINY)
    assert res.labels == ["high", "low", "mid"]
    assert res.reports["logreg"].confusion.shape == (3, 3)
    proba = res.proba["logreg"]
    assert res.table.loc["logreg", "roc_auc"] == pytest.approx(
        skm.roc_auc_score(y[200:], proba, multi_class="ovr", labels=res.labels))
    assert res.table.loc["logreg", "f1"] == pytest.approx(
        skm.f1_score(y[200:], np.asarray(res.labels)[proba.argmax(1)], average="macro"))


def test_imbalance_options_touch_training_rows_only():
    X = pd.DataFrame({"x": np.arange(100.0)})
    y = np.array([0] * 80 + [1] * 20)
    Xd, yd, w = _resample(X, y, "downsample", 0)
    assert np.bincount(yd).tolist() == [20, 20] and len(Xd) == 40 and w is None
    _, _, w = _resample(X, y, "class_weight", 0)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())
    with pytest.raises(DataError, match="imbalance"):
        _resample(X, y, "smote", 0)
    Xf, yf = _frame()
    Xtr, ytr, Xte, yte = _split(Xf, 1 - yf)  # training majority is class 1 (84 of 160)
    assert np.bincount(ytr).argmax() == 1
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["logreg"], imbalance="downsample", settings=TINY)
    assert len(res.y_test) == 80
    # the baseline still sees the real class shares, so it predicts the training majority
    assert res.table.loc["majority", "accuracy"] == pytest.approx(np.mean(yte == np.bincount(ytr).argmax()))


def test_score_baseline_row_threshold_from_training_rate():
    X, y = _frame()
    Xtr, ytr, Xte, yte = _split(X, y)
    base = m.ScoreBaseline("Signal score", test_score=Xte["signal"].to_numpy(), train_score=Xtr["signal"].to_numpy())
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["logreg"], extra_baseline_scores={"signal": base}, settings=TINY)
    row = res.table.loc["signal"]
    assert bool(row["baseline"]) and np.isnan(row["brier"])
    assert row["roc_auc"] == pytest.approx(skm.roc_auc_score(yte, Xte["signal"]))
    threshold = np.quantile(Xtr["signal"], 1 - np.mean(ytr))  # flags the training prevalence on train
    flagged = int((Xte["signal"] >= threshold).sum())
    assert res.reports["signal"].confusion.iloc[:, 1].sum() == flagged
    by_rate = m.ScoreBaseline("by rate", test_score=Xte["signal"].to_numpy(), positive_rate=0.25)
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, [], extra_baseline_scores={"rate": by_rate}, settings=TINY)
    assert res.reports["rate"].confusion.iloc[:, 1].sum() == 20  # top 25% of 80 test rows
    with pytest.raises(DataError, match="one score per test row"):
        bad = m.ScoreBaseline("short", test_score=np.zeros(3))
        m.train_and_evaluate(Xtr, ytr, Xte, yte, ["logreg"], extra_baseline_scores={"s": bad}, settings=TINY)


def test_cv_columns():
    X, y = _frame()
    Xtr, ytr, Xte, yte = _split(X, y)
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["logreg"], cv_folds=3, settings=TINY)
    assert res.table.loc["majority", "cv_roc_auc_mean"] == pytest.approx(0.5)
    assert 0.75 < res.table.loc["logreg", "cv_roc_auc_mean"] <= 1
    assert res.table.loc["logreg", "cv_roc_auc_std"] >= 0


def test_cross_validate_scores_per_fold_and_as_losses():
    X, y = _frame()
    pipe = m.build_pipeline("logreg", m.feature_types(X), TINY)
    folds = m.cross_validate_scores(pipe, X, y, 4, ("roc_auc", "accuracy", "log_loss"), random_state=0)
    assert list(folds) == ["roc_auc", "accuracy", "log_loss"] and all(len(v) == 4 for v in folds.values())
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    ref = cross_validate(pipe, X, y, cv=cv, scoring=["roc_auc", "neg_log_loss"])
    np.testing.assert_allclose(folds["roc_auc"], ref["test_roc_auc"])
    np.testing.assert_allclose(folds["log_loss"], -ref["test_neg_log_loss"])       # a loss: positive
    assert (folds["log_loss"] > 0).all()
    with pytest.raises(DataError, match="Unknown cross-validation metrics"):
        m.cross_validate_scores(pipe, X, y, 3, ("f2",))


def test_the_models_package_interface_does_not_load_the_lab():
    """Importing ``pipeline.models`` stays light (import cycles anywhere are tests/test_architecture.py's)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    graph = {}
    for package in ("models", "coupons"):
        for path in (root / "pipeline" / package).glob("*.py"):
            name = f"pipeline.{package}" + ("" if path.stem == "__init__" else f".{path.stem}")
            tree = ast.parse(path.read_text())
            graph[name] = {node.module for node in tree.body                     # module-level imports only
                           if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline.")}
    graph = {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph[start])

    assert {"pipeline.models.zoo", "pipeline.coupons.learned"} <= set(graph)
    assert not reaches("pipeline.models", "pipeline.models.lab")           # the package's interface stays light


# -- explanations -------------------------------------------------------------------------------------------

def test_logistic_contributions_are_coefficient_times_standardized_value():
    X, y = _frame()
    X = X[["signal", "Income [k$]"]].fillna(50.0)
    pipe = m.build_pipeline("logreg", m.feature_types(X), TINY).fit(X, y)
    row = X.iloc[[5]]
    table = m.explain_row(pipe, row, top=2).set_index("feature")
    coef = pipe.named_steps["model"].coef_[0]
    z = (row["signal"].iloc[0] - X["signal"].mean()) / X["signal"].std(ddof=0)
    assert table.loc["signal", "contribution"] == pytest.approx(coef[0] * z)
    assert table.attrs["method"].startswith("coefficient")


def test_xgboost_contributions_add_up_to_the_margin():
    X, y = _frame()
    pipe = m.build_pipeline("xgboost", m.feature_types(X), TINY).fit(X, y)
    row = X.iloc[[3]]
    table = m.explain_row(pipe, row, top=10)
    assert set(table["feature"]) <= set(X.columns)
    booster_margin = pipe.named_steps["model"].predict(pipe.named_steps["prep"].transform(row), output_margin=True)
    from xgboost import DMatrix
    bias = pipe.named_steps["model"].get_booster().predict(
        DMatrix(pipe.named_steps["prep"].transform(row)), pred_contribs=True)[0, -1]
    assert table["contribution"].sum() + bias == pytest.approx(float(booster_margin[0]), abs=1e-4)
    # class 0 view flips the signs
    flipped = m.explain_row(pipe, row, class_index=0, top=10).set_index("feature")["contribution"]
    assert flipped.sum() == pytest.approx(-table["contribution"].sum(), abs=1e-5)


def test_occlusion_fallback_for_other_models():
    X, y = _frame()
    types = m.feature_types(X)
    pipe = m.build_pipeline("forest", types, TINY).fit(X, y)
    ref = m.feature_reference(X, types)
    assert ref["signal"] == pytest.approx(X["signal"].mean()) and ref["coupon"] in set(X["coupon"].dropna())
    row = X.iloc[[7]]
    table = m.explain_row(pipe, row, ref, top=3).set_index("feature")
    occluded = row.astype(object).copy()
    occluded["signal"] = ref["signal"]
    expected = pipe.predict_proba(row)[0, 1] - pipe.predict_proba(occluded)[0, 1]
    assert table.loc["signal", "contribution"] == pytest.approx(expected)
    with pytest.raises(DataError, match="reference"):
        m.explain_row(pipe, row)


def test_permutation_importance_ranks_the_planted_signal_first():
    X, y = _frame(400)
    pipe = m.build_pipeline("logreg", m.feature_types(X), TINY).fit(X.iloc[:300], y[:300])
    table = m.permutation_importance_table(pipe, X.iloc[300:], y[300:], labels=[0, 1], n_repeats=3)
    assert table["feature"].iloc[0] == "signal"
    assert table["importance_mean"].iloc[0] > 0.1


def test_registry_is_data_with_fast_flags():
    assert set(m.fast_models()) == {"majority", "logreg", "tree", "forest", "xgboost"}
    assert all(spec.description for spec in m.REGISTRY.values())
    assert [k for k, s in m.REGISTRY.items() if s.baseline] == ["majority"]


def test_subsampled_svm_trains_on_a_stratified_sample():
    X, y = _frame(300)
    settings = m.ZooSettings(svm_max_samples=120, min_rows=10)
    pipe = m.build_pipeline("svm", m.feature_types(X), settings).fit(X, y)
    svm = pipe.named_steps["model"]
    assert svm.n_samples_fit_ == 120
    assert pipe.predict_proba(X).shape == (300, 2)


# -- Keras and stacking (TensorFlow import: slow) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_and_stack():
    """The Keras MLP and the stacked model trained once for the tests below (a fit costs seconds: TensorFlow).
    Two stacking folds are enough to give the final LR out-of-fold probabilities of both base models."""
    X, y = _frame(200)
    Xtr, ytr, Xte, yte = _split(X, y, 60)
    settings = dataclasses.replace(TINY, stack_cv=2)
    res = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["keras", "stacked"], imbalance="class_weight", settings=settings)
    return Xtr, ytr, Xte, yte, res, settings


@pytest.mark.slow
def test_keras_mlp_and_stacked_model_in_the_table(keras_and_stack):
    Xtr, ytr, Xte, yte, res, _ = keras_and_stack
    assert list(res.table.index) == ["majority", "keras", "stacked"]
    for key in ("keras", "stacked"):
        assert np.allclose(res.proba[key].sum(axis=1), 1)
        assert res.table.loc[key, "roc_auc"] > 0.6
    keras_est = res.pipelines["keras"].named_steps["model"]
    assert clone(keras_est).get_params()["epochs"] == 3  # fit options survive clone (unlike the bare wrapper)
    stack = res.pipelines["stacked"].named_steps["model"]
    assert [name for name, _ in stack.estimators] == ["keras", "svm"]
    ref = m.feature_reference(Xtr, res.feature_types)
    table = m.explain_row(res.pipelines["stacked"], Xte.iloc[[0]], ref)
    assert table.attrs["method"].startswith("occlusion") and len(table) == 3


@pytest.mark.slow
def test_keras_is_reproducible_with_a_fixed_seed(keras_and_stack):
    """A second fit of the same Keras model on the same rows, after other TensorFlow fits ran in between (the
    stacked model's), gives the same probabilities: the seed is fixed at every fit."""
    Xtr, ytr, Xte, yte, res, settings = keras_and_stack
    again = m.train_and_evaluate(Xtr, ytr, Xte, yte, ["keras"], imbalance="class_weight", settings=settings)
    np.testing.assert_allclose(again.proba["keras"], res.proba["keras"], atol=1e-6)


# -- real data -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_coupon_xgboost_five_fold_auc_beats_majority():
    data = pd.read_csv(dataset(COUPONS.name))
    y = m.check_target(data.pop("Y")).to_numpy()
    assert np.mean(y) == pytest.approx(0.568, abs=0.001)  # the majority baseline: 56.8% accepted
    pipe = m.build_pipeline("xgboost", m.feature_types(data))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = cross_validate(pipe, data, y, cv=cv, scoring=["roc_auc", "accuracy"])
    assert res["test_roc_auc"].mean() >= 0.82
    assert res["test_accuracy"].mean() > 0.568 + 0.1


def test_nullable_and_mixed_dtypes_train_and_explain():
    X = pd.DataFrame({
        "count": pd.array([1, None, 3, 4] * 10, dtype="Int64"),
        "flag": pd.array([True, None, False, True] * 10, dtype="boolean"),
        "city": pd.array(["x", None, "y", "z"] * 10, dtype="string"),
        "mixed": [1, "a", None, 2.0] * 10,
        "empty": [np.nan] * 40,
    })
    types = m.feature_types(X)
    assert types == {"count": "numeric", "flag": "numeric", "city": "categorical", "mixed": "categorical",
                     "empty": "numeric"}
    y = np.array([0, 1] * 20)
    pipe = m.build_pipeline("logreg", types, TINY).fit(X, y)
    assert np.isfinite(pipe.predict_proba(X)).all()
    assert "mixed_2" in m.transformed_feature_names(pipe)  # 2.0 and "2" are the same category
    ref = m.feature_reference(X, types)
    assert ref["count"] == pytest.approx(8 / 3) and ref["empty"] is None and ref["city"] == "x"
    assert len(m.explain_row(pipe, X.iloc[[1]], top=3)) == 3


def test_steady_scaler_centres_but_does_not_blow_up_a_numerically_constant_column():
    from sklearn.base import clone

    from pipeline.models.estimators import SteadyScaler

    X = np.array([[1 + 6e-11, 10.0], [1 - 6e-11, 20.0], [1.0, 30.0]])
    s = clone(SteadyScaler()).fit(X)
    assert s.scale_[0] == 1.0 and s.scale_[1] == pytest.approx(np.std([10, 20, 30]))
    out = s.transform(X)
    assert np.abs(out[:, 0]).max() < 1e-10                     # StandardScaler would give ±1.22
    assert out[:, 1] == pytest.approx([-1.224744871, 0.0, 1.224744871])
