"""A corpus of bad, odd and hostile uploads, generated in memory (no large files committed).

Each case is ``(case id, file name, bytes, expected)`` where ``expected`` is ``("error", regex)`` — the clear message
the user must see — or ``("ok", kind)`` — the file is read correctly as that kind of dataset.
"""
from __future__ import annotations

import gzip
import io
import zipfile

import pandas as pd

GOOD = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1001,A1,Mug,2,2011-01-01 09:00,5.00,0042,United Kingdom\n"
        "1002,B2,Teapot,1,2011-01-20 10:30,20.00,0042,United Kingdom\n"
        "1003,A1,Mug,3,2011-01-15 11:00,2.00,0007,France\n")


def _frame(n: int = 3) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(GOOD), dtype=str).head(n)


def _xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name, index=False)
    return buf.getvalue()


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _zip(members: dict[str, str | bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in (members or {"data.csv": GOOD}).items():
            z.writestr(name, data)
    return buf.getvalue()


def _nested_parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"CustomerID": ["1", "2"], "InvoiceDate": ["2020-01-01", "2020-01-02"], "Amount": [3.0, 4.0],
                  "items": [[{"sku": "a", "n": 1}], [{"sku": "b", "n": 2}]], "meta": [{"x": 1}, {"x": 2}]})
    buf = io.BytesIO()
    pq.write_table(t, buf)
    return buf.getvalue()


def _wide() -> bytes:
    df = _frame()
    extra = pd.DataFrame({f"col{i}": ["x"] * len(df) for i in range(10_000)})
    return pd.concat([df, extra], axis=1).to_csv(index=False).encode()


def cases() -> list[tuple[str, str, bytes, tuple[str, str]]]:
    g = GOOD
    rows = [
        # ---- not a table at all
        ("empty", "e.csv", b"", ("error", "empty")),
        ("whitespace_only", "w.csv", b"   \n\n  \n", ("error", "empty")),
        ("header_only", "h.csv", g.splitlines()[0].encode() + b"\n", ("error", "no data rows")),
        ("binary", "b.csv", bytes(range(256)) * 40, ("error", "binary")),
        ("png_renamed", "img.csv", b"\x89PNG\r\n\x1a\n" + bytes(300), ("error", "image")),
        ("jpeg_renamed", "img.csv", b"\xff\xd8\xff\xe0" + bytes(300), ("error", "image")),
        ("pdf_renamed", "doc.csv", b"%PDF-1.7\n" + bytes(300), ("error", "PDF")),
        ("gzip_cut_short", "data.csv.gz", gzip.compress(g.encode())[:60], ("error", "gzip file is corrupt or cut")),
        ("zip_without_table", "a.zip", _zip({"logo.png": b"\x89PNG\r\n\x1a\n" + bytes(300)}),
         ("error", "No file in this zip archive reads as a table")),
        ("json_empty_array", "e.json", b"[ ]", ("error", "holds no records")),
        ("old_xls", "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ("error", r"\.xls")),
        ("corrupt_xlsx", "x.xlsx", b"PK\x03\x04" + b"xl/workbook.xml" + bytes(200), ("error", "could not be opened")),
        ("corrupt_parquet", "p.parquet", b"PAR1" + bytes(100), ("error", "Parquet file could not be read")),
        ("unknown_delimiter", "c.csv", g.replace(",", ":").encode(), ("error", "separated by another character")),
        # ---- encodings and CSV dialects that must simply work
        ("latin1_pound_eacute", "l.csv", g.replace("Mug", "Café £ mug").encode("latin-1"), ("ok", "transactions")),
        ("cp1252_euro", "w.csv", g.replace("Mug", "Mug €5").encode("cp1252"), ("ok", "transactions")),
        ("utf16_bom", "u.csv", g.encode("utf-16"), ("ok", "transactions")),
        ("utf8_bom", "u.csv", g.encode("utf-8-sig"), ("ok", "transactions")),
        ("gzip", "data.csv", gzip.compress(g.encode()), ("ok", "transactions")),      # named by content, not suffix
        ("zip", "data.zip", _zip(), ("ok", "transactions")),
        ("semicolon_decimal_comma", "s.csv", g.replace(",", ";").replace("5.00", "5,00").replace("20.00", "20,00")
         .replace("2.00", "2,00").encode(), ("ok", "transactions")),
        ("tab_txt", "t.txt", g.replace(",", "\t").encode(), ("ok", "transactions")),
        ("pipe", "p.csv", g.replace(",", "|").encode(), ("ok", "transactions")),
        ("quoted_newlines", "q.csv", g.replace("Teapot", '"Tea\npot, large"').encode(), ("ok", "transactions")),
        ("crlf_and_blank_lines", "c.csv", (g.replace("\n", "\r\n") + "\r\n\r\n").encode(), ("ok", "transactions")),
        ("duplicate_column_names", "d.csv", g.replace("Country", "Description").encode(), ("ok", "transactions")),
        ("currency_thousands", "m.csv", g.replace("20.00", '"£1,020.00"').encode(), ("ok", "transactions")),
        ("ambiguous_dayfirst_dates", "a.csv", g.replace("2011-01-01 09:00", "01/02/2011 09:00")
         .replace("2011-01-20 10:30", "03/04/2011 10:30").replace("2011-01-15 11:00", "05/06/2011 11:00").encode(),
         ("ok", "transactions")),
        ("ragged_rows", "r.csv", (g + "1004,C3,Lamp,1,2011-01-21 13:00,9.00,0100,UK,extra,fields\n").encode(),
         ("ok", "transactions")),
        # ---- structurally valid, but not usable as transactions
        ("no_customer_column", "n.csv", _frame().drop(columns="CustomerID").to_csv(index=False).encode(),
         ("ok", "customers")),
        ("no_date_column", "n.csv", _frame().drop(columns="InvoiceDate").to_csv(index=False).encode(),
         ("ok", "customers")),
        ("all_null_ids", "n.csv", _frame().assign(CustomerID="").to_csv(index=False).encode(),
         ("error", "No usable rows.*no customer id")),
        ("unparseable_dates", "d.csv", _frame().assign(InvoiceDate=["soon", "later", "never"]).to_csv(index=False)
         .encode(), ("error", "not dates")),
        ("far_future_dates", "f.csv", _frame().assign(InvoiceDate=["2999-01-01", "2999-02-01", "2999-03-01"])
         .to_csv(index=False).encode(), ("error", "No usable rows.*1970 or more than a year")),
        ("only_negative_prices", "n.csv", _frame().assign(UnitPrice=["-1", "-2", "-3"]).to_csv(index=False).encode(),
         ("error", "No usable rows.*price or amount is zero or negative")),
        ("only_returns", "r.csv", _frame().assign(Quantity=["-1", "-2", "-3"]).to_csv(index=False).encode(),
         ("error", "No usable rows.*cancellation or return")),
        ("mixed_types_in_quantity", "m.csv", _frame().assign(Quantity=["2", "three", "1.5"]).to_csv(index=False)
         .encode(), ("ok", "transactions")),
        # ---- tiny and huge shapes
        ("one_row", "o.csv", _frame(1).to_csv(index=False).encode(), ("ok", "transactions")),
        ("one_customer", "o.csv", _frame(2).to_csv(index=False).encode(), ("ok", "transactions")),
        ("ten_thousand_columns", "wide.csv", _wide(), ("ok", "transactions")),
        ("extremely_long_strings", "l.csv", g.replace("Teapot", "T" * 2_000_000).encode(), ("ok", "transactions")),
        # ---- hostile content: stored as text, escaped in exports, never rendered as HTML
        ("formula_cells", "f.csv", g.replace("Teapot", '"=HYPERLINK(""http://x"",""y"")"')
         .replace("0007", "=1+1").encode(), ("ok", "transactions")),
        ("html_js_in_names", "h.csv", g.replace("Mug", "<script>alert(1)</script><b>x</b>").encode(),
         ("ok", "transactions")),
        # ---- Excel and Parquet
        ("excel_empty_first_sheet", "s.xlsx", _xlsx({"Cover": pd.DataFrame(), "Data": _frame()}), ("ok", "transactions")),
        ("excel_all_sheets_empty", "s.xlsx", _xlsx({"A": pd.DataFrame(), "B": pd.DataFrame()}), ("error", "empty")),
        ("parquet_typed", "t.parquet", _parquet(_frame().assign(Quantity=[2, 1, 3], UnitPrice=[5.0, 20.0, 2.0],
                                                                  InvoiceDate=pd.to_datetime(_frame()["InvoiceDate"]))),
         ("ok", "transactions")),
        ("parquet_nested", "n.parquet", _nested_parquet(), ("ok", "transactions")),
        # ---- customer tables
        ("customer_table_leading_zeros", "c.csv", b"CustomerID,Age,Income\n0001,30,50\n0002,40,60\n",
         ("ok", "customers")),
        ("one_column_ids", "i.csv", b"CustomerID\n1\n2\n3\n", ("ok", "customers")),
    ]
    return rows


def oversize_case() -> tuple[str, str, bytes, tuple[str, str]]:
    """Over the upload limit once ``SEGMENTS_MAX_UPLOAD_MB`` is set to 1 by the test."""
    return ("oversize_upload", "big.csv", (GOOD * 40_000).encode(), ("error", "over the 1 MB limit"))
