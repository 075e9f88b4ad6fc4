"""Time the whole model comparison (all zoo models incl. the stacked one) at Online Retail scale.

Run: ``python benchmarks/bench_models.py [--synthetic] [--cv K]``.

Default: the real Online Retail 90-day out-of-time churn data (about 3-4 thousand customers x ~30 features per
cutoff), with the BG/NBD expected-purchases score as a baseline row. ``--synthetic`` (or a missing dataset)
uses a generated 4,300 x 30 table instead. Target: the comparison (TensorFlow import included) in <= 60 s
on 2 cores; for churn, the best model's ROC AUC >= the BG/NBD baseline's + 0.02.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import models  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"


def online_retail(horizon: int = 90):
    """Out-of-time churn split of Online Retail plus the BG/NBD score baseline."""
    from pipeline.churn import LABEL, baseline_churn_score, out_of_time_split
    from pipeline.ingest import clean_file

    cleaned = clean_file(DATA)
    split = out_of_time_split(cleaned.transactions, cleaned.returns, horizon)
    base = models.ScoreBaseline("BG/NBD expected purchases (baseline)",
                                test_score=baseline_churn_score(split.X_test),
                                train_score=baseline_churn_score(split.X_train))
    name = f"Online Retail churn (H={horizon}, target '{LABEL}')"
    return name, split.X_train, split.y_train, split.X_test, split.y_test, {"bgnbd": base}


def synthetic(n: int = 4300, seed: int = 0):
    """4,300 x 30: 27 numeric columns (8 informative), a skewed 37-level 'country', two small categoricals."""
    from sklearn.datasets import make_classification

    Xn, y = make_classification(n_samples=n, n_features=27, n_informative=8, n_redundant=4, weights=[0.65],
                                flip_y=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(27)])
    X["country"] = rng.choice([f"C{i}" for i in range(37)], size=n, p=np.r_[0.6, np.full(36, 0.4 / 36)])
    X["channel"] = np.where(Xn[:, 0] + rng.normal(0, 1, n) > 0, "web", "store")
    X["tier"] = rng.choice(["a", "b", "c"], size=n)
    cut = int(0.75 * n)
    return "synthetic 4,300 x 30", X.iloc[:cut], y[:cut], X.iloc[cut:], y[cut:], {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--cv", type=int, default=None, help="also run k-fold CV on the training set")
    args = parser.parse_args()
    t0 = time.perf_counter()
    use_real = DATA.exists() and not args.synthetic
    name, X_tr, y_tr, X_te, y_te, extra = online_retail() if use_real else synthetic()
    print(f"{name}: train {X_tr.shape[0]:,} x {X_tr.shape[1]}, test {X_te.shape[0]:,} x {X_te.shape[1]} "
          f"(data prepared in {time.perf_counter() - t0:.1f} s)")
    start = time.perf_counter()
    result = models.train_and_evaluate(
        X_tr, y_tr, X_te, y_te, list(models.REGISTRY), cv_folds=args.cv, extra_baseline_scores=extra,
        progress_callback=lambda step, total, label: print(f"  [{step}/{total}] {label}", flush=True))
    total = time.perf_counter() - start
    cols = ["model", "train_s", "predict_s", "roc_auc", "pr_auc", "balanced_accuracy", "f1", "brier"]
    cols += [c for c in result.table.columns if c.startswith("cv_")]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.table[cols].round(4).to_string())
    print(f"whole comparison ({len(result.table)} rows, TensorFlow import included): {total:.1f} s "
          f"(target <= 60 s on 2 cores; {os.cpu_count()} cores visible)")
    best = result.table.loc[result.best]
    print(f"best model: {best['model']} ROC AUC {best['roc_auc']:.4f}")
    if "bgnbd" in result.table.index:
        margin = best["roc_auc"] - result.table.loc["bgnbd", "roc_auc"]
        print(f"BG/NBD baseline ROC AUC {result.table.loc['bgnbd', 'roc_auc']:.4f}; best - baseline = {margin:+.4f} "
              f"(target >= +0.02)")


if __name__ == "__main__":
    main()
