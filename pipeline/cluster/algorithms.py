"""Clustering algorithms as data: K-Means, Gaussian mixture, Ward and HDBSCAN behind one estimator.

Each entry of :data:`METHODS` says what the algorithm needs (does it take k?) and how it fits, including how it
scales (sampling for large tables); :class:`ClusterModel` wraps any of them as a scikit-learn estimator whose labels
are ordered by size (0 = largest, :data:`NOISE` = -1 for HDBSCAN's noise) and whose ``predict`` places new rows.
A new algorithm is a new :class:`Method` entry here. Thread limits for the numeric libraries live here too.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from threadpoolctl import threadpool_limits

from pipeline.config import SEED, ClusterConfig
from pipeline.errors import DataError

__all__ = [
    "NOISE", "limit_threads", "Method", "METHODS", "check_matrix", "cluster_means",
    "ClusterModel", "ClusterFit", "fit_clusters",
]

NOISE = -1


def limit_threads(threads: int | None) -> AbstractContextManager:
    """Context limiting OpenMP/BLAS threads (``None``: library default). See ``ClusterConfig.threads``."""
    return nullcontext() if threads is None else threadpool_limits(threads)


def _sample(n: int, size: int, random_state: int) -> np.ndarray | None:
    """Sorted row indices of a random sample, or None when all rows fit."""
    if n <= size:
        return None
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))


def _fit_kmeans(X: np.ndarray, k: int, random_state: int, cfg: ClusterConfig):
    """K-Means; on large n the seeds come from a sample and one Lloyd run finishes on all rows."""
    idx = _sample(len(X), cfg.kmeans_init_sample, random_state) if len(X) >= cfg.large_n else None
    if idx is None:
        km = KMeans(k, n_init=cfg.kmeans_n_init, random_state=random_state).fit(X)
    else:
        seeds = KMeans(k, n_init=cfg.kmeans_n_init, random_state=random_state).fit(X[idx]).cluster_centers_
        km = KMeans(k, init=seeds, n_init=1, max_iter=100, random_state=random_state).fit(X)
    return km.labels_, km, []


def _fit_gmm(X: np.ndarray, k: int, random_state: int, cfg: ClusterConfig):
    idx = _sample(len(X), cfg.gmm_sample, random_state)
    gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, n_init=2, random_state=random_state)
    gm.fit(X if idx is None else X[idx])
    notes = [] if idx is None else [f"Gaussian mixture fitted on a sample of {len(idx):,} customers"]
    return gm.predict(X), gm, notes


def _fit_agglomerative(X: np.ndarray, k: int, random_state: int, cfg: ClusterConfig):
    idx = _sample(len(X), cfg.agglomerative_sample, random_state)
    part = X if idx is None else X[idx]
    sample_labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(part)
    nearest = NearestCentroid().fit(part, sample_labels)
    if idx is None:
        return sample_labels, nearest, []
    labels = nearest.predict(X)
    labels[idx] = sample_labels
    return labels, nearest, [f"Ward linkage fitted on a sample of {len(idx):,} customers; "
                             "the others joined the nearest cluster centre"]


def _fit_hdbscan(X: np.ndarray, k: int, random_state: int, cfg: ClusterConfig):
    idx = _sample(len(X), cfg.hdbscan_sample, random_state)
    part = X if idx is None else X[idx]
    min_size = max(5, len(part) // 100)
    sample_labels = HDBSCAN(min_cluster_size=min_size, copy=True).fit_predict(part)
    if (sample_labels == NOISE).all():
        raise DataError("clustering: HDBSCAN found no dense group (every customer is noise); "
                        "use K-Means or choose other features.")
    nearest = KNeighborsClassifier(n_neighbors=1).fit(part, sample_labels)
    notes = [f"HDBSCAN with min_cluster_size={min_size}"]
    if idx is None:
        return sample_labels, nearest, notes
    labels = nearest.predict(X)
    labels[idx] = sample_labels
    return labels, nearest, notes + [f"fitted on a sample of {len(idx):,} customers; the others took the "
                                     "label of their nearest sampled neighbour"]


@dataclass(frozen=True)
class Method:
    """A clustering algorithm: key, label for the UI, whether it takes k, what to tell the user, how to fit."""

    key: str
    label: str
    uses_k: bool
    note: str
    fit: Callable = field(repr=False)


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("kmeans", "K-Means", True, "spherical groups of similar size; the default", _fit_kmeans),
    Method("gmm", "Gaussian mixture", True, "elliptical groups of different shapes and sizes", _fit_gmm),
    Method("agglomerative", "Agglomerative (Ward)", True,
           "hierarchical merging; large tables are fitted on a sample", _fit_agglomerative),
    Method("hdbscan", "HDBSCAN", False,
           "finds the number of groups itself; customers in no dense region are 'noise'", _fit_hdbscan),
)}


def check_matrix(X: np.ndarray, k: int | None = None) -> np.ndarray:
    """``X`` as a float matrix, or ``DataError`` when it cannot be clustered (into ``k`` clusters)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataError("clustering: the feature matrix is empty; choose at least one feature.")
    if len(X) < 2:
        raise DataError(f"clustering: {len(X)} customer(s); clustering needs at least 2.")
    if not np.isfinite(X).all():
        raise DataError("clustering: the feature matrix has missing or infinite values; build it with prepare_matrix.")
    if k is not None:
        if k < 2:
            raise DataError(f"clustering: k={k}; choose at least 2 clusters.")
        if len(X) < k:
            raise DataError(f"clustering: {len(X):,} customers cannot form k={k} clusters; "
                            f"choose k <= {len(X)} or load more customers.")
        if len(X) <= 100_000 and len(np.unique(X, axis=0)) < k:
            raise DataError(f"clustering: only {len(np.unique(X, axis=0))} distinct customer profiles for k={k}; "
                            "choose a smaller k or more features.")
    return X


class ClusterModel(ClusterMixin, BaseEstimator):
    """Fit one of :data:`METHODS`; ``predict``/``assign`` place new rows (same matrix space) in a cluster.

    Fitted attributes: ``labels_`` (0 = largest cluster, -1 = noise), ``cluster_centers_`` (mean of each
    cluster in matrix space), ``n_clusters_``, ``notes_`` (what was sampled), ``assigner_`` (fitted sklearn
    estimator whose ``predict`` gives raw labels) and ``relabel_`` (raw label -> ordered label).
    """

    def __init__(self, method: str = "kmeans", k: int = 4, random_state: int = SEED,
                 config: ClusterConfig = ClusterConfig()):
        self.method = method
        self.k = k
        self.random_state = random_state
        self.config = config

    def fit(self, X: np.ndarray, y=None) -> "ClusterModel":
        if self.method not in METHODS:
            raise DataError(f"clustering: unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        spec = METHODS[self.method]
        X = check_matrix(X, self.k if spec.uses_k else None)
        with limit_threads(self.config.threads):
            raw, self.assigner_, self.notes_ = spec.fit(X, self.k, self.random_state, self.config)
        ids, counts = np.unique(raw[raw != NOISE], return_counts=True)
        order = ids[np.lexsort((ids, -counts))]
        self.relabel_ = {int(r): i for i, r in enumerate(order)} | {NOISE: NOISE}
        self.labels_ = self._relabel(raw)
        self.n_clusters_ = len(order)
        self.cluster_centers_ = cluster_means(X, self.labels_, self.n_clusters_)
        return self

    def _relabel(self, raw: np.ndarray) -> np.ndarray:
        lut = np.full(max(self.relabel_) + 2, NOISE)
        for old, new in self.relabel_.items():
            lut[old + 1] = new
        return lut[np.asarray(raw, dtype=int) + 1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Cluster of each row of ``X`` (built by the same transformer)."""
        with limit_threads(self.config.threads):
            return self._relabel(np.asarray(self.assigner_.predict(np.asarray(X, dtype=float))))

    assign = predict


def cluster_means(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean row of each cluster ``0..n_clusters-1`` (noise ignored; an empty cluster gives zeros)."""
    keep = labels >= 0
    counts = np.bincount(labels[keep], minlength=n_clusters).astype(float)
    sums = np.column_stack([np.bincount(labels[keep], weights=X[keep, j], minlength=n_clusters)
                            for j in range(X.shape[1])])
    return sums / np.maximum(counts, 1)[:, None]


@dataclass
class ClusterFit:
    """Result of :func:`fit_clusters`."""

    labels: np.ndarray
    centroids: np.ndarray
    model: ClusterModel
    method: str
    notes: list[str]

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)


def fit_clusters(X: np.ndarray, method: str = "kmeans", k: int = 4, random_state: int = SEED,
                 config: ClusterConfig = ClusterConfig()) -> ClusterFit:
    """Cluster the rows of ``X``: labels (by size, -1 noise), centroids in ``X`` space, model with ``assign``."""
    model = ClusterModel(method, k, random_state, config).fit(X)
    return ClusterFit(model.labels_, model.cluster_centers_, model, method, list(model.notes_))
