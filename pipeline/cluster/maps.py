"""2-D maps of customers for plotting a clustering: the two raw features, PCA, or t-SNE.

:func:`map_coordinates` returns a :class:`ClusterMap` (customer and cluster-centre coordinates with axis labels)
whose ``place`` puts new customers on the same map. Any other projection (e.g. UMAP) belongs here as one more
``method``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from pipeline.cluster.algorithms import cluster_means, limit_threads
from pipeline.cluster.features import as_numeric
from pipeline.config import SEED, ClusterConfig
from pipeline.errors import DataError

__all__ = ["ClusterMap", "map_coordinates"]


@dataclass
class ClusterMap:
    """2-D coordinates of every customer and of every cluster centre, with axis labels.

    ``method`` is "features" (the two chosen features, raw units), "pca" or "tsne". ``place`` puts new rows on
    the same map.
    """

    coords: np.ndarray
    centroids: np.ndarray
    x_label: str
    y_label: str
    method: str
    explained_variance: tuple[float, ...] | None = None
    pca: PCA | None = field(default=None, repr=False)
    neighbours: NearestNeighbors | None = field(default=None, repr=False)
    raw_columns: tuple[str, ...] = ()

    def place(self, X_new: np.ndarray, raw_new: pd.DataFrame | None = None) -> np.ndarray:
        """Map coordinates of new rows (``X_new`` in matrix space; ``raw_new`` needed for the features view)."""
        X_new = np.atleast_2d(np.asarray(X_new, dtype=float))
        if self.method == "features":
            vals = raw_new[list(self.raw_columns)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            return np.column_stack([vals, np.zeros((len(vals), 2 - vals.shape[1]))])
        if self.method == "pca":
            return self.pca.transform(X_new)
        _, idx = self.neighbours.kneighbors(X_new)          # t-SNE has no transform: mean of nearest neighbours
        return self.coords[idx].mean(axis=1)


def _group_means(coords: np.ndarray, labels: np.ndarray) -> np.ndarray:
    n = int(labels.max()) + 1 if (labels >= 0).any() else 0
    return cluster_means(coords, labels, n)


def map_coordinates(X: np.ndarray, labels: np.ndarray, raw: pd.DataFrame | None = None, method: str = "auto",
                    random_state: int = SEED, config: ClusterConfig = ClusterConfig()) -> ClusterMap:
    """2-D map of the customers.

    ``method="auto"``: the raw features when ``raw`` has exactly two numeric columns (or one, drawn against 0),
    else PCA. ``"tsne"`` is offered up to ``config.tsne_max`` customers. Cluster centres are the cluster means
    on the map (PCA: the projected matrix-space centroids).
    """
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    if method not in ("auto", "features", "pca", "tsne"):
        raise DataError(f"map: unknown projection {method!r}; choose auto, features, pca or tsne.")
    numeric_raw = raw is not None and 1 <= raw.shape[1] <= 2 and all(
        as_numeric(raw[c]) is not None for c in raw.columns)
    if method == "features" and not numeric_raw:
        raise DataError("map: the features view needs one or two numeric features; use PCA instead.")
    if method == "features" or (method == "auto" and (numeric_raw or X.shape[1] == 1) and raw is not None):
        cols = tuple(map(str, raw.columns))
        vals = raw.apply(pd.to_numeric, errors="coerce")
        vals = vals.fillna(vals.median()).to_numpy(float)
        coords = np.column_stack([vals, np.zeros((len(vals), 2 - vals.shape[1]))])
        return ClusterMap(coords, _group_means(coords, labels), cols[0], cols[1] if len(cols) > 1 else "",
                          "features", raw_columns=cols)
    if method == "tsne":
        return _tsne_map(X, labels, random_state, config)
    with limit_threads(config.threads):
        pca = PCA(n_components=min(2, X.shape[1]), random_state=random_state).fit(X)
        coords = pca.transform(X)
    coords = np.column_stack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    ev = tuple(float(v) for v in pca.explained_variance_ratio_)
    centres = pca.transform(_group_means(X, labels)) if (labels >= 0).any() else np.empty((0, 2))
    labels_xy = [f"PC{i + 1} ({v:.0%} of variance)" for i, v in enumerate(ev)] + [""]
    return ClusterMap(coords, np.column_stack([centres, np.zeros((len(centres), 2 - centres.shape[1]))]),
                      labels_xy[0], labels_xy[1], "pca", explained_variance=ev, pca=pca)


def _tsne_map(X: np.ndarray, labels: np.ndarray, random_state: int, config: ClusterConfig) -> ClusterMap:
    from sklearn.manifold import TSNE

    if len(X) > config.tsne_max:
        raise DataError(f"map: t-SNE is limited to {config.tsne_max:,} customers (this table has {len(X):,}); "
                        "use PCA.")
    if len(X) < 5:
        raise DataError("map: t-SNE needs at least 5 customers; use PCA.")
    perplexity = float(min(30.0, (len(X) - 1) / 3))
    with limit_threads(config.threads):
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(X)
    nn = NearestNeighbors(n_neighbors=min(5, len(X))).fit(X)
    return ClusterMap(coords, _group_means(coords, labels), "t-SNE 1", "t-SNE 2", "tsne", neighbours=nn)
