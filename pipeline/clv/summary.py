"""The repeat-purchase summary BTYD models read: one row per customer (frequency, recency, T, monetary_value).

Built here (lifetimes' ``calibration_and_holdout_data`` fails on pandas 3) as DuckDB SQL written once
(:data:`SUMMARY_SQL`, run on frames registered in DuckDB, on an engine's connection and, transpiled, on Spark):
purchases on the same day are one transaction; ``frequency`` = repeat purchase days, ``recency`` = first to last
purchase day, ``T`` = first purchase day to the last observed day (the day before the cutoff), all in units of
``unit_days`` days; ``monetary_value`` = mean spend of the repeat purchase days (0 without repeats). Spend is summed
as DECIMAL (exact, so in any order): the same doubles on every engine and every run, which the Gamma-Gamma fit needs
(its optimiser can turn a last-bit difference into "did not converge"; summed as DOUBLE, Spark and DuckDB differ in
the last bits for ~8% of Online Retail's customers). Belongs here: every rule of that summary, including :func:`summary_from_rfm`, the same conventions for
one customer known only by R/F/M/tenure (the what-if).
"""
from __future__ import annotations

import pandas as pd

from pipeline.errors import DataError
from pipeline.features import date_literal, frames_connection, require_transactions, resolve_as_of

__all__ = ["SUMMARY_COLUMNS", "SUMMARY_SQL", "HOLDOUT_SQL", "btyd_summary", "calibration_holdout", "check_summary",
           "summary_from_rfm"]

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
_COLUMNS = ("customer_id", "date", "amount")

#: per (customer, purchase day) spend of the lines of view ``tx`` that ``{where}`` keeps
_VISITS_SQL = """
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(date AS DATE) AS day,
           sum(CAST(amount AS DECIMAL(38, 10))) AS spend
    FROM tx WHERE {where} GROUP BY 1, 2"""

#: the summary in days, one row per customer buying before ``{as_of}`` (a DATE literal, the first day not observed):
#: frequency = visit days - 1, recency = last - first visit day, T = (cutoff - 1 day) - first visit day,
#: monetary_value = mean spend of the repeat visit days (0 without repeats)
SUMMARY_SQL = f"""
WITH visits AS ({_VISITS_SQL.format(where="date < CAST({as_of} AS TIMESTAMP)")}),
firsts AS (SELECT customer_id, min(day) AS first_day FROM visits GROUP BY customer_id),
repeats AS (
    SELECT v.customer_id, count(*) AS days, max(v.day) AS last_day, f.first_day,
           sum(CASE WHEN v.day > f.first_day THEN v.spend END) AS repeat_spend
    FROM visits v JOIN firsts f ON f.customer_id = v.customer_id
    GROUP BY v.customer_id, f.first_day)
SELECT customer_id, CAST(days - 1 AS DOUBLE) AS frequency,
       CAST(date_diff('day', first_day, last_day) AS DOUBLE) AS recency,
       CAST(date_diff('day', first_day, CAST({{as_of}} AS DATE)) - 1 AS DOUBLE) AS T,
       CASE WHEN days > 1 THEN CAST(repeat_spend AS DOUBLE) / CAST(days - 1 AS DOUBLE) ELSE 0.0 END
           AS monetary_value
FROM repeats"""

#: per customer buying in ``[{start}, {end})`` (DATE literals): purchase days and mean spend per purchase day
HOLDOUT_SQL = f"""
WITH visits AS ({_VISITS_SQL.format(where="date >= CAST({start} AS TIMESTAMP) AND date < CAST({end} AS TIMESTAMP)")})
SELECT customer_id, CAST(count(*) AS DOUBLE) AS frequency_holdout, CAST(avg(spend) AS DOUBLE) AS monetary_holdout
FROM visits GROUP BY customer_id"""


def btyd_summary(transactions: pd.DataFrame, cutoff=None, unit_days: float = 1.0) -> pd.DataFrame:
    """Frequency / recency / T / monetary_value of every customer with a purchase before ``cutoff``.

    Parameters
    ----------
    transactions : canonical transactions (customer_id, date, amount).
    cutoff : first day *not* observed; default the day after the last transaction.
    unit_days : length of the time unit in days (7 for weeks).

    Returns
    -------
    DataFrame indexed by customer_id (sorted) with ``SUMMARY_COLUMNS``: :data:`SUMMARY_SQL` over the frame in
    DuckDB; ``attrs["cutoff"]`` holds the cutoff.
    """
    require_transactions(transactions, "BTYD", _COLUMNS)
    cutoff = resolve_as_of(transactions, cutoff)
    with frames_connection(transactions) as con:
        out = con.execute(SUMMARY_SQL.format(as_of=date_literal(cutoff))).df()
    if out.empty:
        raise DataError(f"BTYD: no purchases before {cutoff.date()}; choose a later cutoff date.")
    out = out.astype({"customer_id": str}).set_index("customer_id").sort_index()[list(SUMMARY_COLUMNS)]
    out[["recency", "T"]] = out[["recency", "T"]] / unit_days
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
    with frames_connection(transactions) as con:
        hold = con.execute(HOLDOUT_SQL.format(start=date_literal(cutoff), end=date_literal(holdout_end))).df()
    hold = hold.astype({"customer_id": str}).set_index("customer_id").reindex(cal.index).fillna(0.0)
    cal[["frequency_holdout", "monetary_holdout"]] = hold[["frequency_holdout", "monetary_holdout"]]
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
