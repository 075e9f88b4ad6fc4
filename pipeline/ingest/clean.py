"""Turn a raw table plus a column mapping into canonical transactions, returns and a cleaning report.

All typing and filtering runs in DuckDB, in one pass over the raw table (:mod:`pipeline.ingest.lines`). Each dropped
row is counted under the first rule it breaks, in the order of :data:`REASONS`; exact duplicates (rows equal in every
mapped column) are counted among the rows that survive the other rules. No loss is silent:
a rule that drops more than ``CleaningOptions.warn_share`` of the rows becomes a warning (the rule, the share, two
example rows and the option that switches it off). Transactions without an amount or a price (basket logs) are
kept, each line worth its quantity (or 1): spend is then counted in items, never as money. The drop rules,
the report and the canonical frames (:func:`fetch_transactions`) belong here; how single values are read (dates,
numbers, ids) is owned by :mod:`pipeline.ingest.dates` and :mod:`pipeline.ingest.values`, and reading a file by
:mod:`pipeline.ingest.read`.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import re
from collections import Counter

import duckdb
import pandas as pd

from pipeline.config import TX_COLUMNS, CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest.dates import date_expr, describe_format, detect_date_format, time_suffixes
from pipeline.ingest.db import quote_ident, scratch
from pipeline.ingest.lines import (flag_rows, line_amount_sql, readable_amount_sql, report_totals, rule_counts, typed_sql,
                                   write_views)
from pipeline.ingest.mapping import ROLES, MappingGuess, propose_mapping, validate_mapping
from pipeline.ingest.platforms import prepare_orders
from pipeline.ingest.read import RawTable, open_file, open_frame
from pipeline.ingest.values import id_expr, number_expr, text_expr
from pipeline.log import step

__all__ = [
    "REASONS", "RULE_SWITCHES", "CleaningReport", "CleanResult", "clean_table", "clean_raw", "clean_raw_table", "clean_frame",
    "clean_file", "transactions_mapping", "fetch_transactions", "cancellation_pattern", "mapping_reasons",
]

#: drop reason -> label shown to the user, in the order rules are applied
REASONS = {
    "missing_customer_id": "No customer id",
    "unparseable_date": "Date could not be read",
    "implausible_date": "Date before 1970 or more than a year in the future",
    "cancellation_or_return": "Cancellation or return (invoice = cancel prefix + the shape of the other invoice ids, "
                              "or negative quantity/amount)",
    "unparseable_number": "Quantity, price or amount is not a number (or the amount is 10^15 or more)",
    "zero_quantity": "Quantity is zero",
    "nonpositive_price": "Price or amount is zero or negative",
    "duplicate_row": "Exact duplicate of an earlier row (every mapped column equal)",
}

#: rule -> the CleaningOptions flag that switches it off (None: the rule cannot be switched off, the fix is elsewhere)
RULE_SWITCHES: dict[str, str | None] = {
    "missing_customer_id": None, "unparseable_date": None, "implausible_date": "drop_implausible_dates",
    "cancellation_or_return": "drop_cancellations", "unparseable_number": None, "zero_quantity": None,
    "nonpositive_price": "drop_nonpositive_price", "duplicate_row": "drop_duplicates",
}
#: drop reason -> the code ``_flagged._drop`` holds (duplicates are found after the rules, see ingest.lines)
_CODES = {name: i for i, name in enumerate(REASONS) if name != "duplicate_row"}
_RETURN = _CODES["cancellation_or_return"]
_FIXES = {
    "missing_customer_id": "Rows without a customer id cannot be given to a customer: check that the customer id "
                           "column is the right one.",
    "unparseable_date": "Check the date column and the day-first option.",
    "unparseable_number": "Check the quantity, price and amount columns.",
    "zero_quantity": "Check the quantity column.",
}
#: rows of the raw table's head read with the spread sample to choose the date format and number formats
CLEAN_SAMPLE_ROWS = 2000


@dataclass
class CleaningReport:
    """What cleaning did, in numbers. ``dropped`` maps each reason in :data:`REASONS` to a row count."""

    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    customers: int
    invoices: int
    revenue: float
    return_lines: int
    date_format: str
    date_min: str | None
    date_max: str | None
    notes: list[str] = field(default_factory=list)
    date_format_label: str = ""
    monetary_unit: str = "currency"     # "items" for basket logs (no amount or price): spend = items bought
    warnings: list[dict] = field(default_factory=list)
    mapping_reasons: dict[str, str] = field(default_factory=dict)
    kind_reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> pd.DataFrame:
        """Rows dropped per reason, with the label and share of input rows."""
        rows = [(k, REASONS[k], v, v / self.rows_in if self.rows_in else 0.0) for k, v in self.dropped.items()]
        return pd.DataFrame(rows, columns=["reason", "rule", "rows", "share"])


@dataclass
class CleanResult:
    """Cleaned canonical ``transactions`` and ``returns`` (columns ``TX_COLUMNS``), the report and the full mapping."""

    transactions: pd.DataFrame
    returns: pd.DataFrame
    report: CleaningReport
    mapping: dict[str, str | None]


def clean_table(con: duckdb.DuckDBPyConnection, mapping: dict[str, str | None],
                options: CleaningOptions = CleaningOptions(), table: str = "raw",
                sample: pd.DataFrame | None = None, lines: bool = True,
                columns: list[str] | None = None) -> CleaningReport:
    """Clean DuckDB table ``table`` into views ``tx`` and ``tx_keys`` and table ``tx_returns`` (canonical columns,
    see :mod:`pipeline.ingest.lines`); return the report.

    ``sample``: rows spread over the table (:attr:`RawTable.content`) from which the date and number formats are
    chosen; default the table's first rows. ``lines``: keep every typed column of the lines for ``tx`` (False: only
    what the report, RFM and the currency read; ``tx`` then types the raw table again when it is read).
    ``columns``: the table's columns when known (saves binding the file's reader once more).
    """
    with step("clean", roles=sorted(r for r, c in mapping.items() if c), lines=lines) as log:
        report = _clean_table(con, mapping, options, table, sample, lines, columns)
        log.update(rows_in=report.rows_in, rows_out=report.rows_out, dropped=report.dropped,
                   date_format=report.date_format, warnings=[w["rule"] for w in report.warnings])
    return report


def _clean_table(con: duckdb.DuckDBPyConnection, mapping: dict[str, str | None], options: CleaningOptions,
                 table: str, sample: pd.DataFrame | None, lines: bool = True,
                 columns: list[str] | None = None) -> CleaningReport:
    columns = columns or [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    m = validate_mapping(mapping, columns)
    notes: list[str] = []
    if sample is None or not len(sample):
        sample = con.execute(f"SELECT * FROM {table} LIMIT {CLEAN_SAMPLE_ROWS}").df()
    table, notes = prepare_orders(con, table, m, sample, columns)    # platform exports; order-level fields
    dates = _column(sample, m["date"]).dropna()
    fmt = _date_format(dates, m["date"], options, notes)
    exprs = _typed_exprs(sample, m, fmt, time_suffixes(dates, fmt), notes)
    keys = [c for c in dict.fromkeys(m.values()) if c]      # exact duplicates: equal in every mapped column
    rules = _drop_rules(m, options, _column(sample, m["invoice_id"]) if m["invoice_id"] else None, notes)
    typed = typed_sql(table, exprs, rules, _CODES, keys)
    flag_rows(con, typed, _RETURN, lines)
    n_in, counts, n_ret = rule_counts(con, _CODES, _RETURN)
    write_views(con, typed, bool(m["invoice_id"]), options.drop_duplicates, _RETURN, lines)
    report = _report(con, n_in, counts, n_ret, fmt, notes)
    report.monetary_unit = "currency" if (m["amount"] or m["unit_price"]) else "items"
    if report.monetary_unit == "items":
        report.notes.append("No amount or price column: spend is counted in items bought (each line worth its "
                            "quantity, or 1), never as money. Segments, clusters and churn work as usual.")
    report.warnings = _warnings(con, table, columns, exprs, rules, report, options, sample, keys)
    return report


def _column(sample: pd.DataFrame, name: str) -> pd.Series:
    col = sample[name]
    return col.iloc[:, 0] if isinstance(col, pd.DataFrame) else col


def _date_format(date_sample: pd.Series, column: str, options: CleaningOptions, notes: list[str]) -> str:
    """The date format of the sample; a note when month/day order is ambiguous; an error when most are not dates."""
    fmt, share, ambiguous = detect_date_format(date_sample, options.dayfirst, serials=True)
    if ambiguous:
        notes.append(f"Dates such as {date_sample.iloc[0]!r} read the same month-first and day-first; read as "
                     f"{'day' if options.dayfirst else 'month'}-first. Change 'day-first dates' if that is wrong.")
    if share < 0.5:
        ex = ", ".join(map(repr, date_sample.astype(str).head(3)))
        raise DataError(f"Column {column!r}: most values are not dates (e.g. {ex}). Map the column that holds "
                        "the purchase date, in a format like 2011-12-09, 12/9/2011 8:26 or 20111209.")
    return fmt


def _typed_exprs(sample: pd.DataFrame, m: dict[str, str | None], fmt: str, suffixes: tuple[str, ...],
                 notes: list[str]) -> dict[str, str]:
    """Alias -> SQL expression of each typed column of the flagged table (numbers, ids and dates read from text).
    Without an amount or a price (a basket log) each line is worth its quantity, or 1."""
    num = {r: number_expr(_column(sample, m[r]), m[r]) if m[r] else "NULL::DOUBLE"
           for r in ("quantity", "unit_price", "amount")}
    qty = f"coalesce({num['quantity']}, 1.0)" if m["quantity"] is None else num["quantity"]
    if m["amount"]:
        amount = num["amount"]
        price = num["unit_price"] if m["unit_price"] else f"{amount} / NULLIF({qty}, 0)"
    elif m["unit_price"]:
        price, amount = num["unit_price"], line_amount_sql(qty, num["unit_price"])
    else:
        price, amount = "1.0::DOUBLE", f"{qty}::DOUBLE"
    inv = id_expr(_column(sample, m["invoice_id"]), m["invoice_id"]) if m["invoice_id"] else None
    if inv is None:
        notes.append("No invoice column: each customer's purchases on one day count as one order.")
    txt = {r: text_expr(m[r]) if m[r] else "NULL::VARCHAR" for r in ("product_name", "category", "country")}
    return {
        "_cust": id_expr(_column(sample, m["customer_id"]), m["customer_id"]),
        "_date": date_expr(fmt, quote_ident(m["date"]), suffixes),
        "_inv": inv or "NULL",
        "_qty": qty, "_price": price, "_amount": readable_amount_sql(amount),
        "_product_id": id_expr(_column(sample, m["product_id"]), m["product_id"]) if m["product_id"] else "NULL::VARCHAR",
        "_product_name": txt["product_name"], "_category": txt["category"], "_country": txt["country"],
        "_qty_raw": quote_ident(m["quantity"]) if m["quantity"] else "NULL",
    }


def cancellation_pattern(invoices: pd.Series, prefix: str) -> str | None:
    """A regular expression matching ``prefix`` + the shape of the invoice ids that do not start with it
    (``C536379`` beside ``536379``), or None when no such ids exist. Shapes keep the letters' count and the order of
    digit runs and other characters, so ``CA-2016-152156`` beside ``US-2015-108966`` is no cancellation."""
    v = invoices.dropna().astype(str).str.strip()
    if not prefix or v.empty:
        return None
    others = v[~v.str.upper().str.startswith(prefix.upper())]
    shapes = Counter(_shape(x) for x in others if x)
    if not shapes:
        return None
    alternatives = "|".join(s for s, _ in shapes.most_common(20))
    return f"(?i){re.escape(prefix)}(?:{alternatives})"


def _shape(value: str) -> str:
    parts = re.findall(r"\d+|[^\W\d_]+|.", value)
    return "".join("[0-9]+" if p.isdigit() else f"[^\\W\\d_]{{{len(p)}}}" if p.isalpha() else re.escape(p)
                   for p in parts)


def _drop_rules(m: dict[str, str | None], options: CleaningOptions, invoices: pd.Series | None,
                notes: list[str]) -> list[tuple[str, str]]:
    """(reason, SQL condition over the typed columns) of each active rule, in the order of :data:`REASONS`."""
    prefix = options.cancellation_prefix.strip()
    pattern = cancellation_pattern(invoices, prefix) if invoices is not None and prefix else None
    if invoices is not None and prefix and options.drop_cancellations:
        starts = invoices.dropna().astype(str).str.upper().str.startswith(prefix.upper())
        if pattern is None and starts.any():
            notes.append(f"Invoice ids starting with {prefix!r} are not read as cancellations: every sampled id "
                         f"starts with it (e.g. {invoices.dropna().iloc[0]!r}).")
        elif pattern is not None and starts.any() and not invoices[starts.values].astype(str).str.fullmatch(
                pattern.replace("(?i)", ""), case=False).any():
            ex = invoices[starts.values].iloc[0]
            notes.append(f"Invoice ids such as {ex!r} start with {prefix!r} but do not follow {prefix!r} + the shape "
                         "of the other ids, so they are not read as cancellations.")
    cancel = None
    if pattern is not None:
        lit = prefix.upper().replace("'", "''")
        cancel = f"(upper(_inv) LIKE '{lit}%' AND regexp_full_match(_inv, '{pattern.replace(chr(39), chr(39) * 2)}'))"
    is_cancel = " OR ".join(filter(None, [
        cancel, "_qty < 0", "(_amount < 0 AND (_qty IS NULL OR _qty_raw IS NULL))" if m["amount"] else None,
    ]))
    rules = [
        ("missing_customer_id", "_cust IS NULL", options.drop_missing_customer),
        ("unparseable_date", "_date IS NULL", True),
        ("implausible_date", "(_date < TIMESTAMP '1970-01-01' OR _date > current_date + INTERVAL 366 DAY)",
         options.drop_implausible_dates),
        ("cancellation_or_return", f"({is_cancel})", options.drop_cancellations),
        ("unparseable_number", "(_amount IS NULL OR (_qty IS NULL AND _qty_raw IS NOT NULL))", True),
        ("zero_quantity", "_qty = 0", True),
        ("nonpositive_price", "(_price <= 0 OR _amount <= 0)", options.drop_nonpositive_price),
    ]
    return [(name, cond) for name, cond, on in rules if on]


def _report(con: duckdb.DuckDBPyConnection, n_in: int, counts: dict[str, int], n_ret: int, fmt: str,
            notes: list[str]) -> CleaningReport:
    n_out, n_cust, n_inv, revenue, dmin, dmax = report_totals(con)
    counts["duplicate_row"] = n_in - sum(counts.values()) - n_out
    dropped = {k: int(counts.get(k, 0)) for k in REASONS}
    if n_out == 0:
        worst = max(dropped, key=dropped.get)
        raise DataError(f"No usable rows are left after cleaning: {dropped[worst]:,} of {n_in:,} rows were dropped "
                        f"because: {REASONS[worst].lower()}. Check the column mapping and the cleaning options.")
    return CleaningReport(int(n_in), int(n_out), dropped, int(n_cust), int(n_inv), round(float(revenue), 2),
                          int(n_ret), fmt, dmin, dmax, notes, date_format_label=describe_format(fmt))


def _warnings(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], exprs: dict[str, str],
              rules: list[tuple[str, str]], report: CleaningReport, options: CleaningOptions,
              sample: pd.DataFrame, keys: list[str]) -> list[dict]:
    """One warning per rule that dropped more than ``options.warn_share`` of the rows: the rule, its share, two
    example rows (as read from the file) and the option that switches it off (or what to check instead)."""
    out = []
    for rule, rows in report.dropped.items():
        share = rows / report.rows_in if report.rows_in else 0.0
        if share <= options.warn_share:
            continue
        switch = RULE_SWITCHES[rule]
        out.append({"rule": rule, "label": REASONS[rule], "rows": rows, "share": round(share, 4),
                    "examples": _examples(con, table, columns, exprs, rules, rule, sample, keys),
                    "switch": switch,
                    "fix": f"Switch this rule off if these rows are real purchases ({switch}=False)." if switch
                    else _FIXES[rule]})
    return out


def _examples(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], exprs: dict[str, str],
              rules: list[tuple[str, str]], rule: str, sample: pd.DataFrame, keys: list[str],
              n: int = 2) -> list[dict]:
    """``n`` raw rows (text as in the file, first 12 columns) dropped by ``rule``: found in the sample when it
    holds some (a rule dropping > 10% of rows almost always does), else by a scan of the table. Duplicates are
    rows equal in every mapped column (``keys``)."""
    shown = columns[:12]
    if rule != "duplicate_row" and set(columns) <= set(sample.columns) and sample.columns.is_unique:
        with scratch() as cur:
            cur.register("_sample", sample[columns].astype(object).where(sample[columns].notna(), None))
            found = _examples_sql(cur, "_sample", shown, exprs, rules, rule, keys, n)
        if found:
            return found
    cursor = getattr(con, "cursor", None)     # a failed query must not leave the cleaning connection busy
    with (cursor() if cursor else contextlib.nullcontext(con)) as cur:      # (Spark's connection has no cursors)
        return _examples_sql(cur, table, shown, exprs, rules, rule, keys, n)


def _examples_sql(con: duckdb.DuckDBPyConnection, table: str, shown: list[str], exprs: dict[str, str],
                  rules: list[tuple[str, str]], rule: str, keys: list[str], n: int) -> list[dict]:
    raw = ", ".join(f"{quote_ident(c)} AS {quote_ident('_raw_' + str(i))}" for i, c in enumerate(shown))
    if rule == "duplicate_row":
        cond = "_n > 1"
        inner = (f"SELECT *, count(*) OVER (PARTITION BY _h) AS _n FROM (SELECT {raw}, "
                 f"hash({', '.join(quote_ident(c) for c in keys)}) AS _h FROM {table}) ")
    else:
        cond = f"_drop = '{rule}'"
        typed = ", ".join(f"{e} AS {a}" for a, e in exprs.items())
        case = "CASE " + " ".join(f"WHEN {c} THEN '{name}'" for name, c in rules) + " END"
        inner = f"SELECT *, {case} AS _drop FROM (SELECT {raw}, {typed} FROM {table})"
    try:
        rows = con.execute(f"SELECT * FROM ({inner}) WHERE {cond} LIMIT {n}").fetchall()
    except duckdb.Error:      # examples are a courtesy: never fail cleaning over them
        return []
    return [{c: _example_cell(v) for c, v in zip(shown, r[:len(shown)])} for r in rows]


def _example_cell(value: object, width: int = 80) -> str | None:
    """A raw cell of an example row, cut at ``width`` characters with "…" saying so."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def mapping_reasons(guess: MappingGuess | None, mapping: dict[str, str | None]) -> dict[str, str]:
    """Per mapped role, why that column: the guess's reason when the mapping kept it, else that it was chosen."""
    reasons = {}
    for role, col in mapping.items():
        if not col:
            continue
        if guess is not None and guess.mapping.get(role) == col and role in guess.reasons:
            reasons[role] = guess.reasons[role]
        else:
            reasons[role] = f"`{col}` — chosen in the mapping as {ROLES[role].lower()}"
    return reasons


def fetch_transactions(con: duckdb.DuckDBPyConnection, table: str = "tx") -> pd.DataFrame:
    """A canonical DuckDB table (``tx`` or ``tx_returns``) as a typed pandas frame, columns ``TX_COLUMNS``, in a
    stable order."""
    df = con.execute(f"SELECT * FROM {table} ORDER BY date, invoice_id, customer_id, product_id, product_name, "
                     "quantity, unit_price, amount, country").df()
    for c in TX_COLUMNS:
        if c in ("date",):
            df[c] = pd.to_datetime(df[c])
        elif c in ("quantity", "unit_price", "amount"):
            df[c] = df[c].astype("float64")
        else:
            df[c] = df[c].astype("string")
    return df[list(TX_COLUMNS)]


def clean_raw(raw: RawTable, mapping: dict[str, str | None], options: CleaningOptions = CleaningOptions(),
              guess: MappingGuess | None = None) -> CleanResult:
    """Clean a loaded raw table with the given mapping into pandas frames (see :class:`CleanResult`); ``guess``
    (the proposed mapping) supplies the reasons recorded in the report."""
    report = clean_raw_table(raw, mapping, options, guess)
    return CleanResult(fetch_transactions(raw.con, "tx"), fetch_transactions(raw.con, "tx_returns"), report,
                       validate_mapping(mapping, raw.columns))


def clean_raw_table(raw: RawTable, mapping: dict[str, str | None], options: CleaningOptions,
                    guess: MappingGuess | None, lines: bool = True) -> CleaningReport:
    """Clean ``raw`` into ``tx`` and ``tx_returns`` on its connection (DuckDB or another engine's); the report, with
    the mapping's reasons from ``guess`` (None: every column was chosen)."""
    report = raw.decoded(lambda: clean_table(raw.con, mapping, options, raw.table, raw.content, lines, raw.columns))
    report.mapping_reasons = mapping_reasons(guess, validate_mapping(mapping, raw.columns))
    report.kind_reason = guess.kind_reason if guess is not None else "transactions: chosen in the mapping"
    if getattr(raw, "parts_note", None):      # a workbook's or archive's other sheets/files, one line each
        report.notes.insert(0, raw.parts_note)
    return report


def transactions_mapping(raw: RawTable, mapping: dict[str, str | None] | None
                         ) -> tuple[dict[str, str | None], MappingGuess]:
    """The given mapping, or the guessed one (with the guess, for its reasons); a customer table is refused with a
    pointer to the fix. Every path that cleans a source as order lines asks here (``clean_file``, ``clean_frame`` and
    :meth:`pipeline.engines.base.Engine.clean`, the one entry point that keeps the result on an engine)."""
    guess = propose_mapping(raw.columns, raw.content)
    if mapping:
        return mapping, guess
    if guess.kind == "customers" and not (guess.mapping.get("date") and guess.mapping.get("customer_id")):
        raise DataError(f"This looks like {guess.kind_reason}, not transactions. Load it as a customer table for "
                        "the Clusters and Model lab pages, or map a customer id and a date column.")
    return guess.mapping, guess


def clean_frame(df: pd.DataFrame, mapping: dict[str, str | None] | None = None,
                options: CleaningOptions = CleaningOptions()) -> CleanResult:
    """Clean an in-memory raw table (values may be text or typed); the mapping is guessed when not given."""
    return _clean(open_frame(df), mapping, options)


def _clean(raw: RawTable, mapping: dict[str, str | None] | None, options: CleaningOptions) -> CleanResult:
    m, guess = transactions_mapping(raw, mapping)
    return clean_raw(raw, m, options, guess)


def clean_file(path: str | Path, mapping: dict[str, str | None] | None = None,
               options: CleaningOptions = CleaningOptions(), sheet: str | None = None,
               filename: str | None = None) -> CleanResult:
    """Read and clean a CSV, Excel or Parquet file; the mapping is guessed when not given."""
    return _clean(open_file(path, filename, sheet), mapping, options)

