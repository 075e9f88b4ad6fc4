"""The coupon catalogue: reading and validating it (``assets/coupons.csv`` by default) and unique coupon codes.

Catalogue, one row per coupon:

==================  =========================================================================================
id, name            unique id and display name
kind                ``percent`` | ``amount`` | ``free_shipping`` | ``category`` | ``none`` (the "no coupon" row)
value               face value to the customer: percent off (percent, category) or money off / shipping saved
min_spend           order value needed to redeem (0 = none)
cost                our cost per redemption: money (``4``), a share of the order (``10%``), or blank = face value
eligible_segments   ``;``-separated RFM segment names, or ``*`` for everyone
eligible_risk_bands ``;``-separated subset of Low, Medium, High, or ``*``
category            category a ``category`` coupon applies to; blank = the customer's predicted next category
description         free text
==================  =========================================================================================

A bad catalogue raises :class:`~pipeline.errors.DataError` naming every bad cell with its CSV row number.
"""
from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import ASSETS
from pipeline.errors import DataError

__all__ = [
    "CATALOGUE_COLUMNS", "KINDS", "PERCENT_KINDS", "RISK_BANDS", "RFM_SEGMENTS", "DEFAULT_CATALOGUE",
    "load_catalogue", "coupon_codes", "text_values",
]

CATALOGUE_COLUMNS = ("id", "name", "kind", "value", "min_spend", "cost", "eligible_segments",
                     "eligible_risk_bands", "category", "description")
_REQUIRED_COLUMNS = ("id", "name", "kind", "value")
KINDS = ("percent", "amount", "free_shipping", "category", "none")
RISK_BANDS = ("Low", "Medium", "High")
RFM_SEGMENTS = ("Champions", "Loyal", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
                "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating")
DEFAULT_CATALOGUE = ASSETS / "coupons.csv"
PERCENT_KINDS = ("percent", "category")


# ----------------------------------------------------------------------------------------------- reading

def _read_table(source: object) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"coupon catalogue: file {path} does not exist; upload a CSV with columns "
                            f"{', '.join(CATALOGUE_COLUMNS)}.")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data = source.read()
        data = data.encode() if isinstance(data, str) else data
    else:
        raise DataError(f"coupon catalogue: cannot read a {type(source).__name__}; give a path, bytes or DataFrame.")
    if not data.strip():
        raise DataError("coupon catalogue: the file is empty; it needs a header row "
                        f"({', '.join(CATALOGUE_COLUMNS)}) and at least one coupon.")
    text = data.decode("utf-8-sig", errors="replace") if _is_utf8(data) else data.decode("latin-1")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise DataError(f"coupon catalogue: not a readable CSV ({exc}); save it as comma-separated text.") from exc


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def text_values(series: pd.Series) -> pd.Series:
    """Every value as stripped text; missing values become ``""``."""
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _numbers(df: pd.DataFrame, column: str, problems: list[str]) -> pd.Series:
    raw = text_values(df[column]).replace("", "0")
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        problems.append(f"'{column}' must be a number >= 0 (rows {_rows(bad)}: {list(raw[bad][:3])})")
    return values.fillna(0.0).astype(float)


def _rows(mask: pd.Series) -> str:
    idx = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())[:5]]  # +2: header line, 1-based
    return ", ".join(idx) + (" ..." if mask.sum() > 5 else "")


def _split_list(cell: str, allowed: Sequence[str] | None, what: str, row: int, problems: list[str]) -> str:
    parts = [p.strip() for p in str(cell).split(";") if p.strip()]
    if not parts or "*" in parts:
        return "*"
    if allowed is not None:
        lookup = {a.lower(): a for a in allowed}
        unknown = [p for p in parts if p.lower() not in lookup]
        if unknown:
            problems.append(f"row {row}: unknown {what} {unknown}; use '*' or names from {list(allowed)}")
        parts = [lookup.get(p.lower(), p) for p in parts]
    return ";".join(dict.fromkeys(parts))


def _check_cost(cost: pd.Series, problems: list[str]) -> pd.Series:
    text = text_values(cost).str.replace(" ", "")
    frac = pd.to_numeric(text.str.rstrip("%").where(text.str.endswith("%")), errors="coerce")
    amount = pd.to_numeric(text.where(~text.str.endswith("%") & (text != "")), errors="coerce")
    bad = (text != "") & frac.isna() & amount.isna() | (frac < 0) | (frac > 100) | (amount < 0)
    if bad.any():
        problems.append(f"'cost' must be a money amount (4.50), a share of the order (10%) or blank "
                        f"(rows {_rows(bad)}: {list(text[bad][:3])})")
    return text


def load_catalogue(source: object = None, known_segments: Sequence[str] | None = RFM_SEGMENTS) -> pd.DataFrame:
    """Read and validate a coupon catalogue.

    Parameters
    ----------
    source : path, bytes, file-like or DataFrame; ``None`` reads ``assets/coupons.csv``.
    known_segments : segment names ``eligible_segments`` may use (``None``: accept any name).

    Returns
    -------
    DataFrame with exactly :data:`CATALOGUE_COLUMNS`; numbers as float, lists normalised to ``a;b`` or ``*``.

    Raises
    ------
    DataError naming the missing columns or every bad value (row numbers as in the CSV file).
    """
    df = _read_table(DEFAULT_CATALOGUE if source is None else source)
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"coupon catalogue: missing column(s) {missing}; required are {list(_REQUIRED_COLUMNS)}, "
                        f"optional {[c for c in CATALOGUE_COLUMNS if c not in _REQUIRED_COLUMNS]}.")
    if df.empty:
        raise DataError("coupon catalogue: no coupons (the table has a header but no rows); add at least one row.")
    defaults = {"min_spend": "0", "cost": "", "eligible_segments": "*", "eligible_risk_bands": "*",
                "category": "", "description": ""}
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    df = df[list(CATALOGUE_COLUMNS)].reset_index(drop=True)
    for col in ("id", "name", "kind", "eligible_segments", "eligible_risk_bands", "category", "description", "cost"):
        df[col] = text_values(df[col])
    df["kind"] = df["kind"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    return _validate(df, known_segments)


def _validate(df: pd.DataFrame, known_segments: Sequence[str] | None) -> pd.DataFrame:
    problems: list[str] = []
    if (df["id"] == "").any():
        problems.append(f"'id' is blank in rows {_rows(df['id'] == '')}")
    dup = df["id"].duplicated(keep=False) & (df["id"] != "")
    if dup.any():
        problems.append(f"'id' must be unique; repeated: {sorted(set(df.loc[dup, 'id']))}")
    bad_kind = ~df["kind"].isin(KINDS)
    if bad_kind.any():
        problems.append(f"'kind' must be one of {list(KINDS)} (rows {_rows(bad_kind)}: {list(df.loc[bad_kind, 'kind'][:3])})")
    df["name"] = df["name"].where(df["name"] != "", df["id"])
    df["value"] = _numbers(df, "value", problems)
    df["min_spend"] = _numbers(df, "min_spend", problems)
    over = df["kind"].isin(PERCENT_KINDS) & ((df["value"] <= 0) | (df["value"] > 100))
    if over.any():
        problems.append(f"percent/category coupons need 0 < value <= 100 (percent off) (rows {_rows(over)})")
    df["cost"] = _check_cost(df["cost"], problems)
    for i in range(len(df)):
        df.loc[i, "eligible_segments"] = _split_list(df.at[i, "eligible_segments"], known_segments,
                                                     "segment(s)", i + 2, problems)
        df.loc[i, "eligible_risk_bands"] = _split_list(df.at[i, "eligible_risk_bands"], RISK_BANDS,
                                                       "risk band(s)", i + 2, problems)
    if problems:
        raise DataError("coupon catalogue: " + "; ".join(problems) + ". Fix these cells and load it again.")
    return df



# ----------------------------------------------------------------------------------------------- codes

def coupon_codes(customer_ids: Sequence, coupon_ids: Sequence, prefix: str = "CPN", seed: int = 0, length: int = 10) -> np.ndarray:
    """Unique, reproducible codes ``PREFIX-XXXXXXXXXX``: base32 of a keyed BLAKE2b hash of (customer, coupon).

    The same (seed, customer, coupon) always gives the same code; a collision (or a repeated pair) is re-hashed
    with a counter until every code in the batch is distinct.
    """
    if not 4 <= length <= 50:
        raise DataError(f"coupon codes: length {length} must be between 4 and 50 characters.")
    key = str(seed).encode()[:64]
    pairs = [f"{a}\x1f{b}" for a, b in zip(pd.Series(customer_ids).astype(str), pd.Series(coupon_ids).astype(str))]

    def code(text: str) -> str:
        digest = hashlib.blake2b(text.encode(), key=key, digest_size=32).digest()
        return base64.b32encode(digest).decode()[:length]

    codes = [code(p) for p in pairs]
    seen: set[str] = set()
    for i, p in enumerate(pairs):
        salt = 0
        while codes[i] in seen:
            salt += 1
            codes[i] = code(f"{p}\x1f{salt}")
        seen.add(codes[i])
    sep = "-" if prefix else ""
    return np.array([f"{prefix}{sep}{c}" for c in codes], dtype=object)
