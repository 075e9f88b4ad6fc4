"""Read an uploaded file (CSV, Excel, Parquet) and guess which column plays which role.

Reading is done by DuckDB so that large exports stay fast; every column is read as text and typed later by
``pipeline.clean`` under rules it can report on.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import max_upload_bytes
from pipeline.errors import DataError
from pipeline.log import step

__all__ = ["connect", "FileInfo", "sniff", "first_data_sheet", "load_raw", "read_raw", "guess_mapping", "detect_kind", "guess_customer_id"]

_DELIMITERS = [",", ";", "\t", "|"]
csv.field_size_limit(1 << 24)
_SAMPLE_BYTES = 1 << 20
DUCKDB_MEMORY = os.environ.get("SEGMENTS_DUCKDB_MEMORY", "1500MB")

#: role -> normalised column names that mean it (lower case, letters and digits only), most specific first
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "customer", "custid", "cust", "customerno", "customernumber", "customercode",
                    "customerkey", "clientid", "client",
                    "userid", "memberid", "accountid", "buyerid", "shopperid"),
    "invoice_id": ("invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "orderno", "ordernumber", "order",
                   "transactionid", "receiptid", "basketid", "billno", "saleid"),
    "date": ("invoicedate", "orderdate", "transactiondate", "purchasedate", "date", "datetime", "timestamp",
             "saledate", "createdat", "orderdatetime", "time"),
    "quantity": ("quantity", "qty", "units", "numberofcds", "itemcount", "count", "nitems", "quantityordered"),
    "unit_price": ("unitprice", "price", "itemprice", "priceeach", "unitcost", "listprice"),
    "amount": ("amount", "dollarvalue", "revenue", "sales", "total", "totalprice", "linetotal", "value", "spend",
               "totalamount", "netamount", "ordervalue", "grandtotal", "subtotal", "totalsales"),
    "product_id": ("stockcode", "productid", "sku", "itemid", "productcode", "articleid", "itemcode", "product"),
    "product_name": ("description", "productname", "itemname", "itemdescription", "productdescription", "title"),
    "category": ("category", "productcategory", "department", "productline", "categoryname", "itemcategory"),
    "country": ("country", "region", "market", "countrycode", "shippingcountry"),
}


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with bounded memory: big files spill to the temp folder instead of exhausting RAM."""
    con = duckdb.connect(config={"temp_directory": tempfile.gettempdir(), "memory_limit": DUCKDB_MEMORY,
                                 "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    return con


@dataclass(frozen=True)
class FileInfo:
    """What :func:`sniff` found out about a file."""

    path: Path
    format: str                      # "csv" | "excel" | "parquet"
    encoding: str = "utf-8"
    delimiter: str = ","
    sheets: tuple[str, ...] = field(default_factory=tuple)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:4096]:
        if len(head) > 64 and head[1:64:2].count(0) > 24:   # UTF-16 without a byte-order mark
            return "utf-16-le"
        raise DataError("This file looks binary, not a text table. Upload a CSV, Excel (.xlsx) or Parquet file.")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:      # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def _detect_delimiter(text: str) -> str:
    lines = [ln[:100_000] for ln in text.splitlines()[:60] if ln.strip()]
    if not lines:
        raise DataError("The file is empty. Upload a table with a header row and at least one data row.")
    best, best_score = ",", (0, 0)
    for d in _DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=d)]
        width = counts[0]
        consistent = sum(c == width for c in counts)
        score = (consistent if width > 1 else 0, width)
        if score > best_score:
            best, best_score = d, score
    return best


def sniff(path: str | Path, filename: str | None = None) -> FileInfo:
    """Find a file's format, text encoding, delimiter and (for Excel) sheet names."""
    path = Path(path)
    name = (filename or path.name).lower()
    size = path.stat().st_size
    if size > max_upload_bytes():
        raise DataError(f"The file is {size / 2**20:,.0f} MB, over the {max_upload_bytes() / 2**20:,.0f} MB limit. "
                        "Export fewer columns or a shorter period, or save it as Parquet (much smaller).")
    head = path.read_bytes()[:_SAMPLE_BYTES] if path.stat().st_size < 4 * _SAMPLE_BYTES else _read_head(path)
    if not head.strip():
        raise DataError("The file is empty. Upload a table with a header row and at least one data row.")
    if head.startswith(b"PAR1"):
        return FileInfo(path, "parquet")
    if head.startswith(b"PK\x03\x04"):
        if name.endswith((".xlsx", ".xlsm")) or b"xl/" in head[:4096] or b"[Content_Types].xml" in head[:4096]:
            return FileInfo(path, "excel", sheets=tuple(_sheet_names(path)))
        raise DataError("This is a zip archive. Unzip it and upload the CSV, Excel or Parquet file inside.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError("This is an old binary Excel file (.xls). Save it as .xlsx or CSV in Excel and upload that.")
    if head[:8].startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b")):
        raise DataError("This file is an image, PDF or compressed file, not a table. "
                        "Upload a CSV, Excel (.xlsx) or Parquet file.")
    encoding = _detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    return FileInfo(path, "csv", encoding=encoding, delimiter=_detect_delimiter(text))


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_SAMPLE_BYTES)


def _sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
    except Exception as e:  # openpyxl raises many types for corrupt files
        raise DataError(f"This Excel file could not be opened ({type(e).__name__}). Re-save it as .xlsx or CSV.") from e
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _transcode_to_utf8(path: Path, encoding: str) -> Path:
    out = Path(tempfile.mkstemp(suffix=".csv")[1])
    with open(path, encoding=encoding, errors="replace", newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return out


def load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None = None, table: str = "raw") -> list[str]:
    """Load a file into DuckDB table ``table`` with every column as text; return the column names.

    Raises
    ------
    DataError
        When the file cannot be parsed as a table, or has no data rows.
    """
    with step("read", format=info.format, encoding=info.encoding, bytes=info.path.stat().st_size) as log:
        cols = _load_raw(con, info, sheet, table)
        log["columns"] = len(cols)
    return cols


def _load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None, table: str) -> list[str]:
    if info.format == "csv":
        src = info.path
        if info.encoding not in ("utf-8", "utf-8-sig"):
            src = _transcode_to_utf8(info.path, info.encoding)
        # a UTF-8 file stays on disk behind a view (one pass when cleaning); a transcoded copy is loaded and removed
        what = "VIEW" if src == info.path else "TABLE"
        delim = info.delimiter.replace("'", "''")
        try:
            _read_csv(con, what, table, src, delim)
        finally:
            if src != info.path:
                src.unlink(missing_ok=True)
    elif info.format == "parquet":
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)", [str(info.path)])
        except duckdb.Error as e:
            raise DataError(f"The Parquet file could not be read ({str(e).splitlines()[0][:200]}).") from e
        _flatten_to_text(con, table)
    else:
        df = _read_excel(info, sheet)
        con.register("_excel_df", df)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _excel_df")
        con.unregister("_excel_df")
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    if info.format == "csv" and len(cols) == 1 and re.search(r"[:^~#/ ]\S", cols[0]):
        raise DataError(f"Only one column was found (header {cols[0][:60]!r}): the values seem to be separated by "
                        "another character. Save the file with commas, semicolons, tabs or | between values.")
    if not con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall():
        raise DataError("The file has a header but no data rows. Upload a file with at least one row of data.")
    return cols


def _read_csv(con: duckdb.DuckDBPyConnection, what: str, table: str, src: Path, delim: str) -> None:
    """Strict reading first; short rows padded with nulls next; then the single-threaded reader, which also copes
    with quoted line breaks together with short rows."""
    base = (f"read_csv('{_sql_str(src)}', delim='{delim}', header=true, all_varchar=true, quote='\"', escape='\"', "
            "strict_mode=false, max_line_size=20000000")
    error, empty = None, None
    for extra in ("", ", null_padding=true", ", null_padding=true, parallel=false"):
        try:
            con.execute(f"CREATE OR REPLACE {what} {table} AS SELECT * FROM {base}{extra})")
            if con.execute(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 100000)").fetchone()[0]:
                return
            empty = empty or extra
        except duckdb.Error as e:
            error = e
    if empty is not None:   # it parses, but has no data rows: load_raw says so
        con.execute(f"CREATE OR REPLACE {what} {table} AS SELECT * FROM {base}{empty})")
        return
    raise DataError(f"The CSV could not be read ({str(error).splitlines()[0][:200]}). Check that it is a comma-, "
                    "semicolon-, tab- or pipe-separated table with one header row.") from error


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _flatten_to_text(con: duckdb.DuckDBPyConnection, table: str) -> None:
    desc = con.execute(f"DESCRIBE {table}").fetchall()
    nested = [c for c, t, *_ in desc if any(k in t for k in ("STRUCT", "[]", "MAP", "UNION"))]
    exprs = ", ".join(
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if c not in nested else f'to_json("{c}")::VARCHAR AS "{c}"'
        for c, *_ in desc
    )
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {exprs} FROM {table}")


def first_data_sheet(info: FileInfo) -> str | None:
    """The first sheet of a workbook that holds data (None for other formats)."""
    if info.format != "excel":
        return None
    for s in info.sheets:
        if not pd.read_excel(info.path, sheet_name=s, dtype=str, nrows=5).dropna(how="all").empty:
            return s
    raise DataError("Every sheet of this Excel file is empty. Put the table on a sheet with a header row.")


def _read_excel(info: FileInfo, sheet: str | None) -> pd.DataFrame:
    sheet = sheet or first_data_sheet(info)
    if sheet not in info.sheets:
        raise DataError(f"Sheet {sheet!r} is not in this workbook; it has {', '.join(info.sheets)}.")
    df = pd.read_excel(info.path, sheet_name=sheet, dtype=str)
    if df.dropna(how="all").empty or df.shape[1] == 0:
        raise DataError(f"Sheet {sheet!r} is empty. Pick the sheet that holds the table.")
    df.columns = _unique_names([str(c) for c in df.columns])
    return df.astype(object).where(df.notna(), None)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}_{k}")
        seen[n] = k + 1
    return out


def read_raw(path: str | Path, sheet: str | None = None, limit: int | None = None,
             filename: str | None = None) -> pd.DataFrame:
    """Read a file into a pandas DataFrame of text columns (handy for previews, tests and small files)."""
    con = connect()
    load_raw(con, sniff(path, filename), sheet)
    q = "SELECT * FROM raw" + (f" LIMIT {int(limit)}" if limit else "")
    return con.execute(q).df()


def _looks_like_dates(values: pd.Series) -> bool:
    from pipeline.clean import detect_date_format

    v = values.dropna().astype(str).head(200)
    return len(v) > 0 and detect_date_format(v)[1] >= 0.9


def _partial_ok(role: str, name: str) -> bool:
    if role.endswith("_id"):
        return "name" not in name and "date" not in name
    return not name.endswith("id")


def guess_mapping(columns: list[str], sample: pd.DataFrame | None = None) -> dict[str, str | None]:
    """Map each role in :data:`pipeline.config.ROLES` to an upload column (or None) from the column names.

    Exact synonyms win over partial matches; each column is used once. When no column is named like a date,
    a column whose sample values parse as dates is used.
    """
    from pipeline.config import ROLES

    normed = {c: _norm(c) for c in columns}
    used: set[str] = set()
    mapping: dict[str, str | None] = {}
    for role in ROLES:
        hit = next((c for syn in SYNONYMS[role] for c in columns if normed[c] == syn and c not in used), None)
        if hit is None:  # partial match: "Purchase Amount (USD)" -> amount; ids never match a "...name" column
            hit = next((c for syn in SYNONYMS[role] if len(syn) >= 5 for c in columns
                        if syn in normed[c] and c not in used and _partial_ok(role, normed[c])), None)
        mapping[role] = hit
        if hit:
            used.add(hit)
    if mapping["date"] is None and sample is not None:
        mapping["date"] = next((c for c in columns if c not in used and _looks_like_dates(sample[c])), None)
    return mapping


def guess_customer_id(sample: pd.DataFrame) -> str | None:
    """The id column of a one-row-per-customer table: an id-like name with unique values, else the first unique column."""
    unique = [c for c in sample.columns if sample[c].notna().all() and sample[c].is_unique]
    named = [c for c in unique if _norm(c) in SYNONYMS["customer_id"] + ("id", "customerkey", "key")]
    return (named or unique or [None])[0]


def detect_kind(mapping: dict[str, str | None], sample: pd.DataFrame) -> str:
    """``"transactions"`` with a customer id, a date and an amount or price; otherwise ``"customers"``: a table
    with one row per customer (or per record, e.g. coupon responses) for the clustering and model pages."""
    if mapping.get("date") and mapping.get("customer_id") and (mapping.get("amount") or mapping.get("unit_price")):
        return "transactions"
    return "customers"
