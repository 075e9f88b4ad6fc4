"""Monthly first-purchase cohorts: customers grouped by the calendar month of their first purchase in the data,
followed month by month since then. Per cohort and month since the first purchase: the share of the cohort still
buying that month and the revenue per cohort customer (that month and cumulated). A cell is *complete* when its
calendar month lies wholly inside the analysis period; partial months (e.g. the 9 days of December 2011 in Online
Retail) are flagged so they are not read as a drop. Aggregation runs in DuckDB.
"""
from __future__ import annotations

import pandas as pd

from pipeline.features import require_transactions
from pipeline.ingest.db import connect
from pipeline.period import AnalysisPeriod, filter_period, resolve_period

__all__ = ["COHORT_VALUES", "cohort_table", "cohort_matrix", "retention_curve"]

#: Values a cohort matrix can show -> label.
COHORT_VALUES = {
    "share": "Share of the cohort buying",
    "revenue_per_customer": "Revenue per cohort customer",
    "cumulative_revenue_per_customer": "Cumulative revenue per cohort customer",
    "customers": "Customers buying",
}

_SQL = """
    WITH f AS (SELECT customer_id, min(date) AS first FROM tx GROUP BY customer_id),
         c AS (SELECT customer_id, date_trunc('month', first) AS cohort FROM f WHERE first >= ?)
    SELECT c.cohort, date_diff('month', c.cohort, date_trunc('month', t.date)) AS months_since,
           count(DISTINCT t.customer_id) AS customers, sum(t.amount) AS revenue
    FROM tx t JOIN c USING (customer_id) GROUP BY ALL"""


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
    period = resolve_period(period, transactions)
    upto = filter_period(transactions, AnalysisPeriod(None, period.end))
    con = connect()
    try:
        con.register("tx", upto[["customer_id", "date", "amount"]])
        cells = con.execute(_SQL, [pd.Timestamp(period.start)]).df()
        sizes = con.execute("SELECT date_trunc('month', min(date)) AS cohort, customer_id FROM tx GROUP BY ALL "
                            "HAVING min(date) >= ?", [pd.Timestamp(period.start)]).df()
    finally:
        con.close()
    sizes = sizes.groupby("cohort").size().rename("cohort_size").reset_index()
    return _full_grid(cells, sizes, pd.Timestamp(period.end))


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
