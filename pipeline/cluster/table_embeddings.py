"""Customer tables: K-Means on the table, on its principal components and on learned embeddings, side by side.

The table is median-filled and standardised (:func:`~pipeline.cluster.explore.standardised_table`; text columns
one-hot); that matrix is the *common space* every clustering is also judged in. Arms: K-Means on the table, K-Means
on its first principal components, and K-Means on the bottleneck of each table encoder
(``embeddings.TABLE_ENCODERS``: a GRU/LSTM reading the columns as a sequence, a dense autoencoder), each refitted
for every seed. :func:`compare_table_embeddings` scores them with the shared machinery of
:mod:`pipeline.cluster.compare` (silhouette and Davies-Bouldin in each arm's own space and in the common space,
adjusted-Rand stability across seeds), adds cluster profiles in the original units and a plain verdict
(:func:`table_verdict`) written from the measured numbers. TensorFlow loads only when an embedding is asked for.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.compare import Arm, arm_maps, arm_scores, kmeans_runs
from pipeline.cluster.embeddings import TABLE_ENCODERS, Progress, table_encoder
from pipeline.cluster.explore import numeric_features, pca_matrix, standardised_table
from pipeline.cluster.features import CustomerFeatures
from pipeline.cluster.naming import cluster_profiles
from pipeline.config import TableEmbeddingConfig
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = ["TableSpace", "table_space", "TableComparison", "compare_table_embeddings", "table_verdict",
           "table_maps", "TABLE_COLUMNS"]

#: Columns of ``TableComparison.table`` shown first (the CLI's JSON table).
TABLE_COLUMNS = ("method", "silhouette_own", "silhouette_common", "davies_bouldin_common", "stability_ari",
                 "seconds")


@dataclass
class TableSpace:
    """The customer table (``customer_id`` + features), its standardised matrix and the fitted transformer."""

    table: pd.DataFrame
    X: np.ndarray
    transformer: CustomerFeatures

    @property
    def customer_ids(self) -> np.ndarray:
        return self.table["customer_id"].astype(str).to_numpy()


def table_space(customers: pd.DataFrame, features: Sequence[str] | None = None, log: str | None = None,
                categorical: Sequence[str] = (), config: TableEmbeddingConfig = TableEmbeddingConfig()
                ) -> TableSpace:
    """Median-filled, standardised ``features`` (default: the numeric columns that vary) of a customer table.

    Without a ``customer_id`` column the row numbers (1, 2, ...) become the ids.
    """
    if not isinstance(customers, pd.DataFrame) or customers.empty:
        raise DataError("table embeddings: the customer table is empty; load one row per customer.")
    table = customers.reset_index(drop=True)
    if "customer_id" not in table.columns:
        table.insert(0, "customer_id", [str(i + 1) for i in range(len(table))])
    features = list(features) if features else numeric_features(table)
    X, tf = standardised_table(table, features, log or config.log, categorical)
    return TableSpace(table, X, tf)


@dataclass
class TableComparison:
    """``table``: one row per arm; ``profiles``: clusters of each arm in original units; ``labels``: customer_id
    and one cluster column per arm key (first seed); ``verdict``: the plain-words conclusion."""

    table: pd.DataFrame
    profiles: pd.DataFrame
    labels: pd.DataFrame
    verdict: str
    arms: list[Arm]
    space: TableSpace
    loss_history: dict[str, list[list[float]]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _check(space: TableSpace, k: int, seeds: list[int], methods: Sequence[str]) -> None:
    n = len(space.X)
    if not seeds:
        raise DataError("table embeddings: give at least one seed.")
    if k < 2 or n < max(k + 1, 10):
        raise DataError(f"table embeddings: {n:,} customers cannot be compared with k={k}; use 2 <= k < "
                        "customers and at least 10 customers.")
    unknown = [m for m in methods if m not in TABLE_ENCODERS]
    if unknown:
        raise DataError(f"table embeddings: method(s) {', '.join(map(repr, unknown))} unknown; choose from "
                        f"{', '.join(TABLE_ENCODERS)}.")
    if methods and space.X.shape[1] < 2:
        raise DataError("table embeddings: an encoder needs at least 2 columns; choose more features.")


def _kmeans_arms(space: TableSpace, k: int, seeds: list[int], config: TableEmbeddingConfig) -> list[Arm]:
    """K-Means on the standardised table and on its first principal components, once per seed."""
    t0 = time.perf_counter()
    runs = kmeans_runs(space.X, k, seeds, config.kmeans_n_init)
    t1 = time.perf_counter()
    P, pca = pca_matrix(space.X, config.pca_components, config.random_state)
    pca_runs = kmeans_runs(P, k, seeds, config.kmeans_n_init)
    t2 = time.perf_counter()
    share = float(pca.explained_variance_ratio_.sum())
    return [Arm("K-Means on the table", f"standardised table ({space.X.shape[1]} columns)", space.X, runs,
                (t1 - t0) / len(seeds)),
            Arm(f"K-Means on PCA ({P.shape[1]} components)",
                f"first {P.shape[1]} principal components ({share:.1%} of variance)", P, pca_runs,
                (t2 - t1) / len(seeds))]


def _embedding_arm(space: TableSpace, method: str, k: int, seeds: list[int], config: TableEmbeddingConfig,
                   progress: Progress | None) -> tuple[Arm, list[list[float]]]:
    """One encoder + K-Means per seed; the arm's matrix is the first seed's embedding."""
    runs, losses, first, t0 = [], [], None, time.perf_counter()
    for i, seed in enumerate(seeds):
        report = None if progress is None else (
            lambda f, msg, i=i: progress((i + f) / len(seeds), f"{TABLE_ENCODERS[method]}, seed {seed}: {msg}"))
        encoder = table_encoder(method, seed, config).fit(space.X, progress=report)
        emb = encoder.transform(space.X)
        runs.append(kmeans_runs(emb, k, [seed], config.kmeans_n_init)[0])
        losses.append(encoder.loss_history_)
        first = emb if first is None else first
    seconds = (time.perf_counter() - t0) / len(seeds)
    return Arm(f"{TABLE_ENCODERS[method]} + K-Means", f"{config.latent_dim}-d embeddings", first, runs,
               seconds), losses


def _profiles(space: TableSpace, arms: Sequence[Arm]) -> pd.DataFrame:
    parts = [cluster_profiles(space.table, arm.labels, space.transformer).assign(method=arm.method)
             for arm in arms]
    out = pd.concat(parts, ignore_index=True)
    return out[["method", *[c for c in out.columns if c != "method"]]]


def _score_table(arms: Sequence[Arm], keys: Sequence[str], X_common: np.ndarray, random_state: int) -> pd.DataFrame:
    rows = []
    for key, arm in zip(keys, arms):
        smallest = np.bincount(arm.labels).min() / len(arm.labels)
        rows.append({"key": key, **arm_scores(arm, X_common, random_state, own="_own", common="_common"),
                     "smallest_share": float(smallest), "seconds": arm.seconds})
    table = pd.DataFrame(rows)
    return table[[*TABLE_COLUMNS, *[c for c in table.columns if c not in TABLE_COLUMNS]]]


def _embedding_arms(space: TableSpace, methods: Sequence[str], k: int, seeds: list[int],
                    config: TableEmbeddingConfig, progress: Progress | None):
    arms, losses = [], {}
    for j, method in enumerate(methods):
        report = None if progress is None else (
            lambda f, msg, j=j: progress((j + f) / len(methods) * 0.95, msg))
        arm, loss = _embedding_arm(space, method, k, seeds, config, report)
        arms.append(arm)
        losses[method] = loss
    return arms, losses


@logged("table_embedding_comparison")
def compare_table_embeddings(customers: pd.DataFrame, methods: Sequence[str] | None = None, k: int | None = None,
                             seeds: Sequence[int] | None = None, features: Sequence[str] | None = None,
                             log: str | None = None, progress: Progress | None = None,
                             config: TableEmbeddingConfig = TableEmbeddingConfig()) -> TableComparison:
    """K-Means on the standardised table, on its first ``config.pca_components`` principal components and on the
    embeddings of each encoder in ``methods`` (default ``config.methods``; ``()`` = the K-Means rows only, no
    TensorFlow), all with the same ``k`` and ``seeds`` (default ``config.k`` / ``config.seeds``).

    Table columns: method, silhouette_own, silhouette_common, davies_bouldin_common, stability_ari, seconds (one
    fit, mean over seeds), then key, space, clusters, davies_bouldin_own, calinski_harabasz_own/_common and
    smallest_share (of the first seed's clusters). Labels, metrics and profiles refer to the first seed.
    """
    methods = list(config.methods if methods is None else methods)
    k, seeds = int(k or config.k), list(config.seeds if seeds is None else seeds)
    t0 = time.perf_counter()
    space = table_space(customers, features, log, config=config)
    _check(space, k, seeds, methods)
    arms = _kmeans_arms(space, k, seeds, config)
    t1 = time.perf_counter()
    emb_arms, losses = _embedding_arms(space, methods, k, seeds, config, progress)
    t2 = time.perf_counter()
    arms += emb_arms
    keys = ["kmeans", "pca", *methods]
    table = _score_table(arms, keys, space.X, config.random_state)
    labels = pd.DataFrame({"customer_id": space.customer_ids, **{key: a.labels for key, a in zip(keys, arms)}})
    settings = {"k": k, "seeds": seeds, "methods": methods, "features": list(space.transformer.features_),
                "log": log or config.log, "customers": len(space.X), "warnings": list(space.transformer.warnings_)}
    out = TableComparison(table, _profiles(space, arms), labels, table_verdict(table, k, len(space.X), config),
                          arms, space, losses, settings)
    out.seconds = {"kmeans": t1 - t0, "embeddings": t2 - t1, "total": time.perf_counter() - t0}
    if progress is not None:
        progress(1.0, "done")
    return out


def table_maps(comparison: TableComparison) -> pd.DataFrame:
    """2-D PCA map of every arm in its own space (``compare.arm_maps``)."""
    return arm_maps(comparison.arms, comparison.space.customer_ids, comparison.settings.get("seeds", [0])[0])


# ---- the verdict ---------------------------------------------------------------------------------------------

def _usable(row: pd.Series, config: TableEmbeddingConfig) -> bool:
    stable = np.isnan(row["stability_ari"]) or row["stability_ari"] >= config.stable_ari
    return bool(stable and row["smallest_share"] >= config.min_cluster_share)


def _best(table: pd.DataFrame, config: TableEmbeddingConfig) -> pd.Series:
    """Best common-space silhouette among the usable rows (all rows if none is usable); near-ties go to the lower
    Davies-Bouldin, then the simpler method: the table's order (K-Means on the table, on PCA, then the networks),
    never the measured seconds, so the same data always gets the same verdict."""
    usable = table[[_usable(r, config) for _, r in table.iterrows()]]
    pool = usable if len(usable) else table
    top = pool["silhouette_common"].max()
    ties = pool[pool["silhouette_common"] >= top - config.tie_silhouette]
    return ties.sort_values("davies_bouldin_common", kind="stable").iloc[0]


def _others_text(table: pd.DataFrame, best: pd.Series) -> str:
    others = table[table["method"] != best["method"]]
    return ", ".join(f"{r['silhouette_common']:.3f} ({r['davies_bouldin_common']:.2f}) for {r['method']}"
                     for _, r in others.iterrows())


def _own_space_text(table: pd.DataFrame) -> str:
    """The arms whose own-space silhouette flatters them (more than 0.05 above the common-space one)."""
    gaps = table[table["silhouette_own"] - table["silhouette_common"] > 0.05]
    if gaps.empty:
        return ""
    parts = ", ".join(f"{r['method']} {r['silhouette_own']:.2f}" for _, r in gaps.iterrows())
    return (f" Silhouettes measured in each method's own, compressed space ({parts}) look better but are not "
            "comparable with those on the table.")


def _caveats(table: pd.DataFrame, config: TableEmbeddingConfig) -> str:
    out = []
    moving = table[table["stability_ari"] < config.stable_ari]
    if len(moving):
        out.append("the clusters of " + ", ".join(f"{r['method']} (adjusted Rand {r['stability_ari']:.2f})"
                                                   for _, r in moving.iterrows()) + " change when the seed changes")
    small = table[table["smallest_share"] < config.min_cluster_share]
    if len(small):
        out.append(", ".join(f"{r['method']} has a cluster of only {r['smallest_share']:.1%} of the customers"
                             for _, r in small.iterrows()) + ", too few to target")
    return (" Caution: " + "; ".join(out) + ".") if out else ""


def _stability_text(best: pd.Series, config: TableEmbeddingConfig) -> str:
    ari, size = best["stability_ari"], f"its smallest cluster holds {best['smallest_share']:.0%} of the customers"
    if np.isnan(ari):
        return f" With one seed its stability is not measured; {size}."
    if ari < config.stable_ari:
        return f" Its groups move with the seed (adjusted Rand {ari:.2f}); {size}."
    return f" It finds {'the same' if ari >= 0.95 else 'nearly the same'} groups with every seed " \
           f"(adjusted Rand {ari:.2f}) and {size}."


def _cost_text(table: pd.DataFrame, best: pd.Series, config: TableEmbeddingConfig) -> str:
    emb = table[~table["key"].isin(["kmeans", "pca"])]
    if emb.empty:
        return ""
    kmeans = table[table["key"] == "kmeans"].iloc[0]
    lo, hi = emb["seconds"].min(), emb["seconds"].max()
    cost = f"{lo:.0f}-{hi:.0f} s" if round(hi) > round(lo) else f"{hi:.0f} s"
    if best["key"] in emb["key"].tolist():
        return f" It costs {best['seconds']:.0f} s per fit against {kmeans['seconds']:.2f} s for K-Means on the table."
    if emb["silhouette_common"].max() <= best["silhouette_common"] + config.tie_silhouette:
        return (f" The networks take {cost} per fit (K-Means {kmeans['seconds']:.2f} s) and do not separate the "
                "customers better.")
    return " An embedding separates the customers a little better on the table but is not usable as it stands."


def table_verdict(table: pd.DataFrame, k: int, n_customers: int,
                  config: TableEmbeddingConfig = TableEmbeddingConfig()) -> str:
    """One plain paragraph: which segmentation is the more useful and why, from the numbers in ``table``.

    Useful = separates customers best on the table itself (common-space silhouette; Davies-Bouldin breaks
    near-ties), gives the same groups for every seed (adjusted Rand >= ``config.stable_ari``) and has no cluster
    below ``config.min_cluster_share`` of the customers.
    """
    best = _best(table, config)
    others = _others_text(table, best)
    text = (f"With k = {k} on {n_customers:,} customers, {best['method']} gives the more useful segmentation: "
            f"judged on the same standardised table, its silhouette is {best['silhouette_common']:.3f} "
            f"(Davies-Bouldin {best['davies_bouldin_common']:.2f}, lower is better)"
            + (f", against {others}." if others else "."))
    return (text + _stability_text(best, config) + _cost_text(table, best, config) + _own_space_text(table)
            + _caveats(table, config))
