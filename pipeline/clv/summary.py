"""The repeat-purchase summary BTYD models read: one row per customer (frequency, recency, T, monetary_value).

Built here (lifetimes' ``calibration_and_holdout_data`` fails on pandas 3): purchases on the same day are one
transaction; ``frequency`` = repeat purchase days, ``recency`` = first to last purchase day, ``T`` = first purchase
day to the last observed day (the day before the cutoff), all in units of ``unit_days`` days; ``monetary_value`` =
mean spend of the repeat purchase days (0 without repeats). Belongs here: every rule of that summary, including
:func:`summary_from_rfm`, the same conventions for one customer known only by R/F/M/tenure (the what-if).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import DataError
from pipeline.features import resolve_as_of

__all__ = ["SUMMARY_COLUMNS", "btyd_summary", "calibration_holdout", "check_summary", "summary_from_rfm"]

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def _visits(transactions: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Per (customer, purchase day) spend for rows with start <= date < end."""
    dates = pd.to_datetime(transactions["date"])
    keep = np.ones(len(transactions), dtype=bool)
    if start is not None:
        keep &= (dates >= start).to_numpy()
    if end is not None:
        keep &= (dates < end).to_numpy()
    tx = transactions.loc[keep, ["customer_id", "amount"]].assign(day=dates[keep].dt.normalize())
    tx["customer_id"] = tx["customer_id"].astype(str)
    return tx.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()


def btyd_summary(transactions: pd.DataFrame, cutoff=None, unit_days: float = 1.0) -> pd.DataFrame:
    """Frequency / recency / T / monetary_value of every customer with a purchase before ``cutoff``.

    Parameters
    ----------
    transactions : canonical transactions (customer_id, date, amount).
    cutoff : first day *not* observed; default the day after the last transaction.
    unit_days : length of the time unit in days (7 for weeks).

    Returns
    -------
    DataFrame indexed by customer_id with ``SUMMARY_COLUMNS``; ``attrs["cutoff"]`` holds the cutoff.
    """
    cutoff = resolve_as_of(transactions, cutoff)
    visits = _visits(transactions, end=cutoff)
    if visits.empty:
        raise DataError(f"BTYD: no purchases before {cutoff.date()}; choose a later cutoff date.")
    g = visits.groupby("customer_id", sort=True)["day"]
    first, last = g.min(), g.max()
    repeat = visits[visits["day"] > visits["customer_id"].map(first)]
    end_day = cutoff - pd.Timedelta(days=1)
    out = pd.DataFrame({
        "frequency": (g.size() - 1).astype(float),
        "recency": (last - first).dt.days / unit_days,
        "T": (end_day - first).dt.days / unit_days,
        "monetary_value": repeat.groupby("customer_id")["amount"].mean().reindex(first.index).fillna(0.0),
    })
    out.index.name = "customer_id"
    out.attrs["cutoff"] = cutoff
    return out


def calibration_holdout(transactions: pd.DataFrame, calibration_end, holdout_end=None,
                        unit_days: float = 1.0) -> pd.DataFrame:
    """Summary before ``calibration_end`` plus what each of those customers did in [calibration_end, holdout_end).

    Adds ``frequency_holdout`` (purchase days), ``monetary_holdout`` (mean spend per purchase day, 0 if none)
    and ``duration_holdout`` (holdout length in units). ``holdout_end`` defaults to the day after the last row.
    """
    cal = btyd_summary(transactions, calibration_end, unit_days)
    cutoff = cal.attrs["cutoff"]
    holdout_end = resolve_as_of(transactions, holdout_end)
    if holdout_end <= cutoff:
        raise DataError("BTYD: the holdout end must be after the calibration end; pick an earlier calibration end.")
    hold = _visits(transactions, start=cutoff, end=holdout_end).groupby("customer_id")["amount"]
    cal["frequency_holdout"] = hold.size().reindex(cal.index).fillna(0).astype(float)
    cal["monetary_holdout"] = hold.mean().reindex(cal.index).fillna(0.0)
    cal["duration_holdout"] = (holdout_end - cutoff).days / unit_days
    return cal


def check_summary(X: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in SUMMARY_COLUMNS[:3] if c not in X.columns]
    if missing:
        raise DataError(f"BTYD: summary lacks column(s) {missing}; build it with pipeline.clv.btyd_summary.")
    if len(X) == 0:
        raise DataError("BTYD: no customers to fit; the data has no purchases before the cutoff.")
    bad = (X["recency"] > X["T"]) | (X["recency"] < 0) | (X["frequency"] < 0)
    if bad.any():
        raise DataError(f"BTYD: {int(bad.sum())} customers break 0 <= recency <= T or frequency >= 0; "
                        "rebuild the summary with pipeline.clv.btyd_summary.")
    return X


def summary_from_rfm(recency_days: float, frequency: float, monetary: float, tenure_days: float,
                     visits: float | None = None) -> dict[str, float]:
    """One customer's summary row from the features' recency, frequency (orders), monetary and tenure (days).

    By :func:`btyd_summary`'s conventions: ``frequency`` = purchase days - 1, ``recency`` = tenure - recency,
    ``T`` = tenure - 1 (the last observed day is the day before the cutoff). ``visits`` (distinct purchase days)
    defaults to one order per day. ``monetary_value`` is the average order value (0 without repeats): the repeat
    days' own mean spend is not known from the totals. Keys fit :meth:`BTYDModel.predict_one`.
    """
    days = frequency if visits is None else visits
    return {"frequency": float(days - 1), "recency": float(tenure_days - recency_days),
            "T": float(max(tenure_days - 1, tenure_days - recency_days)),
            "monetary_value": float(monetary / frequency) if days > 1 else 0.0}
