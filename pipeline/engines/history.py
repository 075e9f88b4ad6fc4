"""The churn dataset's history on an engine: features, BTYD summary and label buyers as SQL on the connection.

:class:`EngineHistory` answers :class:`pipeline.churn.History` over the views ``tx`` and ``tx_returns`` that
``Engine.clean`` leaves on a connection (DuckDB, or Spark through ``SparkConnection``). Every query is DuckDB SQL
written once (:data:`SUMMARY_SQL`, :data:`BUYERS_SQL`, and the feature aggregates of
:mod:`pipeline.engines.features`, finished on the driver by its ``finish_features``);
only one-row-per-customer results cross to pandas, so ``pipeline.churn.out_of_time_split(EngineHistory(...), None)``
builds the churn sets without order lines on the driver.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.churn import History
from pipeline.clv import SUMMARY_COLUMNS
from pipeline.engines.features import aggregate_sql, finish_features

__all__ = ["SUMMARY_SQL", "BUYERS_SQL", "EngineHistory"]

#: :func:`pipeline.clv.btyd_summary` in days: purchases on one day are one visit; frequency = visits - 1,
#: recency = last - first visit day, T = (cutoff - 1 day) - first visit day, monetary_value = mean spend of the
#: repeat visit days (0 without repeats). ``{as_of}`` is a DATE literal (the first day not observed). Spend is
#: summed as DECIMAL (exact, so in any order): the same doubles on every engine and every run, which the
#: Gamma-Gamma fit needs (its optimiser can turn a last-bit difference into "did not converge").
SUMMARY_SQL = """
WITH visits AS (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(date AS DATE) AS day,
           sum(CAST(amount AS DECIMAL(38, 10))) AS spend
    FROM tx WHERE date < CAST({as_of} AS TIMESTAMP) GROUP BY 1, 2),
firsts AS (SELECT customer_id, min(day) AS first_day FROM visits GROUP BY customer_id),
repeats AS (
    SELECT v.customer_id, count(*) AS days, max(v.day) AS last_day, f.first_day,
           sum(CASE WHEN v.day > f.first_day THEN v.spend END) AS repeat_spend
    FROM visits v JOIN firsts f ON f.customer_id = v.customer_id
    GROUP BY v.customer_id, f.first_day)
SELECT customer_id, CAST(days - 1 AS DOUBLE) AS frequency,
       CAST(date_diff('day', first_day, last_day) AS DOUBLE) AS recency,
       CAST(date_diff('day', first_day, CAST({as_of} AS DATE)) - 1 AS DOUBLE) AS T,
       CASE WHEN days > 1 THEN CAST(repeat_spend AS DOUBLE) / CAST(days - 1 AS DOUBLE) ELSE 0.0 END
           AS monetary_value
FROM repeats"""

#: ids of the customers buying in ``[{start}, {end})`` (DATE literals): the churn label window
BUYERS_SQL = """
SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM tx
WHERE date >= CAST({start} AS TIMESTAMP) AND date < CAST({end} AS TIMESTAMP)"""


def _date(day: pd.Timestamp) -> str:
    return f"DATE '{pd.Timestamp(day).date().isoformat()}'"


class EngineHistory(History):
    """The cleaned transactions on ``engine`` behind ``con`` (views ``tx``, ``tx_returns``), asked in SQL.

    ``engine`` is the :class:`pipeline.engines.Engine` that cleaned into ``con`` (kept for callers that map
    batches over its tables); every query goes through ``con``.
    """

    def __init__(self, engine: Any, con: Any):
        self.engine, self.con = engine, con
        self._cached: tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame] | None = None

    def first_last(self) -> tuple[Any, Any]:
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
        if self._cached is None or self._cached[0] != as_of:
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW churn_customer_agg AS {aggregate_sql(as_of)}")
            self.con.execute("CREATE OR REPLACE TEMP VIEW churn_btyd_summary AS "
                             + SUMMARY_SQL.format(as_of=_date(as_of)))
            both = self.con.execute(
                "SELECT a.*, " + ", ".join(f"s.{c} AS summary_{c}" for c in SUMMARY_COLUMNS)
                + " FROM churn_customer_agg a JOIN churn_btyd_summary s ON s.customer_id = a.customer_id").df()
            both["customer_id"] = both["customer_id"].astype(str)
            both = both.sort_values("customer_id", ignore_index=True)
            summary = both.set_index("customer_id")[[f"summary_{c}" for c in SUMMARY_COLUMNS]].astype(float)
            summary.columns = list(SUMMARY_COLUMNS)
            summary.attrs["cutoff"] = as_of
            features = finish_features(both.drop(columns=[f"summary_{c}" for c in SUMMARY_COLUMNS]))
            self._cached = (as_of, features.set_index("customer_id"), summary)
        return self._cached[1], self._cached[2]

    def buyers(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
        ids = self.con.execute(BUYERS_SQL.format(start=_date(start), end=_date(end))).df()["customer_id"]
        return pd.Index(ids.astype(str).unique())
