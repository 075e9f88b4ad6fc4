"""Per-customer spend sequences, their autoencoder embeddings clustered by K-Means, and the comparison with RFM.

Sequences: for each customer, spend and order count in each of the last N periods (weeks = 7 days, months =
30 days, counted back from the end of the data so every period has the same length), ``log1p`` and divided by
the largest value of each channel so inputs lie in [0, 1]. The autoencoder (``embeddings.SequenceAutoencoder``)
compresses each sequence into a small bottleneck vector (the *embedding*); K-Means then clusters the embeddings,
and :func:`compare_with_rfm` sets that clustering against K-Means on RFM (metrics, stability, churn and revenue per
cluster). Everything about purchase sequences as a basis for clustering belongs here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.compare import Arm, arm_maps, arm_scores, kmeans_runs
from pipeline.cluster.embeddings import Progress, SequenceAutoencoder
from pipeline.cluster.features import prepare_matrix
from pipeline.config import HORIZON_DAYS, SEED, SequenceConfig
from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.log import logged

__all__ = [
    "PERIOD_DAYS", "SequenceData", "customer_sequences",
    "rfm_space", "churn_labels", "SequenceComparison", "compare_with_rfm", "comparison_maps",
]

#: Length of one period in days, by frequency code.
PERIOD_DAYS = {"W": 7, "M": 30}

_RFM = ("recency_days", "frequency", "monetary")
_RFM_METHOD = "K-Means on RFM"


@dataclass
class SequenceData:
    """``values[customer, period, channel]`` with channels (spend, orders); last period = end of the data."""

    values: np.ndarray
    customer_ids: np.ndarray
    period_starts: pd.DatetimeIndex
    freq: str
    channel_max: tuple[float, float]        # log1p maxima used for scaling (spend, orders)
    channels: tuple[str, str] = ("spend", "orders")


def customer_sequences(tx: pd.DataFrame, freq: str | None = None, n_periods: int | None = None,
                       end: str | pd.Timestamp | None = None,
                       config: SequenceConfig = SequenceConfig()) -> SequenceData:
    """Weekly or monthly spend and order counts of every customer over the last ``n_periods`` periods.

    Parameters
    ----------
    tx : canonical transactions (``customer_id, invoice_id, date, amount`` used).
    freq : "M" (30-day periods) or "W" (7-day periods); default ``config.freq``.
    n_periods : default ``config.weeks`` or ``config.months``.
    end : exclusive end of the last period; default the day after the last transaction.

    Customers with no purchase inside the window get an all-zero sequence.
    """
    require_transactions(tx, "sequences")
    freq = freq or config.freq
    if freq not in PERIOD_DAYS:
        raise DataError(f"sequences: frequency {freq!r} unknown; use 'W' (weekly) or 'M' (monthly).")
    n = int(n_periods or (config.weeks if freq == "W" else config.months))
    if n < 4:
        raise DataError(f"sequences: {n} periods are too few to learn a pattern; use at least 4.")
    days = pd.to_datetime(tx["date"]).dt.normalize()
    end = days.max() + pd.Timedelta(days=1) if end is None else pd.Timestamp(end).normalize()
    offset = ((end - days).dt.days - 1) // PERIOD_DAYS[freq]          # 0 = last period
    ids = np.sort(np.asarray(tx["customer_id"].astype(str).unique(), dtype=str))
    inside = (offset >= 0) & (offset < n)
    part = pd.DataFrame({"c": tx["customer_id"].astype(str)[inside], "p": n - 1 - offset[inside],
                         "amount": tx["amount"][inside], "invoice": tx["invoice_id"][inside]})
    g = part.groupby(["c", "p"], sort=False)
    agg = pd.DataFrame({"spend": g["amount"].sum(), "orders": g["invoice"].nunique()}).reset_index()
    values = np.zeros((len(ids), n, 2))
    rows = np.searchsorted(ids, agg["c"].to_numpy(dtype=str))
    values[rows, agg["p"].to_numpy(int), 0] = np.log1p(agg["spend"].clip(lower=0).to_numpy(float))
    values[rows, agg["p"].to_numpy(int), 1] = np.log1p(agg["orders"].to_numpy(float))
    maxima = tuple(float(m) if m > 0 else 1.0 for m in values.max(axis=(0, 1)))
    values /= np.asarray(maxima)
    starts = pd.DatetimeIndex([end - pd.Timedelta(days=PERIOD_DAYS[freq] * (n - i)) for i in range(n)])
    return SequenceData(values, ids, starts, freq, maxima)


def rfm_space(tx: pd.DataFrame, customer_ids: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """RFM per customer (``pipeline.rfm.rfm_table``) in ``customer_ids`` order and its log1p + standardised matrix."""
    from pipeline.rfm import rfm_table

    rfm = rfm_table(tx)
    rfm = rfm.set_index(rfm["customer_id"].astype(str)).reindex(list(customer_ids))
    X, _ = prepare_matrix(rfm, list(_RFM), log_cols=list(_RFM))
    return rfm, X


def churn_labels(rfm: pd.DataFrame, churn_days: int = HORIZON_DAYS, churn: pd.Series | None = None) -> np.ndarray:
    """1 = churned: no purchase in the last ``churn_days`` days of the data, or the caller's own 0/1 label.

    ``churn`` is indexed by customer id; every customer in ``rfm`` (indexed by id) needs a value.
    """
    if churn is None:
        return (rfm["recency_days"].to_numpy(float) >= churn_days).astype(int)
    label = pd.Series(churn).copy()
    label.index = label.index.astype(str)
    label = pd.to_numeric(label.reindex(rfm.index), errors="coerce")
    if label.isna().any() or not label.isin([0, 1]).all():
        raise DataError(f"sequences: the churn label must be 0/1 for every customer; "
                        f"{int(label.isna().sum() + (~label.isin([0, 1]) & label.notna()).sum()):,} are missing "
                        "or not 0/1.")
    return label.astype(int).to_numpy()


@dataclass
class SequenceComparison:
    """``table``: one row per method; ``per_cluster``: churn and revenue per cluster; ``labels`` per customer."""

    table: pd.DataFrame
    per_cluster: pd.DataFrame
    labels: pd.DataFrame
    embeddings: np.ndarray
    sequences: SequenceData
    loss_history: list[list[float]]
    seconds: dict[str, float] = field(default_factory=dict)


def _outcomes(labels: np.ndarray, churned: np.ndarray, revenue: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"cluster": labels, "churned": churned, "revenue": revenue})
    g = df.groupby("cluster")
    out = pd.DataFrame({"customers": g.size(), "churn_rate": g["churned"].mean(),
                        "revenue_per_customer": g["revenue"].mean(), "revenue": g["revenue"].sum()})
    out["share"] = out["customers"] / len(df)
    out["revenue_share"] = out["revenue"] / revenue.sum() if revenue.sum() else np.nan
    return out.drop(columns="revenue").reset_index()


def _row(arm: Arm, X_rfm: np.ndarray, outcome: pd.DataFrame, random_state: int) -> dict:
    return {**arm_scores(arm, X_rfm, random_state, own="", common="_rfm"),
            "churn_rate_range": float(np.ptp(outcome["churn_rate"])),
            "churn_rate_std": float(outcome["churn_rate"].std(ddof=0)),
            "revenue_per_customer_range": float(np.ptp(outcome["revenue_per_customer"])),
            "revenue_per_customer_std": float(outcome["revenue_per_customer"].std(ddof=0)),
            "seconds": arm.seconds}


def _train_seed(seq: SequenceData, k: int, seed: int, config: SequenceConfig, epochs: int,
                progress: Progress | None) -> tuple[np.ndarray, np.ndarray, list[float]]:
    ae = SequenceAutoencoder(config.cell, config.units, config.latent_dim, epochs, config.batch_size,
                             config.learning_rate, random_state=seed)
    ae.fit(seq.values, progress=progress)
    emb = ae.transform(seq.values)
    return kmeans_runs(emb, k, [seed])[0], emb, ae.loss_history_


def _train_seeds(seq: SequenceData, k: int, seeds: list[int], config: SequenceConfig, epochs: int,
                 progress: Progress | None) -> tuple[list[np.ndarray], np.ndarray, list[list[float]]]:
    """One network + K-Means per seed: (labels per seed, first seed's embeddings, loss histories)."""
    runs, embeddings, losses = [], [], []
    for i, seed in enumerate(seeds):
        report = None if progress is None else (
            lambda f, msg, i=i: progress((i + f) / (len(seeds) + 0.05), f"network {i + 1}/{len(seeds)}: {msg}"))
        labels, emb, loss = _train_seed(seq, k, seed, config, epochs, report)
        runs.append(labels)
        losses.append(loss)
        embeddings.append(emb)
    return runs, embeddings[0], losses


def _prepare(tx: pd.DataFrame, k: int, freq: str, n_periods: int | None, churn_days: int,
             churn: pd.Series | None, config: SequenceConfig) -> tuple[SequenceData, np.ndarray, np.ndarray, np.ndarray]:
    """Sequences, the RFM matrix, churn labels and revenue, all in the sequences' customer order."""
    seq = customer_sequences(tx, freq, n_periods, config=config)
    if len(seq.customer_ids) < max(k + 1, 10):
        raise DataError(f"sequences: {len(seq.customer_ids)} customers are too few for k={k}; "
                        "need at least 10 and more than k.")
    rfm, X_rfm = rfm_space(tx, seq.customer_ids)
    return seq, X_rfm, churn_labels(rfm, churn_days, churn), rfm["monetary"].to_numpy(float)


def _tables(arms: Sequence[Arm], X_rfm: np.ndarray, churned: np.ndarray, revenue: np.ndarray,
            random_state: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison table (one row per arm) and the per-cluster outcomes of each arm's first seed."""
    outcomes = [_outcomes(a.runs[0], churned, revenue) for a in arms]
    table = pd.DataFrame([_row(a, X_rfm, out, random_state) for a, out in zip(arms, outcomes)])
    per_cluster = pd.concat([out.assign(method=a.method) for a, out in zip(arms, outcomes)], ignore_index=True)
    return table, per_cluster[["method", *[c for c in per_cluster.columns if c != "method"]]]


@logged("sequence_comparison")
def compare_with_rfm(tx: pd.DataFrame, k: int | None = None, freq: str | None = None,
                     n_periods: int | None = None, seeds: Sequence[int] | None = None,
                     epochs: int | None = None, churn_days: int | None = None, churn: pd.Series | None = None,
                     progress: Progress | None = None,
                     config: SequenceConfig = SequenceConfig()) -> SequenceComparison:
    """Sequence-autoencoder embeddings + K-Means versus K-Means on RFM (log1p, standardised).

    Both get the same k. Metrics are computed in each method's own space and in the common RFM space;
    stability is the mean pairwise adjusted Rand index over ``seeds`` (a new network and K-Means per seed);
    churn (no purchase in the last ``churn_days`` days, or the caller's ``churn`` 0/1 Series by customer id)
    and revenue per customer are compared across clusters (range and standard deviation). Labels, metrics
    and per-cluster outcomes refer to the first seed.
    """
    k, seeds = k or config.k, list(seeds if seeds is not None else config.seeds)
    epochs, freq = epochs or config.epochs, freq or config.freq
    if not seeds:
        raise DataError("sequences: give at least one seed.")
    t0 = time.perf_counter()
    seq, X_rfm, churned, revenue = _prepare(tx, k, freq, n_periods, churn_days or config.churn_days, churn, config)
    t_prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    seq_runs, embeddings, losses = _train_seeds(seq, k, seeds, config, epochs, progress)
    t_seq = time.perf_counter() - t1
    t2 = time.perf_counter()
    rfm_runs = kmeans_runs(X_rfm, k, seeds)
    t_rfm = time.perf_counter() - t2
    arms = (Arm(f"{config.cell.upper()} autoencoder + K-Means", f"{config.latent_dim}-d embeddings", embeddings,
                seq_runs, t_seq),
            Arm(_RFM_METHOD, "RFM (log1p, standardised)", X_rfm, rfm_runs, t_rfm))
    table, per_cluster = _tables(arms, X_rfm, churned, revenue, seeds[0])
    labels = pd.DataFrame({"customer_id": seq.customer_ids, "sequence_cluster": seq_runs[0],
                           "rfm_cluster": rfm_runs[0], "churned": churned, "revenue": revenue})
    if progress is not None:
        progress(1.0, "done")
    return SequenceComparison(table, per_cluster, labels, embeddings, seq, losses,
                              {"prepare": t_prep, "autoencoders": t_seq, "rfm_kmeans": t_rfm,
                               "total": time.perf_counter() - t0})


def comparison_maps(comparison: SequenceComparison, tx: pd.DataFrame, random_state: int = SEED) -> pd.DataFrame:
    """2-D PCA maps of both clusterings: method, customer_id, cluster, x, y, axis labels (x_label, y_label).

    The sequence clusters are drawn in the embedding space, the RFM clusters in the RFM (log1p, standardised) space.
    """
    labels = comparison.labels
    _, X_rfm = rfm_space(tx, labels["customer_id"])
    arms = (Arm(comparison.table["method"].iloc[0], "", comparison.embeddings,
                [labels["sequence_cluster"].to_numpy()], 0.0),
            Arm(_RFM_METHOD, "", X_rfm, [labels["rfm_cluster"].to_numpy()], 0.0))
    return arm_maps(arms, labels["customer_id"], random_state)
