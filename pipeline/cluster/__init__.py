"""Customer clustering: the input matrix, the algorithms, choosing k, 2-D maps, names and profiles, assignment.

Modules: ``features`` (the table and columns to cluster, :class:`CustomerFeatures` / :func:`prepare_matrix`),
``algorithms`` (K-Means, Gaussian mixture, Ward, HDBSCAN as :data:`METHODS`; :func:`fit_clusters`), ``selection``
(:func:`cluster_metrics`, the k sweep :func:`select_k`), ``maps`` (features / PCA / t-SNE coordinates), ``naming``
(profiles; names whose every word is true of the customers they are given to; user names), ``run``
(:func:`cluster_customers`, the one-call run), ``assign`` (new customers, picked customers, the saved clustering),
``embeddings`` (autoencoders as transformers, TensorFlow loaded lazily), ``compare`` (what every side-by-side
comparison shares: arms scored in their own and a common space, stability across seeds), ``sequences`` (spend
sequences, their embeddings versus K-Means on RFM), ``explore`` (customer-table column stats, correlation, PCA
variance, k sweeps) and ``table_embeddings`` (customer-table GRU/LSTM/dense embeddings versus K-Means and K-Means on
PCA); import those three from their modules. This package depends only on the core modules (config, errors, log,
exports, features, rfm), never on profile/lab or the app. Typical use (``customers`` has one row per customer)::

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

from pipeline.cluster.algorithms import (
    METHODS, NOISE, ClusterFit, ClusterModel, Method, fit_clusters, limit_threads,
)
from pipeline.cluster.assign import NewCustomer, assign_new, customer_list, saved_clustering
from pipeline.cluster.features import (
    LOG_MODES, TX_DEFAULT_FEATURES, ClusterInput, CustomerFeatures, clustering_input, log_columns, prepare_matrix,
)
from pipeline.cluster.maps import ClusterMap, map_coordinates
from pipeline.cluster.naming import (
    NAME_RULES, NOISE_NAME, UNLIKE_NAME, ClusterNames, Word, apply_names, cluster_names, cluster_profiles,
    cluster_words, member_distances, name_clusters, segment_mix,
)
from pipeline.cluster.run import ClusterRun, cluster_customers, run_summary
from pipeline.cluster.selection import KSweep, cluster_metrics, elbow_point, select_k

__all__ = [
    "NOISE", "NOISE_NAME", "NAME_RULES", "Method", "METHODS", "limit_threads",
    "CustomerFeatures", "prepare_matrix",
    "ClusterModel", "ClusterFit", "fit_clusters", "cluster_metrics",
    "KSweep", "elbow_point", "select_k",
    "ClusterMap", "map_coordinates",
    "name_clusters", "cluster_profiles", "segment_mix",
    "UNLIKE_NAME", "Word", "ClusterNames", "cluster_words", "cluster_names", "member_distances",
    "NewCustomer", "assign_new",
    "ClusterRun", "cluster_customers",
    "TX_DEFAULT_FEATURES", "LOG_MODES", "ClusterInput", "clustering_input", "log_columns",
    "apply_names", "customer_list", "saved_clustering", "run_summary",
]
