"""Recommender benchmark: hit-rate@K on Online Retail (out-of-time) against top sellers and buy-again, fit time
and one customer's top-K latency. Run: ``python benchmarks/bench_recommend.py``.

The campaign export and the learned coupon policy are measured end to end in ``bench_lookup.py``.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import recommend as rc  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"


def bench_recommend() -> None:
    path = DATA / "online_retail.csv"
    if not path.exists():
        print(f"recommend: skipped, {path} not found")
        return
    from pipeline.ingest import clean_file

    tx = clean_file(path).transactions
    for repeats in (True, False):
        t0 = time.perf_counter()
        table = rc.hit_rate_at_k(tx, horizon_days=90, k=(5, 10), include_repeats=repeats)
        print(f"recommend: Online Retail, product level, {table['mode'].iloc[0]}, cutoff "
              f"{table['cutoff'].iloc[0]:%Y-%m-%d} + 90 d, {table['customers'].iloc[0]:,} customers, "
              f"{table['items'].iloc[0]:,} items ({time.perf_counter() - t0:.1f} s)")
        print(table.pivot(index="method", columns="k", values="hit_rate").round(3).to_string())
    t0 = time.perf_counter()
    model = rc.ItemRecommender().fit(tx)
    fit_s = time.perf_counter() - t0
    ids = model.customers_[:200]
    lat = []
    for c in ids:
        t0 = time.perf_counter()
        model.top_k(c, 5)
        lat.append((time.perf_counter() - t0) * 1000)
    print(f"recommend: fit on all {len(tx):,} lines {fit_s:.2f} s; top_k for one customer p50 {np.median(lat):.1f} ms, "
          f"p95 {np.percentile(lat, 95):.1f} ms")
    from pipeline.ingest import generate_transactions

    stx = generate_transactions(5000, seed=0)[0]
    table = rc.hit_rate_at_k(stx, horizon_days=90, k=(1, 3))
    print("recommend: synthetic sample, category level (8 categories), include repeats")
    print(table.pivot(index="method", columns="k", values="hit_rate").round(3).to_string())


if __name__ == "__main__":
    bench_recommend()
