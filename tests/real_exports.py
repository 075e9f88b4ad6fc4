"""Small hand-made files reproducing real exports that used to be read wrong (issue 9), generated in memory.

Each function returns ``(file name, bytes)``. The shapes follow real exports (a Tableau "Superstore" store export,
a Kaggle sales file with ``11-Feb-13`` dates, the Kaggle latin-1 copy of Online Retail, CDNOW's whitespace-aligned
text, a headerless tab export, the "Groceries" basket log, a German shop export); the values are made up.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

_RNG_SEED = 9


def _rng() -> np.random.Generator:
    return np.random.default_rng(_RNG_SEED)


def superstore(n: int = 400) -> tuple[str, bytes]:
    """Order ids ``CA-2016-152156`` / ``US-2015-108966``: none of them is a cancellation."""
    rng = _rng()
    cust = [f"{a}{b}-{rng.integers(10000, 99999)}" for a, b in zip(rng.choice(list("ABCDEFGH"), 80),
                                                                   rng.choice(list("KLMNOPRS"), 80))]
    rows = []
    for i in range(n):
        y = int(rng.choice([2014, 2015, 2016, 2017]))
        d = pd.Timestamp(f"{y}-01-01") + pd.Timedelta(days=int(rng.integers(0, 360)))
        order = f"{rng.choice(['CA', 'US'], p=[0.8, 0.2])}-{y}-{rng.integers(100000, 999999)}"
        rows.append({"Row ID": i + 1, "Order ID": order, "Order Date": f"{d.month}/{d.day}/{d.year}",
                     "Ship Date": f"{d.month}/{min(d.day + 3, 28)}/{d.year}", "Ship Mode": "Second Class",
                     "Customer ID": cust[i % 80], "Customer Name": f"Name {i % 80}", "Segment": "Consumer",
                     "Country": "United States", "City": "Henderson", "Product ID": f"FUR-BO-1000{i % 50:04d}",
                     "Category": rng.choice(["Furniture", "Technology"]), "Product Name": f"Bookcase {i % 50}",
                     "Sales": round(float(rng.uniform(2, 900)), 4), "Quantity": int(rng.integers(1, 9)),
                     "Discount": 0.2, "Profit": round(float(rng.normal(20, 30)), 4)})
    return "superstore.csv", pd.DataFrame(rows).to_csv(index=False).encode()


def month_name_dates(n: int = 300) -> tuple[str, bytes]:
    """Dates like ``11-Feb-13`` (``%d-%b-%y``)."""
    rng = _rng()
    d = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    df = pd.DataFrame({"Transaction_ID": np.arange(1, n + 1), "Customer_ID": rng.integers(1000, 1060, n),
                       "Date": [x.strftime("%d-%b-%y") for x in d], "Product": rng.choice(["Tea", "Mug"], n),
                       "Total_Amount": rng.uniform(5, 80, n).round(2)})
    return "sales.csv", df.to_csv(index=False).encode()


def latin1_pound_after_first_mb() -> tuple[str, bytes]:
    """A cp1252 export whose first non-ASCII byte (``£``) sits past the first megabyte."""
    line = "{},85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26,2.55,{},United Kingdom\r\n"
    head = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
    body = "".join(line.format(500000 + i, 17000 + i % 300) for i in range(1_300_000 // len(line)))
    tail = "536366,22633,HAND WARMER £ UNION JACK,6,2010-12-01 08:28,1.85,17851,United Kingdom\r\n"
    return "retail_latin1.csv", (head + body + tail).encode("cp1252")


def cdnow_aligned() -> tuple[str, bytes]:
    """CDNOW-like whitespace-aligned text with a header line (``00001  19970101  1  11.77``)."""
    text = (" customer_id  date number_of_cds  dollar_value\r\n"
            " 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n 00002 19970112  5   77.00\r\n"
            " 00003 19970102  2   20.76\r\n 00003 19970330  2   20.76\r\n 00003 19970402  2   19.54\r\n"
            " 00004 19970101  2   29.33\r\n 00004 19970118  2   29.73\r\n")
    return "CDNOW_master.txt", text.encode()


def cdnow_sample_headerless() -> tuple[str, bytes]:
    """CDNOW_sample-like: no header row, whitespace-aligned, five columns (master id, sample id, date, cds, $)."""
    text = ("00004 0001 19970101  2   29.33\n00004 0001 19970118  2   29.73\n00004 0001 19970802  1   14.96\n"
            "00018 0002 19970101  2   26.48\n00021 0003 19970101  3   63.34\n00021 0003 19970113  4   46.88\n"
            "00050 0004 19970101  1   11.77\n00071 0005 19970101  1   21.34\n00071 0005 19970504  2   30.02\n")
    return "CDNOW_sample.txt", text.encode()


def headerless_tab(n: int = 200) -> tuple[str, bytes]:
    """A tab file without a header row: ``760\\t25\\t2009-11-06`` (customer, quantity, date)."""
    rng = _rng()
    d = pd.Timestamp("2009-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D")
    lines = [f"{c}\t{q}\t{x.date()}" for c, q, x in zip(rng.integers(700, 760, n), rng.integers(1, 40, n), d)]
    return "export.tsv", ("\n".join(lines) + "\n").encode()


def basket_log(n_members: int = 120, n: int = 2400) -> tuple[str, bytes]:
    """The "Groceries" basket log: ``Member_number,Date,itemDescription`` and no amount at all."""
    rng = _rng()
    members = rng.integers(1000, 1000 + n_members, n)
    d = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    items = rng.choice(["whole milk", "other vegetables", "rolls/buns", "soda", "yogurt", "tropical fruit"], n)
    df = pd.DataFrame({"Member_number": members, "Date": [x.strftime("%d-%m-%Y") for x in d],
                       "itemDescription": items})
    return "Groceries_dataset.csv", df.to_csv(index=False).encode()


def german_export(headers: tuple[str, ...] = ("Kundennummer", "Datum", "Menge", "Umsatz")) -> tuple[str, bytes]:
    """``Kundennummer;Datum;Menge;Umsatz``, decimal comma, ``31.12.1997``; cp1252."""
    rng = _rng()
    n = 300
    d = pd.Timestamp("1997-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    amounts = rng.uniform(3, 2500, n)
    lines = [";".join(headers)] + [
        f"{k};{x.strftime('%d.%m.%Y')};{q};" + f"{a:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        for k, x, q, a in zip(rng.integers(10001, 10090, n), d, rng.integers(1, 12, n), amounts)]
    return "umsaetze.csv", ("\r\n".join(lines) + "\r\n").encode("cp1252")


def german_expected_revenue() -> float:
    rng = _rng()
    rng.integers(0, 540, 300)
    return float(np.round(rng.uniform(3, 2500, 300), 2).sum())


def elf_bytes() -> tuple[str, bytes]:
    """The first 3 KB of an ELF binary saved as ``.csv`` (a header, then mostly zeros and machine code)."""
    rng = _rng()
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00>\x00\x01\x00\x00\x00" + bytes(40)
    body = bytes(rng.integers(0, 256, 3072 - len(head), dtype=np.uint8))
    body = body[:600] + bytes(800) + body[1400:]
    return "program.csv", head + body


def excel_dates() -> tuple[str, bytes]:
    """An .xlsx with real Excel date cells (and whole-number ids stored as numbers)."""
    df = pd.DataFrame({"InvoiceNo": ["1001", "1002", "1003", "C1003"],
                       "InvoiceDate": pd.to_datetime(["2011-01-01 09:00", "2011-01-20 10:30", "2011-01-15 11:00",
                                                      "2011-01-16 12:00"]),
                       "CustomerID": [12346.0, 12346.0, 12347.0, 12347.0], "Quantity": [2, 1, 3, -3],
                       "UnitPrice": [5.0, 20.0, 2.0, 2.0]})
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    return "retail.xlsx", buf.getvalue()


def excel_serials() -> tuple[str, bytes]:
    """Excel serial day numbers in a date column (``40544.375`` = 2011-01-01 09:00), as CSV exports of sheets do."""
    text = ("order,customer,order_date,total\n1,a,40544.375,10.50\n2,a,40563.4375,20.00\n3,b,40558.5,6.25\n"
            "4,b,40559,3.00\n")
    return "serials.csv", text.encode()
