"""The cluster of every customer and of hypothetical ones, for the card, the what-if and campaigns.

Belongs here: :class:`ClusterAssigner` (labels, names and the nearest-centre rule in the clustering's space) and
the two ways to get one: the clustering saved on the Clusters page (:func:`saved_cluster_assigner`) or a default
K-Means (:func:`default_cluster_assigner`). Clustering algorithms themselves live in :mod:`pipeline.cluster`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.config import SEED, ClusterConfig
from pipeline.errors import DataError

if TYPE_CHECKING:
    from pipeline.cluster import CustomerFeatures

__all__ = ["RFM_CLUSTER_FEATURES", "ClusterAssigner", "saved_cluster_assigner", "default_cluster_assigner"]

#: Default clustering inputs of a transactions dataset.
RFM_CLUSTER_FEATURES = ("recency_days", "frequency", "monetary")


@dataclass
class ClusterAssigner:
    """Cluster of every customer and of hypothetical ones (nearest cluster centre in the clustering's space).

    ``transformer`` is None when the saved clustering used inputs this module cannot rebuild (what-if then has
    no cluster). For K-Means the nearest centre is exactly its own assignment rule; for other methods it is an
    approximation, said in ``description``.
    """

    labels: pd.Series                 # cluster id per customer id
    names: dict[int, str]
    transformer: CustomerFeatures | None
    centroids: np.ndarray
    centroid_ids: np.ndarray
    source: str                       # "saved" or "default"
    description: str

    def name(self, cluster: int | None) -> str:
        """The cluster's name ("" for no cluster)."""
        return "" if cluster is None else self.names.get(int(cluster), f"cluster {cluster}")

    def assign(self, row: Mapping[str, object] | pd.DataFrame) -> int | None:
        """Cluster of one customer given as ``{feature: value}`` (or a one-row frame); None if unavailable."""
        if self.transformer is None or not len(self.centroids):
            return None
        frame = row if isinstance(row, pd.DataFrame) else pd.DataFrame([{f: row.get(f) for f in
                                                                          self.transformer.features_}])
        vec = self.transformer.transform(frame)[0]
        return int(self.centroid_ids[np.argmin(((self.centroids - vec) ** 2).sum(axis=1))])

    def attach(self, table: pd.DataFrame) -> None:
        """Write ``cluster`` and ``cluster_name`` of every row of the per-customer ``table`` (in place)."""
        table["cluster"] = self.labels.reindex(table.index).astype("Int64")
        table["cluster_name"] = [self.name(c) if pd.notna(c) else "" for c in table["cluster"]]


def _centres(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(sorted(int(c) for c in set(labels.tolist()) if c >= 0))
    return np.array([X[labels == c].mean(axis=0) for c in ids]).reshape(len(ids), X.shape[1]), ids


def _saved_labels(assignments: pd.DataFrame, meta: Mapping) -> tuple[pd.Series, dict[int, str]]:
    name_col = "cluster_name" if "cluster_name" in assignments else "name"
    a = assignments.assign(customer_id=assignments["customer_id"].astype(str)).drop_duplicates("customer_id")
    labels = pd.Series(a["cluster"].astype(int).to_numpy(), index=a["customer_id"])
    names = {int(k): str(v) for k, v in (meta.get("names") or {}).items()} if isinstance(meta.get("names"), dict) \
        else {}
    if name_col in a:
        names |= {int(c): str(n) for c, n in zip(a["cluster"], a[name_col])}
    return labels, names


def saved_cluster_assigner(table: pd.DataFrame, assignments: pd.DataFrame, meta: Mapping) -> ClusterAssigner:
    """The clustering saved on the Clusters page (``Workspace.load_clustering``), over the per-customer table.

    Raises DataError when the saved customers are not in ``table``.
    """
    from pipeline.cluster import CustomerFeatures

    labels, names = _saved_labels(assignments, meta)
    known = labels.index.intersection(table.index)
    if len(known) == 0:
        raise DataError("saved clustering: none of its customers is in this dataset; cluster it again on the "
                        "Clusters page.")
    method, k = meta.get("method", "?"), meta.get("k", len(set(labels[labels >= 0])))
    desc = f"Clustering saved on the Clusters page ({method}, k={k})"
    features = [f for f in meta.get("features") or [] if f in table.columns]
    opts = meta.get("options") or {}
    if not features or len(features) < len(meta.get("features") or []):
        return ClusterAssigner(labels, names, None, np.empty((0, 0)), np.array([]), "saved",
                               desc + "; its features are not all customer columns, so what-if cannot place a "
                                      "new customer in it.")
    tf = CustomerFeatures(features, log_cols=opts.get("log_cols", "auto"), scale=opts.get("scale", True),
                          categorical=opts.get("categorical", ())).fit(table.loc[known])
    centroids, ids = _centres(tf.transform(table.loc[known]), labels[known].to_numpy())
    note = "" if method == "kmeans" else "; what-if uses the nearest cluster centre"
    return ClusterAssigner(labels, names, tf, centroids, ids, "saved", f"{desc} on {', '.join(features)}{note}.")


def _cluster_features(table: pd.DataFrame, kind: str) -> list[str]:
    """Default clustering features: R, F, M for transactions; the numeric columns of a customer table."""
    if kind == "transactions":
        return list(RFM_CLUSTER_FEATURES)
    out = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
           and not pd.api.types.is_bool_dtype(table[c]) and table[c].nunique() > 1]
    if not out:
        raise DataError("clustering: the customer table has no numeric column to cluster on; cluster it on the "
                        "Clusters page with chosen columns.")
    return out


def default_cluster_assigner(table: pd.DataFrame, kind: str, seed: int = SEED,
                             config: ClusterConfig = ClusterConfig()) -> ClusterAssigner:
    """K-Means with the recommended k on log + standardised R, F, M (or a customer table's numeric columns)."""
    from pipeline.cluster import cluster_customers

    features = _cluster_features(table, kind)
    log_cols = list(RFM_CLUSTER_FEATURES) if kind == "transactions" else "auto"
    run = cluster_customers(table, features, "kmeans", None, id_col="__none__", log_cols=log_cols,
                            random_state=seed, map_method="pca", config=config)
    names = dict(zip(run.profiles["cluster"].astype(int), run.profiles["name"].astype(str)))
    labels = pd.Series(run.fit.labels.astype(int), index=table.index.astype(str))
    how = "log + standardised" if kind == "transactions" else "standardised (log where skewed)"
    desc = (f"Default clustering: K-Means on {how} {', '.join(features)} with the recommended "
            f"k={run.fit.n_clusters} ({run.sweep.reason if run.sweep else ''}). Save a clustering on the "
            "Clusters page to use it instead.")
    return ClusterAssigner(labels, names, run.transformer, run.fit.centroids, np.arange(run.fit.n_clusters),
                           "default", desc)
