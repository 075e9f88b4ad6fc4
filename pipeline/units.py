"""How figures are written: the one formatter of money, items, percentages and counts, for pages, tables, charts
and the sentences written in ``pipeline``.

Spend is money when the dataset has a currency (``£1,234.50``, ``1,234.50 CHF``) and items bought when it has none
(a basket log without amounts or prices: ``4,816 items``), never a bare number. Words follow the unit: on a basket
log "Revenue" reads "Items bought" and "Average order value" reads "Items per order" (:func:`spend_words`). Table
columns get a printf format with thousands separators and the unit (:func:`spend_format`, ``st.column_config``).
A relative change is shown only against a base of at least :data:`MIN_BASE` (:func:`change_text`): +16,718% from
three customers says nothing.
"""
from __future__ import annotations

import re

import pandas as pd

from pipeline.currency import currency, format_money

__all__ = ["ITEMS", "MIN_BASE", "DASH", "UNKNOWN", "is_missing", "spend", "spend_exact", "spend_short", "spend_format",
           "spend_unit", "spend_words", "count", "percent", "change_text"]

ITEMS = "items"
DASH = "–"
#: The unit of a figure nobody stated (a policy run on a bare table, outside any dataset): written as a plain number,
#: neither currency nor items, rather than a guessed unit. A dataset's figures always have a unit (a code or None).
UNKNOWN = "unknown"
#: Smallest previous value (customers, orders) a relative change is computed against.
MIN_BASE = 20

# money words -> item words, in order (whole phrases first); capitalisation of the first letter is kept
_ITEM_WORDS = [
    (r"average order value", "items per order"),
    (r"order value", "items per order"),
    (r"revenue per customer", "items per customer"),
    (r"total spend", "items bought"),
    (r"revenue", "items bought"),
    (r"spend", "items bought"),
]


def is_missing(x) -> bool:
    """None, NaN or NA."""
    return x is None or (not isinstance(x, str) and bool(pd.isna(x)))


def _items(x: float, decimals: int) -> str:
    x = float(x)
    places = 0 if decimals == 0 or float(x).is_integer() else 1      # items are whole things; averages get one place
    num = f"{x:,.{places}f}"
    return f"{num} item" if num == "1" else f"{num} {ITEMS}"


def spend(x, code: str | None, decimals: int = 2) -> str:
    """Spend with its unit: ``£1,234.50`` / ``1,234.50 CHF`` with a currency, ``1,234 items`` (``3.2 items`` for a
    fraction) without; missing as a dash."""
    if is_missing(x):
        return DASH
    return format_money(x, code, decimals) if code else _items(x, decimals)


def spend_exact(x, code: str | None, decimals: int = 2, signed: bool = False) -> str:
    """Spend at exactly ``decimals`` places whatever the unit, optionally with its sign: for figures computed from
    spend, where a fraction of an item is the figure (a coupon's expected value of ``+0.05 items``), unlike
    :func:`spend`, which rounds items to whole or tenths. ``+£0.05``, ``-£1.20``, ``+0.05 CHF``, ``1.20 items``;
    ``code`` :data:`UNKNOWN` gives a plain ``+0.05``; missing as a dash."""
    if is_missing(x):
        return DASH
    x = float(x)
    text = f"{abs(x):,.{decimals}f}"
    sign = "-" if x < 0 and float(text.replace(",", "")) != 0 else "+" if signed else ""
    if code == UNKNOWN:
        return f"{sign}{text}"
    if not code:
        return f"{sign}{text} {ITEMS}"
    return sign + format_money(abs(x), code, decimals)


def spend_short(x, code: str | None) -> str:
    """Spend for a tile, short enough for a narrow column: millions as ``£3.44M``, from 10,000 without pence
    (``£320,417``), below with them (``£84.12``); items likewise (``1.25M items``). Put :func:`spend` in the tile's
    help for the exact figure."""
    if is_missing(x):
        return DASH
    if abs(float(x)) >= 1_000_000:
        num = f"{abs(float(x)) / 1_000_000:,.2f}M"
        sign = "-" if float(x) < 0 else ""
        if not code:
            return f"{sign}{num} {ITEMS}"
        c = currency(code)
        return f"{sign}{c.symbol}{num}" if c.prefix else f"{sign}{num} {c.symbol}"
    return spend(x, code, 0 if abs(float(x)) >= 10_000 else 2)


def spend_format(code: str | None, decimals: int = 2) -> str:
    """printf format of a spend column for ``st.column_config.NumberColumn``: ``£%,.2f``, ``%,.2f CHF``,
    ``%,.0f items`` (thousands separators always)."""
    if not code:
        return f"%,.{min(decimals, 1)}f {ITEMS}"
    c = currency(code)
    return f"{c.symbol}%,.{decimals}f" if c.prefix else f"%,.{decimals}f {c.symbol}"


def spend_unit(code: str | None) -> str:
    """The unit in words for headers and axes: the currency symbol, or ``items``."""
    return currency(code).symbol if code else ITEMS


def spend_words(text: str, code: str | None) -> str:
    """``text`` as it reads in the dataset's unit: unchanged with a currency; with items, money words become item
    words ("Revenue" -> "Items bought", "Share of revenue" -> "Share of items bought", "Average order value" ->
    "Items per order")."""
    if code:
        return text
    for pattern, words in _ITEM_WORDS:
        text = re.sub(rf"\b{pattern}\b", lambda m: words[:1].upper() + words[1:] if m.group(0)[0].isupper()
                      else words, text, flags=re.IGNORECASE)
    return text


def count(n) -> str:
    """A whole number with thousands separators (``1,234``); missing as a dash."""
    return DASH if is_missing(n) else f"{float(n):,.0f}"


def percent(x, decimals: int = 0) -> str:
    """A share as a percentage (``0.431`` -> ``43%``) with thousands separators; missing as a dash."""
    return DASH if is_missing(x) else f"{float(x):,.{decimals}%}"


def change_text(value, before, kind: str = "count", base=None) -> str | None:
    """The change from ``before`` to ``value`` as shown beside a figure: ``+12.5%`` (relative, for counts and
    spend), ``+3.0 pts`` (a difference, for rates); None when there is nothing to compare or the base (``base``,
    default ``before``) is below :data:`MIN_BASE`."""
    base = before if base is None else base
    if is_missing(value) or is_missing(before) or is_missing(base) or (kind != "rate" and not before):
        return None
    if float(base) < MIN_BASE:
        return None
    if kind == "rate":
        return f"{(float(value) - float(before)) * 100:+,.1f} pts"
    return f"{(float(value) - float(before)) / float(before):+,.1%}"
