"""Dates in uploaded text: the candidate formats, picking the one that reads a column, and its DuckDB expression.

The single owner of date rules, used both when guessing the mapping (:mod:`pipeline.ingest.mapping`: "does this
column hold dates?") and when cleaning (:mod:`pipeline.ingest.clean`: "read this column as timestamps"). New formats
(month names, two-digit years, Excel serial numbers) and how a format is chosen on a sample belong here.
"""
from __future__ import annotations

import pandas as pd

from pipeline.ingest.db import connect

__all__ = ["DATE_FORMATS", "date_expr", "detect_date_format"]

#: candidate date formats (DuckDB strptime), ISO handled by a cast; month-first before day-first
DATE_FORMATS = (
    "ISO", "ISOTZ", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y",
    "%Y%m%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%m/%d/%y %H:%M", "%m/%d/%y", "%d/%m/%y %H:%M",
    "%d/%m/%y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%m-%d-%Y", "%d %b %Y", "%b %d, %Y",
    "%d-%b-%Y", "%d-%b-%y",
)


def date_expr(fmt: str, col: str) -> str:
    """DuckDB SQL reading the (already quoted) text column ``col`` as a naive TIMESTAMP in format ``fmt``."""
    c = f"trim({col})"
    if fmt == "ISO":      # the fast path: 2011-12-09 12:50:00, 2011-12-09T12:50, 2011-12-09
        return f"TRY_CAST({col} AS TIMESTAMP)"
    if fmt == "ISOTZ":    # with a UTC offset: converted to UTC, then naive
        return f"TRY_CAST(timezone('UTC', TRY_CAST({c} AS TIMESTAMPTZ)) AS TIMESTAMP)"
    return f"try_strptime({c}, '{fmt}')"


def detect_date_format(values: pd.Series, dayfirst: bool | None = None) -> tuple[str, float, bool]:
    """Pick the date format that reads most of ``values``.

    Returns ``(format, share_parsed, ambiguous)``; ``ambiguous`` is True when both month-first and day-first read
    every value (all days ≤ 12), in which case ``dayfirst`` decides (month-first when None).
    """
    v = pd.Series(values).dropna().astype(str).str.strip()
    v = v[v != ""].drop_duplicates().head(2000)
    if v.empty:
        return "ISO", 0.0, False
    con = connect()
    con.register("s", pd.DataFrame({"v": v.to_numpy(dtype=object)}))
    exprs = ", ".join(f"avg(({date_expr(f, 'v')}) IS NOT NULL::INT)" for f in DATE_FORMATS)
    shares = dict(zip(DATE_FORMATS, con.execute(f"SELECT {exprs} FROM s").fetchone()))
    order = list(DATE_FORMATS)
    if dayfirst:
        order.sort(key=lambda f: not f.startswith("%d"))
    best = max(order, key=lambda f: shares[f])  # max keeps the first of equals
    return best, float(shares[best]), _ambiguous(best, shares)


def _ambiguous(best: str, shares: dict[str, float]) -> bool:
    """True when ``best`` is a slash format whose month-first and day-first twins both read every value."""
    us = [f for f in DATE_FORMATS if f.startswith("%m/")]
    if best not in us + [f.replace("%m/%d", "%d/%m") for f in us]:
        return False
    twin = best.replace("%m/%d", "%d/%m") if "%m/%d" in best else best.replace("%d/%m", "%m/%d")
    return bool(shares[twin] == shares[best] == 1)
