"""The clustering commands of ``python -m pipeline``: ``cluster`` (customers into clusters; CSV of customer_id,
cluster, x, y and the metrics as JSON), ``explore`` (a customer table's column stats, PCA variance and K-Means
sweeps) and ``embed`` (K-Means on the table, on PCA and on GRU/LSTM/dense-autoencoder embeddings side by side).
Transactions become the per-customer features of the Clusters page; TensorFlow is imported only by ``embed``, and
only when an embedding method is asked for. :func:`add_commands` registers them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import (columns, dataset, dataset_currency, file_cmd, json_flag, print_json,
                                 require_input)
from pipeline.cli.governance import export_flags, shared_export

__all__ = ["add_commands", "cmd_cluster", "cmd_explore", "cmd_embed"]


def cmd_cluster(args) -> int:
    """Cluster the customers of ``args.file``; assignments to ``args.out``, metrics as JSON."""
    from pipeline.cluster import cluster_customers, clustering_input, log_columns, run_summary
    from pipeline.config import CleaningOptions
    from pipeline.ingest import build_dataset
    from pipeline.exports import to_csv_bytes

    require_input(args.file)
    ds = build_dataset(args.file, Path(args.file).name, options=CleaningOptions(dayfirst=args.dayfirst))
    inp = clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers)
    features = columns(args.features) or inp.default_features
    run = cluster_customers(inp.table, features, args.method, args.k, scale=not args.no_scale,
                            log_cols=log_columns(inp.table, features, args.log or inp.default_log),
                            revenue_col=inp.revenue_col, segment_col=inp.segment_col, random_state=args.seed)
    out = shared_export(args, run.assignments()[["customer_id", "cluster", "x", "y"]], "cluster assignments")
    Path(args.out).write_bytes(to_csv_bytes(out))
    print_json({"file": args.file, "kind": ds.kind, "features": list(run.transformer.features_),
                "currency": dataset_currency(ds), "out": args.out, **run_summary(run)})
    return 0


def _customer_table(args):
    """(table, default features, default log mode) of a file: a customer table as it is, transactions as the
    per-customer features of the Clusters page."""
    from pipeline.cluster import clustering_input

    ds = dataset(args.file, args.dayfirst)
    inp = clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers)
    return inp.table, columns(args.features) or inp.default_features, args.log or (
        "none" if ds.kind == "customers" else inp.default_log)


def cmd_explore(args) -> int:
    """Column stats, PCA and K-Means sweeps of the customer table of ``args.file``."""
    from pipeline.cluster.explore import explore_table
    from pipeline.exports import to_jsonable

    table, features, log = _customer_table(args)
    ex = explore_table(table, features, log)
    print_json(to_jsonable({"file": args.file, "customers": len(table), "features": ex.features, "log": log,
                            "warnings": ex.warnings, "columns": ex.stats.round(4).to_dict(orient="records"),
                            "pca": ex.pca.round(4).to_dict(orient="records"),
                            "k_table": ex.k_table.round(4).to_dict(orient="records"),
                            "elbow_k": ex.sweep.elbow_k, "recommended_k": ex.sweep.recommended_k,
                            "reason": ex.sweep.reason, "details": ex.sweep.details}))
    return 0


def cmd_embed(args) -> int:
    """K-Means on the table, PCA and learned embeddings of ``args.file`` side by side."""
    from pipeline.cluster.table_embeddings import compare_table_embeddings
    from pipeline.exports import to_csv_bytes, to_jsonable

    table, features, log = _customer_table(args)
    methods = None if args.method is None else [m for m in columns(args.method) or [] if m != "none"]
    seeds = [int(s) for s in columns(args.seeds)] if args.seeds else None
    cmp = compare_table_embeddings(table, methods, args.k, seeds, features, log)
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(shared_export(args, cmp.labels, "embedding cluster labels")))
    profiles = cmp.profiles[["method", "cluster", "name", "size", "share"]]
    print_json(to_jsonable({"file": args.file, **cmp.settings, "out": args.out,
                            "table": cmp.table.round(4).to_dict(orient="records"), "verdict": cmp.verdict,
                            "clusters": profiles.round(4).to_dict(orient="records"),
                            "seconds": round(cmp.seconds["total"], 2)}))
    return 0


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", help="comma-separated columns; default the numeric columns that vary")
    p.add_argument("--log", choices=["all", "auto", "none"], help="log1p before standardising; default none for "
                                                                  "customer tables (median fill + standardise)")
    json_flag(p)


def add_commands(sub) -> None:
    """Add ``cluster``, ``explore`` and ``embed`` to the subparsers ``sub``."""
    p = file_cmd(sub, "cluster", "cluster customers; write customer_id, cluster, x, y and print the metrics as JSON",
                 cmd_cluster)
    p.add_argument("--k", type=int, help="number of clusters; default: the k the sweep k=2..10 recommends")
    p.add_argument("--features", help="comma-separated feature columns; default R,F,M for transactions, the numeric "
                                      "columns of a customer table")
    p.add_argument("--method", default="kmeans", choices=["kmeans", "gmm", "agglomerative", "hdbscan"])
    p.add_argument("--log", choices=["all", "auto", "none"], help="log1p transform; default 'all' for transactions "
                                                                  "(log RFM), 'auto' (skewed columns) for tables")
    p.add_argument("--no-scale", action="store_true", help="do not standardise numeric features")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", required=True, help="output CSV path (customer_id, cluster, x, y)")
    export_flags(p)
    p = file_cmd(sub, "explore", "explore a customer table: column stats (skew, missing, fill), PCA variance, "
                                 "K-Means sweep on the table and on PCA; JSON", cmd_explore)
    _table_args(p)
    p = file_cmd(sub, "embed", "K-Means on a customer table, on PCA and on GRU/LSTM/dense-autoencoder embeddings "
                               "side by side (own and common-space metrics, stability); JSON", cmd_embed)
    _table_args(p)
    p.add_argument("--method", help="comma-separated embeddings: gru, lstm, dense (default gru,dense); 'none' = "
                                    "only the K-Means rows (no TensorFlow)")
    p.add_argument("--k", type=int, help="number of clusters (default 4)")
    p.add_argument("--seeds", help="comma-separated seeds for the stability check (default 0,1,2)")
    p.add_argument("--out", help="CSV of the cluster labels: customer_id and one column per method")
    export_flags(p)
