"""Churn features + labels on Online Retail and the BG/NBD expected-purchases baseline (90-day, out-of-time).

Run: ``python benchmarks/bench_churn_features.py [HORIZON_DAYS]``. Expected: features in well under 2 s; one
customer's features + BTYD summary (what the service computes per rescored customer) in a few tens of ms;
baseline ROC AUC about 0.73 (the model lab must beat it by 0.02).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.churn import baseline_churn_score, out_of_time_split  # noqa: E402
from pipeline.clv import btyd_summary  # noqa: E402
from pipeline.features import customer_features  # noqa: E402
from pipeline.ingest import clean_file  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"


def one_customer(tx, returns, cid: str, n: int = 50) -> float:
    """Median seconds of what the service computes when it rescores one customer: features and BTYD summary."""
    lines, returned = tx[tx["customer_id"] == cid], returns[returns["customer_id"] == cid]
    as_of = lines["date"].max().normalize() + pd.Timedelta(days=1)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        customer_features(lines, returned, as_of)
        btyd_summary(lines, as_of)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(horizon: int = 90) -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} not found")
    t0 = time.perf_counter()
    cleaned = clean_file(DATA)
    tx, returns = cleaned.transactions, cleaned.returns
    t1 = time.perf_counter()
    feats = customer_features(tx, returns)
    t2 = time.perf_counter()
    split = out_of_time_split(tx, returns, horizon)
    t3 = time.perf_counter()
    print(f"Online Retail: {len(tx):,} lines, {len(returns):,} return lines (clean {t1 - t0:.2f} s)")
    print(f"customer_features (all {len(feats):,} customers, {feats.shape[1]} columns): {t2 - t1:.3f} s")
    print(f"one customer (features + BTYD summary of customer 12347's lines, median of 50): "
          f"{one_customer(tx, returns, '12347') * 1000:.1f} ms")
    print(f"out_of_time_split H={horizon}: train + test + live features, labels and 3 BTYD fits: {t3 - t2:.2f} s")
    for name, X, y in (("train", split.X_train, split.y_train), ("test", split.X_test, split.y_test)):
        info = split.info[name]
        score = baseline_churn_score(X)
        print(f"  {name}: cutoff {info['cutoff']}, labels {info['label_window'][0]}..{info['label_window'][1]}, "
              f"{len(y):,} customers, churn rate {y.mean():.3f}, BG/NBD baseline ROC AUC "
              f"{roc_auc_score(y, score):.4f}, PR AUC {average_precision_score(y, score):.4f}")
    print(f"  live: {len(split.X_live):,} customers as of {split.info['live']['as_of']}")
    print(f"BTYD note (test): {split.info['test']['btyd_fit_note']}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 90)
