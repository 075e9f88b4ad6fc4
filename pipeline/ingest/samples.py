"""Built-in sample data that needs no internet: a deterministic synthetic retailer and the real CDNOW data.

The synthetic generator writes an export shaped like UCI Online Retail (cancellations, missing customer ids,
duplicate lines included) so that the sample also exercises the cleaning report. Built-in data sources that need
no upload belong here; :func:`pipeline.ingest.datasets.sample_dataset` turns them into saved datasets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.clean import clean_frame

__all__ = ["generate_raw", "generate_transactions", "load_cdnow", "cdnow_path"]

_CATEGORIES = {  # category -> (number of products, median price, typical quantity)
    "Home decor": (40, 6.0, 3), "Kitchen": (35, 4.5, 4), "Stationery": (30, 1.8, 10),
    "Toys": (25, 5.5, 2), "Garden": (20, 9.0, 2), "Gifts": (30, 3.5, 6),
    "Lighting": (15, 12.0, 1), "Party": (25, 1.2, 12),
}
_COUNTRIES = (["United Kingdom"] * 17) + ["Germany", "France", "Netherlands"]
_MONTH_WEIGHT = np.array([0.8, 0.75, 0.85, 0.85, 0.9, 0.9, 0.85, 0.9, 1.05, 1.2, 1.5, 1.3])


def _products(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for c, (n, median, qty) in _CATEGORIES.items():
        prices = np.round(median * rng.lognormal(0, 0.45, n), 2)
        for i, p in enumerate(prices):
            rows.append((f"{c[:3].upper()}{i:03d}", f"{c} item {i + 1}", c, max(p, 0.29), qty))
    return pd.DataFrame(rows, columns=["StockCode", "Description", "Category", "UnitPrice", "qty"])


def generate_raw(n_customers: int = 5000, seed: int = 0, start: str = "2023-01-01",
                 end: str = "2024-12-31") -> pd.DataFrame:
    """Synthetic retail export (one row per invoice line), deterministic for a given seed.

    Customers differ in purchase rate (gamma), lifetime (exponential dropout, so some churn) and category taste
    (Dirichlet); order dates follow a seasonal curve peaking in November. About 1.5% of lines are later cancelled
    (invoice ``C…``, negative quantity), 2% lack a customer id and 0.5% are exact duplicates, as in real exports.
    ~5,000 customers give ~100,000 lines.
    """
    rng = np.random.default_rng(seed)
    prods = _products(rng)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    cust, order_ts = _orders(rng, n_customers, t0, (t1 - t0).days)
    raw = _order_lines(rng, prods, cust, order_ts, n_customers)
    return _add_noise(raw, seed, t1)


def _orders(rng: np.random.Generator, n_customers: int, t0: pd.Timestamp,
            span: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """(customer index, timestamp) of every order: purchase rate, lifetime and seasonality per customer."""
    join = (rng.beta(1.0, 1.6, n_customers) * span * 0.9).astype(int)
    rate = rng.gamma(0.9, 1 / 30, n_customers)            # orders per day while active (mean ~ one a month)
    life = rng.exponential(span * 0.6, n_customers)
    active = np.minimum(join + life, span) - join
    n_orders = 1 + rng.poisson(rate * active)
    cust = np.repeat(np.arange(n_customers), n_orders)
    # order days: uniform over the active window, thinned by month seasonality (accept/reject in one pass)
    day = join[cust] + rng.random(cust.size) * active[cust]
    first = np.r_[True, cust[1:] != cust[:-1]]             # keep each customer's first order: they exist
    month = (t0 + pd.to_timedelta(day.astype(int), unit="D")).month.to_numpy() - 1
    keep = first | (rng.random(cust.size) < _MONTH_WEIGHT[month] / _MONTH_WEIGHT.max())
    cust, day = cust[keep], day[keep]
    order_ts = t0 + pd.to_timedelta(np.round(day * 24 * 60), unit="min")
    return cust, order_ts + pd.to_timedelta(8 * 60 + (np.arange(cust.size) % 600), unit="min")


def _order_lines(rng: np.random.Generator, prods: pd.DataFrame, cust: np.ndarray, order_ts: pd.DatetimeIndex,
                 n_customers: int) -> pd.DataFrame:
    """The lines of every order: products drawn from each customer's category taste, quantities, country."""
    n_orders_total = cust.size
    lines_per_order = 1 + rng.poisson(2.4, n_orders_total)
    order_idx = np.repeat(np.arange(n_orders_total), lines_per_order)
    line_cust = cust[order_idx]
    cats = list(_CATEGORIES)
    taste = rng.dirichlet(np.full(len(cats), 0.6), n_customers).cumsum(axis=1)
    cat_idx = (taste[line_cust] < rng.random(order_idx.size)[:, None]).sum(axis=1).clip(0, len(cats) - 1)
    counts = np.array([_CATEGORIES[c][0] for c in cats])       # products are listed category by category
    pick = np.r_[0, counts.cumsum()[:-1]][cat_idx] + (rng.random(cat_idx.size) * counts[cat_idx]).astype(int)
    qty = 1 + rng.geometric(1 / prods["qty"].to_numpy()[pick]) - 1
    country = np.array(_COUNTRIES)[rng.integers(len(_COUNTRIES), size=n_customers)]
    order_rank = pd.Series(order_ts).rank(method="first").to_numpy().astype(int)
    return pd.DataFrame({
        "InvoiceNo": (500000 + order_rank[order_idx]).astype(str),
        "StockCode": prods["StockCode"].to_numpy()[pick],
        "Description": prods["Description"].to_numpy()[pick],
        "Category": prods["Category"].to_numpy()[pick],
        "Quantity": qty,
        "InvoiceDate": order_ts[order_idx].strftime("%Y-%m-%d %H:%M:%S"),
        "UnitPrice": prods["UnitPrice"].to_numpy()[pick],
        "CustomerID": (10000 + line_cust).astype(str),
        "Country": country[line_cust],
    })


def _add_noise(raw: pd.DataFrame, seed: int, end: pd.Timestamp) -> pd.DataFrame:
    """Real-world noise: cancellations (``C`` invoices three days later), lines without a customer id, duplicates."""
    cancel = raw.sample(frac=0.015, random_state=seed).copy()
    cancel["InvoiceNo"] = "C" + cancel["InvoiceNo"]
    cancel["Quantity"] = -cancel["Quantity"]
    cancel["InvoiceDate"] = ((pd.to_datetime(cancel["InvoiceDate"]) + pd.Timedelta(days=3))
                             .clip(upper=end + pd.Timedelta(hours=23)).dt.strftime("%Y-%m-%d %H:%M:%S"))
    raw.loc[raw.sample(frac=0.02, random_state=seed + 1).index, "CustomerID"] = ""
    dups = raw.sample(frac=0.005, random_state=seed + 2)
    out = pd.concat([raw, cancel, dups], ignore_index=True)
    return out.sort_values(["InvoiceDate", "InvoiceNo"], kind="stable").reset_index(drop=True)


def generate_transactions(n_customers: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic data already cleaned into the canonical schema: ``(transactions, returns)``."""
    result = clean_frame(generate_raw(n_customers, seed))
    return result.transactions, result.returns


def cdnow_path(kind: str = "master") -> Path:
    """Path of the CDNOW file inside the installed ``lifetimes`` wheel (``master`` or ``sample``)."""
    import lifetimes.datasets

    name = {"master": "CDNOW_master.txt", "sample": "CDNOW_sample.txt"}[kind]
    return Path(lifetimes.datasets.__file__).parent / name


def load_cdnow(kind: str = "master") -> pd.DataFrame:
    """Real CDNOW transactions as a raw table: ``customer_id, date (YYYYMMDD text), number_of_cds, dollar_value``.

    ``kind="sample"`` is the 2,357-customer sample used by Fader, Hardie & Lee (2005); its customer id is the
    sample id.
    """
    path = cdnow_path(kind)
    if kind == "master":
        df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    else:
        df = pd.read_csv(path, sep=r"\s+", header=None, dtype=str,
                         names=["master_id", "customer_id", "date", "number_of_cds", "dollar_value"])
        df = df.drop(columns="master_id")
        df["number_of_cds"] = df["number_of_cds"].astype(int)
        df["dollar_value"] = df["dollar_value"].astype(float)
    return df[["customer_id", "date", "number_of_cds", "dollar_value"]]
