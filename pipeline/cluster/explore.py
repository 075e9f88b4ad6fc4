"""Exploring a customer table before clustering it: column statistics, correlations, PCA variance and the elbow.

:func:`column_stats` describes every column (count, missing values and how they are filled — numeric columns with
the median, as :class:`~pipeline.cluster.features.CustomerFeatures` does, text columns as the category
``"(missing)"`` — mean, spread, skewness); :func:`correlation_matrix` is the Pearson correlation of the filled
numeric columns; :func:`pca_variance` the explained and cumulative variance of the principal components of the
median-filled, standardised table, with the columns that load most on each; :func:`explore_table` runs all of it
plus the K-Means sweep (inertia with its elbow, silhouette, Davies-Bouldin) on the standardised table and on its
first principal components. Nothing here imports TensorFlow. On CC GENERAL this reproduces the published figures
(cumulative variance 0.476 / 0.639 / 0.759 for 2 / 4 / 6 components; silhouettes in ``TableExploration.k_table``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from pipeline.cluster.algorithms import limit_threads
from pipeline.cluster.features import CustomerFeatures, as_category, as_numeric, log_columns, prepare_matrix
from pipeline.cluster.selection import KSweep, select_k
from pipeline.config import ClusterConfig, TableEmbeddingConfig
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = ["numeric_features", "column_stats", "correlation_matrix", "pca_variance", "pca_matrix", "standardised_table",
           "TableExploration", "explore_table"]

_DEFAULTS = TableEmbeddingConfig()


def _numeric_stats(name: str, values: pd.Series) -> dict:
    median = float(values.median())
    n_missing = int(values.isna().sum())
    return {"column": name, "kind": "numeric", "values": int(values.notna().sum()), "missing": n_missing,
            "fill": f"median ({median:g})" if n_missing else "", "distinct": int(values.nunique()),
            "mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "median": median, "max": float(values.max()), "skew": float(values.skew())}


def _text_stats(name: str, col: pd.Series) -> dict:
    n_missing = int(col.isna().sum())
    top = as_category(col).value_counts()
    return {"column": name, "kind": "text", "values": int(col.notna().sum()), "missing": n_missing,
            "fill": "category '(missing)'" if n_missing else "", "distinct": int(col.nunique()),
            "top": f"{top.index[0]} ({top.iloc[0] / len(col):.0%})" if len(top) else ""}


def column_stats(table: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per column: column, kind (numeric/text), values, missing, missing_share, fill, distinct,
    mean, std, min, median, max, skew (numeric) or top (the commonest text value and its share).

    ``columns`` defaults to every column except ``customer_id``.
    """
    columns = [c for c in table.columns if c != "customer_id"] if columns is None else list(columns)
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise DataError(f"explore: column(s) {', '.join(map(repr, unknown))} not in the table.")
    rows = []
    for c in columns:
        values = as_numeric(table[c])
        rows.append(_numeric_stats(c, values) if values is not None else _text_stats(c, table[c]))
    out = pd.DataFrame(rows)
    out.insert(4, "missing_share", out["missing"] / max(len(table), 1))
    return out


def correlation_matrix(table: pd.DataFrame, columns: Sequence[str] | None = None,
                       max_columns: int = _DEFAULTS.max_heatmap_columns) -> pd.DataFrame:
    """Pearson correlation of the numeric columns (median-filled; constant columns left out); empty with fewer
    than two such columns. At most ``max_columns`` columns (the first ones) so the heatmap stays readable.
    """
    columns = [c for c in table.columns if c != "customer_id"] if columns is None else list(columns)
    numeric = {c: v for c in columns if (v := as_numeric(table[c])) is not None and v.nunique() > 1}
    if len(numeric) < 2:
        return pd.DataFrame()
    frame = pd.DataFrame(numeric).iloc[:, :max_columns]
    return frame.fillna(frame.median()).corr()


def standardised_table(table: pd.DataFrame, features: Sequence[str], log: str = _DEFAULTS.log,
                       categorical: Sequence[str] = ()) -> tuple[np.ndarray, CustomerFeatures]:
    """Median-filled, (optionally log1p-ed, see ``LOG_MODES``) standardised matrix of ``features`` and its
    fitted transformer; text columns are one-hot encoded."""
    return prepare_matrix(table, list(features), log_cols=log_columns(table, features, log, categorical),
                          scale=True, categorical=categorical)


def pca_matrix(X: np.ndarray, n_components: int, random_state: int = _DEFAULTS.random_state) -> tuple[np.ndarray, PCA]:
    """The first ``n_components`` principal components of ``X`` (at most its number of columns) and the PCA."""
    with limit_threads(1):
        pca = PCA(n_components=min(n_components, X.shape[1]), random_state=random_state).fit(X)
        return pca.transform(X), pca


def pca_variance(X: np.ndarray, names: Sequence[str], random_state: int = _DEFAULTS.random_state,
                 top: int = 3) -> pd.DataFrame:
    """component (1, 2, ...), explained (share of variance), cumulative, top_loadings (the ``top`` columns with
    the largest absolute weight, sign shown)."""
    _, pca = pca_matrix(X, min(X.shape), random_state)
    names = list(names)
    loads = [", ".join(f"{'+' if comp[j] >= 0 else '-'}{names[j]}" for j in np.argsort(-np.abs(comp))[:top])
             for comp in pca.components_]
    ratio = pca.explained_variance_ratio_
    return pd.DataFrame({"component": np.arange(1, len(ratio) + 1), "explained": ratio,
                         "cumulative": np.cumsum(ratio), "top_loadings": loads})


@dataclass
class TableExploration:
    """What :func:`explore_table` found: column stats, correlations, PCA variance, K-Means sweeps on the
    standardised table (``sweep``) and on its first ``pca_components`` components (``sweep_pca``)."""

    stats: pd.DataFrame
    correlation: pd.DataFrame
    pca: pd.DataFrame
    sweep: KSweep
    sweep_pca: KSweep
    pca_components: int
    features: list[str]
    warnings: list[str]

    @property
    def k_table(self) -> pd.DataFrame:
        """k, inertia, silhouette, davies_bouldin (standardised table), inertia_pca, silhouette_pca,
        davies_bouldin_pca (first principal components)."""
        cols = ["k", "inertia", "silhouette", "davies_bouldin"]
        pca = self.sweep_pca.table[cols].rename(columns={c: f"{c}_pca" for c in cols[1:]})
        return self.sweep.table[cols].merge(pca, on="k", how="outer")


def numeric_features(table: pd.DataFrame) -> list[str]:
    """The numeric columns that vary (``customer_id`` left out); ``DataError`` when there is none."""
    cols = [c for c in table.columns if c != "customer_id"]
    numeric = [c for c in cols if (v := as_numeric(table[c])) is not None and v.nunique() > 1]
    if not numeric:
        raise DataError("explore: the table has no numeric column that varies; PCA and K-Means need numbers.")
    return numeric


@logged("explore_table")
def explore_table(table: pd.DataFrame, features: Sequence[str] | None = None, log: str | None = None,
                  ks: Sequence[int] | None = None, config: TableEmbeddingConfig = TableEmbeddingConfig()
                  ) -> TableExploration:
    """Column stats of every column, then correlation, PCA variance and K-Means sweeps of ``features``
    (default: the numeric columns that vary), median-filled and standardised (``log`` a ``LOG_MODES`` key,
    default ``config.log``). The sweeps use K-Means with ``config.random_state`` over ``ks`` (default
    ``config.ks``); the recommended k and the inertia elbow are in ``sweep`` / ``sweep_pca``."""
    features = list(features) if features else numeric_features(table)
    X, tf = standardised_table(table, features, log or config.log)
    cluster_config = ClusterConfig(random_state=config.random_state, kmeans_n_init=config.kmeans_n_init)
    ks = list(ks or config.ks)
    P, _ = pca_matrix(X, config.pca_components, config.random_state)
    return TableExploration(
        stats=column_stats(table), correlation=correlation_matrix(table, tf.numeric_, config.max_heatmap_columns),
        pca=pca_variance(X, tf.feature_names_out_, config.random_state),
        sweep=select_k(X, ks, random_state=config.random_state, config=cluster_config),
        sweep_pca=select_k(P, ks, random_state=config.random_state, config=cluster_config),
        pca_components=P.shape[1], features=list(tf.features_), warnings=list(tf.warnings_))
