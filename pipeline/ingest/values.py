"""How a text column's values are read as numbers or ids, decided from a sample and written as DuckDB SQL.

The single owner of number and id rules (currency signs, thousands separators, decimal commas, accounting negatives,
ids written by float columns). Content checks such as "is this column money-like / id-like?" belong here too, so
that mapping and cleaning read a column the same way. Dates have their own module, :mod:`pipeline.ingest.dates`.
"""
from __future__ import annotations

import re

import pandas as pd

from pipeline.ingest.db import quote_ident

__all__ = ["number_expr", "id_expr", "text_expr"]

_PLAIN_NUMBER = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"


def number_expr(values: pd.Series, col: str) -> str:
    """SQL that reads a text column as a number, coping with currency signs, thousands separators and decimal commas.

    ``values`` is a sample of the column, used to decide between decimal point and decimal comma.
    """
    sample = [str(v) for v in values.dropna()]
    c = f"trim({quote_ident(col)})"
    if all(re.fullmatch(_PLAIN_NUMBER, s.strip()) for s in sample):
        return f"TRY_CAST({c} AS DOUBLE)"
    decimal_comma = sum(bool(re.fullmatch(r"[^,.]*\d,\d{1,2}", s.strip())) for s in sample) > len(sample) / 2
    stripped = f"regexp_replace({c}, '[^0-9eE+\\-.,()]', '', 'g')"
    if decimal_comma:
        stripped = f"replace(replace({stripped}, '.', ''), ',', '.')"
    else:
        stripped = f"replace({stripped}, ',', '')"
    # accounting negatives: (12.50)
    return f"TRY_CAST(CASE WHEN {stripped} LIKE '(%)' THEN '-' || trim({stripped}, '()') ELSE {stripped} END AS DOUBLE)"


def id_expr(values: pd.Series, col: str) -> str:
    """Ids are text, leading zeros kept; ``17850.0`` (an id written by a float column) becomes ``17850``."""
    c = f"NULLIF(NULLIF(NULLIF(trim({quote_ident(col)}), ''), 'nan'), 'NaN')"
    v = values.dropna().astype(str)
    share = v.str.fullmatch(r"\d+\.0").mean() if len(v) else 0
    return f"regexp_replace({c}, '\\.0$', '')" if share > 0.95 else c


def text_expr(col: str) -> str:
    """A text column trimmed, with empty strings as NULL."""
    return f"NULLIF(trim({quote_ident(col)}), '')"
