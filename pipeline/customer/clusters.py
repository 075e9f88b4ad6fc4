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
    from pipeline.cluster import ClusterNames, CustomerFeatures

__all__ = ["RFM_CLUSTER_FEATURES", "ClusterAssigner", "cluster_label", "saved_cluster_assigner",
           "default_cluster_assigner"]

#: Default clustering inputs of a transactions dataset.
RFM_CLUSTER_FEATURES = ("recency_days", "frequency", "monetary")


def cluster_label(cluster: int | None, name: str, names: Mapping[int, str] | None = None,
                  short: bool = False) -> str:
    """How one customer's cluster reads wherever its number is shown (card, what-if, service): ``Cluster 3:
    frequent, recent`` (``name``: what this customer is called, :meth:`ClusterAssigner.name`). A customer far from
    every centre is in no group, so the number comes second: ``Unlike any group (nearest: cluster 3 — frequent,
    recent)`` (``names``: the clusters' own names); clustering noise reads ``In no cluster (noise)``; no cluster
    is "". ``short``: for a tile, ``3`` / ``none (nearest 3)`` / ``none`` / "–"."""
    from pipeline.cluster import NOISE, UNLIKE_NAME

    if cluster is None or pd.isna(cluster):
        return "–" if short else ""
    c = int(cluster)
    if c == NOISE:
        return "none" if short else "In no cluster (noise)"
    if name == UNLIKE_NAME:
        if short:
            return f"none (nearest {c})"
        own = (names or {}).get(c)
        return f"Unlike any group (nearest: cluster {c}{f' — {own}' if own else ''})"
    return str(c) if short else f"Cluster {c}: {name}" if name else f"Cluster {c}"


@dataclass
class ClusterAssigner:
    """Cluster of every customer and of hypothetical ones (nearest cluster centre in the clustering's space).

    ``transformer`` is None when the saved clustering used inputs this module cannot rebuild (what-if then has
    no cluster). For K-Means the nearest centre is exactly its own assignment rule; for other methods it is an
    approximation, said in ``description``. ``names`` are the clusters' names; one customer is named by
    ``naming`` (:meth:`pipeline.cluster.ClusterNames.for_customers`: only the words that hold for that customer,
    "unlike any group" when far from the centre), the same way for the table, a re-scored customer and the what-if.
    """

    labels: pd.Series                 # cluster id per customer id
    names: dict[int, str]
    transformer: CustomerFeatures | None
    centroids: np.ndarray
    centroid_ids: np.ndarray
    source: str                       # "saved" or "default"
    description: str
    naming: ClusterNames | None = None

    def to_dict(self) -> dict:
        """Labels, names, centres, source and description, JSON-safe; the fitted ``transformer`` and ``naming``
        are saved on their own (rebuild with :meth:`from_dict`)."""
        return {"labels": {"ids": [str(i) for i in self.labels.index], "clusters": [int(c) for c in self.labels]},
                "names": {str(k): str(v) for k, v in self.names.items()},
                "centroids": np.asarray(self.centroids, dtype=float).tolist(),
                "centroid_shape": list(np.shape(self.centroids)),
                "centroid_ids": [int(c) for c in self.centroid_ids], "source": self.source,
                "description": self.description}

    @classmethod
    def from_dict(cls, d: Mapping, transformer: CustomerFeatures | None = None,
                  naming: ClusterNames | None = None) -> ClusterAssigner:
        """The assigner of :meth:`to_dict` with its fitted ``transformer`` and ``naming``."""
        labels = pd.Series(np.asarray(d["labels"]["clusters"], dtype=int),
                           index=pd.Index(d["labels"]["ids"]))
        centroids = np.asarray(d["centroids"], dtype=float).reshape(d["centroid_shape"])
        return cls(labels, {int(k): str(v) for k, v in d["names"].items()}, transformer, centroids,
                   np.asarray(d["centroid_ids"], dtype=int), str(d["source"]), str(d["description"]), naming)

    def name(self, cluster: int | None, row: Mapping[str, object] | pd.Series | pd.DataFrame | None = None) -> str:
        """The cluster's name ("" for no cluster); given the customer's ``row``, what this customer is called."""
        if cluster is None or pd.isna(cluster):
            return ""
        if row is None or self.naming is None or self.transformer is None:
            return self.names.get(int(cluster), f"cluster {cluster}")
        frame = self._frame(row)
        return self.naming.for_customers(frame, [int(cluster)], self._distances(frame, [int(cluster)]))[0]

    def label(self, cluster: int | None, name: str, short: bool = False) -> str:
        """:func:`cluster_label` with this clustering's names."""
        return cluster_label(cluster, name, self.names, short)

    def _frame(self, row: Mapping[str, object] | pd.Series | pd.DataFrame) -> pd.DataFrame:
        if isinstance(row, pd.DataFrame):
            return row
        return pd.DataFrame([{f: row.get(f) for f in self.transformer.features_}])

    def _distances(self, frame: pd.DataFrame, clusters) -> np.ndarray:
        """Distance of each row to the centre of its cluster in the clustering's space (NaN without one)."""
        from pipeline.cluster import member_distances

        labels = np.array([-1 if c is None or pd.isna(c) else int(c) for c in clusters])
        out = np.full(len(frame), np.nan)
        has = labels >= 0
        if has.any():
            out[has] = member_distances(self.transformer.transform(frame.loc[has]), labels[has], self.centroids,
                                        self.centroid_ids)
        return out

    def assign(self, row: Mapping[str, object] | pd.DataFrame) -> int | None:
        """Cluster of one customer given as ``{feature: value}`` (or a one-row frame); None if unavailable."""
        if self.transformer is None or not len(self.centroids):
            return None
        vec = self.transformer.transform(self._frame(row))[0]
        return int(self.centroid_ids[np.argmin(((self.centroids - vec) ** 2).sum(axis=1))])

    def attach(self, table: pd.DataFrame) -> None:
        """Write ``cluster`` and ``cluster_name`` of every row of the per-customer ``table`` (in place)."""
        cluster = self.labels.reindex(table.index.astype(str)).astype("Int64")
        table["cluster"] = cluster.set_axis(table.index)
        if self.naming is None or self.transformer is None:
            table["cluster_name"] = [self.name(c) if pd.notna(c) else "" for c in table["cluster"]]
            return
        clusters = table["cluster"].tolist()
        table["cluster_name"] = self.naming.for_customers(table, clusters, self._distances(table, clusters))


def _centres(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(sorted(int(c) for c in set(labels.tolist()) if c >= 0))
    return np.array([X[labels == c].mean(axis=0) for c in ids]).reshape(len(ids), X.shape[1]), ids


def _saved_labels(assignments: pd.DataFrame, meta: Mapping) -> tuple[pd.Series, dict[int, str]]:
    name_col = "cluster_name" if "cluster_name" in assignments else "name"
    a = assignments.assign(customer_id=assignments["customer_id"].astype(str)).drop_duplicates("customer_id")
    labels = pd.Series(a["cluster"].astype(int).to_numpy(), index=a["customer_id"])
    names = {int(c): str(n) for c, n in zip(a["cluster"], a[name_col])} if name_col in a else {}
    if isinstance(meta.get("names"), dict):                 # the clusters' names win over any per-row text
        names |= {int(k): str(v) for k, v in meta["names"].items()}
    return labels, names


def _truthful_names(table: pd.DataFrame, labels: pd.Series, tf: CustomerFeatures, X: np.ndarray,
                    centroids: np.ndarray, ids: np.ndarray, saved: dict[int, str]) -> tuple[dict, ClusterNames]:
    """Names of a saved clustering: a name the analyst typed stays; a generated one (every part a naming word,
    as saved by an older version too) is generated again from the data so that it is true."""
    from pipeline.cluster.naming import cluster_names, is_generated_name

    naming = cluster_names(table, labels.to_numpy(), tf, X, centroids, ids)
    typed = {c: n for c, n in saved.items() if n and c in naming.names and not is_generated_name(n, tf.features_)}
    naming = naming.renamed(typed)
    return {**saved, **naming.names}, naming


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
    X = tf.transform(table.loc[known])
    centroids, ids = _centres(X, labels[known].to_numpy())
    names, naming = _truthful_names(table.loc[known], labels[known], tf, X, centroids, ids, names)
    note = "" if method == "kmeans" else "; what-if uses the nearest cluster centre"
    return ClusterAssigner(labels, names, tf, centroids, ids, "saved", f"{desc} on {', '.join(features)}{note}.",
                           naming)


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
                           "default", desc, run.naming)
