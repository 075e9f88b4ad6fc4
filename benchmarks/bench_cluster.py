"""Clustering benchmarks (issue 3). Run: python benchmarks/bench_cluster.py [--skip-1m] [--skip-sweep] [--skip-seq]

1. K-Means on 1,000,000 customers x 3 features (synthetic RFM-like, log1p + standardised), k = 5: the pipeline's
   fast path (K-Means++ seeds from a 50k sample, one Lloyd run on all rows) against scikit-learn's KMeans with
   4 restarts, both timed; plus building the matrix, the PCA map and the metrics. Target: <= 5 s.
2. The k sweep (k = 2..10: inertia, silhouette on <= 10k, Davies-Bouldin, Calinski-Harabasz) on Online Retail's
   4,338 customers: RFM (3 features), and 8 behavioural features from pipeline.features. Target: <= 10 s.
3. GRU sequence autoencoder + K-Means vs K-Means on RFM on Online Retail (pipeline.cluster.sequences.compare_with_rfm,
   defaults: 12 monthly periods, 40 epochs, 3 seeds). Target: <= 60 s.

The machine's load average is printed with each figure: on the shared 2-core box other jobs slow everything down.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RETAIL, parts_arguments  # noqa: E402

FEATURES8 = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "mean_days_between",
             "n_products", "avg_basket_lines"]


def load() -> str:
    return "load avg {:.1f}".format(os.getloadavg()[0])


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench_1m() -> None:
    from sklearn.cluster import KMeans

    from pipeline.cluster import cluster_metrics, fit_clusters, map_coordinates, prepare_matrix

    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame({"recency_days": rng.gamma(1.2, 80, n).round(), "frequency": rng.poisson(3, n) + 1.0,
                       "monetary": rng.lognormal(6, 1.1, n)})
    (X, tf), t_prep = timed(lambda: prepare_matrix(df, list(df.columns)))
    fit, t_fit = timed(lambda: fit_clusters(X, "kmeans", 5, random_state=0))
    ref, t_ref = timed(lambda: KMeans(5, n_init=4, random_state=0).fit(X))
    inertia = float(((X - fit.centroids[fit.labels]) ** 2).sum())
    _, t_map = timed(lambda: map_coordinates(X, fit.labels))
    m, t_metrics = timed(lambda: cluster_metrics(X, fit.labels))
    print(f"[1] K-Means 1,000,000 x 3, k=5: fit_clusters {t_fit:.2f} s (target <= 5 s) | "
          f"sklearn KMeans n_init=4 {t_ref:.2f} s | inertia ratio ours/ref {inertia / ref.inertia_:.4f} | "
          f"{load()}")
    print(f"    prepare_matrix (log1p {tf.log_cols_}, standardise) {t_prep:.2f} s | PCA map {t_map:.2f} s | "
          f"metrics {t_metrics:.2f} s (silhouette {m['silhouette']:.3f} on 10k, DB {m['davies_bouldin']:.3f}, "
          f"CH {m['calinski_harabasz']:,.0f}) | sizes {np.bincount(fit.labels).tolist()}")


def retail_transactions() -> pd.DataFrame:
    from pipeline.ingest import clean_file

    if not RETAIL.exists():
        sys.exit(f"missing {RETAIL}")
    result, t = timed(lambda: clean_file(RETAIL))
    tx = result.transactions
    print(f"    (Online Retail read + cleaned in {t:.1f} s: {len(tx):,} lines, {tx['customer_id'].nunique():,} "
          "customers; not part of the timings below)")
    return tx


def bench_sweep(tx: pd.DataFrame) -> None:
    from pipeline.cluster import prepare_matrix, select_k
    from pipeline.features import customer_features
    from pipeline.rfm import rfm_table

    rfm = rfm_table(tx)
    X, tf = prepare_matrix(rfm, ["recency_days", "frequency", "monetary"])
    sweep, t = timed(lambda: select_k(X))
    print(f"[2] k sweep 2..10 on Online Retail RFM ({len(X):,} x {X.shape[1]}, log1p + standardised): "
          f"{t:.2f} s (target <= 10 s) | {load()}")
    print(sweep.table.round(3).to_string(index=False))
    print(f"    recommended: {sweep.reason}")
    feats = customer_features(tx)
    X8, _ = prepare_matrix(feats, FEATURES8)
    sweep8, t8 = timed(lambda: select_k(X8))
    print(f"    8 behavioural features ({len(X8):,} x {X8.shape[1]}): {t8:.2f} s | {load()} | {sweep8.reason}")


def bench_sequences(tx: pd.DataFrame) -> None:
    from pipeline.lazy import keras
    from pipeline.cluster.sequences import compare_with_rfm

    t0 = time.perf_counter()
    keras()  # the TensorFlow import, timed separately

    t_import = time.perf_counter() - t0
    cmp, t = timed(lambda: compare_with_rfm(tx))
    s = cmp.seconds
    print(f"[3] GRU autoencoder + K-Means vs K-Means on RFM, Online Retail, 3 seeds x 40 epochs: {t:.1f} s "
          f"(target <= 60 s; + {t_import:.1f} s TensorFlow import) | {load()}")
    print(f"    sequences + RFM {s['prepare']:.1f} s | 3 networks + K-Means {s['autoencoders']:.1f} s | "
          f"K-Means on RFM x3 {s['rfm_kmeans']:.2f} s | final losses "
          + ", ".join(f"{h[-1]:.4f}" for h in cmp.loss_history))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(cmp.table.set_index("method").T.to_string(float_format=lambda v: f"{v:,.3f}"))
        print(cmp.per_cluster.round(3).to_string(index=False))


def main() -> None:
    args = parts_arguments(__doc__, ("1m", "sweep", "seq"))
    if not args.skip_1m:
        bench_1m()
    if not (args.skip_sweep and args.skip_seq):
        tx = retail_transactions()
        if not args.skip_sweep:
            bench_sweep(tx)
        if not args.skip_seq:
            bench_sequences(tx)


if __name__ == "__main__":
    main()
