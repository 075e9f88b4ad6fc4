"""Customer-table embeddings benchmark (issue 15).

Run: python benchmarks/bench_table_embeddings.py [--methods gru,lstm,dense] [--only explore|compare]

1. Exploration of CC GENERAL (8,950 customers x 17 columns, median-filled, standardised): column stats, correlation,
   PCA variance and the K-Means sweeps k = 2..10 on the table and on 2 principal components. Prints the reference
   figures: silhouette 0.205 / 0.252 / 0.196 (k = 2 / 3 / 4) on the table, 0.462 / 0.456 / 0.405 on PCA-2,
   cumulative variance 0.476 / 0.639 / 0.759 for 2 / 4 / 6 components (to 0.01).
2. The full comparison (pipeline.cluster.table_embeddings.compare_table_embeddings: K-Means on the table, K-Means
   on PCA-2, GRU encoder, LSTM encoder and dense autoencoder + K-Means, k = 4, 3 seeds; the app's and CLI's default
   is GRU + dense), in a fresh process so the TensorFlow import is counted. Target: <= 90 s on 2 cores. Prints the
   table and the verdict.

The machine's load average is printed with each figure: on the shared 2-core box other jobs slow everything down.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CC = ROOT.parent / "shared" / "datasets" / "CC GENERAL.csv"
REFERENCE = {"silhouette": [0.205, 0.252, 0.196], "silhouette_pca": [0.462, 0.456, 0.405],
             "cumulative": [0.476, 0.639, 0.759]}


def load() -> str:
    return "load avg {:.1f}".format(os.getloadavg()[0])


def read_cc() -> pd.DataFrame:
    return pd.read_csv(CC).rename(columns={"CUST_ID": "customer_id"})


def bench_explore() -> None:
    from pipeline.cluster.explore import explore_table

    t = time.perf_counter()
    ex = explore_table(read_cc())
    secs = time.perf_counter() - t
    k = ex.k_table.set_index("k")
    got = {"silhouette": k.loc[[2, 3, 4], "silhouette"].tolist(),
           "silhouette_pca": k.loc[[2, 3, 4], "silhouette_pca"].tolist(),
           "cumulative": ex.pca["cumulative"].iloc[[1, 3, 5]].tolist()}
    print(f"[1] explore CC GENERAL (stats, correlation, PCA, k sweep 2..10 x 2 spaces): {secs:.1f} s | {load()}")
    for name, ref in REFERENCE.items():
        ok = all(abs(g - r) <= 0.01 for g, r in zip(got[name], ref))
        print(f"    {name:15s} measured {' / '.join(f'{g:.3f}' for g in got[name])} | reference "
              f"{' / '.join(f'{r:.3f}' for r in ref)} | {'OK' if ok else 'OFF'}")
    print(f"    {ex.sweep.reason}\n    PCA-2: {ex.sweep_pca.reason}")


def bench_compare(methods: list[str] | None) -> None:
    t = time.perf_counter()
    from pipeline.cluster.table_embeddings import compare_table_embeddings

    cmp = compare_table_embeddings(read_cc(), methods=methods)
    secs = time.perf_counter() - t
    names = ", ".join(cmp.settings["methods"])
    print(f"[2] comparison on CC GENERAL (K-Means, PCA-2, {names}; k = {cmp.settings['k']}, seeds "
          f"{cmp.settings['seeds']}): {secs:.1f} s incl. TensorFlow import (target <= 90 s) | {load()}")
    cols = ["method", "silhouette_own", "silhouette_common", "davies_bouldin_common", "stability_ari",
            "smallest_share", "seconds"]
    with pd.option_context("display.width", 200):
        print(cmp.table[cols].round(3).to_string(index=False))
    print("\nVerdict: " + cmp.verdict)
    sizes = cmp.profiles[["method", "cluster", "name", "size", "share"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print("\n" + sizes.round(3).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="gru,lstm,dense", help="comma-separated embeddings (default all three)")
    parser.add_argument("--only", choices=["explore", "compare"])
    parser.add_argument("--_compare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not CC.exists():
        sys.exit(f"{CC} not found: the benchmark needs ../shared/datasets/CC GENERAL.csv")
    methods = args.methods.split(",")
    if args._compare:                    # child process: a cold start, TensorFlow import included
        bench_compare(methods)
        return
    if args.only != "compare":
        bench_explore()
    if args.only != "explore":
        import subprocess

        cmd = [sys.executable, __file__, "--_compare", "--methods", args.methods]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
