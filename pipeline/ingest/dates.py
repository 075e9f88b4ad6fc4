"""Dates in uploaded text: the candidate formats, picking the one that reads a column, and its DuckDB expression.

The single owner of date rules, used both when guessing the mapping (:mod:`pipeline.ingest.mapping`: "does this
column hold dates?") and when cleaning (:mod:`pipeline.ingest.clean`: "read this column as timestamps"). A format is a
date layout (``%d-%b-%y``, ``%m/%d/%Y``, ``%d.%m.%Y``, ``ISO``, ``EXCEL`` serial numbers…) with or without a time of
day; the one that reads most of a sample spread over the file is chosen, and :func:`describe_format` says which.
"""
from __future__ import annotations

import pandas as pd

from pipeline.ingest.db import scratch

__all__ = ["DATE_FORMATS", "TIME_SUFFIXES", "date_expr", "detect_date_format", "describe_format", "DATE_SHARE"]

#: candidate date layouts (DuckDB strptime); ISO is a cast, EXCEL an Excel serial day number. Month-first before
#: day-first: with ``dayfirst`` unset, a column whose days are all ≤ 12 is read month-first and flagged ambiguous.
DATE_FORMATS = (
    "ISO", "ISOTZ", "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%Y/%m/%d", "%Y%m%d",
    "%d.%m.%Y", "%d.%m.%y", "%Y.%m.%d", "%m-%d-%Y", "%d-%m-%Y", "%d-%m-%y",
    "%d %b %Y", "%d %B %Y", "%d %b %y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%d-%b-%Y", "%d-%b-%y", "%d-%B-%Y",
    "%d/%b/%Y", "%Y-%b-%d", "EXCEL",
)
#: times of day tried after a date layout, most common first
TIME_SUFFIXES = (" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "T%H:%M:%S", "",
                 ", %I:%M:%S %p", ", %H:%M:%S")     # "Mar 9, 2024, 10:20:31 AM" (ICU's medium format, e.g. Magento)
#: share of a sample one format must read for a column to count as dates when guessing roles
DATE_SHARE = 0.95

_EXAMPLE = pd.Timestamp("2011-12-09 08:26:00")


def _strptime_list(fmt: str, suffixes: tuple[str, ...] = TIME_SUFFIXES) -> str:
    return "[" + ", ".join(f"'{fmt}{s}'" for s in suffixes) + "]"


def date_expr(fmt: str, col: str, suffixes: tuple[str, ...] = TIME_SUFFIXES) -> str:
    """DuckDB SQL reading the (already quoted) text column ``col`` as a naive TIMESTAMP in format ``fmt``, with any
    of the times of day in ``suffixes`` (tried in that order)."""
    c = f"replace(trim({col}), '\u202f', ' ')"       # ICU writes a narrow no-break space before AM/PM
    if fmt == "ISO":      # the fast path: 2011-12-09 12:50:00, 2011-12-09T12:50, 2011-12-09
        return f"TRY_CAST({col} AS TIMESTAMP)"
    if fmt == "ISOTZ":    # with a UTC offset: converted to UTC, then naive
        return f"TRY_CAST(timezone('UTC', TRY_CAST({c} AS TIMESTAMPTZ)) AS TIMESTAMP)"
    if fmt == "EXCEL":    # Excel serial day numbers (1 = 1900-01-01), 1954..2064 only, so ids and amounts never pass
        n = f"TRY_CAST({c} AS DOUBLE)"
        return (f"CASE WHEN {n} BETWEEN 20000 AND 60000 THEN TIMESTAMP '1899-12-30' + "
                f"to_microseconds(CAST(round({n} * 86400000000) AS BIGINT)) END")
    return f"try_strptime({c}, {_strptime_list(fmt, suffixes or ('',))})"


def describe_format(fmt: str) -> str:
    """A format as shown to the user: the layout and an example (``%d-%b-%y (e.g. 09-Dec-11)``)."""
    if fmt == "ISO":
        return "ISO (e.g. 2011-12-09 08:26)"
    if fmt == "ISOTZ":
        return "ISO with a UTC offset (e.g. 2011-12-09T08:26+01:00), converted to UTC"
    if fmt == "EXCEL":
        return "Excel serial day numbers (e.g. 40886.35 = 2011-12-09 08:24)"
    return f"{fmt} (e.g. {_EXAMPLE.strftime(fmt)})"


def detect_date_format(values: pd.Series, dayfirst: bool | None = None,
                       serials: bool = False) -> tuple[str, float, bool]:
    """Pick the date format that reads most of ``values`` (a sample, ideally spread over the whole file).

    ``serials`` lets Excel serial numbers count (only for a column known to hold dates). Returns
    ``(format, share_parsed, ambiguous)``; ``ambiguous`` is True when both month-first and day-first read every
    value (all days ≤ 12), in which case ``dayfirst`` decides (month-first when None).
    """
    v = pd.Series(values).dropna().astype(str).str.replace("\u202f", " ").str.strip()
    v = v[(v != "") & (v.str.len() <= 64)].drop_duplicates().head(2000)
    formats = _candidates(v, serials)
    if v.empty or not formats:
        return "ISO", 0.0, False
    con = scratch()
    con.register("s", pd.DataFrame({"v": v.to_numpy(dtype=object)}))
    parsed = ", ".join(f"{date_expr(f, 'v')} AS d{i}" for i, f in enumerate(formats))
    shares_sql = ", ".join(f"avg((d{i} IS NOT NULL)::INT), avg(coalesce(d{i} BETWEEN TIMESTAMP '1970-01-01' AND "
                           f"current_date + INTERVAL 366 DAY, false)::INT)" for i in range(len(formats)))
    row = con.execute(f"SELECT {shares_sql} FROM (SELECT {parsed} FROM s)").fetchone()
    con.close()
    shares = {f: float(row[2 * i] or 0.0) for i, f in enumerate(formats)}
    plausible = {f: float(row[2 * i + 1] or 0.0) for i, f in enumerate(formats)}
    order = list(formats)
    if dayfirst:
        order.sort(key=lambda f: not f.startswith("%d"))
    # plausible dates first (11-Feb-13 is 2013 with %y, not the year 13 with %Y), then any date; first of equals
    best = max(order, key=lambda f: (plausible[f], shares[f]))
    return best, shares[best], _ambiguous(best, shares)


_LOOKS_LIKE_DATE = r"\d{1,4}[-/. ]\w{1,9}[-/. ,]+\d{1,4}.*|[A-Za-z]{3,9}\.? \d{1,2},? \d{2,4}.*|\d{8}|\d{4,5}(\.\d+)?"


def _candidates(v: pd.Series, serials: bool) -> list[str]:
    """The formats worth trying on ``v``: none when most values do not look like dates at all; else those whose
    separators and month names match the values' (cheap in Python, so the SQL stays small)."""
    if v.empty or v.str.fullmatch(_LOOKS_LIKE_DATE).mean() < 0.5:
        return []
    head = " ".join(v.head(50))
    letters = any(c.isalpha() for c in head.replace("T", "").replace("AM", "").replace("PM", ""))
    out = []
    for f in DATE_FORMATS:
        if f == "EXCEL":
            if serials:
                out.append(f)
            continue
        if f in ("ISO", "ISOTZ"):
            if "-" in head:
                out.append(f)
            continue
        named = "%b" in f or "%B" in f
        seps = set(f.replace("%b", "").replace("%B", "").replace("%", "").strip("dmyYbB")) - set("dmyYbB")
        if named == letters and all(c in head for c in seps):
            out.append(f)
    return out


def time_suffixes(values: pd.Series, fmt: str) -> tuple[str, ...]:
    """The times of day in :data:`TIME_SUFFIXES` that read some of ``values`` in format ``fmt``, most used first
    (so the expression over the whole file usually succeeds on its first try)."""
    if fmt in ("ISO", "ISOTZ", "EXCEL"):
        return TIME_SUFFIXES
    v = pd.Series(values).dropna().astype(str).str.strip().head(2000)
    if v.empty:
        return TIME_SUFFIXES
    con = scratch()
    con.register("s", pd.DataFrame({"v": v.to_numpy(dtype=object)}))
    exprs = ", ".join(f"count(try_strptime(trim(v), '{fmt}{s}'))" for s in TIME_SUFFIXES)
    counts = con.execute(f"SELECT {exprs} FROM s").fetchone()
    con.close()
    used = sorted((s for s, n in zip(TIME_SUFFIXES, counts) if n), key=lambda s: -counts[TIME_SUFFIXES.index(s)])
    return tuple(used) or TIME_SUFFIXES


def _ambiguous(best: str, shares: dict[str, float]) -> bool:
    """True when ``best`` reads the same with month and day swapped, and both read every value."""
    if "%m" not in best or "%d" not in best:
        return False
    twin = best.replace("%m", "\0").replace("%d", "%m").replace("\0", "%d")
    return bool(twin in shares and shares[twin] == shares[best] == 1)
