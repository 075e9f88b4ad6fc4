"""Downloads that are safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets (CSV injection). Such cells get a leading apostrophe; numbers stay numbers, so
negative amounts remain numeric.
"""
from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["escape_formulas", "to_csv_bytes", "to_excel_bytes", "to_jsonable"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _escape(value):
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def _escape_column(col: pd.Series) -> pd.Series:
    """One text column escaped; vectorised (``str.startswith``) where pandas can, cell by cell otherwise."""
    col = col.astype(object)
    try:
        hit = col.str.startswith(_TRIGGERS, na=False).to_numpy(bool)
    except AttributeError:              # no text at all in the column (e.g. only missing values or booleans)
        return col.map(_escape)
    if hit.any():
        col = col.copy()
        col[hit] = "'" + col[hit].astype(str)
    return col


def escape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose text cells (and column names) cannot be run as formulas."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_datetime64_any_dtype(out[c])):
            out[c] = _escape_column(out[c])
    out.columns = [_escape(str(c)) for c in out.columns]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads accents), formulas escaped."""
    return escape_formulas(df).to_csv(index=False).encode("utf-8-sig")


def to_excel_bytes(df: pd.DataFrame, sheet_name: str = "customers") -> bytes:
    """An .xlsx workbook, formulas escaped; timezone-aware dates are written as local naive dates."""
    out = escape_formulas(df)
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_localize(None)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        out.to_excel(xw, index=False, sheet_name=sheet_name[:31])
    return buf.getvalue()


def to_jsonable(value: Any) -> Any:
    """Plain JSON value: numpy scalars to Python, NaN/inf to None, unknown objects to text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
