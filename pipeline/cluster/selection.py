"""Judging a clustering and choosing the number of clusters k.

:func:`cluster_metrics` scores one labelling (silhouette on a sample, Davies-Bouldin, Calinski-Harabasz, noise
share); :func:`select_k` fits every k of a range and recommends one with the reason in one plain sentence. Two
rules, both functions of the sweep table: ``"campaign"`` (default) picks, among k = 3..8 whose clusters each hold at
least 5% of the customers (``ClusterConfig.campaign_k``, ``min_cluster_share``), the best separated one (silhouette,
near-ties broken by the inertia elbow of :func:`elbow_point`) — silhouette alone picks k = 2 on the RFM features of
every transactions dataset tried, which no campaign can use; ``"silhouette"`` is the best silhouette over the whole
range. The technical evidence (silhouette, Davies-Bouldin, Calinski-Harabasz per k) is in ``KSweep.details``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.utils import check_random_state

from pipeline.cluster.algorithms import METHODS, NOISE, check_matrix, fit_clusters, limit_threads
from pipeline.config import SEED, ClusterConfig
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = ["cluster_metrics", "silhouette", "elbow_point", "KSweep", "select_k", "RULES"]

RULES = ("campaign", "silhouette")

_DEFAULTS = ClusterConfig()


def cluster_metrics(X: np.ndarray, labels: np.ndarray, sample_size: int = _DEFAULTS.silhouette_sample,
                    random_state: int = SEED, threads: int | None = _DEFAULTS.threads) -> dict[str, float]:
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


def silhouette(X: np.ndarray, labels: np.ndarray, sample_size: int | None = None, random_state: int = SEED,
               chunk_cells: int = 4_000_000) -> float:
    """Mean silhouette; agrees with ``sklearn.metrics.silhouette_score`` to about 1e-6 (same sample, same seed).

    The silhouette does not change when the data are shifted or uniformly scaled, so the matrix is centred and
    scaled to unit spread and the distances are computed in float32 in place, ``chunk_cells`` at a time; the
    distances to each cluster are summed by one matrix product per block. About 15x faster than scikit-learn's
    per-row loop (0.3 s instead of 5 s on 8,950 customers).
    """
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    if sample_size is not None and sample_size < len(X):
        idx = check_random_state(random_state).permutation(len(X))[:sample_size]
        X, labels = X[idx], labels[idx]
    X = X - X.mean(axis=0)
    X = (X / (np.sqrt((X ** 2).sum(axis=1).mean()) or 1.0)).astype(np.float32)
    _, inv = np.unique(labels, return_inverse=True)
    n, onehot = len(X), np.eye(inv.max() + 1, dtype=np.float32)[inv]
    counts, sq = onehot.sum(axis=0).astype(float), (X ** 2).sum(axis=1)
    step, out = max(1, chunk_cells // n), np.empty(n)
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        d = X[rows] @ X.T
        d *= -2
        d += sq[rows, None]
        d += sq[None, :]
        np.sqrt(np.maximum(d, 0, out=d), out=d)
        d[np.arange(len(rows)), rows] = 0
        mean = (d @ onehot).astype(float) / counts
        own = inv[rows]
        a = mean[np.arange(len(rows)), own] * counts[own] / np.maximum(counts[own] - 1, 1)
        mean[np.arange(len(rows)), own] = np.inf
        b = mean.min(axis=1)
        out[rows] = np.where(counts[own] > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-30), 0.0)
    return float(out.mean())


def _scores(X: np.ndarray, labels: np.ndarray, sample_size: int, random_state: int) -> dict[str, float]:
    sample = sample_size if sample_size < len(labels) else None
    return {"silhouette": silhouette(X, labels, sample, random_state),
            "davies_bouldin": float(davies_bouldin_score(X, labels)),
            "calinski_harabasz": float(calinski_harabasz_score(X, labels))}


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
    """Result of :func:`select_k`: one row per k, the elbow, the recommended k, why (one plain sentence) and the
    technical evidence behind it (``details``, for analysts)."""

    table: pd.DataFrame
    elbow_k: int | None
    recommended_k: int
    reason: str
    details: str = ""


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


def _campaign_choice(table: pd.DataFrame, elbow: int | None, config: ClusterConfig) -> tuple[int, str] | None:
    """The campaign rule: best separated k among ``config.campaign_k`` whose smallest cluster holds at least
    ``config.min_cluster_share`` of the customers; None when no k qualifies."""
    lo, hi = config.campaign_k
    share = config.min_cluster_share
    ok = table[(table["k"] >= lo) & (table["k"] <= hi) & (table["min_share"] >= share) & table["silhouette"].notna()]
    if ok.empty:
        return None
    k, _ = _sweep_reason(ok, elbow if elbow in set(ok["k"]) else None, config.silhouette_tolerance)
    why = (f"{k} groups: the most clearly separated choice among {lo} to {hi} groups in which every group holds "
           f"at least {share:.0%} of the customers")
    sil = table.set_index("k")["silhouette"]
    best = int(sil.idxmax())
    if best != k and sil[best] > sil[k] + config.silhouette_tolerance:
        small = float(table.set_index("k").loc[best, "min_share"])
        why += (f" ({best} groups separate more clearly but are too few to run different campaigns)" if best < lo
                else f" ({best} groups separate more clearly but the smallest holds only {small:.1%} of the customers)"
                if small < share else f" ({best} groups separate more clearly but are too many to act on)")
    return k, why + "."


def _recommend(table: pd.DataFrame, elbow: int | None, rule: str, config: ClusterConfig) -> tuple[int, str]:
    """(k, one plain sentence) under ``rule``; the campaign rule falls back to the silhouette rule, saying so."""
    choice = _campaign_choice(table, elbow, config) if rule == "campaign" else None
    if choice is not None:
        return choice
    k, _ = _sweep_reason(table, elbow, config.silhouette_tolerance)
    if rule != "campaign":
        return k, f"{k} groups: the most clearly separated choice among k = {table['k'].min()} to {table['k'].max()}."
    lo, hi = config.campaign_k
    return k, (f"{k} groups: no choice of {lo} to {hi} groups gives every group at least "
               f"{config.min_cluster_share:.0%} of the customers here, so this is simply the most clearly "
               "separated one.")


@logged("select_k")
def select_k(X: np.ndarray, ks: Sequence[int] | None = None, method: str = "kmeans", random_state: int = SEED,
             config: ClusterConfig = ClusterConfig(), rule: str = "campaign") -> KSweep:
    """Fit ``method`` for each k (default ``config.k_min..k_max``) and recommend one under ``rule``.

    Table columns: k, inertia (within-cluster sum of squares), silhouette (sample of at most
    ``config.silhouette_sample``), davies_bouldin, calinski_harabasz, min_share (the smallest cluster's share of
    the customers). ``rule="campaign"``: the best silhouette among ``config.campaign_k`` whose clusters all hold at
    least ``config.min_cluster_share``; ``rule="silhouette"``: the best silhouette of the range. Near-ties (within
    ``config.silhouette_tolerance``) go to the k nearest the inertia elbow.
    """
    if rule not in RULES:
        raise DataError(f"clustering: unknown rule {rule!r} for choosing k; use one of {', '.join(RULES)}.")
    if method in METHODS and not METHODS[method].uses_k:
        raise DataError(f"clustering: {METHODS[method].label} chooses the number of clusters itself; "
                        "there is no k to select.")
    X = check_matrix(X)
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
        sizes = np.bincount(fit.labels[fit.labels != NOISE], minlength=k)
        rows.append({"k": k, "inertia": inertia,
                     **{m: scores[m] for m in ("silhouette", "davies_bouldin", "calinski_harabasz")},
                     "min_share": float(sizes.min() / len(X))})
    table = pd.DataFrame(rows)
    elbow = elbow_point(table["k"].tolist(), table["inertia"].tolist())
    if table["silhouette"].isna().all():
        return KSweep(table, elbow, ks[0], f"{ks[0]} groups: the data do not separate into groups that can be "
                      "compared.", "metrics undefined for this data")
    k, reason = _recommend(table, elbow, rule, config)
    details = "By silhouette alone: " + _sweep_reason(table, elbow, config.silhouette_tolerance)[1]
    return KSweep(table, elbow, k, reason, details)
