"""Side-by-side comparison of clusterings made in different spaces: the pieces every comparison shares.

A comparison has *arms* (:class:`Arm`: a method, the space it clusters in, its matrix, its labels for each seed and
its training time). Each arm is scored by :func:`arm_scores` in its own space **and** in one common space (a
silhouette measured in a compressed embedding is not comparable with one measured on the table), and by its
stability across seeds (:func:`stability`, mean pairwise adjusted Rand index). :func:`kmeans_runs` is K-Means once
per seed with labels ordered by size (:func:`order_by_size`), :func:`arm_maps` draws each arm in its own space (PCA).
Used by the transactions comparison (``sequences.compare_with_rfm``) and the customer-table comparison
(``table_embeddings.compare_table_embeddings``); a new comparison builds its arms and calls these.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from pipeline.cluster.algorithms import limit_threads
from pipeline.cluster.maps import map_coordinates
from pipeline.cluster.selection import cluster_metrics
from pipeline.config import SEED

__all__ = ["Arm", "order_by_size", "stability", "kmeans_runs", "arm_scores", "arm_maps"]

_METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz")


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: its name, its space, its matrix, labels per seed (first = reported) and seconds."""

    method: str
    space: str
    X: np.ndarray
    runs: list[np.ndarray]
    seconds: float

    @property
    def labels(self) -> np.ndarray:
        return self.runs[0]


def order_by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel so that 0 is the largest cluster (ties by old label)."""
    labels = np.asarray(labels, dtype=int)
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    lut = np.empty(ids.max() + 1, dtype=int)
    lut[order] = np.arange(len(order))
    return lut[labels]


def stability(runs: Sequence[np.ndarray]) -> float:
    """Mean pairwise adjusted Rand index between the labellings of different seeds (NaN with one seed)."""
    pairs = list(combinations(range(len(runs)), 2))
    return float(np.mean([adjusted_rand_score(runs[i], runs[j]) for i, j in pairs])) if pairs else np.nan


def kmeans_runs(X: np.ndarray, k: int, seeds: Sequence[int], n_init: int = 4) -> list[np.ndarray]:
    """K-Means on ``X`` once per seed (one thread), labels ordered by size."""
    with limit_threads(1):
        return [order_by_size(KMeans(k, n_init=n_init, random_state=s).fit_predict(X)) for s in seeds]


def arm_scores(arm: Arm, X_common: np.ndarray, random_state: int = SEED, own: str = "",
               common: str = "_common") -> dict:
    """method, space, clusters, silhouette / Davies-Bouldin / Calinski-Harabasz in the arm's own space (suffix
    ``own``) and in ``X_common`` (suffix ``common``), and stability_ari; first seed's labels."""
    own_m = cluster_metrics(arm.X, arm.labels, random_state=random_state)
    common_m = cluster_metrics(X_common, arm.labels, random_state=random_state)
    return {"method": arm.method, "space": arm.space, "clusters": own_m["n_clusters"],
            **{f"{m}{own}": own_m[m] for m in _METRICS}, **{f"{m}{common}": common_m[m] for m in _METRICS},
            "stability_ari": stability(arm.runs)}


def arm_maps(arms: Sequence[Arm], customer_ids: Sequence, random_state: int = SEED) -> pd.DataFrame:
    """2-D PCA map of each arm in its own space: method, customer_id, cluster, x, y, x_label, y_label."""
    parts = []
    for arm in arms:
        cmap = map_coordinates(arm.X, arm.labels, method="pca", random_state=random_state)
        parts.append(pd.DataFrame({"method": arm.method, "customer_id": list(customer_ids), "cluster": arm.labels,
                                   "x": cmap.coords[:, 0], "y": cmap.coords[:, 1],
                                   "x_label": cmap.x_label, "y_label": cmap.y_label}))
    return pd.concat(parts, ignore_index=True)
