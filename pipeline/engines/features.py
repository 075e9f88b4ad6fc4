"""The per-customer feature table and batch scoring, written once for every engine.

:data:`AGGREGATE_SQL` aggregates canonical transactions (view ``tx``) and returns (``tx_returns``) before a cutoff
into one row per customer: the measured columns of :func:`pipeline.features.customer_features` (orders = distinct
invoices, visits = distinct purchase days, gaps between visits, window counts, baskets, products, returns, top
country). It is DuckDB SQL, run as is by DuckDB and transpiled for Spark. :func:`finish_features` then applies, per
row, the fills that :func:`pipeline.features.derive_features` owns; being row-local it runs inside Spark's
``mapInPandas`` as well as on the driver, as does :func:`score_batch` (a saved model's probabilities).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import DataError
from pipeline.features import FEATURE_COLUMNS, TREND_DAYS, WINDOWS, derive_features

__all__ = ["AGGREGATE_SQL", "aggregate_sql", "feature_view", "finish_features", "features", "score_batch",
           "score", "FEATURE_SCHEMA"]

_WINDOW_DAYS = (*WINDOWS, 2 * TREND_DAYS)
_WINDOW_SQL = ",\n".join(
    f"        sum(CASE WHEN age <= {w} THEN 1.0 ELSE 0.0 END) AS orders_{w}d, "
    f"sum(CASE WHEN age <= {w} THEN spend ELSE 0.0 END) AS spend_{w}d" for w in _WINDOW_DAYS)

#: one row per customer with the measured columns; ``{as_of}`` is a DATE literal
AGGREGATE_SQL = f"""
WITH lines AS (SELECT * FROM tx WHERE date < CAST({{as_of}} AS TIMESTAMP)),
orders AS (
    SELECT customer_id, invoice_id, min(CAST(date AS DATE)) AS day, sum(amount) AS spend, count(*) AS lines,
           sum(coalesce(quantity, 1.0)) AS qty
    FROM lines GROUP BY customer_id, invoice_id),
aged AS (SELECT *, date_diff('day', day, CAST({{as_of}} AS DATE)) AS age FROM orders),
visits AS (SELECT DISTINCT customer_id, day FROM orders),
gaps AS (
    SELECT customer_id, date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
    FROM visits),
gap_stats AS (
    SELECT customer_id, count(*) AS visits, avg(gap) AS mean_days_between, stddev_samp(gap) AS std_days_between,
           median(gap) AS median_days_between
    FROM gaps GROUP BY customer_id),
per_order AS (
    SELECT customer_id, CAST(min(age) AS DOUBLE) AS recency_days, CAST(count(*) AS DOUBLE) AS frequency,
           sum(spend) AS monetary, CAST(max(age) AS DOUBLE) AS tenure_days, avg(lines) AS avg_basket_lines,
           avg(qty) AS avg_basket_quantity,
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
           abs(sum(amount)) AS return_amount
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

#: the feature table's columns and types (Spark DDL), in output order
FEATURE_SCHEMA = "customer_id string, " + ", ".join(
    f"{c} {'string' if c == 'country' else 'double'}" for c in FEATURE_COLUMNS)


def aggregate_sql(as_of: pd.Timestamp) -> str:
    """:data:`AGGREGATE_SQL` for the cutoff day ``as_of`` (rows dated on or after it are ignored)."""
    return AGGREGATE_SQL.format(as_of=f"DATE '{pd.Timestamp(as_of).date().isoformat()}'")


def feature_view(con: Any, as_of=None, name: str = "customer_agg") -> pd.Timestamp:
    """Create table ``name`` (one row per customer, measured columns) on the engine behind ``con``; the cutoff."""
    if as_of is None:
        last = con.execute("SELECT max(date) FROM tx").fetchone()[0]
        if last is None:
            raise DataError("features: there are no transactions; load a dataset with purchases first.")
        as_of = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of).normalize()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {aggregate_sql(as_of)}")
    return as_of


def finish_features(agg: pd.DataFrame) -> pd.DataFrame:
    """The feature table (``customer_id`` + :data:`FEATURE_COLUMNS`) from measured per-customer rows: trends from
    the windows, the fills of :func:`pipeline.features.derive_features`, return rate, ``Unknown`` country."""
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


def features(engine: Any, con: Any, as_of=None) -> Any:
    """The feature table on ``engine`` (a Spark DataFrame or a pandas frame), one row per customer."""
    feature_view(con, as_of)
    return engine.map_batches(con, "customer_agg", finish_features, FEATURE_SCHEMA)


def score_batch(batch: pd.DataFrame, model: Any, columns: list[str], positive: Any) -> pd.DataFrame:
    """``customer_id`` and the model's probability of class ``positive`` for a batch of feature rows."""
    X = finish_features(batch).set_index("customer_id")
    missing = [c for c in columns if c not in X]
    if missing:
        raise DataError(f"score: the model needs columns {missing} that the feature table does not have; score "
                        "with a model trained on pipeline.features (e.g. a churn model without BTYD columns).")
    proba = model.predict_proba(X[columns])
    k = list(model.classes_).index(positive) if positive in list(model.classes_) else proba.shape[1] - 1
    return pd.DataFrame({"customer_id": X.index.astype(str), "score": proba[:, k].astype(float)})


def score(engine: Any, con: Any, model_dir: str | Path, as_of=None) -> Any:
    """Score every customer with the saved model in ``model_dir`` on ``engine`` (batches in parallel on Spark)."""
    from pipeline.models.persist import load_model

    model, meta = load_model(model_dir)
    columns = list(meta.features)
    positive = meta.class_labels[-1] if meta.class_labels else 1
    feature_view(con, as_of)
    return engine.map_batches(con, "customer_agg", lambda b: score_batch(b, model, columns, positive),
                              "customer_id string, score double")
