"""Order-level fields written only on some lines of an order (the customer, the date, the country on the first line;
the other lines carrying the item alone) carried to every line of their order, for any file: a rule by the data's
shape, not by column names.

The fill is decided on the table's head (:func:`fill_decision`): the order column repeats (an order id, not a line
id), some orders hold a value on some lines and a blank on others, and almost no order holds two different values.
It is done in SQL over the whole table (:func:`fill_orders`): only blanks are filled, never a value overwritten, and
an order whose lines disagree is left as it is. :mod:`pipeline.ingest.platforms` calls it before cleaning.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.ingest.db import quote_ident

__all__ = ["FILL_HEAD_ROWS", "blank_sql", "fill_decision", "fill_orders", "may_need_fill"]

#: lines of the table's head read to decide whether order-level fields are filled only on some lines of an order
FILL_HEAD_ROWS = 5000
#: a column whose distinct values cover more than this share of the head's lines is no order id: never fill by it
ORDER_ID_MAX_DISTINCT = 0.9
#: share of the orders of several lines (holding the value on one at least) whose lines may disagree, beyond which a
#: column is not filled at all (it is no order-level field: customers differ within the "orders")
FILL_MAX_CONFLICTS = 0.05


def blank_sql(col: str) -> str:
    """SQL: the text column trimmed, with an empty string as NULL."""
    return f"NULLIF(trim({quote_ident(col)}), '')"


def fill_decision(con: duckdb.DuckDBPyConnection, table: str, order: str, candidates: list[str]) -> list[str]:
    """The ``candidates`` to fill within an order of column ``order``, judged on the table's first
    :data:`FILL_HEAD_ROWS` lines: the order column repeats (an order id, not a line id: distinct values cover at
    most :data:`ORDER_ID_MAX_DISTINCT` of the lines), some orders hold a value on some lines and a blank on others,
    and almost no order (:data:`FILL_MAX_CONFLICTS`) holds two different values."""
    if not candidates:
        return []
    per = ", ".join(f"count({blank_sql(c)}) AS n{i}, min({blank_sql(c)}) AS lo{i}, max({blank_sql(c)}) AS hi{i}"
                    for i, c in enumerate(candidates))
    stats = ", ".join(f"sum(CASE WHEN n{i} > 0 AND n{i} < n THEN 1 ELSE 0 END), "
                      f"sum(CASE WHEN lo{i} <> hi{i} THEN 1 ELSE 0 END), "
                      f"sum(CASE WHEN n > 1 AND n{i} > 0 THEN 1 ELSE 0 END)" for i in range(len(candidates)))
    row = con.execute(f"""
        SELECT count(*), sum(n), {stats} FROM (
            SELECT count(*) AS n, {per} FROM (SELECT * FROM {table} LIMIT {FILL_HEAD_ROWS})
            WHERE {blank_sql(order)} IS NOT NULL GROUP BY {blank_sql(order)})""").fetchone()
    orders, lines = row[0] or 0, row[1] or 0
    if not lines or orders > ORDER_ID_MAX_DISTINCT * lines:
        return []
    out = []
    for i, c in enumerate(candidates):
        mixed, conflicts, informative = (row[2 + 3 * i] or 0), (row[3 + 3 * i] or 0), (row[4 + 3 * i] or 0)
        if mixed > conflicts and conflicts <= FILL_MAX_CONFLICTS * informative:
            out.append(c)
    return out


def fill_orders(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], order: str, fill: list[str],
                notes: list[str]) -> str:
    """View ``_orders_filled``: every column of ``table``, blanks of ``fill`` taking their order's one value (an
    order whose lines hold two values keeps its blanks). One small aggregate per order (table ``_orders_agg``),
    joined to the lines when the view is read; a note counts the lines and orders filled."""
    key = blank_sql(order)
    per = ", ".join(f"min({blank_sql(c)}) AS _v{i}, min({blank_sql(c)}) = max({blank_sql(c)}) AS _ok{i}, "
                    f"count({blank_sql(c)}) AS _n{i}" for i, c in enumerate(fill))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _orders_agg AS SELECT {key} AS _k, count(*) AS _n, {per} "
                f"FROM {table} WHERE {key} IS NOT NULL GROUP BY {key}")
    exprs = [f"CASE WHEN {blank_sql(c)} IS NULL AND _o._ok{fill.index(c)} THEN _o._v{fill.index(c)} "
             f"ELSE _t.{quote_ident(c)} END AS {quote_ident(c)}" if c in fill else f"_t.{quote_ident(c)}"
             for c in columns]
    con.execute(f"CREATE OR REPLACE TEMP VIEW _orders_filled AS SELECT {', '.join(exprs)} FROM {table} AS _t "
                f"LEFT JOIN _orders_agg AS _o ON {key} = _o._k")
    # lines filled in an order: the most blanks one column fills there (the lines lacking the order's fields)
    filled = [f"CASE WHEN _ok{i} AND _n{i} > 0 THEN _n - _n{i} ELSE 0 END" for i in range(len(fill))]
    most = filled[0] if len(filled) == 1 else f"greatest({', '.join(filled)})"
    lines, orders = con.execute(f"SELECT sum(_m), sum(CASE WHEN _m > 0 THEN 1 ELSE 0 END) "
                                f"FROM (SELECT {most} AS _m FROM _orders_agg)").fetchone()
    names = ", ".join(f"`{c}`" for c in fill)
    notes.append(f"Order-level fields ({names}) were written only on some lines of an order (by `{order}`): "
                 f"carried to {int(lines or 0):,} other lines of {int(orders or 0):,} orders. Only blanks were "
                 "filled; orders whose lines disagree were left as they are.")
    return "_orders_filled"


def may_need_fill(sample: pd.DataFrame | None, order: str, columns: list[str]) -> bool:
    """False when the sample already shows there is nothing to fill: no blank in ``columns``, or (the sample holding
    runs of consecutive lines) 20 orders of several lines and none with a value on some lines and a blank on others.
    Saves reading the table's head again for most files."""
    if sample is None or sample.empty or order not in sample.columns or not sample.columns.is_unique:
        return True
    cols = [c for c in columns if c in sample.columns]
    blank = {c: sample[c].isna() | (sample[c].astype(str).str.strip() == "") for c in cols}
    if not any(b.any() for b in blank.values()):
        return False
    key = sample[order].where(sample[order].astype(str).str.strip() != "")
    several = key.notna() & key.duplicated(keep=False)
    if key[several].nunique() < 20:
        return True
    for b in blank.values():
        per = b[several].groupby(key[several]).agg(["any", "all"])
        if (per["any"] & ~per["all"]).any():
            return True
    return False
