"""Monthly first-purchase cohorts: customers grouped by the calendar month of their first purchase in the data,
followed month by month since then. Per cohort and month since the first purchase: the share of the cohort still
buying that month and the revenue per cohort customer (that month and cumulated). A cell is *complete* when its
calendar month lies wholly inside the analysis period; partial months (e.g. the 9 days of December 2011 in Online
Retail) are flagged so they are not read as a drop. Aggregation runs on the engine holding the
transactions (DuckDB, or Spark through :func:`cohort_table_from_connection`); only the cells reach pandas.
"""
from __future__ import annotations

import pandas as pd

from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.ingest.db import connect
from pipeline.period import AnalysisPeriod, period_from_connection

__all__ = ["COHORT_VALUES", "cohort_table", "cohort_table_from_connection", "cohort_matrix", "retention_curve"]

#: Values a cohort matrix can show -> label.
COHORT_VALUES = {
    "share": "Share of the cohort buying",
    "revenue_per_customer": "Revenue per cohort customer",
    "cumulative_revenue_per_customer": "Cumulative revenue per cohort customer",
    "customers": "Customers buying",
}

#: Cohort cells over ``{table}``: rows up to the period's end (parameter 1), cohorts whose first purchase is on or
#: after the period's start (parameter 2). Months since = calendar-month difference, written with year() and month()
#: so that DuckDB and Spark (via SQLGlot) count it alike. Every cohort customer buys in month 0, so that cell's
#: customers is the cohort's size.
_CELLS = """
    WITH u AS (SELECT customer_id, date, amount FROM {table} WHERE date < ?),
         f AS (SELECT customer_id, min(date) AS first FROM u GROUP BY customer_id),
         c AS (SELECT customer_id, date_trunc('month', first) AS cohort FROM f WHERE first >= ?)
    SELECT c.cohort, 12 * (year(u.date) - year(c.cohort)) + month(u.date) - month(c.cohort) AS months_since,
           count(DISTINCT u.customer_id) AS customers, sum(u.amount) AS revenue
    FROM u JOIN c ON u.customer_id = c.customer_id GROUP BY 1, 2"""


def cohort_table(transactions: pd.DataFrame, period: AnalysisPeriod | None = None) -> pd.DataFrame:
    """One row per (cohort, months since first purchase) of the customers whose first purchase lies in ``period``
    (default: all the data), counting their purchases up to the period's end.

    Returns
    -------
    DataFrame with columns cohort (first day of the month), months_since (0 = the first-purchase month),
    month (calendar month of the cell), cohort_size, customers (buying that month), share, revenue,
    revenue_per_customer, cumulative_revenue_per_customer, complete. Months without purchases are zero rows.
    """
    require_transactions(transactions, "Cohorts", ("customer_id", "invoice_id", "date", "amount"))
    con = connect()
    try:
        con.register("tx", transactions[["customer_id", "date", "amount"]])
        return cohort_table_from_connection(con, period, "tx")
    finally:
        con.close()


def cohort_table_from_connection(con, period: AnalysisPeriod | None = None, table: str = "tx") -> pd.DataFrame:
    """:func:`cohort_table` of the canonical transactions in view ``table`` of a DuckDB connection or a
    :class:`pipeline.engines.spark.SparkConnection`: the aggregation runs on the engine, only the cells (one row
    per cohort and month) reach pandas. ``period`` is resolved against ``table``
    (:func:`pipeline.period.period_from_connection`); the resolved period is kept in ``attrs["period"]``."""
    period = period_from_connection(con, period, table)
    params = [pd.Timestamp(period.end) + pd.Timedelta(days=1), pd.Timestamp(period.start)]
    cells = con.execute(_CELLS.format(table=table), params).df()
    cells["cohort"] = pd.to_datetime(cells["cohort"]).astype("datetime64[us]")   # alike whichever engine answered
    cells["months_since"] = cells["months_since"].astype("int64")
    first = cells[cells["months_since"] == 0].sort_values("cohort")
    if first.empty:
        raise DataError(f"No customer made a first purchase between {period.start} and {period.end} (earlier "
                        "buyers are not new); pick an earlier start date to see cohorts.")
    sizes = pd.DataFrame({"cohort": first["cohort"].to_numpy(), "cohort_size": first["customers"].astype("int64")})
    out = _full_grid(cells, sizes, pd.Timestamp(period.end))
    out.attrs["period"] = period
    return out


def _full_grid(cells: pd.DataFrame, sizes: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Every (cohort, month) up to the period's last month, zeros where nobody bought; shares and per-customer
    revenue from the cohort sizes."""
    last = end.to_period("M")
    rows = [(c, k) for c in sizes["cohort"] for k in range(0, (last - pd.Timestamp(c).to_period("M")).n + 1)]
    grid = pd.DataFrame(rows, columns=["cohort", "months_since"]).astype({"months_since": "int64"})
    cells = cells.astype({"months_since": "int64"})
    out = grid.merge(sizes, on="cohort").merge(cells, on=["cohort", "months_since"], how="left")
    out[["customers", "revenue"]] = out[["customers", "revenue"]].fillna(0)
    out["customers"] = out["customers"].astype("int64")
    out["month"] = [c + pd.DateOffset(months=k) for c, k in zip(out["cohort"], out["months_since"])]
    out["share"] = out["customers"] / out["cohort_size"]
    out["revenue"] = out["revenue"].astype(float).round(2)
    out["revenue_per_customer"] = out["revenue"] / out["cohort_size"]
    out = out.sort_values(["cohort", "months_since"]).reset_index(drop=True)
    out["cumulative_revenue_per_customer"] = out.groupby("cohort")["revenue_per_customer"].cumsum()
    out["complete"] = out["month"] + pd.offsets.MonthEnd(0) <= end.normalize()
    cols = ["cohort", "months_since", "month", "cohort_size", "customers", "share", "revenue",
            "revenue_per_customer", "cumulative_revenue_per_customer", "complete"]
    return out[cols]


def cohort_matrix(table: pd.DataFrame, value: str = "share", complete_only: bool = True) -> pd.DataFrame:
    """Cohorts (rows, labelled ``YYYY-MM``) × months since the first purchase (columns 0, 1, …) of one
    :data:`COHORT_VALUES` column; cells of partial months are left empty when ``complete_only`` (and a cohort
    with no complete month is left out)."""
    if value not in COHORT_VALUES:
        raise ValueError(f"value must be one of {', '.join(COHORT_VALUES)}, not {value!r}")
    cells = table if not complete_only else table.assign(**{value: table[value].where(table["complete"])})
    matrix = cells.pivot(index="cohort", columns="months_since", values=value).dropna(how="all")
    matrix.index = [f"{c:%Y-%m}" for c in matrix.index]
    matrix.index.name = "cohort"
    matrix.columns.name = "months since first purchase"
    return matrix


def retention_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Per month since the first purchase, over the complete cells of every cohort: cohorts, customers in them,
    share still buying and revenue per customer (weighted by cohort size)."""
    done = table[table["complete"]]
    g = done.groupby("months_since")
    out = pd.DataFrame({"cohorts": g.size(), "cohort_customers": g["cohort_size"].sum(),
                        "customers": g["customers"].sum(), "revenue": g["revenue"].sum()})
    out["share"] = out["customers"] / out["cohort_customers"]
    out["revenue_per_customer"] = out["revenue"] / out["cohort_customers"]
    return out.reset_index()
