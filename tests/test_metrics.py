"""Metric functions against scikit-learn and hand counts on fixed, hand-written predictions."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from pipeline.errors import DataError
from pipeline.models.metrics import METRIC_COLUMNS, classification_metrics

# 10 rows, binary, string labels; labels are passed explicitly so that "churn" is the positive (second)
# class although it sorts first.
Y_TRUE = np.array(["stay", "churn", "churn", "stay", "stay", "churn", "stay", "stay", "churn", "stay"])
P_CHURN = np.array([0.10, 0.80, 0.40, 0.30, 0.60, 0.90, 0.20, 0.05, 0.70, 0.45])
LABELS = ["stay", "churn"]


def _binary():
    proba = np.column_stack([1 - P_CHURN, P_CHURN])
    y_pred = np.where(P_CHURN >= 0.5, "churn", "stay")
    return y_pred, proba


def test_binary_matches_hand_counts_and_sklearn():
    y_pred, proba = _binary()
    rep = classification_metrics(Y_TRUE, y_pred, proba, LABELS)
    s = rep.scores
    # hand counts with churn positive: TP=3 (rows 1,5,8), FN=1 (row 2), FP=1 (row 4), TN=5
    assert rep.confusion.loc["churn", "churn"] == 3 and rep.confusion.loc["churn", "stay"] == 1
    assert rep.confusion.loc["stay", "churn"] == 1 and rep.confusion.loc["stay", "stay"] == 5
    assert s["accuracy"] == pytest.approx(0.8)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["specificity"] == pytest.approx(5 / 6)
    assert s["balanced_accuracy"] == pytest.approx((3 / 4 + 5 / 6) / 2)
    hit = Y_TRUE == "churn"
    assert s["f1"] == pytest.approx(skm.f1_score(hit, y_pred == "churn"))
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(hit, P_CHURN))
    assert s["roc_auc"] == pytest.approx(22 / 24)  # 2 discordant pairs: churn 0.40 < stay 0.45, 0.60
    assert s["pr_auc"] == pytest.approx(skm.average_precision_score(hit, P_CHURN))
    assert s["mcc"] == pytest.approx(skm.matthews_corrcoef(Y_TRUE, y_pred))
    assert s["brier"] == pytest.approx(skm.brier_score_loss(hit, P_CHURN))
    assert s["brier"] == pytest.approx(np.mean((P_CHURN - hit) ** 2))
    assert list(s) == list(METRIC_COLUMNS)


def test_binary_curves_match_sklearn():
    y_pred, proba = _binary()
    rep = classification_metrics(Y_TRUE, y_pred, proba, LABELS, n_bins=2)
    fpr, tpr, _ = skm.roc_curve(Y_TRUE == "churn", P_CHURN)
    np.testing.assert_allclose(rep.roc["fpr"], fpr)
    np.testing.assert_allclose(rep.roc["tpr"], tpr)
    precision, recall, _ = skm.precision_recall_curve(Y_TRUE == "churn", P_CHURN)
    np.testing.assert_allclose(rep.pr["precision"], precision)
    assert set(rep.roc["class"]) == {"churn"}
    # two bins: [0, .5) holds 6 rows with 1 churner; [.5, 1] holds 4 rows with 3 churners
    np.testing.assert_allclose(rep.calibration["fraction_positive"], [1 / 6, 3 / 4])


Y3 = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 1, 0])
P3 = np.array([
    [0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.6, 0.1, 0.3],
    [0.2, 0.2, 0.6], [0.1, 0.8, 0.1], [0.4, 0.4, 0.2], [0.3, 0.5, 0.2], [0.2, 0.3, 0.5], [0.8, 0.1, 0.1],
])


def test_multiclass_macro_matches_sklearn():
    y_pred = P3.argmax(axis=1)
    rep = classification_metrics(Y3, y_pred, P3, [0, 1, 2])
    s = rep.scores
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(Y3, y_pred))
    assert s["precision"] == pytest.approx(skm.precision_score(Y3, y_pred, average="macro"))
    assert s["recall"] == pytest.approx(skm.recall_score(Y3, y_pred, average="macro"))
    assert s["f1"] == pytest.approx(skm.f1_score(Y3, y_pred, average="macro"))
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(Y3, P3, multi_class="ovr", average="macro"))
    onehot = label_binarize(Y3, classes=[0, 1, 2])
    assert s["pr_auc"] == pytest.approx(skm.average_precision_score(onehot, P3, average="macro"))
    assert s["mcc"] == pytest.approx(skm.matthews_corrcoef(Y3, y_pred))
    assert s["brier"] == pytest.approx(skm.brier_score_loss(Y3, P3, labels=[0, 1, 2]))
    assert s["brier"] == pytest.approx(np.mean(np.sum((P3 - onehot) ** 2, axis=1)))
    cm = skm.confusion_matrix(Y3, y_pred)
    spec = [(cm.sum() - cm[:, k].sum() - cm[k].sum() + cm[k, k]) / (cm.sum() - cm[k].sum()) for k in range(3)]
    assert s["specificity"] == pytest.approx(np.mean(spec))
    assert rep.confusion.to_numpy().tolist() == cm.tolist()
    assert sorted(set(rep.roc["class"])) == ["0", "1", "2"]


def test_score_only_baseline_has_rank_metrics_but_no_brier():
    y_pred = np.where(P_CHURN >= 0.5, "churn", "stay")
    rep = classification_metrics(Y_TRUE, y_pred, None, LABELS, score=P_CHURN * 7 - 3)  # any monotone score
    assert rep.scores["roc_auc"] == pytest.approx(22 / 24)
    assert math.isnan(rep.scores["brier"])
    assert rep.calibration.empty


def test_single_class_test_set_gives_nan_auc_not_a_crash():
    y = np.array(["stay"] * 4)
    rep = classification_metrics(y, y, np.tile([0.9, 0.1], (4, 1)), LABELS)
    assert math.isnan(rep.scores["roc_auc"]) and rep.scores["accuracy"] == 1.0


def test_bad_shapes_and_unknown_labels_raise_data_error():
    y_pred, proba = _binary()
    with pytest.raises(DataError, match="shape"):
        classification_metrics(Y_TRUE, y_pred, proba[:, :1], LABELS)
    with pytest.raises(DataError, match="not among"):
        classification_metrics(Y_TRUE, y_pred, proba, ["stay", "gone"])
    with pytest.raises(DataError, match="one prediction per row"):
        classification_metrics(Y_TRUE, y_pred[:3], None, LABELS)
