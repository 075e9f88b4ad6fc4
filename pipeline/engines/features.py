"""The per-customer feature table and batch scoring on an engine's connection (DuckDB or Spark).

The features are defined once in :mod:`pipeline.features`: :data:`pipeline.features.AGGREGATE_SQL` aggregates the
canonical transactions (view ``tx``) and returns (``tx_returns``) before a cutoff into one row per customer (run as
is by DuckDB, transpiled for Spark), and :func:`pipeline.features.finish_features` finishes each row. Being
row-local, the finish runs inside Spark's ``mapInPandas`` as well as on the driver, as does :func:`score_batch` (a
saved model's probabilities).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import DataError
from pipeline.features import FEATURE_COLUMNS, aggregate_sql, finish_features

__all__ = ["feature_view", "features", "score_batch", "score", "FEATURE_SCHEMA"]

#: the feature table's columns and types (Spark DDL), in output order
FEATURE_SCHEMA = "customer_id string, " + ", ".join(
    f"{c} {'string' if c == 'country' else 'double'}" for c in FEATURE_COLUMNS)


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
