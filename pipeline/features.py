"""Per-customer behavioural features as of a cutoff day, for clustering and churn models.

Only transactions (and returns) dated strictly before ``as_of`` are read, so a model trained on these
features never sees the future. Every feature is computed with vectorised pandas group-bys.

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
tenure (average order value, the one-visit fills, what the windows and the trend must hold): ``customer_features``
fills its columns through it and the what-if (``pipeline.customer.whatif``) derives a hypothetical customer's row
with it, so the two cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = [
    "WINDOWS", "TREND_DAYS", "NUMERIC_FEATURES", "FEATURE_COLUMNS", "DERIVATION_INPUTS",
    "resolve_as_of", "require_transactions", "customer_features", "derive_features", "numeric_feature_columns",
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


def _before(table: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame | None:
    if table is None or table.empty:
        return None
    return table.loc[pd.to_datetime(table["date"]) < as_of]


def require_transactions(transactions: pd.DataFrame, where: str, columns=_REQUIRED) -> None:
    """The one check of a canonical transactions table: required columns present and at least one row."""
    missing = [c for c in columns if c not in transactions.columns]
    if missing:
        raise DataError(f"{where}: transactions lack column(s) {missing}; pass the cleaned canonical table "
                        f"(pipeline.ingest) with columns {', '.join(columns)}, ... Map them on the Upload page.")
    if transactions.empty:
        raise DataError(f"{where}: the transactions table is empty; load a dataset with purchases first.")


def _orders(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, invoice): order day, spend, lines, quantity."""
    qty = pd.to_numeric(tx["quantity"], errors="coerce").fillna(1.0) if "quantity" in tx else 1.0
    tx = tx.assign(day=pd.to_datetime(tx["date"]).dt.normalize(), qty=qty)
    return (tx.groupby(["customer_id", "invoice_id"], sort=False, observed=True)
              .agg(day=("day", "min"), spend=("amount", "sum"), lines=("amount", "size"), qty=("qty", "sum"))
              .reset_index())


def _gap_stats(orders: pd.DataFrame) -> pd.DataFrame:
    """Mean / std / median days between consecutive distinct purchase days."""
    visits = orders[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
    gaps = visits.groupby("customer_id", sort=False)["day"].diff().dt.days
    g = gaps.groupby(visits["customer_id"], sort=False)
    return pd.DataFrame({"mean_days_between": g.mean(), "std_days_between": g.std(ddof=1),
                         "median_days_between": g.median()})


def _window_stats(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Orders and spend in the last ``WINDOWS`` days and the last-H vs previous-H trend (H = ``TREND_DAYS``)."""
    age = (as_of - orders["day"]).dt.days            # 1 = yesterday
    cols = {}
    h, h2 = TREND_DAYS, 2 * TREND_DAYS
    for w in (*WINDOWS, h2):
        inside = age <= w
        cols[f"orders_{w}d"] = inside.astype(float)
        cols[f"spend_{w}d"] = orders["spend"].where(inside, 0.0)
    sums = pd.DataFrame(cols).groupby(orders["customer_id"], sort=False).sum()
    for kind in ("orders", "spend"):
        last, prev = sums[f"{kind}_{h}d"], sums[f"{kind}_{h2}d"] - sums[f"{kind}_{h}d"]
        total = last + prev
        sums[f"{kind}_trend_{h}d"] = ((last - prev) / total.where(total > 0)).fillna(0.0)
    return sums.drop(columns=[f"orders_{h2}d", f"spend_{h2}d"])


def _distinct(tx: pd.DataFrame, column: str) -> pd.Series:
    if column not in tx:
        return pd.Series(dtype=float)
    return tx.dropna(subset=[column]).groupby("customer_id", sort=False)[column].nunique()


def _top_country(tx: pd.DataFrame) -> pd.Series:
    """Most frequent country per customer (ties: alphabetical)."""
    if "country" not in tx or tx["country"].isna().all():
        return pd.Series(dtype=object)
    counts = tx.dropna(subset=["country"]).groupby(["customer_id", "country"], observed=True).size()
    counts = counts.reset_index(name="n").sort_values(["customer_id", "n", "country"],
                                                      ascending=[True, False, True])
    return counts.drop_duplicates("customer_id").set_index("customer_id")["country"].astype(str)


def _return_stats(returns: pd.DataFrame | None) -> pd.DataFrame:
    if returns is None or returns.empty:
        return pd.DataFrame(columns=["return_count", "return_amount"], dtype=float)
    g = returns.groupby("customer_id", sort=False)
    return pd.DataFrame({"return_count": g["invoice_id"].nunique().astype(float),
                         "return_amount": g["amount"].sum().abs()})


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
    DataFrame indexed by ``customer_id`` with ``FEATURE_COLUMNS`` (see the module docstring for fills).
    """
    require_transactions(transactions, "features")
    as_of = resolve_as_of(transactions, as_of)
    tx = _before(transactions, as_of)
    if tx is None or tx.empty:
        raise DataError(f"features: no purchases before {as_of.date()}; choose a later cutoff date.")
    orders = _orders(tx)
    g = orders.groupby("customer_id", sort=False)
    out = pd.DataFrame({
        "recency_days": (as_of - g["day"].max()).dt.days.astype(float),
        "frequency": g.size().astype(float),
        "monetary": g["spend"].sum(),
        "tenure_days": (as_of - g["day"].min()).dt.days.astype(float),
        "avg_basket_lines": g["lines"].mean(),
        "avg_basket_quantity": g["qty"].mean(),
    })
    measured = _gap_stats(orders).join(_window_stats(orders, as_of)).reindex(out.index)
    derived = derive_features(out.assign(visits=orders.groupby("customer_id", sort=False)["day"].nunique()))
    for col, values in derived.items():             # measured values win; the rules fill what was not measured
        if col not in out:
            out[col] = measured[col].fillna(pd.Series(values, index=out.index)) if col in measured else values
    out["n_products"] = _distinct(tx, "product_id").reindex(out.index).fillna(0).astype(float)
    out["n_categories"] = _distinct(tx, "category").reindex(out.index).fillna(0).astype(float)
    rets = _return_stats(_before(returns, as_of)).reindex(out.index).fillna(0.0)
    out["return_count"] = rets["return_count"]
    out["return_rate"] = rets["return_amount"] / (out["monetary"] + rets["return_amount"])
    out["country"] = _top_country(tx).reindex(out.index).fillna("Unknown").astype(str)
    out.index = out.index.astype(str)
    out.index.name = "customer_id"
    return out.loc[:, list(FEATURE_COLUMNS)].sort_index()


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
