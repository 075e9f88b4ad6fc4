"""The churn dataset's history: features, BTYD summary and label buyers as SQL on a connection.

:class:`History` is what a churn dataset asks of the transactions (``pipeline.churn``); :class:`EngineHistory`
answers it over the views ``tx`` and ``tx_returns`` of a connection: the ones ``Engine.clean`` leaves (DuckDB, or
Spark through ``SparkConnection``), or pandas frames registered in DuckDB (:meth:`EngineHistory.of_frames`). Every
query is DuckDB SQL written once (:data:`pipeline.features.AGGREGATE_SQL`, finished on the driver by
``finish_features``; :data:`pipeline.clv.summary.SUMMARY_SQL`; :data:`BUYERS_SQL`); only one-row-per-customer results
cross to pandas, so ``pipeline.churn.out_of_time_split(EngineHistory(...), None)`` builds the churn sets without
order lines on the driver.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

from pipeline.clv.summary import SUMMARY_COLUMNS, SUMMARY_SQL
from pipeline.errors import DataError
from pipeline.features import aggregate_sql, date_literal, finish_features, frames_connection, resolve_as_of

__all__ = ["BUYERS_SQL", "History", "EngineHistory"]

#: ids of the customers buying in ``[{start}, {end})`` (DATE literals): the churn label window
BUYERS_SQL = """
SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM tx
WHERE date >= CAST({start} AS TIMESTAMP) AND date < CAST({end} AS TIMESTAMP)"""


class History(ABC):
    """Where the transactions live, seen through the per-customer questions a churn dataset asks.

    Days are midnight timestamps; ``as_of`` / ``end`` are the first day *not* included.
    """

    _span: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @abstractmethod
    def first_last(self) -> tuple[Any, Any]:
        """(earliest, latest) purchase timestamp, (None, None) without purchases."""

    @abstractmethod
    def features(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """``pipeline.features.FEATURE_COLUMNS`` of every customer buying before ``as_of``, indexed by customer_id."""

    @abstractmethod
    def btyd_summary(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """:func:`pipeline.clv.btyd_summary` of the rows before ``as_of`` (days; ``attrs["cutoff"]``)."""

    @abstractmethod
    def buyers(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
        """Ids (str) of the customers with a purchase dated in ``[start, end)``."""

    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """(first purchase day, day after the last purchase); computed once."""
        if self._span is None:
            first, last = self.first_last()
            if first is None or pd.isna(first):
                raise DataError("churn: the transactions table is empty; load a dataset with purchases first.")
            self._span = (pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize() + pd.Timedelta(days=1))
        return self._span

    def day(self, when=None) -> pd.Timestamp:
        """``when`` as a midnight timestamp; None is the day after the last purchase."""
        return self.span()[1] if when is None else resolve_as_of(_NO_ROWS, when)


_NO_ROWS = pd.DataFrame(  # resolve_as_of reads the rows only for None, which History.day answers itself
    {"date": pd.Series([], dtype="datetime64[ns]")})


class EngineHistory(History):
    """The transactions in views ``tx`` and ``tx_returns`` behind ``con``, asked in SQL.

    ``engine`` is the :class:`pipeline.engines.Engine` that cleaned into ``con`` (None for frames registered in
    DuckDB); every query goes through ``con``, one at a time (a history shared by threads stays consistent).
    """

    def __init__(self, engine: Any, con: Any):
        self.engine, self.con = engine, con
        self._cached: tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of_frames(cls, transactions: pd.DataFrame, returns: pd.DataFrame | None = None) -> EngineHistory:
        """Canonical pandas ``transactions`` (and ``returns`` lines, or None) registered in DuckDB
        (:func:`pipeline.features.frames_connection`): the one-machine history."""
        return cls(None, frames_connection(transactions, returns))

    def first_last(self) -> tuple[Any, Any]:
        with self._lock:
            return self.con.execute("SELECT min(date), max(date) FROM tx").fetchone()

    def features(self, as_of: pd.Timestamp) -> pd.DataFrame:
        return self._per_customer(as_of)[0]

    def btyd_summary(self, as_of: pd.Timestamp) -> pd.DataFrame:
        return self._per_customer(as_of)[1]

    def _per_customer(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(features, BTYD summary) as of ``as_of``, from one query (one Spark job); the last cutoff's are kept,
        as the churn dataset asks for both in turn. The aggregates come to the driver anyway, so
        ``finish_features`` runs there (no Python workers)."""
        as_of = pd.Timestamp(as_of).normalize()
        with self._lock:
            if self._cached is None or self._cached[0] != as_of:
                self._cached = (as_of, *self._query(as_of))
            return self._cached[1], self._cached[2]

    def _query(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Features and summary from the join of the two views (called under the lock: the views are shared)."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW churn_customer_agg AS {aggregate_sql(as_of)}")
        self.con.execute("CREATE OR REPLACE TEMP VIEW churn_btyd_summary AS "
                         + SUMMARY_SQL.format(as_of=date_literal(as_of)))
        both = self.con.execute(
            "SELECT a.*, " + ", ".join(f"s.{c} AS summary_{c}" for c in SUMMARY_COLUMNS)
            + " FROM churn_customer_agg a JOIN churn_btyd_summary s ON s.customer_id = a.customer_id").df()
        both["customer_id"] = both["customer_id"].astype(str)
        both = both.sort_values("customer_id", ignore_index=True)
        summary = both.set_index("customer_id")[[f"summary_{c}" for c in SUMMARY_COLUMNS]].astype(float)
        summary.columns = list(SUMMARY_COLUMNS)
        summary.attrs["cutoff"] = as_of
        features = finish_features(both.drop(columns=[f"summary_{c}" for c in SUMMARY_COLUMNS]))
        return features.set_index("customer_id"), summary

    def buyers(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
        with self._lock:
            ids = self.con.execute(BUYERS_SQL.format(start=date_literal(start), end=date_literal(end))).df()
        return pd.Index(ids["customer_id"].astype(str).unique())
