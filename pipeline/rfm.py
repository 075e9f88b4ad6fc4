"""Recency, frequency, monetary per customer, 1-5 scores and named segments.

Aggregation runs in DuckDB; scores and segments are cheap per-customer steps in pandas.
"""
from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.config import RFM_COLUMNS, RFMConfig
from pipeline.errors import DataError
from pipeline.ingest.db import connect
from pipeline.ingest.lines import CUSTOMER_TOTALS
from pipeline.log import step

__all__ = ["load_segment_rules", "quantile_scores", "population_score", "assign_segments", "rfm_table",
           "rfm_from_connection", "segment_summary", "default_snapshot", "rf_grid", "filter_customers"]

_RULE_COLUMNS = ["segment", "r_min", "r_max", "f_min", "f_max"]


def load_segment_rules(source: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and check segment rules (``segment, r_min, r_max, f_min, f_max[, description, action]``).

    Rules are tried in order; the first whose R and F score ranges contain a customer's scores names it.
    """
    df = pd.read_csv(source or RFMConfig().segments_file) if not isinstance(source, pd.DataFrame) else source.copy()
    missing = [c for c in _RULE_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"Segment rules need the columns {', '.join(_RULE_COLUMNS)}; missing {', '.join(missing)}.")
    df = df.dropna(subset=["segment"]).reset_index(drop=True)
    for c in _RULE_COLUMNS[1:]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    bad = df[df[_RULE_COLUMNS[1:]].isna().any(axis=1) | (df[_RULE_COLUMNS[1:]] < 1).any(axis=1)
             | (df[_RULE_COLUMNS[1:]] > 5).any(axis=1) | (df["r_min"] > df["r_max"]) | (df["f_min"] > df["f_max"])]
    if not bad.empty:
        raise DataError(f"Segment rule {bad['segment'].iloc[0]!r}: score bounds must be whole numbers 1-5 with "
                        "min ≤ max.")
    if df.empty:
        raise DataError("There are no segment rules. Add at least one row (segment, r_min, r_max, f_min, f_max).")
    for c in ("description", "action"):
        if c not in df.columns:
            df[c] = ""
    return df


def quantile_scores(values: pd.Series, higher_is_better: bool = True, n_bins: int = 5) -> pd.Series:
    """Scores 1..n_bins by quantile of the average rank: ties share a score, any number of customers works."""
    s = pd.Series(values, dtype="float64")
    pct = (s if higher_is_better else -s).rank(method="average", pct=True)
    return np.ceil(pct * n_bins).clip(1, n_bins).fillna(1).astype("int64")


def population_score(sorted_values: np.ndarray, value: float, n_bins: int = 5) -> int:
    """The score :func:`quantile_scores` gives ``value`` inside a population: ``sorted_values`` ascending, already
    oriented so that higher is better. Its average rank among them as a share of their number, in ``n_bins`` bins;
    a hypothetical value is ranked as if it joined without changing the count (what-if, rescoring one customer)."""
    n = len(sorted_values)
    less = int(np.searchsorted(sorted_values, value, "left"))
    equal = int(np.searchsorted(sorted_values, value, "right")) - less
    pct = (less + (equal + 1) / 2) / n
    return int(min(max(math.ceil(pct * n_bins), 1), n_bins))


def assign_segments(r: pd.Series, f: pd.Series, rules: pd.DataFrame | None = None) -> pd.Series:
    """Name each customer by the first rule whose R and F ranges hold their scores ("Unassigned" if none)."""
    rules = load_segment_rules(rules)
    out = pd.Series("Unassigned", index=r.index, dtype=object)
    done = pd.Series(False, index=r.index)
    for row in rules.itertuples():
        hit = ~done & r.between(row.r_min, row.r_max) & f.between(row.f_min, row.f_max)
        out[hit] = row.segment
        done |= hit
    return out


def default_snapshot(last_date) -> pd.Timestamp:
    """The day after the last transaction."""
    return pd.Timestamp(last_date).normalize() + pd.Timedelta(days=1)


def rfm_from_connection(con: duckdb.DuckDBPyConnection, table: str = "tx", snapshot=None,
                        rules: pd.DataFrame | None = None, n_bins: int = 5, start=None,
                        totals: str | None = None) -> pd.DataFrame:
    """RFM table from canonical transactions held in DuckDB table ``table``; columns :data:`RFM_COLUMNS`.
    ``start`` (a day) leaves out purchases before it; the default snapshot is still the day after the last one.
    ``totals``: a table of the per-customer totals of ``table`` (``tx_customers``, written by cleaning), read instead
    of the lines when every purchase is before the snapshot and no ``start`` is set (one row per customer)."""
    source, params = None, []
    if totals is not None and start is None:
        last = con.execute(f"SELECT max(last_purchase) FROM {totals}").fetchone()[0]
        if last is not None and (snapshot is None or pd.Timestamp(last) < pd.Timestamp(snapshot)):
            source = totals
    if source is None:
        if snapshot is None:
            last = con.execute(f"SELECT max(date) FROM {table}").fetchone()[0]
            if last is None:
                raise DataError("There are no transactions to compute RFM from.")
        since = " AND date >= ?::TIMESTAMP" if start is not None else ""
        source = f"(SELECT customer_id, {CUSTOMER_TOTALS} FROM {table} WHERE date < ?::TIMESTAMP{since} GROUP BY 1)"
    snap = default_snapshot(last) if snapshot is None else pd.Timestamp(snapshot)
    if source != totals:
        params = [snap] + ([pd.Timestamp(start)] if start is not None else [])
    df = con.execute(f"""
        SELECT customer_id, date_diff('day', last_purchase::DATE, ?::DATE) AS recency_days, frequency,
               round(monetary, 2) AS monetary, first_purchase, last_purchase,
               date_diff('day', first_purchase::DATE, ?::DATE) AS tenure_days
        FROM {source} ORDER BY customer_id""", [snap, snap, *params]).df()
    if df.empty:
        raise DataError(f"No purchases before the snapshot date {snap.date()}; pick a later snapshot.")
    df["customer_id"] = df["customer_id"].astype("string")
    df["r_score"] = quantile_scores(df["recency_days"], higher_is_better=False, n_bins=n_bins)
    df["f_score"] = quantile_scores(df["frequency"], n_bins=n_bins)
    df["m_score"] = quantile_scores(df["monetary"], n_bins=n_bins)
    df["segment"] = assign_segments(df["r_score"], df["f_score"], rules)
    df.attrs["snapshot"] = str(snap.date())
    return df[list(RFM_COLUMNS)]


def rfm_table(transactions: pd.DataFrame, snapshot=None, rules: pd.DataFrame | None = None,
              n_bins: int = 5) -> pd.DataFrame:
    """RFM per customer from canonical transactions.

    Parameters
    ----------
    transactions : canonical transactions (``customer_id, invoice_id, date, amount`` used).
    snapshot : date the recency is measured to; default the day after the last transaction. Purchases on or
        after the snapshot are ignored.
    rules : segment rules (see :func:`load_segment_rules`); default ``assets/rfm_segments.csv``.

    Returns
    -------
    DataFrame with columns ``pipeline.config.RFM_COLUMNS``: recency_days (days from the last purchase date to
    the snapshot), frequency (distinct invoices), monetary (total spend), r/f/m scores 1-5 (5 best), segment.
    """
    with step("rfm", lines=len(transactions)) as log:
        con = connect()
        con.register("tx", transactions[["customer_id", "invoice_id", "date", "amount"]])
        out = rfm_from_connection(con, "tx", snapshot, rules, n_bins)
        log.update(customers=len(out), snapshot=out.attrs["snapshot"])
    return out


def segment_summary(rfm: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share, revenue, revenue share, mean recency/frequency/monetary."""
    g = rfm.groupby("segment", observed=True)
    out = pd.DataFrame({
        "customers": g.size(),
        "revenue": g["monetary"].sum(),
        "mean_recency_days": g["recency_days"].mean(),
        "mean_frequency": g["frequency"].mean(),
        "mean_monetary": g["monetary"].mean(),
    })
    out.insert(1, "share", out["customers"] / out["customers"].sum())
    out.insert(3, "revenue_share", out["revenue"] / out["revenue"].sum())
    return out.sort_values("revenue", ascending=False).reset_index()


def rf_grid(rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers per (R score, F score) cell: rows R 5..1, columns F 1..5, zeros where empty."""
    grid = pd.crosstab(rfm["r_score"], rfm["f_score"])
    return grid.reindex(index=range(5, 0, -1), columns=range(1, 6), fill_value=0)


def filter_customers(rfm: pd.DataFrame, segments: list[str] | None = None, r: tuple[int, int] = (1, 5),
                     f: tuple[int, int] = (1, 5), m: tuple[int, int] = (1, 5),
                     customer_ids: list[str] | None = None, search: str = "") -> pd.DataFrame:
    """Customers in the given segments, score ranges, id list and id substring."""
    keep = rfm["r_score"].between(*r) & rfm["f_score"].between(*f) & rfm["m_score"].between(*m)
    if segments:
        keep &= rfm["segment"].isin(segments)
    if customer_ids is not None:
        keep &= rfm["customer_id"].isin(customer_ids)
    if search:
        keep &= rfm["customer_id"].str.contains(search, regex=False, na=False)
    return rfm[keep]
