"""How a text column's values are read as numbers or ids, decided from a sample and written as DuckDB SQL.

The single owner of number and id rules (currency signs, thousands separators, decimal commas, accounting negatives,
ids written by float columns). Content checks such as "is this column money-like / id-like?" belong here too, so
that mapping and cleaning read a column the same way. Dates have their own module, :mod:`pipeline.ingest.dates`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from pipeline.ingest.db import quote_ident

__all__ = ["number_expr", "id_expr", "text_expr", "parse_numbers", "decimal_comma", "ColumnProfile",
           "profile_column"]

_PLAIN_NUMBER = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"


def number_expr(values: pd.Series, col: str) -> str:
    """SQL that reads a text column as a number, coping with currency signs, thousands separators and decimal commas.

    ``values`` is a sample of the column, used to decide between decimal point and decimal comma.
    """
    sample = [str(v) for v in values.dropna()]
    c = f"trim({quote_ident(col)})"
    if all(re.fullmatch(_PLAIN_NUMBER, s.strip()) for s in sample):
        return f"TRY_CAST({c} AS DOUBLE)"
    comma = decimal_comma(pd.Series(sample, dtype=object))
    stripped = f"regexp_replace({c}, '[^0-9eE+\\-.,()]', '', 'g')"
    if comma:
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


def decimal_comma(values: pd.Series) -> bool:
    """True when most numbers in ``values`` are written with a decimal comma (``12,50``, ``1.234,5``)."""
    v = values.dropna().astype(str).str.strip()
    v = v[v != ""]
    return bool(len(v)) and bool(v.str.fullmatch(r"[^,.]*\d,\d{1,2}|-?\d{1,3}(\.\d{3})+,\d+").mean() > 0.5)


def parse_numbers(values: pd.Series, comma: bool | None = None) -> pd.Series:
    """``values`` read as numbers the way :func:`number_expr` reads them in SQL (NaN where not a number);
    ``comma``: decimal comma (None: decided from the values)."""
    v = values.astype("string").str.strip()
    neg = v.str.fullmatch(r"\(.*\)").fillna(False)
    v = v.str.replace(r"[^0-9eE+\-.,]", "", regex=True)
    comma = decimal_comma(values) if comma is None else comma
    v = v.str.replace(".", "", regex=False).str.replace(",", ".", regex=False) if comma \
        else v.str.replace(",", "", regex=False)
    out = pd.to_numeric(v, errors="coerce").astype("float64")
    return out.where(~neg.astype(bool), -out)


#: values of a sample profiled per column
PROFILE_ROWS = 1500


@dataclass(frozen=True)
class ColumnProfile:
    """What a sample of one text column holds, for guessing its role."""

    name: str
    filled: int             # non-empty values in the sample
    distinct: int
    numeric: float          # share of filled values that read as numbers
    integer: float          # share of the numbers that are whole
    positive: float         # share of the numbers that are > 0
    median: float | None
    maximum: float | None
    letters: float          # share of filled values with a letter
    mean_length: float
    decimal_comma: bool
    digits: float = 0.0     # share of filled values with a digit
    spaces: float = 0.0     # share of filled values with a space inside
    leading_zeros: float = 0.0  # share of filled values like 00042: ids, never counts

    @property
    def repeats(self) -> bool:
        """Some value occurs more than once."""
        return 0 < self.distinct < self.filled

    def id_like(self) -> bool:
        """Codes: text or whole numbers, short, no decimals (``17850``, ``C-001``, ``CA-2016-152156``)."""
        if self.filled == 0 or self.mean_length > 40:
            return False
        return (self.numeric < 0.5 and self.mean_length <= 24) or (self.numeric >= 0.95 and self.integer >= 0.99)

    def code_like(self) -> bool:
        """Identifiers rather than words: whole numbers, or codes with digits and without spaces."""
        return self.id_like() and (self.numeric >= 0.95 or (self.digits >= 0.9 and self.spaces <= 0.05))

    def money_like(self) -> bool:
        """Amounts: numbers with decimals, mostly positive."""
        return self.numeric >= 0.95 and self.integer < 0.9 and self.positive >= 0.7

    def quantity_like(self) -> bool:
        """Counts: small whole numbers, mostly positive."""
        return (self.numeric >= 0.95 and self.integer >= 0.98 and self.positive >= 0.7 and self.leading_zeros < 0.5
                and self.maximum is not None and self.maximum <= 100_000 and (self.median or 0) <= 100)

    def text_like(self) -> bool:
        """Words: names, descriptions, categories."""
        return self.filled > 0 and self.letters >= 0.8 and self.numeric < 0.05


def profile_column(name: str, values: pd.Series) -> ColumnProfile:
    """Profile a sample of a text column (see :class:`ColumnProfile`)."""
    v = values.dropna().astype(str).str.strip()
    v = v[v != ""].head(PROFILE_ROWS)
    if v.empty:
        return ColumnProfile(str(name), 0, 0, 0.0, 0.0, 0.0, None, None, 0.0, 0.0, False)
    nums = pd.to_numeric(v, errors="coerce")          # the fast path: plain numbers
    comma = False
    if nums.notna().mean() < 0.95:
        comma = decimal_comma(v)
        plain = v.str.fullmatch(r"[-+(]?[$€£¥]?\s?[\d.,' ]*\d[\d.,' ]*\)?%?")
        nums = parse_numbers(v[plain], comma) if plain.any() else pd.Series(dtype="float64")
    nums = nums.dropna().astype("float64")
    has = len(nums) > 0
    return ColumnProfile(
        str(name), len(v), int(v.nunique()), len(nums) / len(v),
        float((nums == nums.round()).mean()) if has else 0.0, float((nums > 0).mean()) if has else 0.0,
        float(nums.median()) if has else None, float(nums.max()) if has else None,
        float(v.str.contains(r"[^\W\d_]", regex=True).mean()), float(v.str.len().mean()), bool(comma),
        float(v.str.contains(r"\d", regex=True).mean()), float(v.str.contains(" ", regex=False).mean()),
        float(v.str.fullmatch(r"0\d+").mean()))
