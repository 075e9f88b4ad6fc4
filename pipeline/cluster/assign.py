"""Clusters of customers outside the fit: a new (hypothetical) customer, picked customers, the saved assignment.

:func:`assign_new` places one customer given as ``{feature: value}`` in a fitted clustering and on its map;
:func:`customer_list` lists customers of chosen ids or clusters; :func:`saved_clustering` is what a workspace
stores so another page (customer lookup, campaigns) can reuse the clustering. Code that assigns customers to an
existing clustering belongs here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.algorithms import ClusterModel
from pipeline.cluster.features import CustomerFeatures
from pipeline.cluster.maps import ClusterMap
from pipeline.cluster.naming import NOISE_NAME, ClusterNames
from pipeline.cluster.run import ClusterRun
from pipeline.errors import DataError
from pipeline.exports import to_jsonable

__all__ = ["NewCustomer", "assign_new", "customer_list", "saved_clustering"]


@dataclass
class NewCustomer:
    """Where a hypothetical customer lands: cluster id, map position (None without a map), matrix row, and what
    the customer is called ("" without names; "unlike any group" when far from every group)."""

    cluster: int
    x: float | None
    y: float | None
    vector: np.ndarray
    name: str = ""


def assign_new(model: ClusterModel, transformer: CustomerFeatures, values: dict,
               cmap: ClusterMap | None = None, names: ClusterNames | None = None) -> NewCustomer:
    """Cluster (and map position) of one customer given as ``{feature: value}``; with ``names`` (e.g.
    ``run.names()``) also what the customer is called (:meth:`ClusterNames.for_customers`)."""
    missing = [f for f in transformer.features_ if f not in values or values[f] is None or
               (isinstance(values[f], float) and np.isnan(values[f]))]
    if missing:
        raise DataError(f"new customer: give a value for {', '.join(map(repr, missing))}.")
    row = pd.DataFrame([{f: values[f] for f in transformer.features_}])
    vector = transformer.transform(row)
    cluster = int(model.predict(vector)[0])
    name = ""
    if names is not None:
        dist = np.sqrt(((vector[0] - model.cluster_centers_[cluster]) ** 2).sum()) if cluster >= 0 else np.nan
        name = NOISE_NAME if cluster < 0 else names.for_customers(row, [cluster], [dist])[0]
    if cmap is None:
        return NewCustomer(cluster, None, None, vector[0], name)
    xy = cmap.place(vector, row)[0]
    return NewCustomer(cluster, float(xy[0]), float(xy[1]), vector[0], name)


def customer_list(run: ClusterRun, df: pd.DataFrame, ids: Sequence[str] | None = None,
                  clusters: Sequence[int] | None = None, id_col: str = "customer_id") -> pd.DataFrame:
    """Customers picked by id and/or by whole cluster: customer_id, cluster, cluster_name (what is true of that
    customer, :meth:`ClusterRun.customer_names`), then ``df``'s columns.

    ``df`` is the table the run was fitted on (same row order). With neither ``ids`` nor ``clusters``: nobody.
    """
    keep = np.zeros(len(run.ids), dtype=bool)
    if ids is not None:
        keep |= np.isin(run.ids, np.asarray(list(ids), dtype=str))
    if clusters is not None:
        keep |= np.isin(run.fit.labels, np.asarray(list(clusters), dtype=int))
    rest = df.reset_index(drop=id_col in df.columns).loc[keep]
    out = pd.DataFrame({"customer_id": run.ids[keep], "cluster": run.fit.labels[keep],
                        "cluster_name": np.asarray(run.customer_names(df), dtype=object)[keep]})
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
