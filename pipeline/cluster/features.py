"""The clustering input: which per-customer table and columns to cluster, and the matrix built from them.

Everything that turns a table of customers into numbers for the algorithms belongs here: the table offered for a
dataset (:func:`clustering_input`: behavioural features + RFM segment for transactions, the columns of an uploaded
customer table), the log-transform choice (:data:`LOG_MODES`, :func:`log_columns`) and the fitted, reusable
transformer (:class:`CustomerFeatures`, :func:`prepare_matrix`) that also places new or hypothetical customers in the
same space. Learned representations (autoencoder embeddings) live in ``embeddings.py`` beside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.config import ClusterConfig
from pipeline.errors import DataError

__all__ = [
    "as_numeric", "as_category", "CustomerFeatures", "prepare_matrix",
    "TX_DEFAULT_FEATURES", "LOG_MODES", "ClusterInput", "clustering_input", "log_columns",
]


def as_numeric(col: pd.Series) -> pd.Series | None:
    """The column as float (inf -> NaN), or None when it is text that is not all numbers."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(float).replace([np.inf, -np.inf], np.nan)
    converted = pd.to_numeric(col, errors="coerce")
    if converted.notna().sum() == col.notna().sum() and col.notna().any():
        return converted.astype(float).replace([np.inf, -np.inf], np.nan)
    return None


def as_category(col: pd.Series) -> pd.Series:
    """The column as text categories; missing values become the category ``"(missing)"``."""
    return col.astype(object).where(col.notna(), "(missing)").astype(str)


class CustomerFeatures(TransformerMixin, BaseEstimator):
    """Turn a customer table into the clustering matrix; reusable for new (hypothetical) customers.

    Numeric columns: missing values -> training median, optional ``log1p``, optional standardisation.
    Categorical columns (text columns, plus numeric ones named in ``categorical``): one-hot, unscaled.
    Constant columns are dropped (listed in ``warnings_``); empty columns, unknown columns, text columns with
    too many values, and tables with fewer than two customers raise ``DataError``.

    Parameters
    ----------
    features : columns to use.
    log_cols : "auto" (non-negative columns with skewness above ``config.skew_threshold``), or a list.
    scale : standardise numeric columns.
    categorical : numeric columns to one-hot encode instead (e.g. integer codes such as ``Education``).
    """

    def __init__(self, features: Sequence[str] = (), log_cols: str | Sequence[str] = "auto",
                 scale: bool = True, categorical: Sequence[str] = (), config: ClusterConfig = ClusterConfig()):
        self.features = features
        self.log_cols = log_cols
        self.scale = scale
        self.categorical = categorical
        self.config = config

    # -- fitting ----------------------------------------------------------------------------------------------
    def _check_frame(self, df: pd.DataFrame) -> list[str]:
        if not isinstance(df, pd.DataFrame):
            raise DataError("clustering: expected a table of customers (one row each).")
        features = list(dict.fromkeys(self.features))
        if not features:
            raise DataError("clustering: no feature chosen; pick at least one numeric or categorical column.")
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise DataError(f"clustering: column(s) {', '.join(map(repr, missing))} not in the table; "
                            f"choose from {', '.join(map(str, df.columns[:20]))}.")
        if len(df) < 2:
            raise DataError(f"clustering: the table has {len(df)} customer(s); clustering needs at least 2 "
                            "(one row per customer). Load more customers.")
        return features

    def _sort_columns(self, df: pd.DataFrame, features: list[str]):
        numeric, categorical, dropped, empty, too_many = {}, {}, [], [], []
        for f in features:
            col = df[f]
            if col.isna().all():
                empty.append(f)
                continue
            if pd.api.types.is_datetime64_any_dtype(col):
                raise DataError(f"clustering: column {f!r} holds dates; cluster on a number derived from it "
                                "(e.g. recency_days or tenure_days) instead.")
            values = None if f in self.categorical else as_numeric(col)
            if values is not None:
                if values.nunique(dropna=True) <= 1:
                    dropped.append(f"column {f!r} is constant ({values.dropna().iloc[0]:g}) and was left out")
                else:
                    numeric[f] = values
                continue
            cats = as_category(col)
            n = cats.nunique()
            if n <= 1:
                dropped.append(f"column {f!r} is constant ({cats.iloc[0]!r}) and was left out")
            elif n > self.config.max_categories:
                too_many.append(f"{f!r} ({n:,} distinct values)")
            else:
                categorical[f] = cats
        if empty:
            raise DataError(f"clustering: column(s) {', '.join(map(repr, empty))} have no values at all; "
                            "deselect them or fix the upload.")
        if too_many:
            raise DataError(f"clustering: text column(s) {', '.join(too_many)} have more than "
                            f"{self.config.max_categories} categories to one-hot encode; deselect them "
                            "(an id or free-text column is not a feature).")
        if not numeric and not categorical:
            raise DataError("clustering: no usable feature left (" + "; ".join(dropped or ["none chosen"]) +
                            "). Choose columns that vary between customers.")
        return numeric, categorical, dropped

    def _choose_log(self, numeric: dict[str, pd.Series]) -> list[str]:
        if isinstance(self.log_cols, str) and self.log_cols == "auto":
            return [f for f, v in numeric.items()
                    if v.min() >= 0 and v.skew() > self.config.skew_threshold]
        chosen = list(self.log_cols or ())
        unknown = [c for c in chosen if c not in numeric]
        if unknown:
            raise DataError(f"clustering: log transform asked for {', '.join(map(repr, unknown))}, which are not "
                            "numeric features in use; choose among " + ", ".join(map(repr, numeric)) + ".")
        negative = [c for c in chosen if numeric[c].min() < 0]
        if negative:
            raise DataError(f"clustering: log1p needs non-negative values but {', '.join(map(repr, negative))} "
                            "have negative ones; do not log-transform them.")
        return chosen

    def fit(self, df: pd.DataFrame, y=None) -> "CustomerFeatures":
        """Learn medians, log columns, scaling and categories from ``df``."""
        features = self._check_frame(df)
        numeric, categorical, dropped = self._sort_columns(df, features)
        self.numeric_ = list(numeric)
        self.categorical_ = list(categorical)
        self.features_ = self.numeric_ + self.categorical_
        self.log_cols_ = self._choose_log(numeric)
        self.medians_ = {f: float(v.median()) for f, v in numeric.items()}
        self.categories_ = {f: sorted(v.unique()) for f, v in categorical.items()}
        self.warnings_ = dropped + [
            f"column {f!r}: {int(v.isna().sum()):,} missing value(s) filled with the median ({self.medians_[f]:g})"
            for f, v in numeric.items() if v.isna().any()]
        block = self._numeric_block(df, check=False)
        self.center_ = block.mean(axis=0) if self.scale else np.zeros(block.shape[1])
        std = block.std(axis=0) if self.scale else np.ones(block.shape[1])
        self.scale_ = np.where(std > 0, std, 1.0)
        self.feature_names_out_ = self.numeric_ + [f"{f}={c}" for f in self.categorical_
                                                   for c in self.categories_[f]]
        return self

    # -- transforming -----------------------------------------------------------------------------------------
    def _numeric_block(self, df: pd.DataFrame, check: bool = True) -> np.ndarray:
        cols = []
        for f in self.numeric_:
            values = as_numeric(df[f]) if check else pd.to_numeric(df[f], errors="coerce")
            if values is None:
                bad = df[f][pd.to_numeric(df[f], errors="coerce").isna() & df[f].notna()].iloc[0]
                raise DataError(f"clustering: column {f!r} must be a number, got {bad!r}.")
            values = values.astype(float).replace([np.inf, -np.inf], np.nan).fillna(self.medians_[f])
            if f in self.log_cols_:
                if check and (values < 0).any():
                    raise DataError(f"clustering: {f!r} is log-transformed and must be >= 0, "
                                    f"got {values.min():g}.")
                values = np.log1p(values.clip(lower=0))
            cols.append(values.to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.empty((len(df), 0))

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Matrix for ``df`` (same columns as at fit; unknown categories become all-zero one-hot rows)."""
        missing = [f for f in self.features_ if f not in df.columns]
        if missing:
            raise DataError(f"clustering: missing value(s) for {', '.join(map(repr, missing))}; give every feature.")
        block = (self._numeric_block(df) - self.center_) / self.scale_
        onehot = [(as_category(df[f]).to_numpy()[:, None] == np.asarray(self.categories_[f], dtype=object)[None, :])
                  .astype(float) for f in self.categorical_]
        return np.hstack([block, *onehot]) if onehot else block

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)


def prepare_matrix(df: pd.DataFrame, features: Sequence[str], log_cols: str | Sequence[str] = "auto",
                   scale: bool = True, categorical: Sequence[str] = (),
                   config: ClusterConfig = ClusterConfig()) -> tuple[np.ndarray, CustomerFeatures]:
    """Fit a :class:`CustomerFeatures` on ``df`` and return ``(matrix, fitted transformer)``.

    Dropped constant columns and filled missing values are listed in ``transformer.warnings_``.
    """
    tf = CustomerFeatures(features, log_cols=log_cols, scale=scale, categorical=categorical, config=config)
    return tf.fit(df).transform(df), tf


#: Features picked by default for a transactions dataset (log1p + standardised: the classic RFM clustering).
TX_DEFAULT_FEATURES = ("recency_days", "frequency", "monetary")

#: Log-transform choices: key -> label.
LOG_MODES = {"all": "log1p every non-negative numeric feature",
             "auto": "log1p skewed non-negative features only",
             "none": "no log transform"}


@dataclass
class ClusterInput:
    """One row per customer (``customer_id`` first) and what to offer: candidate and default features,
    the revenue column (for revenue shares), the RFM segment column (for segment mixes) and the log mode."""

    table: pd.DataFrame
    features: list[str]
    default_features: list[str]
    revenue_col: str | None = None
    segment_col: str | None = None
    default_log: str = "auto"


def _tx_input(transactions: pd.DataFrame, returns: pd.DataFrame | None, rfm: pd.DataFrame | None) -> ClusterInput:
    from pipeline.features import FEATURE_COLUMNS, customer_features
    from pipeline.rfm import rfm_table

    if transactions is None or transactions.empty:
        raise DataError("clustering: the dataset has no transactions; load a file with purchases first.")
    table = customer_features(transactions, returns).reset_index()
    rfm = rfm_table(transactions) if rfm is None else rfm
    segments = pd.Series(rfm["segment"].to_numpy(), index=rfm["customer_id"].astype(str))
    table["segment"] = segments.reindex(table["customer_id"]).to_numpy()
    return ClusterInput(table, list(FEATURE_COLUMNS), list(TX_DEFAULT_FEATURES), "monetary", "segment", "all")


def _customers_input(customers: pd.DataFrame | None, config: ClusterConfig) -> ClusterInput:
    if customers is None or customers.empty:
        raise DataError("clustering: the customer table is empty; upload one row per customer.")
    if "customer_id" not in customers.columns:
        raise DataError("clustering: the customer table has no 'customer_id' column; pick the id column on "
                        "the Upload page.")
    table = customers.reset_index(drop=True)
    cols = [c for c in table.columns if c != "customer_id"]
    if not cols:
        raise DataError("clustering: the customer table has only an id column; upload a table with at least "
                        "one attribute per customer (e.g. age, income, spend).")
    numeric = [c for c in cols if (v := as_numeric(table[c])) is not None and v.nunique() > 1]
    text = [c for c in cols if c not in numeric and 1 < table[c].nunique() <= config.max_categories]
    return ClusterInput(table, cols, numeric or text or cols, None, None, "auto")


def clustering_input(kind: str, transactions: pd.DataFrame | None = None, returns: pd.DataFrame | None = None,
                     customers: pd.DataFrame | None = None, rfm: pd.DataFrame | None = None,
                     config: ClusterConfig = ClusterConfig()) -> ClusterInput:
    """The customer table to cluster for a dataset of ``kind`` "transactions" or "customers".

    Transactions: ``pipeline.features.customer_features`` plus the RFM ``segment`` (from ``rfm``, default
    ``rfm_table`` with the default rules); default features R, F, M, log1p and standardised. Customer table: every
    column is offered; the default is the numeric columns that vary (else the text columns with few values).
    """
    if kind == "transactions":
        return _tx_input(transactions, returns, rfm)
    if kind == "customers":
        return _customers_input(customers, config)
    raise DataError(f"clustering: dataset kind {kind!r} unknown; expected 'transactions' or 'customers'.")


def log_columns(df: pd.DataFrame, features: Sequence[str], mode: str = "auto",
                categorical: Sequence[str] = ()) -> str | list[str]:
    """``log_cols`` for :func:`prepare_matrix` from a :data:`LOG_MODES` key.

    "all": every chosen numeric feature that varies and has no negative value; "auto"; "none": [].
    """
    if mode not in LOG_MODES:
        raise DataError(f"clustering: log mode {mode!r} unknown; choose one of {', '.join(LOG_MODES)}.")
    if mode != "all":
        return "auto" if mode == "auto" else []
    out = []
    for f in dict.fromkeys(features):
        values = as_numeric(df[f]) if f in df.columns and f not in categorical else None
        if values is not None and values.nunique() > 1 and values.min() >= 0:
            out.append(f)
    return out
