"""Coupon-response histories: finding the yes/no outcome and coupon-type columns, typing the features.

A response history has one row per coupon offered: who was offered (any columns), which coupon type, and whether
it was accepted. :func:`prepare_responses` is the boundary check the learned policy (:mod:`pipeline.coupons.learned`)
relies on: a DataError names the columns it considered and what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.coupons.catalogue import text_values
from pipeline.errors import DataError

__all__ = ["ResponseData", "yes_no_columns", "detect_response_column", "detect_coupon_column", "prepare_responses"]

_YES = {"1", "1.0", "yes", "y", "true", "t", "accepted", "accept", "redeemed", "used", "converted"}
_NO = {"0", "0.0", "no", "n", "false", "f", "rejected", "declined", "not accepted", "unused", "ignored"}
_TARGET_HINTS = ("y", "accepted", "accept", "acceptance", "response", "responded", "redeemed", "redeem",
                 "converted", "conversion", "used", "target", "label", "outcome")
_COUPON_HINTS = ("coupon", "coupon_type", "coupontype", "offer", "offer_type", "promotion", "promo", "campaign")


def _norm_name(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _yes_no_values(series: pd.Series) -> pd.Series | None:
    """0/1 as floats (NaN where missing) if the column holds only yes/no-like values of both kinds, else None."""
    text = text_values(series).str.lower()
    present = text[text != ""]
    values = set(present.unique())
    if len(values) > 4 or not values or not values <= (_YES | _NO) or not values & _YES or not values & _NO:
        return None
    return text.map(lambda v: 1.0 if v in _YES else 0.0 if v in _NO else np.nan)


def yes_no_columns(history: pd.DataFrame) -> list[str]:
    """Columns holding only yes/no-like values (yes/no, 1/0, true/false, accepted/rejected), both present."""
    return [c for c in history.columns if _yes_no_values(history[c]) is not None]


def detect_response_column(history: pd.DataFrame, target: str | None = None) -> str:
    """The accepted yes/no column: ``target`` if given and valid, else a yes/no column with a telling name.

    Raises DataError saying which columns were considered when none (or several equally plausible) qualify.
    """
    if target is not None:
        if target not in history.columns:
            raise DataError(f"coupon responses: column {target!r} does not exist; columns are {list(history.columns)}.")
        if _yes_no_values(history[target]) is None:
            sample = sorted(map(str, history[target].dropna().unique()[:6]))
            raise DataError(f"coupon responses: column {target!r} is not yes/no (values {sample}); it must hold "
                            "two values such as 1/0, yes/no or true/false.")
        return target
    binary = yes_no_columns(history)
    if not binary:
        raise DataError(f"coupon responses: no yes/no column. Considered all {history.shape[1]} columns "
                        f"({', '.join(map(str, history.columns))}); none holds only two values such as 1/0, "
                        "yes/no or true/false. Add a column 'accepted' with 1 for accepted and 0 for declined.")
    named = [c for h in _TARGET_HINTS for c in binary if _norm_name(c) == h]
    if named:
        return named[0]
    if len(binary) == 1:
        return binary[0]
    raise DataError(f"coupon responses: several yes/no columns ({', '.join(binary)}) and none is named like an "
                    f"outcome ({', '.join(_TARGET_HINTS)}); choose the accepted column explicitly.")


def detect_coupon_column(history: pd.DataFrame, coupon_col: str | None = None, target: str | None = None) -> str:
    """The coupon-type column: ``coupon_col`` if given, else one named like coupon/offer/promotion."""
    if coupon_col is not None:
        if coupon_col not in history.columns:
            raise DataError(f"coupon responses: column {coupon_col!r} does not exist; columns are {list(history.columns)}.")
        return coupon_col
    for hint in _COUPON_HINTS:
        for c in history.columns:
            if _norm_name(c) == hint and c != target:
                return c
    raise DataError(f"coupon responses: no coupon-type column; looked for a column named one of {list(_COUPON_HINTS)} "
                    f"among {list(history.columns)}. Choose the column that says which coupon was offered.")


@dataclass(frozen=True)
class ResponseData:
    """A validated response history: features ``X`` (coupon column included), 0/1 ``y`` and column roles."""

    X: pd.DataFrame
    y: np.ndarray
    target: str
    coupon_column: str
    categorical: list[str]
    numeric: list[str]


def prepare_responses(history: pd.DataFrame, target: str | None = None,
                      coupon_col: str | None = None) -> ResponseData:
    """Detect the yes/no and coupon columns, drop unusable columns (constant, id-like), type the features.

    Rows with a blank answer are dropped. Raises DataError for an empty table, no yes/no or coupon column,
    too few answers of either kind, or a single coupon type.
    """
    if not isinstance(history, pd.DataFrame) or history.empty:
        raise DataError("coupon responses: the table is empty; upload a file with one row per coupon offered.")
    target = detect_response_column(history, target)
    coupon_col = detect_coupon_column(history, coupon_col, target)
    y = _yes_no_values(history[target])
    keep = y.notna().to_numpy()
    X = history.loc[keep].drop(columns=[target]).reset_index(drop=True)
    y = y[keep].to_numpy(int)
    if len(y) < 50 or y.min() == y.max() or min(np.bincount(y)) < 10:
        raise DataError(f"coupon responses: need at least 50 answered offers with 10+ of each answer in {target!r} "
                        f"(have {len(y)}: {int(y.sum())} yes, {int(len(y) - y.sum())} no).")
    if X[coupon_col].nunique() < 2:
        raise DataError(f"coupon responses: column {coupon_col!r} has a single coupon type; a policy needs at least two.")
    categorical, numeric = _feature_types(X, coupon_col)
    X = X[categorical + numeric]
    for c in categorical:
        X[c] = text_values(X[c]).replace("", "(missing)").astype(object)
    for c in numeric:
        X[c] = pd.to_numeric(X[c], errors="coerce")
    return ResponseData(X, y, target, coupon_col, categorical, numeric)


def _feature_types(X: pd.DataFrame, coupon_col: str) -> tuple[list[str], list[str]]:
    """Categorical and numeric features; drops constant and id-like columns (unique text per row)."""
    categorical, numeric = [], []
    for c in X.columns:
        col = X[c]
        if col.nunique(dropna=True) < 2 and c != coupon_col:
            continue
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            if not (len(col) > 50 and col.is_unique):      # a unique number per row is an id, not a feature
                numeric.append(c)
        elif c == coupon_col or col.nunique() <= max(50, 0.05 * len(col)):
            categorical.append(c)
    return categorical, numeric
