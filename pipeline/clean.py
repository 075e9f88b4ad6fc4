"""Turn a raw upload plus a column mapping into canonical transactions, returns and a cleaning report.

All typing and filtering runs in DuckDB. Each dropped row is counted under the first rule it breaks, in the order
of :data:`REASONS`; exact duplicate rows are counted among the rows that survive the other rules.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import ROLES, TX_COLUMNS, CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest import connect, detect_kind, guess_mapping, load_raw, sniff
from pipeline.log import step

__all__ = [
    "REASONS", "CleaningReport", "CleanResult", "detect_date_format", "validate_mapping",
    "clean_table", "clean_frame", "clean_file",
]

#: drop reason -> label shown to the user, in the order rules are applied
REASONS = {
    "missing_customer_id": "No customer id",
    "unparseable_date": "Date could not be read",
    "implausible_date": "Date before 1970 or more than a year in the future",
    "cancellation_or_return": "Cancellation or return (invoice starting with the cancel prefix, or negative quantity/amount)",
    "unparseable_number": "Quantity, price or amount is not a number",
    "zero_quantity": "Quantity is zero",
    "nonpositive_price": "Price or amount is zero or negative",
    "duplicate_row": "Exact duplicate of an earlier row",
}

#: candidate date formats (DuckDB strptime), ISO handled by a cast; month-first before day-first
DATE_FORMATS = (
    "ISO", "ISOTZ", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y",
    "%Y%m%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%m/%d/%y %H:%M", "%m/%d/%y", "%d/%m/%y %H:%M",
    "%d/%m/%y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%m-%d-%Y", "%d %b %Y", "%b %d, %Y",
    "%d-%b-%Y", "%d-%b-%y",
)


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

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> pd.DataFrame:
        """Rows dropped per reason, with the label and share of input rows."""
        rows = [(k, REASONS[k], v, v / self.rows_in if self.rows_in else 0.0) for k, v in self.dropped.items()]
        return pd.DataFrame(rows, columns=["reason", "rule", "rows", "share"])


@dataclass
class CleanResult:
    transactions: pd.DataFrame
    returns: pd.DataFrame
    report: CleaningReport
    mapping: dict[str, str | None]


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _date_expr(fmt: str, col: str) -> str:
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
    con = duckdb.connect()
    con.register("s", pd.DataFrame({"v": v.to_numpy(dtype=object)}))
    exprs = ", ".join(f"avg(({_date_expr(f, 'v')}) IS NOT NULL::INT)" for f in DATE_FORMATS)
    shares = dict(zip(DATE_FORMATS, con.execute(f"SELECT {exprs} FROM s").fetchone()))
    order = list(DATE_FORMATS)
    if dayfirst:
        order.sort(key=lambda f: not f.startswith("%d"))
    best = max(order, key=lambda f: shares[f])  # max keeps the first of equals
    us = [f for f in DATE_FORMATS if f.startswith("%m/")]
    ambiguous = best in us + [f.replace("%m/%d", "%d/%m") for f in us] and \
        shares[best.replace("%m/%d", "%d/%m") if "%m/%d" in best else best.replace("%d/%m", "%m/%d")] == shares[best] == 1
    return best, float(shares[best]), bool(ambiguous)


def _number_expr(values: pd.Series, col: str) -> str:
    """SQL that reads a text column as a number, coping with currency signs, thousands separators and decimal commas."""
    sample = [str(v) for v in values.dropna()]
    c = f"trim({_q(col)})"
    if all(re.fullmatch(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", s.strip()) for s in sample):
        return f"TRY_CAST({c} AS DOUBLE)"
    decimal_comma = sum(bool(re.fullmatch(r"[^,.]*\d,\d{1,2}", s.strip())) for s in sample) > len(sample) / 2
    stripped = f"regexp_replace({c}, '[^0-9eE+\\-.,()]', '', 'g')"
    if decimal_comma:
        stripped = f"replace(replace({stripped}, '.', ''), ',', '.')"
    else:
        stripped = f"replace({stripped}, ',', '')"
    # accounting negatives: (12.50)
    return f"TRY_CAST(CASE WHEN {stripped} LIKE '(%)' THEN '-' || trim({stripped}, '()') ELSE {stripped} END AS DOUBLE)"


def _id_expr(values: pd.Series, col: str) -> str:
    """Ids are text, leading zeros kept; ``17850.0`` (an id written by a float column) becomes ``17850``."""
    c = f"NULLIF(NULLIF(NULLIF(trim({_q(col)}), ''), 'nan'), 'NaN')"
    v = values.dropna().astype(str)
    share = v.str.fullmatch(r"\d+\.0").mean() if len(v) else 0
    return f"regexp_replace({c}, '\\.0$', '')" if share > 0.95 else c


def validate_mapping(mapping: dict[str, str | None], columns: list[str]) -> dict[str, str | None]:
    """Check a transactions mapping against the upload's columns; return it with every role present."""
    full = {role: mapping.get(role) or None for role in ROLES}
    unknown = [c for c in full.values() if c and c not in columns]
    if unknown:
        raise DataError(f"Mapped column(s) {', '.join(map(repr, unknown))} are not in the file; it has "
                        f"{', '.join(columns[:20])}.")
    used = [c for c in full.values() if c]
    if len(used) != len(set(used)):
        dup = sorted({c for c in used if used.count(c) > 1})
        raise DataError(f"Column {dup[0]!r} is mapped to more than one role. Map each column to one role.")
    missing = [ROLES[r] for r in ("customer_id", "date") if not full[r]]
    if missing:
        raise DataError(f"No column is mapped to {' and '.join(missing)}. Transactions need a customer id and a "
                        f"date; pick them in the mapping (the file has {', '.join(columns[:20])}).")
    if not (full["amount"] or full["unit_price"]):
        raise DataError("No column is mapped to Amount or Unit price, so spend cannot be computed. Map a revenue "
                        "column to Amount, or Quantity and Unit price.")
    return full


def clean_table(con: duckdb.DuckDBPyConnection, mapping: dict[str, str | None],
                options: CleaningOptions = CleaningOptions(), table: str = "raw") -> CleaningReport:
    """Clean DuckDB table ``table`` into tables ``tx`` and ``tx_returns`` (canonical columns); return the report."""
    with step("clean", roles=sorted(r for r, c in mapping.items() if c)) as log:
        report = _clean_table(con, mapping, options, table)
        log.update(rows_in=report.rows_in, rows_out=report.rows_out, dropped=report.dropped,
                   date_format=report.date_format)
    return report


def _clean_table(con: duckdb.DuckDBPyConnection, mapping: dict[str, str | None], options: CleaningOptions,
                 table: str) -> CleaningReport:
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    m = validate_mapping(mapping, columns)
    notes: list[str] = []
    sample = con.execute(f"SELECT * FROM {table} LIMIT 5000").df()
    date_sample = sample[m["date"]].dropna()
    fmt, share, ambiguous = detect_date_format(date_sample, options.dayfirst)
    if ambiguous:
        notes.append(f"Dates such as {date_sample.iloc[0]!r} read the same month-first and day-first; read as "
                     f"{'day' if options.dayfirst else 'month'}-first. Change 'day-first dates' if that is wrong.")
    if share < 0.5:
        ex = ", ".join(map(repr, date_sample.astype(str).head(3)))
        raise DataError(f"Column {m['date']!r}: most values are not dates (e.g. {ex}). Map the column that holds "
                        "the purchase date, in a format like 2011-12-09, 12/9/2011 8:26 or 20111209.")
    num = {r: _number_expr(sample[m[r]], m[r]) if m[r] else "NULL::DOUBLE" for r in ("quantity", "unit_price", "amount")}
    txt = {r: f"NULLIF(trim({_q(m[r])}), '')" if m[r] else "NULL::VARCHAR"
           for r in ("product_name", "category", "country")}
    txt["product_id"] = _id_expr(sample[m["product_id"]], m["product_id"]) if m["product_id"] else "NULL::VARCHAR"
    inv = _id_expr(sample[m["invoice_id"]], m["invoice_id"]) if m["invoice_id"] else None
    if inv is None:
        notes.append("No invoice column: each customer's purchases on one day count as one order.")
    qty_raw = f"{_q(m['quantity'])}" if m["quantity"] else "NULL"
    qty = f"coalesce({num['quantity']}, 1.0)" if m["quantity"] is None else num["quantity"]
    if m["amount"]:
        amount = num["amount"]
        price = num["unit_price"] if m["unit_price"] else f"{amount} / NULLIF({qty}, 0)"
    else:
        price, amount = num["unit_price"], f"{qty} * {num['unit_price']}"
    prefix = options.cancellation_prefix.replace("'", "''")
    is_cancel = " OR ".join(filter(None, [
        f"upper(_inv) LIKE '{prefix.upper()}%'" if inv and prefix else None,
        "_qty < 0", "(_qty IS NULL AND _amount < 0)" if m["amount"] else None,
    ]))
    rules = [
        ("missing_customer_id", "_cust IS NULL", options.drop_missing_customer),
        ("unparseable_date", "_date IS NULL", True),
        ("implausible_date", "(_date < TIMESTAMP '1970-01-01' OR _date > current_date + INTERVAL 366 DAY)", True),
        ("cancellation_or_return", f"({is_cancel})", options.drop_cancellations),
        ("unparseable_number", "(_amount IS NULL OR (_qty IS NULL AND _qty_raw IS NOT NULL))", True),
        ("zero_quantity", "_qty = 0", True),
        ("nonpositive_price", "(_price <= 0 OR _amount <= 0)", options.drop_nonpositive_price),
    ]
    drop_case = "CASE " + " ".join(f"WHEN {cond} THEN '{name}'" for name, cond, on in rules if on) + " END"
    cust = _id_expr(sample[m["customer_id"]], m["customer_id"])
    invoice = "_inv" if inv else "_cust || '|' || strftime(_date, '%Y-%m-%d')"
    hashed = columns if len(columns) <= 256 else [c for c in m.values() if c]
    if len(hashed) < len(columns):
        notes.append(f"The file has {len(columns):,} columns: exact duplicates were judged on the {len(hashed)} "
                     "mapped columns.")
    raw_cols = ", ".join(_q(c) for c in hashed)
    # one pass over the file: typed columns, the drop reason and a 64-bit hash of the whole raw row; exact
    # duplicates are rows with equal (hash, customer, date, amount), far cheaper than comparing every text column
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _flagged AS
        SELECT *, {drop_case} AS _drop FROM (
            SELECT {cust} AS _cust, {_date_expr(fmt, _q(m['date']))} AS _date, {inv or 'NULL'} AS _inv,
                   {qty} AS _qty, {price} AS _price, {amount} AS _amount, {txt['product_id']} AS _product_id,
                   {txt['product_name']} AS _product_name, {txt['category']} AS _category,
                   {txt['country']} AS _country, {qty_raw} AS _qty_raw, hash({raw_cols}) AS _h
            FROM {table})""")
    counts = dict(con.execute("SELECT _drop, count(*) FROM _flagged WHERE _drop IS NOT NULL GROUP BY 1").fetchall())
    select_tx = f"""_cust AS customer_id, {invoice} AS invoice_id, _date AS date, _qty AS quantity,
        _price AS unit_price, _amount AS amount, _product_id AS product_id, _product_name AS product_name,
        _category AS category, _country AS country"""
    keep = "SELECT * FROM _flagged WHERE _drop IS NULL"
    if options.drop_duplicates:  # one row per (row hash, customer, date, amount): a hash aggregate, no sort
        cols = ["_inv", "_qty", "_price", "_product_id", "_product_name", "_category", "_country"]
        keep = (f"SELECT _cust, _date, _amount, {', '.join(f'any_value({c}) AS {c}' for c in cols)} "
                "FROM _flagged WHERE _drop IS NULL GROUP BY _h, _cust, _date, _amount")
    con.execute(f"CREATE OR REPLACE TEMP VIEW tx AS SELECT {select_tx} FROM ({keep})")
    con.execute(f"""CREATE OR REPLACE TABLE tx_returns AS SELECT {select_tx.replace('_qty AS', 'abs(_qty) AS')
                    .replace('_amount AS', 'abs(_amount) AS')} FROM _flagged
        WHERE _drop = 'cancellation_or_return' AND _cust IS NOT NULL AND _date IS NOT NULL""")
    n_in = con.execute("SELECT count(*) FROM _flagged").fetchone()[0]
    n_out, n_cust, n_inv, revenue, dmin, dmax = con.execute(
        "SELECT count(*), count(DISTINCT customer_id), count(DISTINCT invoice_id), coalesce(sum(amount), 0),"
        " min(date)::VARCHAR, max(date)::VARCHAR FROM tx").fetchone()
    counts["duplicate_row"] = n_in - sum(counts.values()) - n_out
    dropped = {k: int(counts.get(k, 0)) for k in REASONS}
    if n_out == 0:
        worst = max(dropped, key=dropped.get)
        raise DataError(f"No usable rows are left after cleaning: {dropped[worst]:,} of {n_in:,} rows were dropped "
                        f"because: {REASONS[worst].lower()}. Check the column mapping and the cleaning options.")
    n_ret = con.execute("SELECT count(*) FROM tx_returns").fetchone()[0]
    return CleaningReport(int(n_in), int(n_out), dropped, int(n_cust), int(n_inv), round(float(revenue), 2),
                          int(n_ret), fmt, dmin, dmax, notes)


def _fetch(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
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


def _run(con: duckdb.DuckDBPyConnection, columns: list[str], sample: pd.DataFrame,
         mapping: dict[str, str | None] | None, options: CleaningOptions) -> CleanResult:
    mapping = mapping or guess_mapping(columns, sample)
    if detect_kind(mapping, sample) == "customers" and not (mapping.get("date")):
        raise DataError("This looks like a customer table (one row per customer, no dates), not transactions. "
                        "Load it as a customer table for the Clusters and Model lab pages.")
    report = clean_table(con, mapping, options)
    return CleanResult(_fetch(con, "tx"), _fetch(con, "tx_returns"), report, validate_mapping(mapping, columns))


def clean_frame(df: pd.DataFrame, mapping: dict[str, str | None] | None = None,
                options: CleaningOptions = CleaningOptions()) -> CleanResult:
    """Clean an in-memory raw table (values may be text or typed); the mapping is guessed when not given."""
    con = connect()
    raw = df.copy()
    raw.columns = [str(c) for c in raw.columns]
    raw = raw.astype("string").astype(object).where(raw.notna(), None)
    con.register("_df", raw)
    con.execute("CREATE TABLE raw AS SELECT * FROM _df")
    return _run(con, list(raw.columns), raw.head(1000), mapping, options)


def clean_file(path: str | Path, mapping: dict[str, str | None] | None = None,
               options: CleaningOptions = CleaningOptions(), sheet: str | None = None,
               filename: str | None = None) -> CleanResult:
    """Read and clean a CSV, Excel or Parquet file; the mapping is guessed when not given."""
    con = connect()
    columns = load_raw(con, sniff(path, filename), sheet)
    return _run(con, columns, con.execute("SELECT * FROM raw LIMIT 1000").df(), mapping, options)
