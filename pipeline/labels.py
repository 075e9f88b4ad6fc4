"""Human labels for every column and feature, and how its values are written: the one owner of wording in tables,
axes and tooltips.

The table is data (``assets/column_labels.csv``: column, label, format, help). ``format`` is one of
:data:`FORMATS`: ``money`` / ``money0`` (with the dataset's currency, cents or none), ``share`` (a percentage),
``days``, ``count``, ``decimal``, ``score``, ``date``, ``text``. A column not in the table gets a readable
fallback (``p_churned`` -> "Probability: churned", ``spend_trend`` -> "Spend trend"), never its raw name.
:func:`format_value` writes one value the way every page does (``£7,110.96``, ``27%``, ``41 days``);
:func:`readable` returns a copy of a table with human column names for exports and plain tables.
"""
from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd

from pipeline.config import ASSETS
from pipeline import units

__all__ = ["FORMATS", "label", "value_format", "help_text", "format_value", "readable", "hover_labels"]

FORMATS = ("money", "money0", "share", "days", "count", "decimal", "score", "date", "text")
_LABELS = ASSETS / "column_labels.csv"
_WORDS = {"btyd": "BG/NBD", "rfm": "RFM", "id": "id", "avg": "average", "std": "spread of", "n": "number of",
          "pct": "%", "d": "days"}


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    df = pd.read_csv(_LABELS, dtype=str, keep_default_na=False).set_index("column")
    bad = sorted(set(df["format"]) - set(FORMATS))
    if bad:
        raise ValueError(f"{_LABELS.name}: unknown format(s) {', '.join(bad)}; use one of {', '.join(FORMATS)}.")
    return df


def _fallback(column: str) -> str:
    m = re.fullmatch(r"p_(.+)", column)
    if m:
        return f"Probability: {m.group(1).replace('_', ' ')}"
    words = [_WORDS.get(w, w) for w in re.split(r"[_\s]+", column.strip()) if w]
    text = " ".join(words) or column
    return text[:1].upper() + text[1:]


def label(column: str) -> str:
    """The human label of ``column`` (from the table, else a readable fallback)."""
    t = _table()
    return t.at[column, "label"] if column in t.index else _fallback(str(column))


def value_format(column: str) -> str:
    """How values of ``column`` are written (one of :data:`FORMATS`; ``decimal`` for unknown numeric columns)."""
    t = _table()
    if column in t.index:
        return t.at[column, "format"]
    return "share" if str(column).startswith("p_") or str(column).endswith(("_share", "_rate")) else "decimal"


def help_text(column: str) -> str | None:
    """A tooltip for the column header, when the table has one."""
    t = _table()
    return (t.at[column, "help"] or None) if column in t.index else None


def format_value(column: str, value, currency: str | None = None) -> str:
    """``value`` of ``column`` written for people (:mod:`pipeline.units`): money with the currency (items bought
    when ``currency`` is None), shares as percentages, days, counts with thousands separators, dates as
    ``2011-12-09``; missing as a dash."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    fmt = value_format(column)
    if isinstance(value, str) and fmt not in ("text", "date"):
        try:
            float(value)
        except ValueError:
            return value                                        # a word in a numeric column: as it is
    if fmt in ("money", "money0"):
        return units.spend(float(value), currency, 0 if fmt == "money0" else 2)
    if fmt == "share":
        return units.percent(value)
    if fmt == "days":
        return f"{float(value):,.0f} days"
    if fmt in ("count", "score"):
        return units.count(value)
    if fmt == "decimal":
        return f"{float(value):,.2f}"
    if fmt == "date":
        return str(pd.Timestamp(value).date())
    return str(value)


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with human column names (values untouched)."""
    return df.rename(columns={c: label(c) for c in df.columns})


def hover_labels(columns) -> dict[str, str]:
    """``{column: label}`` for Plotly Express ``labels=`` (axes, legends and tooltips)."""
    return {c: label(c) for c in columns}
