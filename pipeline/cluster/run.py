"""One clustering run end to end, as the Clusters page, the CLI and the customer card use it.

:func:`cluster_customers` chains the matrix, the k sweep, the fit, the map, the profiles and the metrics into a
:class:`ClusterRun`; :func:`run_summary` is its JSON-ready form. Orchestration of the other modules of this package
belongs here; the steps themselves live in their own modules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.algorithms import METHODS, ClusterFit, fit_clusters
from pipeline.cluster.features import CustomerFeatures, prepare_matrix
from pipeline.cluster.maps import ClusterMap, map_coordinates
from pipeline.cluster.naming import ClusterNames, cluster_names, cluster_profiles, member_distances
from pipeline.cluster.selection import KSweep, cluster_metrics, select_k
from pipeline.config import SEED, ClusterConfig
from pipeline.exports import to_jsonable
from pipeline.log import logged

__all__ = ["ClusterRun", "cluster_customers", "run_summary"]


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
    naming: ClusterNames | None = None

    def names(self) -> ClusterNames | None:
        """The naming with the names as shown in ``profiles`` (the analyst's where they renamed a cluster)."""
        if self.naming is None:
            return None
        return self.naming.renamed(dict(zip(self.profiles["cluster"].astype(int), self.profiles["name"])))

    def customer_names(self, table: pd.DataFrame) -> list[str]:
        """What each fitted customer is called (``table`` = the fitted table, same order): the words of its
        cluster's name that hold for it, "unlike any group" when far from the centre (see ``naming``)."""
        naming = self.names()
        if naming is None:
            names = dict(zip(self.profiles["cluster"], self.profiles["name"]))
            return [names[c] for c in self.fit.labels]
        dist = member_distances(self.X, self.fit.labels, self.fit.centroids)
        return naming.for_customers(table, self.fit.labels, dist)

    def assignments(self) -> pd.DataFrame:
        """customer_id, cluster, name (the cluster's), x, y (one row per customer)."""
        names = dict(zip(self.profiles["cluster"], self.profiles["name"]))
        return pd.DataFrame({"customer_id": self.ids, "cluster": self.fit.labels,
                             "name": [names[c] for c in self.fit.labels],
                             "x": self.cmap.coords[:, 0], "y": self.cmap.coords[:, 1]})


@logged("cluster")
def cluster_customers(df: pd.DataFrame, features: Sequence[str], method: str = "kmeans", k: int | None = None,
                      id_col: str = "customer_id", log_cols: str | Sequence[str] = "auto", scale: bool = True,
                      categorical: Sequence[str] = (), revenue_col: str | None = None,
                      segment_col: str | None = None, map_method: str = "auto", random_state: int = SEED,
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
    naming = cluster_names(df, fit.labels, tf, X, fit.centroids, config=config)
    profiles = cluster_profiles(df, fit.labels, tf, revenue_col, segment_col, config=config, names=naming.names)
    metrics = {"method": method, "k": int(fit.n_clusters), "n_customers": int(len(X)),
               **cluster_metrics(X, fit.labels, config.silhouette_sample, random_state, config.threads),
               "map": cmap.method, "explained_variance": cmap.explained_variance}
    ids = (df[id_col] if id_col in df.columns else df.index.to_series()).astype(str).to_numpy()
    return ClusterRun(ids, X, tf, fit, sweep, cmap, profiles, metrics, list(tf.warnings_) + fit.notes, naming)


def run_summary(run: ClusterRun) -> dict:
    """JSON-ready summary: metrics, the k sweep (when run) with its recommendation, profiles, warnings."""
    records = lambda df: to_jsonable(df.to_dict(orient="records"))   # noqa: E731
    sweep = None if run.sweep is None else {
        "recommended_k": run.sweep.recommended_k, "elbow_k": run.sweep.elbow_k, "reason": run.sweep.reason,
        "details": run.sweep.details, "table": records(run.sweep.table)}
    return {"metrics": to_jsonable(run.metrics), "sweep": sweep, "profiles": records(run.profiles),
            "warnings": list(run.warnings)}
