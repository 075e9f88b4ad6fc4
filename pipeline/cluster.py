"""Customer clustering: feature matrix, algorithms, k selection, 2-D maps, cluster profiles and names.

Typical use (``customers`` has one row per customer)::

    X, tf = prepare_matrix(customers, ["recency_days", "frequency", "monetary"])
    sweep = select_k(X)                                  # table of metrics + recommended k and why
    fit = fit_clusters(X, "kmeans", sweep.recommended_k)
    cmap = map_coordinates(X, fit.labels, raw=customers[tf.features_])
    profiles = cluster_profiles(customers, fit.labels, tf, revenue_col="monetary")
    new = assign_new(fit.model, tf, {"recency_days": 10, "frequency": 4, "monetary": 900}, cmap)

``cluster_customers`` runs all of it in one call (what the page and the CLI use).
Cluster ids are ordered by size (0 = largest); HDBSCAN's noise keeps the id ``-1`` and the name ``"noise"``.
"""
from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid, NearestNeighbors
from threadpoolctl import threadpool_limits

from pipeline.config import ClusterConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.log import logged

__all__ = [
    "NOISE", "NOISE_NAME", "NAME_RULES", "Method", "METHODS", "limit_threads",
    "CustomerFeatures", "prepare_matrix",
    "ClusterModel", "ClusterFit", "fit_clusters", "cluster_metrics",
    "KSweep", "elbow_point", "select_k",
    "ClusterMap", "map_coordinates",
    "name_clusters", "cluster_profiles", "segment_mix",
    "NewCustomer", "assign_new",
    "ClusterRun", "cluster_customers",
]

NOISE = -1
NOISE_NAME = "noise"

#: Words for a cluster whose mean of a feature is clearly above / below the overall mean.
#: (pattern matched as whole words in the lower-cased column name, word if high, word if low); first match wins.
NAME_RULES: tuple[tuple[str, str, str], ...] = (
    ("trend", "rising", "falling"),
    ("recency|days since", "lapsed", "recent"),
    ("days between", "slow to reorder", "quick to reorder"),
    ("spending score", "high spending score", "low spending score"),
    ("income", "high income", "low income"),
    ("avg order value|aov|order value|basket", "big baskets", "small baskets"),
    ("monetary|spend|revenue|amount|sales", "high spend", "low spend"),
    ("frequency|orders|visits|purchases", "frequent", "infrequent"),
    ("tenure|first purchase", "long-standing", "new"),
    ("return rate|return count|returns", "many returns", "few returns"),
    ("n products|products", "broad range", "narrow range"),
    ("n categories|categories", "many categories", "few categories"),
    ("age", "older", "younger"),
)


def limit_threads(threads: int | None):
    """Context limiting OpenMP/BLAS threads (``None``: library default). See ``ClusterConfig.threads``."""
    return nullcontext() if threads is None else threadpool_limits(threads)


# ----------------------------------------------------------------------------------------------------------------
# Feature matrix
# ----------------------------------------------------------------------------------------------------------------

def _as_numeric(col: pd.Series) -> pd.Series | None:
    """The column as float (inf -> NaN), or None when it is text that is not all numbers."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(float).replace([np.inf, -np.inf], np.nan)
    converted = pd.to_numeric(col, errors="coerce")
    if converted.notna().sum() == col.notna().sum() and col.notna().any():
        return converted.astype(float).replace([np.inf, -np.inf], np.nan)
    return None


def _as_category(col: pd.Series) -> pd.Series:
    return col.astype(object).where(col.notna(), "(missing)").astype(str)


class CustomerFeatures(TransformerMixin, BaseEstimator):
    """Turn a customer table into the clustering matrix; reusable for new (hypothetical) customers.

    Numeric columns: missing values -> training median, optional ``log1p``, optional standardisation.
    Categorical columns (text columns, plus numeric ones named in ``categorical``): one-hot, unscaled.
    Constant columns are dropped (listed in ``warnings_``); empty columns, unknown columns, text columns with
    too many values, and tables with fewer than two customers raise ``DataError``.

    Parameters
    ----------
    features : columns to use.
    log_cols : "auto" (non-negative columns with skewness above ``config.skew_threshold``), or a list.
    scale : standardise numeric columns.
    categorical : numeric columns to one-hot encode instead (e.g. integer codes such as ``Education``).
    """

    def __init__(self, features: Sequence[str] = (), log_cols: str | Sequence[str] = "auto",
                 scale: bool = True, categorical: Sequence[str] = (), config: ClusterConfig = ClusterConfig()):
        self.features = features
        self.log_cols = log_cols
        self.scale = scale
        self.categorical = categorical
        self.config = config

    # -- fitting ----------------------------------------------------------------------------------------------
    def _check_frame(self, df: pd.DataFrame) -> list[str]:
        if not isinstance(df, pd.DataFrame):
            raise DataError("clustering: expected a table of customers (one row each).")
        features = list(dict.fromkeys(self.features))
        if not features:
            raise DataError("clustering: no feature chosen; pick at least one numeric or categorical column.")
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise DataError(f"clustering: column(s) {', '.join(map(repr, missing))} not in the table; "
                            f"choose from {', '.join(map(str, df.columns[:20]))}.")
        if len(df) < 2:
            raise DataError(f"clustering: the table has {len(df)} customer(s); clustering needs at least 2 "
                            "(one row per customer). Load more customers.")
        return features

    def _sort_columns(self, df: pd.DataFrame, features: list[str]):
        numeric, categorical, dropped, empty, too_many = {}, {}, [], [], []
        for f in features:
            col = df[f]
            if col.isna().all():
                empty.append(f)
                continue
            if pd.api.types.is_datetime64_any_dtype(col):
                raise DataError(f"clustering: column {f!r} holds dates; cluster on a number derived from it "
                                "(e.g. recency_days or tenure_days) instead.")
            values = None if f in self.categorical else _as_numeric(col)
            if values is not None:
                if values.nunique(dropna=True) <= 1:
                    dropped.append(f"column {f!r} is constant ({values.dropna().iloc[0]:g}) and was left out")
                else:
                    numeric[f] = values
                continue
            cats = _as_category(col)
            n = cats.nunique()
            if n <= 1:
                dropped.append(f"column {f!r} is constant ({cats.iloc[0]!r}) and was left out")
            elif n > self.config.max_categories:
                too_many.append(f"{f!r} ({n:,} distinct values)")
            else:
                categorical[f] = cats
        if empty:
            raise DataError(f"clustering: column(s) {', '.join(map(repr, empty))} have no values at all; "
                            "deselect them or fix the upload.")
        if too_many:
            raise DataError(f"clustering: text column(s) {', '.join(too_many)} have more than "
                            f"{self.config.max_categories} categories to one-hot encode; deselect them "
                            "(an id or free-text column is not a feature).")
        if not numeric and not categorical:
            raise DataError("clustering: no usable feature left (" + "; ".join(dropped or ["none chosen"]) +
                            "). Choose columns that vary between customers.")
        return numeric, categorical, dropped

    def _choose_log(self, numeric: dict[str, pd.Series]) -> list[str]:
        if isinstance(self.log_cols, str) and self.log_cols == "auto":
            return [f for f, v in numeric.items()
                    if v.min() >= 0 and v.skew() > self.config.skew_threshold]
        chosen = list(self.log_cols or ())
        unknown = [c for c in chosen if c not in numeric]
        if unknown:
            raise DataError(f"clustering: log transform asked for {', '.join(map(repr, unknown))}, which are not "
                            "numeric features in use; choose among " + ", ".join(map(repr, numeric)) + ".")
        negative = [c for c in chosen if numeric[c].min() < 0]
        if negative:
            raise DataError(f"clustering: log1p needs non-negative values but {', '.join(map(repr, negative))} "
                            "have negative ones; do not log-transform them.")
        return chosen

    def fit(self, df: pd.DataFrame, y=None) -> "CustomerFeatures":
        """Learn medians, log columns, scaling and categories from ``df``."""
        features = self._check_frame(df)
        numeric, categorical, dropped = self._sort_columns(df, features)
        self.numeric_ = list(numeric)
        self.categorical_ = list(categorical)
        self.features_ = self.numeric_ + self.categorical_
        self.log_cols_ = self._choose_log(numeric)
        self.medians_ = {f: float(v.median()) for f, v in numeric.items()}
        self.categories_ = {f: sorted(v.unique()) for f, v in categorical.items()}
        self.warnings_ = dropped + [
            f"column {f!r}: {int(v.isna().sum()):,} missing value(s) filled with the median ({self.medians_[f]:g})"
            for f, v in numeric.items() if v.isna().any()]
        block = self._numeric_block(df, check=False)
        self.center_ = block.mean(axis=0) if self.scale else np.zeros(block.shape[1])
        std = block.std(axis=0) if self.scale else np.ones(block.shape[1])
        self.scale_ = np.where(std > 0, std, 1.0)
        self.feature_names_out_ = self.numeric_ + [f"{f}={c}" for f in self.categorical_
                                                   for c in self.categories_[f]]
        return self

    # -- transforming -----------------------------------------------------------------------------------------
    def _numeric_block(self, df: pd.DataFrame, check: bool = True) -> np.ndarray:
        cols = []
        for f in self.numeric_:
            values = _as_numeric(df[f]) if check else pd.to_numeric(df[f], errors="coerce")
            if values is None:
                bad = df[f][pd.to_numeric(df[f], errors="coerce").isna() & df[f].notna()].iloc[0]
                raise DataError(f"clustering: column {f!r} must be a number, got {bad!r}.")
            values = values.astype(float).replace([np.inf, -np.inf], np.nan).fillna(self.medians_[f])
            if f in self.log_cols_:
                if check and (values < 0).any():
                    raise DataError(f"clustering: {f!r} is log-transformed and must be >= 0, "
                                    f"got {values.min():g}.")
                values = np.log1p(values.clip(lower=0))
            cols.append(values.to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.empty((len(df), 0))

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Matrix for ``df`` (same columns as at fit; unknown categories become all-zero one-hot rows)."""
        missing = [f for f in self.features_ if f not in df.columns]
        if missing:
            raise DataError(f"clustering: missing value(s) for {', '.join(map(repr, missing))}; give every feature.")
        block = (self._numeric_block(df) - self.center_) / self.scale_
        onehot = [(_as_category(df[f]).to_numpy()[:, None] == np.asarray(self.categories_[f], dtype=object)[None, :])
                  .astype(float) for f in self.categorical_]
        return np.hstack([block, *onehot]) if onehot else block

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)


def prepare_matrix(df: pd.DataFrame, features: Sequence[str], log_cols: str | Sequence[str] = "auto",
                   scale: bool = True, categorical: Sequence[str] = (),
                   config: ClusterConfig = ClusterConfig()) -> tuple[np.ndarray, CustomerFeatures]:
    """Fit a :class:`CustomerFeatures` on ``df`` and return ``(matrix, fitted transformer)``.

    Dropped constant columns and filled missing values are listed in ``transformer.warnings_``.
    """
    tf = CustomerFeatures(features, log_cols=log_cols, scale=scale, categorical=categorical, config=config)
    return tf.fit(df).transform(df), tf


# ----------------------------------------------------------------------------------------------------------------
# Algorithms (as data: each entry says what it needs and how it fits)
# ----------------------------------------------------------------------------------------------------------------

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


def _check_matrix(X: np.ndarray, k: int | None = None) -> np.ndarray:
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

    def __init__(self, method: str = "kmeans", k: int = 4, random_state: int = 42,
                 config: ClusterConfig = ClusterConfig()):
        self.method = method
        self.k = k
        self.random_state = random_state
        self.config = config

    def fit(self, X: np.ndarray, y=None) -> "ClusterModel":
        if self.method not in METHODS:
            raise DataError(f"clustering: unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        spec = METHODS[self.method]
        X = _check_matrix(X, self.k if spec.uses_k else None)
        with limit_threads(self.config.threads):
            raw, self.assigner_, self.notes_ = spec.fit(X, self.k, self.random_state, self.config)
        ids, counts = np.unique(raw[raw != NOISE], return_counts=True)
        order = ids[np.lexsort((ids, -counts))]
        self.relabel_ = {int(r): i for i, r in enumerate(order)} | {NOISE: NOISE}
        self.labels_ = self._relabel(raw)
        self.n_clusters_ = len(order)
        self.cluster_centers_ = _centroids(X, self.labels_, self.n_clusters_)
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


def _centroids(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
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


def fit_clusters(X: np.ndarray, method: str = "kmeans", k: int = 4, random_state: int = 42,
                 config: ClusterConfig = ClusterConfig()) -> ClusterFit:
    """Cluster the rows of ``X``: labels (by size, -1 noise), centroids in ``X`` space, model with ``assign``."""
    model = ClusterModel(method, k, random_state, config).fit(X)
    return ClusterFit(model.labels_, model.cluster_centers_, model, method, list(model.notes_))


def cluster_metrics(X: np.ndarray, labels: np.ndarray, sample_size: int = 10_000,
                    random_state: int = 42, threads: int | None = 1) -> dict[str, float]:
    """Silhouette (on a sample), Davies-Bouldin, Calinski-Harabasz, ignoring noise; NaN when undefined."""
    labels = np.asarray(labels)
    keep = labels != NOISE
    Xk, lk = np.asarray(X, dtype=float)[keep], labels[keep]
    n_labels = len(np.unique(lk))
    out = {"n_clusters": int(n_labels), "noise_share": float(1 - keep.mean()) if len(labels) else 0.0,
           "silhouette": np.nan, "davies_bouldin": np.nan, "calinski_harabasz": np.nan}
    if 2 <= n_labels <= len(lk) - 1:
        with limit_threads(threads):
            out.update(_scores(Xk, lk, sample_size, random_state))
    return out


def _scores(X: np.ndarray, labels: np.ndarray, sample_size: int, random_state: int) -> dict[str, float]:
    sample = sample_size if sample_size < len(labels) else None
    return {"silhouette": float(silhouette_score(X, labels, sample_size=sample, random_state=random_state)),
            "davies_bouldin": float(davies_bouldin_score(X, labels)),
            "calinski_harabasz": float(calinski_harabasz_score(X, labels))}


# ----------------------------------------------------------------------------------------------------------------
# Choosing k
# ----------------------------------------------------------------------------------------------------------------

def elbow_point(ks: Sequence[int], inertia: Sequence[float]) -> int | None:
    """Kneedle elbow of a decreasing inertia curve: the k farthest below the chord from first to last point.

    Both axes are scaled to [0, 1]; returns None when the curve is not convex enough to have an elbow.
    """
    x, y = np.asarray(ks, dtype=float), np.asarray(inertia, dtype=float)
    if len(x) < 3 or np.ptp(y) == 0:
        return None
    xn, yn = (x - x[0]) / (x[-1] - x[0]), (y - y.min()) / np.ptp(y)
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    gap = chord - yn
    best = int(np.argmax(gap))
    return int(ks[best]) if gap[best] > 0.05 else None


@dataclass
class KSweep:
    """Result of :func:`select_k`: one row per k, the elbow, the recommended k and why."""

    table: pd.DataFrame
    elbow_k: int | None
    recommended_k: int
    reason: str


def _sweep_reason(table: pd.DataFrame, elbow: int | None, tol: float) -> tuple[int, str]:
    sil = table.set_index("k")["silhouette"]
    best = sil.max()
    ties = sorted(int(k) for k in sil.index[sil >= best - tol])
    if len(ties) == 1:
        k, why = ties[0], f"highest silhouette ({best:.3f})"
    else:
        k = min(ties, key=lambda t: (abs(t - elbow), t)) if elbow is not None else ties[0]
        tie_text = ", ".join(map(str, ties))
        why = (f"silhouette within {tol} of the best ({best:.3f}) for k = {tie_text}; "
               + (f"k={k} is nearest the inertia elbow (k={elbow})" if elbow is not None
                  else f"k={k} is the simplest"))
    extras = [f"elbow of inertia at k={elbow}" if elbow is not None and len(ties) == 1 else None,
              f"Davies-Bouldin lowest at k={int(table.loc[table['davies_bouldin'].idxmin(), 'k'])}",
              f"Calinski-Harabasz highest at k={int(table.loc[table['calinski_harabasz'].idxmax(), 'k'])}"]
    return k, f"k={k}: {why}; " + "; ".join(e for e in extras if e)


@logged("select_k")
def select_k(X: np.ndarray, ks: Sequence[int] | None = None, method: str = "kmeans", random_state: int = 42,
             config: ClusterConfig = ClusterConfig()) -> KSweep:
    """Fit ``method`` for each k (default ``config.k_min..k_max``) and recommend one.

    Table columns: k, inertia (within-cluster sum of squares), silhouette (sample of at most
    ``config.silhouette_sample``), davies_bouldin, calinski_harabasz. The recommendation is the best silhouette;
    near-ties (within ``config.silhouette_tolerance``) go to the k nearest the inertia elbow.
    """
    if method in METHODS and not METHODS[method].uses_k:
        raise DataError(f"clustering: {METHODS[method].label} chooses the number of clusters itself; "
                        "there is no k to select.")
    X = _check_matrix(X)
    ks = sorted(set(ks if ks is not None else range(config.k_min, config.k_max + 1)))
    n_distinct = len(np.unique(X, axis=0)) if len(X) <= 100_000 else len(X)
    ks = [k for k in ks if 2 <= k <= min(len(X) - 1, n_distinct)]
    if not ks:
        raise DataError(f"clustering: {len(X)} customers ({n_distinct} distinct) are too few to compare "
                        "numbers of clusters; at least 3 distinct customers are needed.")
    rows = []
    for k in ks:
        fit = fit_clusters(X, method, k, random_state, config)
        inertia = float(((X - fit.centroids[fit.labels]) ** 2).sum())
        scores = cluster_metrics(X, fit.labels, config.silhouette_sample, random_state, config.threads)
        rows.append({"k": k, "inertia": inertia,
                     **{m: scores[m] for m in ("silhouette", "davies_bouldin", "calinski_harabasz")}})
    table = pd.DataFrame(rows)
    elbow = elbow_point(table["k"].tolist(), table["inertia"].tolist())
    if table["silhouette"].isna().all():
        return KSweep(table, elbow, ks[0], f"k={ks[0]}: metrics undefined for this data")
    k, reason = _sweep_reason(table, elbow, config.silhouette_tolerance)
    return KSweep(table, elbow, k, reason)


# ----------------------------------------------------------------------------------------------------------------
# 2-D map
# ----------------------------------------------------------------------------------------------------------------

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
    return _centroids(coords, labels, n)


def map_coordinates(X: np.ndarray, labels: np.ndarray, raw: pd.DataFrame | None = None, method: str = "auto",
                    random_state: int = 42, config: ClusterConfig = ClusterConfig()) -> ClusterMap:
    """2-D map of the customers.

    ``method="auto"``: the raw features when ``raw`` has exactly two numeric columns (or one, drawn against 0),
    else PCA. ``"tsne"`` is offered up to ``config.tsne_max`` customers. Cluster centres are the cluster means
    on the map (PCA: the projected matrix-space centroids).
    """
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    if method not in ("auto", "features", "pca", "tsne"):
        raise DataError(f"map: unknown projection {method!r}; choose auto, features, pca or tsne.")
    numeric_raw = raw is not None and 1 <= raw.shape[1] <= 2 and all(
        _as_numeric(raw[c]) is not None for c in raw.columns)
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


# ----------------------------------------------------------------------------------------------------------------
# Profiles and names
# ----------------------------------------------------------------------------------------------------------------

def _words_for(feature: str, rules: Sequence[tuple[str, str, str]]) -> tuple[str, str]:
    norm = " ".join(re.sub(r"[^a-z0-9]+", " ", feature.lower()).split())
    for pattern, high, low in rules:
        if re.search(rf"\b(?:{pattern})\b", norm):
            return high, low
    return f"high {feature}", f"low {feature}"


def _cluster_terms(z: pd.Series, cat_terms: list[str], rules, threshold: float, limit: int) -> list[str]:
    """Terms for one cluster, strongest first: numeric features beyond the threshold, then categorical ones."""
    terms: list[str] = []
    for feat in z.abs().sort_values(ascending=False, kind="stable").index:
        if abs(z[feat]) < threshold:
            break
        high, low = _words_for(str(feat), rules)
        word = high if z[feat] > 0 else low
        if word not in terms:
            terms.append(word)
    return (terms + cat_terms)[:limit]


def name_clusters(z_scores: pd.DataFrame, cat_terms: dict[int, list[str]] | None = None,
                  rules: Sequence[tuple[str, str, str]] = NAME_RULES,
                  config: ClusterConfig = ClusterConfig()) -> dict[int, str]:
    """Unique descriptive names from per-cluster z-scores of feature means (rows = cluster ids).

    A feature is mentioned when ``|z| >= config.name_threshold`` (at most ``config.name_max_terms``);
    a cluster close to the mean on everything is "average". Clusters sharing a name get weaker and extra
    terms; any name still shared gets a number.
    """
    cat_terms = cat_terms or {}

    def name(cid, threshold: float, limit: int) -> str:
        return ", ".join(_cluster_terms(z_scores.loc[cid], cat_terms.get(cid, []), rules, threshold, limit))

    names = {cid: name(cid, config.name_threshold, config.name_max_terms) or "average" for cid in z_scores.index}
    counts = pd.Series(names).value_counts()
    for cid in z_scores.index:
        if counts[names[cid]] > 1:
            names[cid] = name(cid, 0.1, config.name_max_terms + 2) or names[cid]
    seen: dict[str, int] = {}
    counts = pd.Series(names, dtype=object).value_counts()
    for cid in z_scores.index:
        if counts[names[cid]] > 1:
            base = names[cid]
            seen[base] = seen.get(base, 0) + 1
            names[cid] = f"{base} ({seen[base]})"
    return names


def _categorical_terms(df: pd.DataFrame, labels: np.ndarray, tf: CustomerFeatures) -> dict[int, list[str]]:
    """'mostly X' for categories that make up >= 80% of a cluster but <= 65% overall."""
    out: dict[int, list[str]] = {}
    for f in tf.categorical_:
        cats = _as_category(df[f])
        overall = cats.value_counts(normalize=True)
        mix = pd.crosstab(labels, cats, normalize="index")
        for cid, row in mix.iterrows():
            top = row.idxmax()
            if cid != NOISE and row[top] >= 0.8 and overall[top] <= 0.65:
                label = f"{f} {top}" if re.fullmatch(r"-?\d+(\.\d+)?", str(top)) else str(top)
                out.setdefault(int(cid), []).append(f"mostly {label}")
    return out


def segment_mix(df: pd.DataFrame, labels: np.ndarray, segment_col: str) -> pd.DataFrame:
    """Share of each segment (columns) within each cluster (rows); rows sum to 1."""
    if segment_col not in df.columns:
        raise DataError(f"profiles: segment column {segment_col!r} not in the table.")
    return pd.crosstab(pd.Series(labels, name="cluster"), _as_category(df[segment_col]).to_numpy(),
                       normalize="index").rename_axis(columns=segment_col)


def cluster_profiles(df: pd.DataFrame, labels: np.ndarray, transformer: CustomerFeatures,
                     revenue_col: str | None = None, segment_col: str | None = None,
                     rules: Sequence[tuple[str, str, str]] = NAME_RULES,
                     config: ClusterConfig = ClusterConfig()) -> pd.DataFrame:
    """One row per cluster (noise last): cluster, name, size, share, revenue_share, feature means, mix.

    Numeric features are averaged in raw units; a categorical feature shows its most common value and share;
    ``top_segments`` lists the three commonest segments. Names compare each cluster's mean in the transformed
    space (log/standardised) with the overall mean.
    """
    labels = np.asarray(labels)
    if len(labels) != len(df):
        raise DataError(f"profiles: {len(labels):,} labels for {len(df):,} customers; they must match.")
    ids = sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c))
    Xdf = pd.DataFrame(transformer.transform(df)[:, : len(transformer.numeric_)], columns=transformer.numeric_)
    std = Xdf.std(ddof=0).replace(0, 1.0)
    z = ((Xdf.groupby(labels).mean() - Xdf.mean()) / std).reindex([c for c in ids if c != NOISE]).fillna(0.0)
    names = name_clusters(z, _categorical_terms(df, labels, transformer), rules, config)
    names[NOISE] = NOISE_NAME
    sizes = pd.Series(labels).value_counts()
    out = pd.DataFrame({"cluster": ids, "name": [names[c] for c in ids], "size": [int(sizes[c]) for c in ids]})
    out["share"] = out["size"] / len(labels)
    if revenue_col is not None:
        if revenue_col not in df.columns:
            raise DataError(f"profiles: revenue column {revenue_col!r} not in the table.")
        rev = pd.to_numeric(df[revenue_col], errors="coerce").fillna(0.0)
        out["revenue_share"] = _by_cluster(rev, labels, ids, "sum") / rev.sum() if rev.sum() else np.nan
    for f in transformer.numeric_:
        out[f] = _by_cluster(pd.to_numeric(df[f], errors="coerce"), labels, ids, "mean")
    for f in transformer.categorical_:
        cats = _as_category(df[f]).reset_index(drop=True)
        out[f] = [_top_share(cats[labels == c]) for c in ids]
    if segment_col is not None:
        mix = segment_mix(df, labels, segment_col)
        out["top_segments"] = [", ".join(f"{s} {p:.0%}" for s, p in mix.loc[c].nlargest(3).items() if p > 0)
                               for c in ids]
    return out


def _by_cluster(values: pd.Series, labels: np.ndarray, ids: list[int], how: str) -> np.ndarray:
    return values.reset_index(drop=True).groupby(labels).agg(how).reindex(ids).to_numpy()


def _top_share(values: pd.Series) -> str:
    share = values.value_counts(normalize=True)
    return f"{share.index[0]} ({share.iloc[0]:.0%})" if len(share) else ""


# ----------------------------------------------------------------------------------------------------------------
# New customer and the one-call run
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class NewCustomer:
    """Where a hypothetical customer lands: cluster id, map position (None without a map), matrix row."""

    cluster: int
    x: float | None
    y: float | None
    vector: np.ndarray


def assign_new(model: ClusterModel, transformer: CustomerFeatures, values: dict,
               cmap: ClusterMap | None = None) -> NewCustomer:
    """Cluster (and map position) of one customer given as ``{feature: value}``."""
    missing = [f for f in transformer.features_ if f not in values or values[f] is None or
               (isinstance(values[f], float) and np.isnan(values[f]))]
    if missing:
        raise DataError(f"new customer: give a value for {', '.join(map(repr, missing))}.")
    row = pd.DataFrame([{f: values[f] for f in transformer.features_}])
    vector = transformer.transform(row)
    cluster = int(model.predict(vector)[0])
    if cmap is None:
        return NewCustomer(cluster, None, None, vector[0])
    xy = cmap.place(vector, row)[0]
    return NewCustomer(cluster, float(xy[0]), float(xy[1]), vector[0])


@dataclass
class ClusterRun:
    """Everything the Clusters page and the CLI show for one clustering."""

    ids: np.ndarray
    X: np.ndarray
    transformer: CustomerFeatures
    fit: ClusterFit
    sweep: KSweep | None
    cmap: ClusterMap
    profiles: pd.DataFrame
    metrics: dict
    warnings: list[str]

    def assignments(self) -> pd.DataFrame:
        """customer_id, cluster, name, x, y (one row per customer)."""
        names = dict(zip(self.profiles["cluster"], self.profiles["name"]))
        return pd.DataFrame({"customer_id": self.ids, "cluster": self.fit.labels,
                             "name": [names[c] for c in self.fit.labels],
                             "x": self.cmap.coords[:, 0], "y": self.cmap.coords[:, 1]})


@logged("cluster")
def cluster_customers(df: pd.DataFrame, features: Sequence[str], method: str = "kmeans", k: int | None = None,
                      id_col: str = "customer_id", log_cols: str | Sequence[str] = "auto", scale: bool = True,
                      categorical: Sequence[str] = (), revenue_col: str | None = None,
                      segment_col: str | None = None, map_method: str = "auto", random_state: int = 42,
                      config: ClusterConfig = ClusterConfig()) -> ClusterRun:
    """Matrix -> (k sweep when ``k`` is None and the method takes k) -> clusters -> map -> profiles -> metrics.

    Customer ids come from ``id_col`` or, when there is no such column, from the index.
    """
    X, tf = prepare_matrix(df, features, log_cols, scale, categorical, config)
    sweep = None
    if k is None and METHODS.get(method, METHODS["kmeans"]).uses_k:
        sweep = select_k(X, method=method, random_state=random_state, config=config)
        k = sweep.recommended_k
    fit = fit_clusters(X, method, k or 2, random_state, config)
    raw = df[tf.features_] if len(tf.features_) <= 2 and not tf.categorical_ else None
    cmap = map_coordinates(X, fit.labels, raw=raw, method=map_method, random_state=random_state, config=config)
    profiles = cluster_profiles(df, fit.labels, tf, revenue_col, segment_col, config=config)
    metrics = {"method": method, "k": int(fit.n_clusters), "n_customers": int(len(X)),
               **cluster_metrics(X, fit.labels, config.silhouette_sample, random_state, config.threads),
               "map": cmap.method, "explained_variance": cmap.explained_variance}
    ids = (df[id_col] if id_col in df.columns else df.index.to_series()).astype(str).to_numpy()
    return ClusterRun(ids, X, tf, fit, sweep, cmap, profiles, metrics, list(tf.warnings_) + fit.notes)


# ----------------------------------------------------------------------------------------------------------------
# Dataset -> clustering input, and what the Clusters page / CLI save and show
# ----------------------------------------------------------------------------------------------------------------
__all__ += ["TX_DEFAULT_FEATURES", "LOG_MODES", "ClusterInput", "clustering_input", "log_columns",
            "apply_names", "customer_list", "saved_clustering", "run_summary"]

#: Features picked by default for a transactions dataset (log1p + standardised: the classic RFM clustering).
TX_DEFAULT_FEATURES = ("recency_days", "frequency", "monetary")

#: Log-transform choices: key -> label.
LOG_MODES = {"all": "log1p every non-negative numeric feature",
             "auto": "log1p skewed non-negative features only",
             "none": "no log transform"}


@dataclass
class ClusterInput:
    """One row per customer (``customer_id`` first) and what to offer: candidate and default features,
    the revenue column (for revenue shares), the RFM segment column (for segment mixes) and the log mode."""

    table: pd.DataFrame
    features: list[str]
    default_features: list[str]
    revenue_col: str | None = None
    segment_col: str | None = None
    default_log: str = "auto"


def _tx_input(transactions: pd.DataFrame, returns: pd.DataFrame | None, rfm: pd.DataFrame | None) -> ClusterInput:
    from pipeline.features import FEATURE_COLUMNS, customer_features
    from pipeline.rfm import rfm_table

    if transactions is None or transactions.empty:
        raise DataError("clustering: the dataset has no transactions; load a file with purchases first.")
    table = customer_features(transactions, returns).reset_index()
    rfm = rfm_table(transactions) if rfm is None else rfm
    segments = pd.Series(rfm["segment"].to_numpy(), index=rfm["customer_id"].astype(str))
    table["segment"] = segments.reindex(table["customer_id"]).to_numpy()
    return ClusterInput(table, list(FEATURE_COLUMNS), list(TX_DEFAULT_FEATURES), "monetary", "segment", "all")


def _customers_input(customers: pd.DataFrame | None, config: ClusterConfig) -> ClusterInput:
    if customers is None or customers.empty:
        raise DataError("clustering: the customer table is empty; upload one row per customer.")
    if "customer_id" not in customers.columns:
        raise DataError("clustering: the customer table has no 'customer_id' column; pick the id column on "
                        "the Upload page.")
    table = customers.reset_index(drop=True)
    cols = [c for c in table.columns if c != "customer_id"]
    if not cols:
        raise DataError("clustering: the customer table has only an id column; upload a table with at least "
                        "one attribute per customer (e.g. age, income, spend).")
    numeric = [c for c in cols if (v := _as_numeric(table[c])) is not None and v.nunique() > 1]
    text = [c for c in cols if c not in numeric and 1 < table[c].nunique() <= config.max_categories]
    return ClusterInput(table, cols, numeric or text or cols, None, None, "auto")


def clustering_input(kind: str, transactions: pd.DataFrame | None = None, returns: pd.DataFrame | None = None,
                     customers: pd.DataFrame | None = None, rfm: pd.DataFrame | None = None,
                     config: ClusterConfig = ClusterConfig()) -> ClusterInput:
    """The customer table to cluster for a dataset of ``kind`` "transactions" or "customers".

    Transactions: ``pipeline.features.customer_features`` plus the RFM ``segment`` (from ``rfm``, default
    ``rfm_table`` with the default rules); default features R, F, M, log1p and standardised. Customer table: every
    column is offered; the default is the numeric columns that vary (else the text columns with few values).
    """
    if kind == "transactions":
        return _tx_input(transactions, returns, rfm)
    if kind == "customers":
        return _customers_input(customers, config)
    raise DataError(f"clustering: dataset kind {kind!r} unknown; expected 'transactions' or 'customers'.")


def log_columns(df: pd.DataFrame, features: Sequence[str], mode: str = "auto",
                categorical: Sequence[str] = ()) -> str | list[str]:
    """``log_cols`` for :func:`prepare_matrix` from a :data:`LOG_MODES` key.

    "all": every chosen numeric feature that varies and has no negative value; "auto"; "none": [].
    """
    if mode not in LOG_MODES:
        raise DataError(f"clustering: log mode {mode!r} unknown; choose one of {', '.join(LOG_MODES)}.")
    if mode != "all":
        return "auto" if mode == "auto" else []
    out = []
    for f in dict.fromkeys(features):
        values = _as_numeric(df[f]) if f in df.columns and f not in categorical else None
        if values is not None and values.nunique() > 1 and values.min() >= 0:
            out.append(f)
    return out


def apply_names(profiles: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Copy of ``profiles`` with the user's cluster names (``{cluster id: name}``; blank names keep the
    generated one). Two clusters may not share a name."""
    given = {int(c): str(n).strip()[:60] for c, n in (names or {}).items() if n is not None and str(n).strip()}
    out = profiles.copy()
    out["name"] = [given.get(int(c), n) for c, n in zip(out["cluster"], out["name"])]
    dup = out["name"][out["name"].duplicated()]
    if len(dup):
        raise DataError(f"cluster names: {dup.iloc[0]!r} is used for more than one cluster; give each cluster "
                        "its own name.")
    return out


def customer_list(run: ClusterRun, df: pd.DataFrame, ids: Sequence[str] | None = None,
                  clusters: Sequence[int] | None = None, id_col: str = "customer_id") -> pd.DataFrame:
    """Customers picked by id and/or by whole cluster: customer_id, cluster, cluster_name, then ``df``'s columns.

    ``df`` is the table the run was fitted on (same row order). With neither ``ids`` nor ``clusters``: nobody.
    """
    names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
    keep = np.zeros(len(run.ids), dtype=bool)
    if ids is not None:
        keep |= np.isin(run.ids, np.asarray(list(ids), dtype=str))
    if clusters is not None:
        keep |= np.isin(run.fit.labels, np.asarray(list(clusters), dtype=int))
    rest = df.reset_index(drop=id_col in df.columns).loc[keep]
    out = pd.DataFrame({"customer_id": run.ids[keep], "cluster": run.fit.labels[keep],
                        "cluster_name": [names[c] for c in run.fit.labels[keep]]})
    return pd.concat([out, rest.drop(columns=[id_col], errors="ignore").reset_index(drop=True)], axis=1)


def saved_clustering(run: ClusterRun) -> tuple[pd.DataFrame, dict]:
    """``(assignments, meta)`` for ``Workspace.save_clustering``: customer_id, cluster, cluster_name, x, y; and
    what re-creates the run (method, k, features, options, seed), the names and the metrics."""
    assignments = run.assignments().rename(columns={"name": "cluster_name"})
    tf = run.transformer
    log = tf.log_cols if isinstance(tf.log_cols, str) else list(tf.log_cols)
    meta = {"method": run.fit.method, "k": int(run.fit.n_clusters), "features": list(tf.features),
            "options": {"log_cols": log, "log_cols_used": list(tf.log_cols_), "scale": bool(tf.scale),
                        "categorical": list(tf.categorical), "map": run.cmap.method},
            "seed": int(run.fit.model.random_state),
            "names": {str(c): n for c, n in zip(run.profiles["cluster"], run.profiles["name"])},
            "metrics": to_jsonable(run.metrics)}
    return assignments, meta


def run_summary(run: ClusterRun) -> dict:
    """JSON-ready summary: metrics, the k sweep (when run) with its recommendation, profiles, warnings."""
    records = lambda df: to_jsonable(df.to_dict(orient="records"))   # noqa: E731
    sweep = None if run.sweep is None else {
        "recommended_k": run.sweep.recommended_k, "elbow_k": run.sweep.elbow_k, "reason": run.sweep.reason,
        "table": records(run.sweep.table)}
    return {"metrics": to_jsonable(run.metrics), "sweep": sweep, "profiles": records(run.profiles),
            "warnings": list(run.warnings)}
