"""Cleaning's one pass over a raw table, and the views of the cleaned lines it leaves on the connection.

:func:`flag_rows` reads the raw table once (:func:`typed_sql`): every mapped column is typed once, each row gets the
code of the first drop rule it breaks (:func:`drop_case`) and a 64-bit hash of its mapped columns, and the result is
kept in temp table ``_flagged``. Everything else reads that table, never the file again: the rows per drop reason (one
``COUNT(*) FILTER`` aggregate, :func:`rule_counts`), the repeated hashes (exact duplicates: a one-integer
aggregate, then an anti join against that small table) and the views written by :func:`write_views`:

* ``tx_keys`` — customer_id, invoice_id, date, amount and country of every cleaned line: what the report, RFM and
  the currency read;
* ``tx_customers`` — one row per customer of ``tx_keys`` (first and last purchase, distinct invoices, spend, lines),
  computed with the report's totals in one aggregate (:func:`report_totals`); RFM reads it
  (:func:`pipeline.rfm.rfm_from_connection` with ``totals``);
* ``tx`` — the cleaned lines with every canonical column (:data:`pipeline.config.TX_COLUMNS`);
* table ``tx_returns`` — cancellations and returns.

With ``lines=True`` ``_flagged`` holds every typed column and ``tx`` reads it. With ``lines=False`` (a consumer
that needs only figures, such as ``python -m pipeline rfm``) ``_flagged`` holds the narrow columns alone and ``tx``
types the raw table again when it is read: the order lines are materialised only when a consumer needs them.
The SQL is DuckDB's, run as is on Spark through :mod:`pipeline.engines.sql`.

Two rules of a line are written here once, in Python and as the SQL built from the same constants, because the
service applies them to the lines it receives: :func:`day_invoice` (a line without an invoice joins its customer's
order of that day) and :func:`line_amount` (quantity x unit price, not rounded).
"""
from __future__ import annotations

from typing import Any

from pipeline.ingest.db import quote_ident

__all__ = ["CUSTOMER_TOTALS", "DAY_FORMAT", "DAY_SEPARATOR", "MAX_LINE_AMOUNT", "day_invoice", "day_invoice_sql",
           "drop_case", "flag_rows", "line_amount", "line_amount_sql", "readable_amount_sql", "report_totals",
           "rule_counts", "typed_sql", "write_views"]

#: the columns every cleaned line keeps in ``_flagged``, and those kept only with ``lines=True`` (and for returns)
NARROW = ("_cust", "_inv", "_date", "_amount", "_country")
WIDE = ("_qty", "_price", "_product_id", "_product_name", "_category")
#: per customer of canonical lines (customer_id, invoice_id, date, amount): the figures RFM is made of
CUSTOMER_TOTALS = ("min(date) AS first_purchase, max(date) AS last_purchase, count(DISTINCT invoice_id) AS frequency, "
                   "sum(amount) AS monetary, count(*) AS lines")
#: a line without an invoice belongs to its customer's order of that day, ``<customer><DAY_SEPARATOR><day>``
DAY_SEPARATOR = "|"
DAY_FORMAT = "%Y-%m-%d"


def day_invoice(customer_id: str, date: Any) -> str:
    """The invoice id of a line without one: one order per customer per day (``c42|2011-12-09``)."""
    return f"{customer_id}{DAY_SEPARATOR}{date.strftime(DAY_FORMAT)}"


def day_invoice_sql(customer: str, date: str) -> str:
    """:func:`day_invoice` as SQL over the columns ``customer`` (text) and ``date`` (a timestamp)."""
    return f"{customer} || '{DAY_SEPARATOR}' || strftime({date}, '{DAY_FORMAT}')"


def line_amount(quantity: float, unit_price: float) -> float:
    """A line's amount from its quantity and unit price: their product, not rounded (cents are not assumed)."""
    return quantity * unit_price


#: the largest line amount read as a number: a bigger one (or an infinite one) is an error in the file, and the exact
#: sums of the features and the BTYD summary (DECIMAL(38, 10)) could not hold it
MAX_LINE_AMOUNT = 1e15


def readable_amount_sql(amount: str) -> str:
    """``amount`` (SQL), NULL when it is not a usable number (infinite, NaN or at least :data:`MAX_LINE_AMOUNT`):
    cleaning then drops the line as a number it could not read."""
    return f"CASE WHEN abs({amount}) < {MAX_LINE_AMOUNT:.0f} THEN {amount} END"


def line_amount_sql(quantity: str, unit_price: str) -> str:
    """:func:`line_amount` as SQL over two numeric expressions."""
    return f"({quantity}) * ({unit_price})"


def drop_case(rules: list[tuple[str, str]], codes: dict[str, int]) -> str:
    """SQL giving the code (``codes[reason]``) of the first rule in ``rules`` a row breaks; NULL when it is kept."""
    return "CASE " + " ".join(f"WHEN {cond} THEN {codes[name]}" for name, cond in rules) + " END"


def typed_sql(table: str, exprs: dict[str, str], rules: list[tuple[str, str]], codes: dict[str, int],
              keys: list[str]) -> str:
    """SQL over ``table``: the typed columns ``exprs``, ``_h`` (the hash of the mapped columns ``keys``) and
    ``_drop`` (the code of the first rule broken, NULL for a kept row)."""
    typed = ", ".join(f"{expr} AS {alias}" for alias, expr in exprs.items())
    hashed = ", ".join(quote_ident(c) for c in keys)
    return f"SELECT *, {drop_case(rules, codes)} AS _drop FROM (SELECT {typed}, hash({hashed}) AS _h FROM {table})"


def flag_rows(con: Any, typed: str, return_code: int, lines: bool) -> None:
    """One pass over the raw table (``typed``, from :func:`typed_sql`) into temp table ``_flagged``. Exact duplicates
    are rows with equal hashes, far cheaper than comparing every text column (two distinct rows among ten million
    collide with a probability of about 3e-6). Without ``lines`` the wide columns are kept for returns alone."""
    wide = (", ".join(WIDE) if lines
            else ", ".join(f"CASE WHEN _drop = {return_code} THEN {c} END AS {c}" for c in WIDE))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _flagged AS SELECT {', '.join(NARROW)}, {wide}, _h, _drop "
                f"FROM ({typed})")


def rule_counts(con: Any, codes: dict[str, int], return_code: int) -> tuple[int, dict[str, int], int]:
    """(rows in, rows per drop reason, return lines) in one aggregate over ``_flagged``."""
    names = list(codes)
    per = ", ".join(f"count(*) FILTER (WHERE _drop = {codes[n]})" for n in names)
    row = con.execute(f"SELECT count(*), {per}, count(*) FILTER (WHERE _drop = {return_code} AND _cust IS NOT NULL "
                      "AND _date IS NOT NULL) FROM _flagged").fetchone()
    return int(row[0]), {n: int(v or 0) for n, v in zip(names, row[1:-1])}, int(row[-1] or 0)


def write_views(con: Any, typed: str, has_invoice: bool, drop_duplicates: bool, return_code: int,
                lines: bool) -> None:
    """Views ``tx_keys`` and ``tx`` (kept rows, one row per repeated hash) and table ``tx_returns``; without
    ``lines``, ``tx`` reads the raw table again through ``typed`` (named once, so the file's reader is bound once)."""
    invoice = "_inv" if has_invoice else day_invoice_sql("_cust", "_date")
    narrow = f"_cust AS customer_id, {invoice} AS invoice_id, _date AS date, _amount AS amount, _country AS country"
    full = (f"_cust AS customer_id, {invoice} AS invoice_id, _date AS date, _qty AS quantity, _price AS unit_price, "
            "_amount AS amount, _product_id AS product_id, _product_name AS product_name, _category AS category, "
            "_country AS country")
    every = (*NARROW, *WIDE)
    source = "_flagged" if lines else "_t"
    if drop_duplicates:
        # duplicates are rare: the repeated hashes (an aggregate on one integer), every other kept row as it is (an
        # anti join against that small table) and one row per repeated hash, kept once in _dup_rows
        con.execute("CREATE OR REPLACE TEMP TABLE _dup AS SELECT _h FROM _flagged WHERE _drop IS NULL "
                    "GROUP BY _h HAVING count(*) > 1")
        kept = every if lines else NARROW
        anyv = ", ".join(f"any_value({c}) AS {c}" for c in kept)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _dup_rows AS SELECT {anyv} FROM _flagged SEMI JOIN _dup "
                    "USING (_h) WHERE _drop IS NULL GROUP BY _h")
        cols = ", ".join(NARROW)
        keys = (f"SELECT {cols} FROM _flagged ANTI JOIN _dup USING (_h) WHERE _drop IS NULL "
                f"UNION ALL SELECT {cols} FROM _dup_rows")
        cols = ", ".join(every)
        reps = (f"SELECT {cols} FROM _dup_rows" if lines else
                f"SELECT {', '.join(f'any_value({c}) AS {c}' for c in every)} FROM _t SEMI JOIN _dup USING (_h) "
                "WHERE _drop IS NULL GROUP BY _h")
        rows = f"SELECT {cols} FROM {source} ANTI JOIN _dup USING (_h) WHERE _drop IS NULL UNION ALL {reps}"
    else:
        keys = f"SELECT {', '.join(NARROW)} FROM _flagged WHERE _drop IS NULL"
        rows = f"SELECT {', '.join(every)} FROM {source} WHERE _drop IS NULL"
    con.execute(f"CREATE OR REPLACE TEMP VIEW tx_keys AS SELECT {narrow} FROM ({keys})")
    lazy = "" if lines else f"WITH _t AS ({typed}) "
    con.execute(f"CREATE OR REPLACE TEMP VIEW tx AS {lazy}SELECT {full} FROM ({rows})")
    returned = full.replace("_qty AS", "abs(_qty) AS").replace("_amount AS", "abs(_amount) AS")
    con.execute(f"CREATE OR REPLACE TABLE tx_returns AS SELECT {returned} FROM _flagged "
                f"WHERE _drop = {return_code} AND _cust IS NOT NULL AND _date IS NOT NULL")


def report_totals(con: Any) -> tuple:
    """Table ``tx_customers`` (:data:`CUSTOMER_TOTALS` per customer of ``tx_keys``) and, from the same aggregate,
    the report's (lines, customers, invoices, revenue, first date, last date)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _totals AS SELECT customer_id, grouping(customer_id) AS _all,
        {CUSTOMER_TOTALS} FROM tx_keys GROUP BY GROUPING SETS ((customer_id), ())""")
    con.execute("CREATE OR REPLACE TEMP VIEW tx_customers AS SELECT customer_id, first_purchase, last_purchase, "
                "frequency, monetary, lines FROM _totals WHERE _all = 0")
    return con.execute("""SELECT coalesce(max(lines) FILTER (WHERE _all = 1), 0), count(customer_id),
        coalesce(max(frequency) FILTER (WHERE _all = 1), 0), coalesce(max(monetary) FILTER (WHERE _all = 1), 0),
        max(first_purchase) FILTER (WHERE _all = 1)::VARCHAR, max(last_purchase) FILTER (WHERE _all = 1)::VARCHAR
        FROM _totals""").fetchone()
