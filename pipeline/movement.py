"""Segment movement: each customer's RFM segment at two dates, each computed only from purchases up to that date
(``pipeline.rfm.rfm_from_connection`` with the segment rules in force), the transition matrix between them
(customers and row shares), per-segment counts at each date, and the customers behind any cell ("Champions → At Risk").
Customers whose first purchase falls between the two dates start in the row :data:`NOT_YET`. Scores are quantiles
among the customers existing at each date, so a customer can change segment without buying (others overtake).
Each date's RFM runs on the engine holding the transactions (DuckDB, or Spark through
:func:`segment_movement_from_connection`); only one row per customer reaches pandas.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.ingest.db import connect
from pipeline.period import AnalysisPeriod, period_from_connection
from pipeline.rfm import load_segment_rules, rfm_from_connection

__all__ = ["NOT_YET", "Movement", "segment_movement", "segment_movement_from_connection",
           "cell_customers", "sankey_links", "default_dates"]

#: Row of the customers who had not bought yet at the first date.
NOT_YET = "Not a customer yet"
_KEEP = ["customer_id", "recency_days", "frequency", "monetary", "segment"]


@dataclass(frozen=True)
class Movement:
    """Segments at ``date_from`` and ``date_to``.

    ``customers``: customer_id, segment_from, segment_to and recency_days / frequency / monetary at each date
    (suffixes ``_from`` / ``_to``; missing at ``date_from`` for :data:`NOT_YET`). ``counts``: customers per
    (segment_from row, segment_to column), zeros included; ``row_share``: each row divided by its total.
    ``segments``: per segment, customers at each date and the change.
    """

    date_from: date
    date_to: date
    customers: pd.DataFrame
    counts: pd.DataFrame
    row_share: pd.DataFrame
    segments: pd.DataFrame


def default_dates(period: AnalysisPeriod, horizon_days: int = HORIZON_DAYS) -> tuple[date, date]:
    """(end of the resolved period − ``horizon_days``, end of the period)."""
    return period.end - timedelta(days=horizon_days), period.end


def _order(rules: pd.DataFrame, present: set[str]) -> list[str]:
    names = list(dict.fromkeys(rules["segment"]))
    return names + sorted(present - set(names))


def segment_movement(transactions: pd.DataFrame, date_from: date | str | None = None,
                     date_to: date | str | None = None, period: AnalysisPeriod | None = None,
                     rules: pd.DataFrame | None = None, horizon_days: int = HORIZON_DAYS) -> Movement:
    """Segments at two dates and the movement between them.

    Parameters
    ----------
    transactions : canonical transactions.
    date_from, date_to : the two dates (inclusive ends of the data each sees); default
        :func:`default_dates` of the period. Both must lie in the period, ``date_from`` before ``date_to``.
    period : analysis period (its start cuts the data of both dates); default all the data.
    rules : segment rules (default ``assets/rfm_segments.csv``).
    """
    require_transactions(transactions, "Segment movement", ("customer_id", "invoice_id", "date", "amount"))
    con = connect()
    try:
        con.register("tx", transactions[["customer_id", "invoice_id", "date", "amount"]])
        return segment_movement_from_connection(con, date_from, date_to, period, rules, horizon_days, "tx")
    finally:
        con.close()


def segment_movement_from_connection(con, date_from: date | str | None = None, date_to: date | str | None = None,
                                     period: AnalysisPeriod | None = None, rules: pd.DataFrame | None = None,
                                     horizon_days: int = HORIZON_DAYS, table: str = "tx") -> Movement:
    """:func:`segment_movement` of the canonical transactions in view ``table`` of a DuckDB connection or a
    :class:`pipeline.engines.spark.SparkConnection`: each date's RFM runs on the engine
    (``pipeline.rfm.rfm_from_connection`` from the period's start), only one row per customer reaches pandas.
    ``period`` is resolved against ``table`` (:func:`pipeline.period.period_from_connection`)."""
    period = period_from_connection(con, period, table)
    d_from, d_to = default_dates(period, horizon_days)
    d_from = pd.Timestamp(date_from).date() if date_from is not None else d_from
    d_to = pd.Timestamp(date_to).date() if date_to is not None else d_to
    if not period.start <= d_from < d_to <= period.end:
        raise DataError(f"Movement dates {d_from} → {d_to}: the first must come before the second, both between "
                        f"{period.start} and {period.end} (the analysis period's purchases).")
    rules = load_segment_rules(rules)
    before = _segments_on(con, table, d_from, period.start, rules)
    after = _segments_on(con, table, d_to, period.start, rules)
    return _movement(before, after, d_from, d_to, rules)


def _segments_on(con, table: str, day: date, start: date, rules: pd.DataFrame) -> pd.DataFrame:
    """Each customer's RFM segment as it stood at the end of ``day``: purchases from ``start`` up to ``day``
    only, recency counted to the day after."""
    try:
        rfm = rfm_from_connection(con, table, snapshot=pd.Timestamp(day) + pd.Timedelta(days=1), rules=rules,
                                  start=start)
    except DataError as exc:
        raise DataError(f"No purchases up to {day}: pick a later date.") from exc
    return rfm[_KEEP]


def _movement(before: pd.DataFrame, after: pd.DataFrame, d_from: date, d_to: date,
              rules: pd.DataFrame) -> Movement:
    """The :class:`Movement` between two RFM tables (columns ``_KEEP``)."""
    both = after.merge(before, on="customer_id", how="left", suffixes=("_to", "_from"))
    both["segment_from"] = both["segment_from"].fillna(NOT_YET)
    cols = ["customer_id", "segment_from", "segment_to"] + [f"{c}_{s}" for s in ("from", "to")
                                                             for c in ("recency_days", "frequency", "monetary")]
    customers = both[cols].sort_values(["segment_from", "segment_to", "customer_id"]).reset_index(drop=True)
    order = _order(rules, (set(customers["segment_from"]) | set(customers["segment_to"])) - {NOT_YET})
    rows = [s for s in order if s in set(customers["segment_from"])] + (
        [NOT_YET] if (customers["segment_from"] == NOT_YET).any() else [])
    counts = pd.crosstab(customers["segment_from"], customers["segment_to"])
    counts = counts.reindex(index=rows, columns=[s for s in order if s in counts.columns], fill_value=0)
    counts.index.name, counts.columns.name = f"segment on {d_from}", f"segment on {d_to}"
    row_share = counts.div(counts.sum(axis=1), axis=0)
    return Movement(d_from, d_to, customers, counts, row_share, _segment_counts(customers, order))


def _segment_counts(customers: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    at_from = customers.loc[customers["segment_from"] != NOT_YET, "segment_from"].value_counts()
    at_to = customers["segment_to"].value_counts()
    out = pd.DataFrame({"segment": order})
    out["customers_from"] = out["segment"].map(at_from).fillna(0).astype("int64")
    out["customers_to"] = out["segment"].map(at_to).fillna(0).astype("int64")
    out["change"] = out["customers_to"] - out["customers_from"]
    return out[(out["customers_from"] > 0) | (out["customers_to"] > 0)].reset_index(drop=True)


def cell_customers(movement: Movement, segment_from: str, segment_to: str) -> pd.DataFrame:
    """The customers who were in ``segment_from`` at the first date and in ``segment_to`` at the second."""
    c = movement.customers
    return c[(c["segment_from"] == segment_from) & (c["segment_to"] == segment_to)].reset_index(drop=True)


def sankey_links(movement: Movement) -> pd.DataFrame:
    """Non-empty cells as links: source, target (segment names) and customers, largest first."""
    links = movement.counts.stack().rename("customers").reset_index()
    links.columns = ["source", "target", "customers"]
    return links[links["customers"] > 0].sort_values("customers", ascending=False).reset_index(drop=True)
