"""The at-a-glance overview of a transactions dataset over an analysis period: key figures (customers, active
customers, revenue, orders, average order value, repeat-purchase rate, new and returning customers), each against
the previous period of the same length, and per calendar month revenue, orders, active, new and returning customers.

Definitions. *Active* customers at a day bought in the ``HORIZON_DAYS`` days up to it (all earlier data counts, not
only the period). *New* customers made their first purchase in the data inside the window; *returning* customers
bought in the window and before it. *Repeat-purchase rate*: share of the window's customers with two or more orders
in it. A comparison is shown only when the data covers the previous period (and, for active customers, its
look-back) in full, and a change only against a base of at least ``pipeline.units.MIN_BASE`` (customers, or
orders for orders): "+16,718%" from three returning customers says nothing, so the change is not shown
(``kpis.base_ok``) and ``kpis.note`` says why. A period that is the whole data has nothing before it to compare
with, so when it spans at least two look-backs its key figures cover its last ``horizon_days`` days
(``Overview.window``) against the ``horizon_days`` before (a marketer's "how are we doing lately"); the monthly table still covers the whole period.
Aggregation runs in DuckDB.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd

from pipeline.config import HORIZON_DAYS
from pipeline.features import require_transactions
from pipeline.ingest.db import connect
from pipeline.period import AnalysisPeriod, data_bounds, filter_period, resolve_period
from pipeline.units import MIN_BASE

__all__ = ["Overview", "KPI_LABELS", "overview", "window_stats", "monthly_table"]

#: KPI -> (label shown to marketers, kind: "count" | "money" | "rate").
KPI_LABELS = {
    "customers": ("Customers", "count"),
    "active_customers": ("Active customers", "count"),
    "revenue": ("Revenue", "money"),
    "orders": ("Orders", "count"),
    "average_order_value": ("Average order value", "money"),
    "repeat_rate": ("Repeat-purchase rate", "rate"),
    "new_customers": ("New customers", "count"),
    "returning_customers": ("Returning customers", "count"),
}


@dataclass(frozen=True)
class Overview:
    """Key figures of ``window`` against ``previous`` and the monthly table of ``period`` (see
    :func:`monthly_table`); ``window`` is ``period`` itself unless the period is the whole data (module docstring).

    ``kpis`` columns: kpi, label, kind, value, previous, change (relative for counts and money, a difference for
    rates; NaN when not comparable), comparable (the data covers the previous period), base_ok (the previous
    period has at least ``min_base`` customers, or orders for orders, so the change means something), note (why
    not, else "").
    """

    period: AnalysisPeriod
    previous: AnalysisPeriod
    kpis: pd.DataFrame
    monthly: pd.DataFrame
    horizon_days: int
    notes: list[str] = field(default_factory=list)
    window: AnalysisPeriod | None = None

    @property
    def recent(self) -> bool:
        """The key figures cover the period's last days, not the whole period (see the module docstring)."""
        return self.window is not None and self.window != self.period


def _day(d: date) -> pd.Timestamp:
    return pd.Timestamp(d)


def window_stats(con: duckdb.DuckDBPyConnection, start: date, end: date, horizon_days: int = HORIZON_DAYS) -> dict:
    """Key figures of the days ``start..end`` (inclusive) from DuckDB table ``tx`` (all transactions up to
    ``end`` at least): see the module docstring for the definitions."""
    s, e1 = _day(start), _day(end) + pd.Timedelta(days=1)
    customers, revenue, orders, repeat, new = con.execute("""
        WITH w AS (SELECT customer_id, count(DISTINCT invoice_id) AS n, sum(amount) AS spend
                   FROM tx WHERE date >= ? AND date < ? GROUP BY customer_id),
             f AS (SELECT customer_id, min(date) AS first FROM tx WHERE date < ? GROUP BY customer_id)
        SELECT count(*), coalesce(sum(spend), 0),
               (SELECT count(DISTINCT invoice_id) FROM tx WHERE date >= ? AND date < ?),
               coalesce(avg((n >= 2)::INT), 0), count(*) FILTER (WHERE f.first >= ?)
        FROM w JOIN f USING (customer_id)""", [s, e1, e1, s, e1, s]).fetchall()[0]
    active = con.execute("SELECT count(DISTINCT customer_id) FROM tx WHERE date >= ? AND date < ?",
                         [e1 - pd.Timedelta(days=horizon_days), e1]).fetchall()[0][0]
    return {"customers": customers, "active_customers": active, "revenue": round(float(revenue), 2),
            "orders": orders, "average_order_value": float(revenue) / orders if orders else float("nan"),
            "repeat_rate": float(repeat), "new_customers": new, "returning_customers": customers - new}


def _base(kpi: str, kind: str, prev: dict) -> tuple[float, str]:
    """What a change of ``kpi`` is relative to, and its name: the previous value of a count (the orders for
    orders), the previous period's customers for money and rates."""
    if kind == "count":
        return prev[kpi], "orders" if kpi == "orders" else KPI_LABELS[kpi][0].lower()
    return prev["customers"], "customers"


def _kpi_table(cur: dict, prev: dict | None, comparable: dict[str, bool], min_base: float) -> pd.DataFrame:
    rows = []
    for kpi, (label, kind) in KPI_LABELS.items():
        value = cur[kpi]
        before = prev[kpi] if prev is not None and comparable[kpi] else float("nan")
        note = ""
        if pd.isna(before):
            change = float("nan")
        else:
            change = value - before if kind == "rate" else ((value - before) / before if before else float("nan"))
            base, what = _base(kpi, kind, prev)
            if base < min_base:
                note = (f"too few {what} in the previous period to compare ({base:,.0f}; a change is shown from "
                        f"{min_base:,.0f} up)")
        rows.append({"kpi": kpi, "label": label, "kind": kind, "value": value, "previous": before,
                     "change": change, "comparable": not pd.isna(before), "base_ok": not note, "note": note})
    out = pd.DataFrame(rows)
    for col in ("value", "previous"):          # counts stay whole numbers (in JSON too)
        out[col] = pd.Series([int(r[col]) if r["kind"] == "count" and not pd.isna(r[col]) else r[col]
                              for r in rows], dtype=object)
    return out


def monthly_table(con: duckdb.DuckDBPyConnection, period: AnalysisPeriod, first_day: date,
                  horizon_days: int = HORIZON_DAYS) -> pd.DataFrame:
    """Per calendar month of a resolved ``period`` (cut to it at both ends): month, days (covered by the period),
    complete (the whole month is covered), revenue, orders, customers, new_customers, returning_customers,
    active_customers (at the month's last covered day) and active_complete (its look-back lies within the data)."""
    s, e = _day(period.start), _day(period.end)
    months = pd.period_range(s, e, freq="M")
    frame = pd.DataFrame({"month": months.to_timestamp()})
    frame["win_start"] = frame["month"].clip(lower=s)
    frame["win_end"] = (frame["month"] + pd.offsets.MonthEnd(0)).clip(upper=e)
    frame["days"] = (frame["win_end"] - frame["win_start"]).dt.days + 1
    frame["complete"] = frame["days"] == frame["month"].dt.days_in_month
    con.register("months", frame[["month", "win_start", "win_end"]])
    stats = con.execute("""
        WITH f AS (SELECT customer_id, min(date) AS first FROM tx GROUP BY customer_id)
        SELECT m.month, coalesce(sum(t.amount), 0) AS revenue, count(DISTINCT t.invoice_id) AS orders,
               count(DISTINCT t.customer_id) AS customers,
               count(DISTINCT t.customer_id) FILTER (WHERE f.first >= m.win_start) AS new_customers
        FROM months m
        LEFT JOIN tx t ON t.date >= m.win_start AND t.date < m.win_end + INTERVAL 1 DAY
        LEFT JOIN f ON f.customer_id = t.customer_id
        GROUP BY m.month""").df()
    active = con.execute(f"""
        WITH cd AS (SELECT DISTINCT customer_id, date::DATE AS d FROM tx)
        SELECT m.month, count(DISTINCT cd.customer_id) AS active_customers FROM months m
        LEFT JOIN cd ON cd.d > m.win_end::DATE - {int(horizon_days)} AND cd.d <= m.win_end::DATE
        GROUP BY m.month""").df()
    con.unregister("months")
    out = frame.merge(stats, on="month").merge(active, on="month").sort_values("month").reset_index(drop=True)
    out["returning_customers"] = out["customers"] - out["new_customers"]
    out["active_complete"] = out["win_end"] - pd.Timedelta(days=horizon_days - 1) >= _day(first_day)
    out["revenue"] = out["revenue"].astype(float).round(2)
    cols = ["month", "days", "complete", "revenue", "orders", "customers", "new_customers", "returning_customers",
            "active_customers", "active_complete"]
    return out[cols]


def overview(transactions: pd.DataFrame, period: AnalysisPeriod | None = None,
             horizon_days: int = HORIZON_DAYS, min_base: float = MIN_BASE) -> Overview:
    """Key figures and monthly table of ``transactions`` over ``period`` (default: all the data).

    Parameters
    ----------
    transactions : canonical transactions (``customer_id, invoice_id, date, amount`` used).
    period : analysis period; open sides are filled from the data (see :func:`pipeline.period.resolve_period`).
    horizon_days : look-back of "active" (default ``pipeline.config.HORIZON_DAYS``).
    min_base : smallest previous value (customers; orders for orders) a change is shown against
        (``kpis.base_ok``; ``kpis.note`` and ``notes`` say why not).
    """
    require_transactions(transactions, "Overview", ("customer_id", "invoice_id", "date", "amount"))
    period = resolve_period(period, transactions)
    first_day, _ = data_bounds(transactions)
    window = period
    if period.start <= first_day and period.days >= 2 * horizon_days:        # all the data: the latest days
        window = AnalysisPeriod(period.end - timedelta(days=horizon_days - 1), period.end)
    previous = window.previous()
    upto = filter_period(transactions, AnalysisPeriod(None, period.end))
    con = connect()
    try:
        con.register("tx", upto[["customer_id", "invoice_id", "date", "amount"]])
        cur = window_stats(con, window.start, window.end, horizon_days)
        has_prev = previous.start >= first_day
        active_ok = previous.end - timedelta(days=horizon_days - 1) >= first_day
        prev = window_stats(con, previous.start, previous.end, horizon_days) if active_ok or has_prev else None
        comparable = {k: has_prev for k in KPI_LABELS} | {"active_customers": active_ok}
        monthly = monthly_table(con, period, first_day, horizon_days)
    finally:
        con.close()
    kpis = _kpi_table(cur, prev, comparable, min_base)
    notes = _notes(window, previous, first_day, has_prev, monthly)
    notes += [f"{r.label}: {r.note}." for r in kpis.itertuples() if r.note]
    return Overview(period, previous, kpis, monthly, horizon_days, notes, window)


def _notes(period: AnalysisPeriod, previous: AnalysisPeriod, first_day: date, has_prev: bool,
           monthly: pd.DataFrame) -> list[str]:
    notes = []
    if not has_prev:
        notes.append(f"No comparison: the previous {period.days} days ({previous.start} to {previous.end}) start "
                     f"before the first purchase in the data ({first_day}). Pick a shorter period to compare.")
    if period.start <= first_day + timedelta(days=31):
        notes.append(f"The data starts on {first_day}: customers who bought before that count as new in the "
                     "first months.")
    partial = monthly[~monthly["complete"]]
    for row in partial.itertuples():
        notes.append(f"{row.month:%B %Y} is only partly in the period ({row.days} of "
                     f"{row.month.days_in_month} days): compare its totals with care.")
    return notes
