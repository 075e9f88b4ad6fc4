"""Model lab orchestration: churn / column / segment comparisons, saved models, the active model, the CLI."""
from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import dataset
from pipeline.models import lab, saved
from pipeline import models as zoo
from pipeline.churn import baseline_churn_score, out_of_time_split
from pipeline.cli import main
from pipeline.errors import DataError
from pipeline.health.live import live_model, load_live, put_live
from pipeline.models.persist import data_hash
from pipeline.ingest import generate_raw, generate_transactions
from pipeline.store import Dataset, Workspace

TINY = zoo.ZooSettings(forest_trees=20, xgb_trees=30, keras_epochs=3, keras_hidden=(8,))
FAST = ["logreg", "tree", "xgboost"]


@pytest.fixture(scope="module")
def shop():
    """400 synthetic customers over two years (cleaned transactions, returns)."""
    return generate_transactions(n_customers=400, seed=1)


@pytest.fixture(scope="module")
def churn(shop):
    calls = []
    result = lab.run_churn_comparison(*shop, horizon=60, models=FAST, progress=lambda *a: calls.append(a),
                                      settings=TINY)
    return result, calls


@pytest.fixture(scope="module")
def mall():
    raw = pd.read_csv(dataset("Mall_Customers.csv"), dtype={"CustomerID": str})
    return raw.rename(columns={"CustomerID": "customer_id"})


# -- churn ----------------------------------------------------------------------------------------------------

def test_churn_table_has_both_baselines_and_out_of_time_cutoffs(shop, churn):
    result, _ = churn
    table = result.table
    assert list(table.index) == ["majority", *FAST, lab.BASELINE_KEY]
    assert table.loc[["majority", lab.BASELINE_KEY], "baseline"].all() and not table.loc[FAST, "baseline"].any()
    end = shop[0]["date"].max().normalize() + pd.Timedelta(days=1)
    assert result.settings["cutoff"] == str((end - pd.Timedelta(days=60)).date())
    assert result.settings["train_cutoff"] == str((end - pd.Timedelta(days=120)).date())
    assert result.kind == "churn" and result.target == "churned"
    assert result.notes and "BG/NBD" in result.notes[0]


def test_churn_baseline_auc_is_the_bgnbd_score_auc(shop, churn):
    result, _ = churn
    split = out_of_time_split(*shop, 60)
    expected = roc_auc_score(split.y_test, baseline_churn_score(split.X_test))
    assert result.table.loc[lab.BASELINE_KEY, "roc_auc"] == pytest.approx(expected)
    assert result.table.loc["majority", "roc_auc"] == pytest.approx(0.5)
    assert result.table.loc[result.best, "roc_auc"] > 0.6


def test_progress_one_step_per_model_then_importance(churn):
    result, calls = churn
    total = len(FAST) + 3                       # + majority, BG/NBD score, importance
    assert all(t == total for _, t, _ in calls)
    steps = [s for s, _, _ in calls]
    assert steps == sorted(steps) and calls[-1] == (total, total, "done")
    assert [label for *_, label in calls].count("done") == 1
    assert any(label.startswith("Permutation importance") for *_, label in calls)
    assert set(result.importance["feature"]) == set(result.X_test.columns)


def test_churn_custom_cutoff_and_too_long_horizon(shop):
    result = lab.run_churn_comparison(*shop, horizon=30, cutoff="2024-09-01", models=["logreg"], settings=TINY)
    assert (result.settings["cutoff"], result.settings["train_cutoff"]) == ("2024-09-01", "2024-08-02")
    with pytest.raises(DataError, match="horizon 400 days is longer than the data"):
        lab.run_churn_comparison(*shop, horizon=400, models=["logreg"], settings=TINY)


# -- customer-table column ---------------------------------------------------------------------------------------

def test_default_features_skip_ids_target_and_empty_columns():
    n = 30
    table = pd.DataFrame({"customer_id": [str(i) for i in range(n)], "email": [f"u{i}@x" for i in range(n)],
                          "age": np.arange(n), "city": ["a", "b", "c"] * 10, "blank": [None] * n, "y": [0, 1] * 15})
    assert lab.default_features(table, "y") == ["age", "city"]


def test_mall_customers_genre(mall):
    result = lab.run_table_comparison(mall, "Genre", models=["logreg", "forest"], settings=TINY)
    assert result.train.labels == ["Female", "Male"]
    assert result.settings["features"] == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert list(result.table.index) == ["majority", "logreg", "forest"]
    assert (len(result.X_train), len(result.X_test)) == (150, 50)
    assert result.table.loc["majority", "accuracy"] == pytest.approx(28 / 50)      # 112 of 200 are female


def test_in_vehicle_coupon_y_with_unsafe_category_names():
    raw = pd.read_csv(dataset("in-vehicle-coupon-recommendation.csv")).sample(1500, random_state=0)
    table = raw.assign(customer_id=[str(i) for i in range(len(raw))])
    result = lab.run_table_comparison(table, "Y", models=["logreg", "xgboost"], settings=TINY)
    assert "car" in result.settings["features"] and "Y" not in result.settings["features"]
    assert result.table.loc["xgboost", "roc_auc"] > 0.65      # coupon type and context predict acceptance


def test_segmentation_codes_as_categories():
    raw = pd.read_csv(dataset("segmentation data.csv"), encoding="utf-8-sig")
    table = raw.rename(columns={"ID": "customer_id"}).astype({"customer_id": str})
    result = lab.run_table_comparison(table, "Settlement size", models=["logreg"],
                                      categorical=["Occupation", "Education"], settings=TINY)
    types = result.train.feature_types
    assert types["Occupation"] == types["Education"] == "categorical" and types["Income"] == "numeric"
    assert result.train.labels == [0, 1, 2] and result.table.loc["logreg", "roc_auc"] > 0.7
    with pytest.raises(DataError, match="both numeric and categorical"):
        lab.run_table_comparison(table, "Sex", numeric=["Age"], categorical=["Age"], settings=TINY)


@pytest.mark.parametrize("target, kwargs, message", [
    ("one", {}, "only one class"),
    ("many", {}, "distinct values"),
    ("name", {"features": ["name", "x"]}, "also among the features"),
    ("cls", {"features": ["code"], "numeric": ["code"]}, "set to numeric"),
    ("missing", {}, "not in the table"),
    ("cls", {"features": []}, "No features"),
])
def test_table_bad_input(target, kwargs, message):
    n = 120
    table = pd.DataFrame({"customer_id": [str(i) for i in range(n)], "x": np.arange(n) % 7, "one": ["a"] * n,
                          "many": np.arange(n), "name": ["p", "q"] * 60, "cls": ["u", "v", "w"] * 40,
                          "code": ["1", "2", "n/a"] * 40})
    with pytest.raises(DataError, match=message):
        lab.run_table_comparison(table, target, models=["logreg"], settings=TINY, **kwargs)


def test_too_few_rows():
    table = pd.DataFrame({"customer_id": list("abcdefgh"), "x": range(8), "y": [0, 1] * 4})
    with pytest.raises(DataError, match="at least"):
        lab.run_table_comparison(table, "y", models=["logreg"], settings=TINY)


# -- RFM segment --------------------------------------------------------------------------------------------------

def test_segment_target_drops_leaky_features_and_warns(shop):
    result = lab.run_segment_comparison(*shop, models=["logreg"], settings=TINY)
    assert not set(lab.SEGMENT_LEAKY_FEATURES) & set(result.X_train.columns)
    assert "monetary" in result.X_train.columns and "computed from the R" in result.notes[0]
    assert "Champions" in result.train.labels
    kept = lab.run_segment_comparison(*shop, models=["logreg"], drop_leaky=False, settings=TINY)
    assert {"recency_days", "frequency"} <= set(kept.X_train.columns) and kept.notes[0].startswith("Leakage")


# -- saved models --------------------------------------------------------------------------------------------------

def test_save_list_load_activate_delete(shop, churn):
    result, _ = churn
    ws = Workspace("lab")
    ds = Dataset("ds1", "shop", "transactions", transactions=shop[0], returns=shop[1])
    mid = saved.save_lab_model(ws, result, "xgboost", "Churn XGB 60d!", ds)
    assert mid == "Churn-XGB-60d"
    [row] = saved.list_models(ws)
    assert row["name"] == "Churn XGB 60d!" and row["kind"] == "churn" and row["dataset"] == "shop"
    assert row["roc_auc"] == pytest.approx(result.table.loc["xgboost", "roc_auc"]) and not row["live"]
    pipe, meta = saved.load_lab_model(ws, mid)
    X = result.X_test[list(result.train.feature_types)]
    np.testing.assert_allclose(pipe.predict_proba(X), result.train.proba["xgboost"], rtol=1e-6)
    assert meta.target == "churned" and list(meta.features) == list(result.X_train.columns)
    assert meta.data_hash == data_hash(result.X_train, result.y_train)
    assert meta.extra["settings"]["horizon"] == 60 and meta.versions["xgboost"]

    assert meta.extra["baselines"]["bgnbd"]["roc_auc"] == pytest.approx(result.table.loc["bgnbd", "roc_auc"])

    assert load_live(ws, ds.id) is None
    put_live(ws, ds, mid, confirmed=True)
    assert live_model(Workspace("lab"), ds.id).model_id == mid                    # survives a reload
    active_pipe, active_meta = load_live(Workspace("lab"), ds.id)
    assert active_meta.model_key == "xgboost" and saved.list_models(ws, mid)[0]["live"]
    scores = saved.score_dataset(active_pipe, active_meta, ds)
    assert len(scores) == shop[0]["customer_id"].nunique() and list(scores.columns) == ["predicted", "p_0", "p_1"]

    with pytest.raises(DataError, match="is the live model"):           # the live model cannot vanish underneath
        saved.delete_model(ws, mid)
    saved.save_lab_model(ws, result, "logreg", "other", ds)
    put_live(ws, ds, "other", confirmed=True)
    saved.delete_model(ws, mid)
    assert [m["id"] for m in saved.list_models(ws)] == ["other"] and live_model(ws, ds.id).model_id == "other"


@pytest.mark.parametrize("key, name, message", [
    ("bgnbd", "x", "a score, not a fitted model"),
    ("svm", "x", "not in this comparison"),
    ("logreg", "  ?! ", "Give the model a name"),
])
def test_save_refuses_and_writes_nothing(churn, key, name, message):
    ws = Workspace("lab2")
    with pytest.raises(DataError, match=message):
        saved.save_lab_model(ws, churn[0], key, name)
    assert list(ws.models_dir.iterdir()) == []


def test_save_refuses_taken_name_and_bad_ids(churn):
    ws = Workspace("lab3")
    saved.save_lab_model(ws, churn[0], "logreg", "m1")
    with pytest.raises(DataError, match="already exists"):
        saved.save_lab_model(ws, churn[0], "tree", "m1")
    with pytest.raises(DataError, match="not valid"):
        saved.load_lab_model(ws, "../m1")
    with pytest.raises(DataError, match="looks like a retrain version"):
        saved.save_lab_model(ws, churn[0], "tree", "v2")


def test_table_model_scores_customer_table(mall):
    result = lab.run_table_comparison(mall, "Genre", models=["logreg"], settings=TINY)
    ws = Workspace("lab4")
    mid = saved.save_lab_model(ws, result, "logreg", "genre")
    pipe, meta = saved.load_lab_model(ws, mid)
    scores = saved.score_dataset(pipe, meta, Dataset("m", "mall", "customers", customers=mall))
    assert len(scores) == 200 and set(scores["predicted"]) <= {"Female", "Male"}
    with pytest.raises(DataError, match="lacks the model's feature columns"):
        saved.score_dataset(pipe, meta, Dataset("m", "mall", "customers", customers=mall.drop(columns="Age")))


def test_curve_frames(churn):
    result, _ = churn
    roc = lab.curve_frame(result, "roc")
    assert set(roc["model"]) == set(result.table["model"]) and set(roc["class"]) == {"1"}
    cal = lab.curve_frame(result, "calibration")
    assert "BG/NBD expected purchases (baseline)" not in set(cal["model"])    # a score has no probabilities
    with pytest.raises(DataError):
        lab.curve_frame(result, "lift")


# -- CLI --------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "shop.csv"
    generate_raw(n_customers=300, seed=2).to_csv(path, index=False)
    return path


def test_cli_churn_json(shop_csv, capsys):
    assert main(["churn", str(shop_csv), "--horizon", "60", "--models", "logreg,tree", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in out["table"]}
    assert list(rows) == ["majority", "logreg", "tree", "bgnbd"]
    assert rows["bgnbd"]["baseline"] and rows["majority"]["baseline"] and not rows["tree"]["baseline"]
    assert rows["bgnbd"]["train_s"] is None and 0 <= rows["logreg"]["roc_auc"] <= 1
    assert out["settings"]["horizon"] == 60 and out["info"]["test"]["btyd_fit_note"]


def test_cli_train_json_and_bad_input(capsys):
    path = str(dataset("Mall_Customers.csv"))
    assert main(["train", path, "--target", "Genre", "--models", "logreg", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in out["table"]] == ["majority", "logreg"] and out["target"] == "Genre"
    assert main(["train", path, "--target", "Age", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "distinct values" in err[0]


def test_cli_churn_horizon_too_long_exit_2(shop_csv, capsys):
    assert main(["churn", str(shop_csv), "--horizon", "500", "--models", "logreg"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "longer than the data" in err[0]


# -- the plain sentence and the model in use ------------------------------------------------------------------

def _hand_result(kind: str = "churn"):
    """Six test customers; churned = 1, 1, 1, 0, 0, 0. The model's two riskiest are churners 0 and 1; the
    baseline's two riskiest are customers 3 (bought again) and 0 (churned)."""
    from types import SimpleNamespace

    y = np.array([1, 1, 1, 0, 0, 0])
    model = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.05])
    base = np.array([0.7, 0.1, 0.2, 0.8, 0.3, 0.4])
    table = pd.DataFrame({"model": ["Majority class (baseline)", "XGBoost", "BG/NBD expected purchases (baseline)"],
                          "balanced_accuracy": [0.5, 0.75, 0.6]}, index=["majority", "xgboost", "bgnbd"])
    train = SimpleNamespace(y_test=y, labels=[0, 1], proba={"xgboost": np.c_[1 - model, model], "bgnbd": base})
    return SimpleNamespace(kind=kind, best="xgboost", table=table, train=train,
                           settings={"horizon": 90, "cutoff": "2024-10-01"})


def test_headline_counts_churners_among_the_riskiest_by_hand():
    from pipeline.config import LabConfig

    h = lab.headline(_hand_result(), LabConfig(headline_top=2))
    assert (h["k"], h["n_model"], h["n_baseline"]) == (2, 2, 1)
    assert h["sentence"] == ("Of the 2 customers XGBoost ranks riskiest, 2 did not buy again in the 90 days after "
                             "2024-10-01, against 1 for the BG/NBD baseline.")
    assert lab.headline(_hand_result(), LabConfig(headline_top=500))["k"] == 6          # at most the test rows
    other = lab.headline(_hand_result("column"))
    assert other["sentence"] == ("XGBoost, the best model here, gets a balanced accuracy of 75% on the test rows, "
                                 "against 50% for always guessing the most common class.")


def test_headline_of_a_real_comparison_matches_its_test_predictions(churn):
    result, _ = churn
    h = lab.headline(result)
    y = (result.train.y_test == result.train.labels[1])
    k = min(500, len(y))
    riskiest = np.argsort(-result.train.proba[result.best][:, 1], kind="stable")[:k]
    assert h["k"] == k and abs(h["n_model"] - int(y[riskiest].sum())) <= 1      # ties may split a count
    assert h["sentence"].startswith(f"Of the {k:,} customers ") and "for the BG/NBD baseline" in h["sentence"]


def test_live_model_is_named_the_same_default_or_saved(shop, churn):
    ws = Workspace("in-use")
    ds = Dataset("ds-in-use", "shop", "transactions", transactions=shop[0], returns=shop[1])
    assert live_model(ws, ds.id).sentence().endswith(": Default churn model (logistic regression).")
    mid = saved.save_lab_model(ws, churn[0], "logreg", "churn lr", ds)
    put_live(ws, ds, mid, confirmed=True)
    assert live_model(ws, ds.id).sentence().endswith(": Logistic regression 'churn lr' (churn-lr).")

def test_verdicts_one_line_per_model_against_the_best_simple_rule(churn):
    result, _ = churn
    lines = lab.verdicts(result)
    assert len(lines) == len(FAST)
    rule = result.table.loc[["majority", lab.BASELINE_KEY], "roc_auc"].max()
    for key, line in zip(FAST, lines):
        assert line.startswith(f"{result.table.loc[key, 'model']}: ")
        won = result.table.loc[key, "roc_auc"] > rule
        assert line.endswith("— use it" if won else "— keep the rule")
    assert lab.verdict("M", 0.933, "BG/NBD", 0.903, "roc_auc") == \
        "M: beats the simple rule (BG/NBD) by 0.030 ROC AUC — use it"
    assert lab.verdict("M", 0.896, "BG/NBD", 0.903, "roc_auc") == \
        "M: does not beat the simple rule (BG/NBD: ROC AUC 0.896 vs 0.903) — keep the rule"
