"""Per-customer behavioural features as of a cutoff day, for clustering and churn models: their one definition.

Only transactions (and returns) dated strictly before ``as_of`` are read, so a model trained on these
features never sees the future. :data:`AGGREGATE_SQL` measures the per-customer columns in DuckDB SQL, run as is by
DuckDB and transpiled for Spark (``pipeline.engines``); :func:`finish_features` turns each measured row into the
feature row (trends, return rate, fills). :func:`customer_features` runs both over pandas frames registered in
DuckDB (:func:`frames_connection`), so frames, a DuckDB engine and Spark compute the same table the same way.

Conventions
-----------
* ``as_of`` is a day (time of day is dropped). It defaults to the day after the last transaction, so the
  whole table is used. Day counts are whole days between purchase *days* and ``as_of``.
* An *order* is a distinct ``invoice_id``; a *visit* is a distinct purchase day. Gaps between orders are
  measured between consecutive visits (two invoices on the same day are one visit, not a 0-day gap).
* Missing values are filled, never left as NaN:
  one-visit customers get ``mean_days_between`` = ``median_days_between`` = ``tenure_days`` (the gap is at
  least that long, a censored lower bound) and ``std_days_between`` = 0; two-visit customers get std 0;
  a line without quantity counts as one unit; a customer without any country gets ``"Unknown"``.

:func:`derive_features` owns the rules that tie the columns to a customer's recency, frequency, monetary and
tenure (average order value, the one-visit fills, what the windows and the trend must hold): ``finish_features``
fills its columns through it and the what-if (``pipeline.customer.whatif``) derives a hypothetical customer's row
with it, so the two cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.ingest.db import quote_ident, shared
from pipeline.log import logged

__all__ = [
    "WINDOWS", "TREND_DAYS", "NUMERIC_FEATURES", "FEATURE_COLUMNS", "DERIVATION_INPUTS",
    "AGGREGATE_SQL", "resolve_as_of", "require_transactions", "frames_connection", "date_literal", "aggregate_sql",
    "finish_features", "customer_features", "derive_features", "numeric_feature_columns",
]

#: The trend compares the last ``TREND_DAYS`` days with the ``TREND_DAYS`` before (the horizon H).
TREND_DAYS = HORIZON_DAYS
#: Look-back windows (days) for recent activity; the longest is the horizon H.
WINDOWS = (30, 60, TREND_DAYS)

#: Numeric feature columns, in output order.
NUMERIC_FEATURES = (
    "recency_days", "frequency", "monetary", "avg_order_value", "tenure_days",
    "mean_days_between", "std_days_between", "median_days_between",
    *(f"{kind}_{w}d" for w in WINDOWS for kind in ("orders", "spend")),
    f"orders_trend_{TREND_DAYS}d", f"spend_trend_{TREND_DAYS}d",
    "avg_basket_lines", "avg_basket_quantity", "n_products", "n_categories",
    "return_count", "return_rate",
)

#: Every output column (numeric ones, then the categorical ``country``).
FEATURE_COLUMNS = (*NUMERIC_FEATURES, "country")

#: What :func:`derive_features` derives from (``visits``, distinct purchase days, is optional).
DERIVATION_INPUTS = ("recency_days", "frequency", "monetary", "tenure_days")

_REQUIRED = ("customer_id", "invoice_id", "date", "amount")


def resolve_as_of(transactions: pd.DataFrame, as_of=None) -> pd.Timestamp:
    """Return ``as_of`` as a midnight timestamp; ``None`` means the day after the last transaction."""
    if as_of is None:
        if transactions.empty:
            raise DataError("features: the transactions table is empty; load a dataset with purchases first.")
        return pd.Timestamp(transactions["date"].max()).normalize() + pd.Timedelta(days=1)
    try:
        return pd.Timestamp(as_of).normalize()
    except (TypeError, ValueError) as exc:
        raise DataError(f"features: as_of {as_of!r} is not a date; give it as YYYY-MM-DD.") from exc


def require_transactions(transactions: pd.DataFrame, where: str, columns=_REQUIRED) -> None:
    """The one check of a canonical transactions table: required columns present and at least one row."""
    missing = [c for c in columns if c not in transactions.columns]
    if missing:
        raise DataError(f"{where}: transactions lack column(s) {missing}; pass the cleaned canonical table "
                        f"(pipeline.ingest) with columns {', '.join(columns)}, ... Map them on the Upload page.")
    if transactions.empty:
        raise DataError(f"{where}: the transactions table is empty; load a dataset with purchases first.")


#: money and quantities are summed as DECIMAL: exact, so the same doubles in any row order, on any engine (a float
#: sum depends on the order DuckDB's threads happen to add in), and equal to the BTYD summary's sums; the std of
#: the gaps likewise comes from exact integer sums
_EXACT = "CAST({} AS DECIMAL(38, 10))"
_WINDOW_DAYS = (*WINDOWS, 2 * TREND_DAYS)
_WINDOW_SQL = ",\n".join(
    f"        CAST(count(CASE WHEN age <= {w} THEN 1 END) AS DOUBLE) AS orders_{w}d, "
    f"CAST(sum(CASE WHEN age <= {w} THEN spend ELSE 0 END) AS DOUBLE) AS spend_{w}d" for w in _WINDOW_DAYS)

#: one row per customer with the measured columns; ``{as_of}`` is a DATE literal
AGGREGATE_SQL = f"""
WITH lines AS (SELECT * FROM tx WHERE date < CAST({{as_of}} AS TIMESTAMP)),
orders AS (
    SELECT customer_id, invoice_id, min(CAST(date AS DATE)) AS day, sum({_EXACT.format("amount")}) AS spend,
           count(*) AS lines, sum({_EXACT.format("coalesce(quantity, 1.0)")}) AS qty
    FROM lines GROUP BY customer_id, invoice_id),
aged AS (SELECT *, date_diff('day', day, CAST({{as_of}} AS DATE)) AS age FROM orders),
visits AS (SELECT DISTINCT customer_id, day FROM orders),
gaps AS (
    SELECT customer_id, date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
    FROM visits),
gap_stats AS (
    SELECT customer_id, count(*) AS visits, avg(gap) AS mean_days_between,
           CASE WHEN count(gap) > 1 THEN sqrt(
               CAST(count(gap) * sum(CAST(gap * gap AS DECIMAL(38, 0)))
                    - sum(CAST(gap AS DECIMAL(38, 0))) * sum(CAST(gap AS DECIMAL(38, 0))) AS DOUBLE)
               / (count(gap) * (count(gap) - 1))) END AS std_days_between,
           median(gap) AS median_days_between
    FROM gaps GROUP BY customer_id),
per_order AS (
    SELECT customer_id, CAST(min(age) AS DOUBLE) AS recency_days, CAST(count(*) AS DOUBLE) AS frequency,
           CAST(sum(spend) AS DOUBLE) AS monetary, CAST(max(age) AS DOUBLE) AS tenure_days,
           avg(lines) AS avg_basket_lines, CAST(sum(qty) AS DOUBLE) / count(*) AS avg_basket_quantity,
{_WINDOW_SQL}
    FROM aged GROUP BY customer_id),
products AS (
    SELECT customer_id, CAST(count(DISTINCT product_id) AS DOUBLE) AS n_products,
           CAST(count(DISTINCT category) AS DOUBLE) AS n_categories
    FROM lines GROUP BY customer_id),
countries AS (
    SELECT customer_id, country, row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, country) AS rank
    FROM (SELECT customer_id, country, count(*) AS n FROM lines WHERE country IS NOT NULL
          GROUP BY customer_id, country)),
returned AS (
    SELECT customer_id, CAST(count(DISTINCT invoice_id) AS DOUBLE) AS return_count,
           CAST(abs(sum({_EXACT.format("amount")})) AS DOUBLE) AS return_amount
    FROM tx_returns WHERE date < CAST({{as_of}} AS TIMESTAMP) GROUP BY customer_id)
SELECT o.*, CAST(g.visits AS DOUBLE) AS visits, CAST(g.mean_days_between AS DOUBLE) AS mean_days_between,
       CAST(g.std_days_between AS DOUBLE) AS std_days_between,
       CAST(g.median_days_between AS DOUBLE) AS median_days_between, p.n_products, p.n_categories,
       coalesce(r.return_count, 0.0) AS return_count, coalesce(r.return_amount, 0.0) AS return_amount, c.country
FROM per_order o
JOIN gap_stats g ON g.customer_id = o.customer_id
JOIN products p ON p.customer_id = o.customer_id
LEFT JOIN countries c ON c.customer_id = o.customer_id AND c.rank = 1
LEFT JOIN returned r ON r.customer_id = o.customer_id"""


#: the canonical columns the SQL reads from views ``tx`` and ``tx_returns``, with their DuckDB types
_VIEW_COLUMNS = {"customer_id": "VARCHAR", "invoice_id": "VARCHAR", "date": "TIMESTAMP", "amount": "DOUBLE",
                 "quantity": "DOUBLE", "product_id": "VARCHAR", "category": "VARCHAR", "country": "VARCHAR"}


def frames_connection(transactions: pd.DataFrame, returns: pd.DataFrame | None = None) -> Any:
    """A DuckDB cursor (``pipeline.ingest.db.shared``) with views ``tx`` and ``tx_returns`` over the canonical frames,
    as ``Engine.clean`` leaves them: the SQL of the features, the BTYD summary and the churn labels runs on it.

    Columns are cast to their canonical types (a quantity that is not a number counts as missing); a column the
    frame lacks is all NULL, so each caller checks the columns it needs. ``returns`` None: no return lines. Close
    the cursor (or use it as a context manager) when done; its views are its own.
    """
    con = shared()
    for view, table in (("tx", transactions), ("tx_returns", returns)):
        if table is None:
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM tx WHERE false")
            continue
        con.register(f"{view}_frame", table)
        cols = ", ".join(
            (f"{'TRY_CAST' if c == 'quantity' else 'CAST'}({quote_ident(c)} AS {t})" if c in table.columns
             else f"CAST(NULL AS {t})") + f" AS {c}" for c, t in _VIEW_COLUMNS.items())
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT {cols} FROM {view}_frame")
    return con


def date_literal(day) -> str:
    """``day`` as a DATE literal (DuckDB and Spark) for the day slots (``{as_of}``, ...) of the project's SQL."""
    return f"DATE '{pd.Timestamp(day).date().isoformat()}'"


def aggregate_sql(as_of: pd.Timestamp) -> str:
    """:data:`AGGREGATE_SQL` for the cutoff day ``as_of`` (rows dated on or after it are ignored)."""
    return AGGREGATE_SQL.format(as_of=date_literal(as_of))


def finish_features(agg: pd.DataFrame) -> pd.DataFrame:
    """The feature table (``customer_id`` + :data:`FEATURE_COLUMNS`) from measured per-customer rows: trends from
    the windows, the fills of :func:`derive_features`, return rate, ``Unknown`` country."""
    out = agg.copy()
    h, h2 = TREND_DAYS, 2 * TREND_DAYS
    for kind in ("orders", "spend"):
        last = out[f"{kind}_{h}d"].astype(float)
        prev = out[f"{kind}_{h2}d"].astype(float) - last
        total = last + prev
        out[f"{kind}_trend_{h}d"] = ((last - prev) / total.where(total > 0)).fillna(0.0)
    derived = derive_features(out[["recency_days", "frequency", "monetary", "tenure_days", "visits"]])
    for col, values in derived.items():           # measured values win; the rules fill what was not measured
        filled = pd.Series(values, index=out.index, dtype=float)
        out[col] = out[col].astype(float).fillna(filled) if col in out else filled
    out["return_rate"] = out["return_amount"] / (out["monetary"] + out["return_amount"])
    out["country"] = out["country"].fillna("Unknown").astype(str)
    out["customer_id"] = out["customer_id"].astype(str)
    return out[["customer_id", *FEATURE_COLUMNS]]


@logged("features")
def customer_features(transactions: pd.DataFrame, returns: pd.DataFrame | None = None,
                      as_of=None) -> pd.DataFrame:
    """Behavioural features of every customer with at least one purchase before ``as_of``.

    Parameters
    ----------
    transactions : canonical cleaned transactions (``pipeline.config.TX_COLUMNS``).
    returns : canonical return lines (positive magnitudes), or None.
    as_of : day; rows dated on or after it are ignored. Default: the day after the last transaction.

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted) with ``FEATURE_COLUMNS`` (see the module docstring for fills):
    :data:`AGGREGATE_SQL` and :func:`finish_features` over the frames in DuckDB.
    """
    require_transactions(transactions, "features")
    as_of = resolve_as_of(transactions, as_of)
    with frames_connection(transactions, returns) as con:
        agg = con.execute(aggregate_sql(as_of)).df()
    if agg.empty:
        raise DataError(f"features: no purchases before {as_of.date()}; choose a later cutoff date.")
    return finish_features(agg).set_index("customer_id").sort_index()


def derive_features(inputs: Mapping[str, object],
                    base: Mapping[str, object] | None = None) -> dict[str, np.ndarray]:
    """The feature columns that follow from recency, frequency, monetary and tenure (the one owner of these rules).

    Parameters
    ----------
    inputs : ``recency_days, frequency, monetary, tenure_days`` (numbers or arrays, as in
        :func:`customer_features`) and optionally ``visits``, the distinct purchase days (default: one order per
        visit, ``visits = frequency``).
    base : values for the cells the inputs leave open (e.g. the customer's own features); they are made consistent
        with the inputs (windows clipped between one order / its share of spend and the totals). None: those cells
        are NaN, so every non-NaN cell is determined by the inputs alone.

    Returns
    -------
    ``{column: float array}`` for the R/F/M/tenure columns, ``avg_order_value`` (monetary / frequency), the days
    between orders (one purchase day: mean = median = tenure, std 0; otherwise mean = (tenure - recency) /
    (visits - 1), and with two visits the median is that gap and std 0), the ``WINDOWS`` columns (empty when
    recency exceeds the window, every order when tenure fits in it) and the trends (-1 when the last order is in
    the previous H days, 0 before that, 1 when every order is in the last H days; H = ``TREND_DAYS``).
    """
    R, F, M, T = (np.asarray(inputs[k], dtype=float) for k in DERIVATION_INPUTS)
    V = np.asarray(inputs.get("visits", F), dtype=float)
    one_day = (V <= 1) | (T == R)
    upto_two = one_day | (V <= 2)
    nan = np.full(np.broadcast(R, F, M, T, V).shape, np.nan)
    gap = np.where(one_day, T, (T - R) / np.maximum(V - 1, 1))
    out = {"recency_days": R, "frequency": F, "monetary": M, "tenure_days": T, "avg_order_value": M / F,
           "mean_days_between": gap, "median_days_between": np.where(upto_two, gap, nan),
           "std_days_between": np.where(upto_two, 0.0, nan)}
    for w in WINDOWS:
        out[f"orders_{w}d"] = np.where(R > w, 0.0, np.where(T <= w, F, nan))
        out[f"spend_{w}d"] = np.where(R > w, 0.0, np.where(T <= w, M, nan))
    h = TREND_DAYS
    trend = np.where(R > h, np.where(R <= 2 * h, -1.0, 0.0), np.where(T <= h, 1.0, nan))
    out[f"orders_trend_{h}d"], out[f"spend_trend_{h}d"] = trend, trend.copy()
    return out if base is None else _fill_open(out, base)


def _fill_open(out: dict[str, np.ndarray], base: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Open cells of :func:`derive_features` from ``base``: std and trends as given, median = mean (equal gaps
    assumed), window orders between one and all orders, window spend between their share and all spend."""
    def given(col: str) -> np.ndarray:
        return np.nan_to_num(np.asarray(base.get(col, 0.0), dtype=float))

    F, M, aov = out["frequency"], out["monetary"], out["avg_order_value"]
    out["median_days_between"] = np.where(np.isnan(out["median_days_between"]), out["mean_days_between"],
                                          out["median_days_between"])
    for col in ("std_days_between", f"orders_trend_{TREND_DAYS}d", f"spend_trend_{TREND_DAYS}d"):
        out[col] = np.where(np.isnan(out[col]), given(col), out[col])
    for w in WINDOWS:
        orders = np.minimum(F, np.maximum(1.0, given(f"orders_{w}d")))
        spend = np.minimum(M, np.maximum(given(f"spend_{w}d"), orders * aov))
        out[f"orders_{w}d"] = np.where(np.isnan(out[f"orders_{w}d"]), orders, out[f"orders_{w}d"])
        out[f"spend_{w}d"] = np.where(np.isnan(out[f"spend_{w}d"]), spend, out[f"spend_{w}d"])
    return out


def numeric_feature_columns(features: pd.DataFrame) -> list[str]:
    """Names of the numeric columns of a feature table (everything except categorical ones like country)."""
    return [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])
            and not pd.api.types.is_bool_dtype(features[c])]
