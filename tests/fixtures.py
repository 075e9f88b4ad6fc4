"""A 7-row transactions table whose cleaning and RFM are checked by hand, written in several file formats.

customer 0042: invoices 1001 (2011-01-01, 2×5.00) and 1002 (2011-01-20, 1×20.00)  -> R 2, F 2, M 30.00
customer 0007: invoice 1003 (2011-01-15, 3×2.00); its cancellation C1003 is dropped -> R 7, F 1, M 6.00
customer 0100: invoice 1004 (2011-01-21), two lines 1×100.00 + 2×1.00                -> R 1, F 1, M 102.00
one line without a customer id is dropped. Snapshot = 2011-01-22 (day after the last purchase).
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

EXPECTED_RFM = {  # customer -> (recency_days, frequency, monetary)
    "0042": (2, 2, 30.0), "0007": (7, 1, 6.0), "0100": (1, 1, 102.0),
}
DATES = ["2011-01-01 09:00", "2011-01-20 10:30", "2011-01-15 11:00", "2011-01-16 12:00", "2011-01-21 13:00",
         "2011-01-21 13:00", "2011-01-05 08:00"]


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "InvoiceNo": ["1001", "1002", "1003", "C1003", "1004", "1004", "1005"],
        "StockCode": ["A1", "B2", "A1", "A1", "C3", "D4", "A1"],
        "Description": ["Café mug £", "Teapot", "Café mug £", "Café mug £", "Lamp", "Card", "Café mug £"],
        "Quantity": [2, 1, 3, -1, 1, 2, 5],
        "InvoiceDate": DATES,
        "UnitPrice": [5.0, 20.0, 2.0, 2.0, 100.0, 1.0, 5.0],
        "CustomerID": ["0042", "0042", "0007", "0007", "0100", "0100", None],
        "Country": ["United Kingdom"] * 7,
    })


def _dates(fmt: str) -> list[str]:
    return [pd.Timestamp(d).strftime(fmt) for d in DATES]


def as_bytes(variant: str) -> tuple[str, bytes]:
    """(file name, content) of the fixture in one of the formats real exports come in."""
    df = frame()
    if variant == "csv_utf8":
        return "t.csv", df.to_csv(index=False).encode()
    if variant == "csv_bom_tab":
        return "t.tsv", df.to_csv(index=False, sep="\t").encode("utf-8-sig")
    if variant == "csv_latin1_semicolon_dayfirst_comma":
        d = df.assign(InvoiceDate=_dates("%d/%m/%Y %H:%M"),
                      UnitPrice=[f"{p:.2f}".replace(".", ",") for p in df["UnitPrice"]])
        return "t.csv", d.to_csv(index=False, sep=";").encode("cp1252")
    if variant == "csv_us_dates_pipe":
        d = df.assign(InvoiceDate=[f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}" for t in pd.to_datetime(DATES)])
        return "t.csv", d.to_csv(index=False, sep="|").encode()
    if variant == "csv_yyyymmdd_retail_ii":
        d = df.rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})
        d["InvoiceDate"] = _dates("%Y%m%d")
        return "t.csv", d.to_csv(index=False).encode()
    if variant == "csv_utf16":
        return "t.csv", df.to_csv(index=False).encode("utf-16")
    if variant == "excel":
        buf = io.BytesIO()
        df.to_excel(buf, index=False)
        return "t.xlsx", buf.getvalue()
    if variant == "parquet":
        buf = io.BytesIO()
        df.assign(InvoiceDate=pd.to_datetime(df["InvoiceDate"])).to_parquet(buf, index=False)
        return "t.parquet", buf.getvalue()
    raise KeyError(variant)


VARIANTS = ["csv_utf8", "csv_bom_tab", "csv_latin1_semicolon_dayfirst_comma", "csv_us_dates_pipe",
            "csv_yyyymmdd_retail_ii", "csv_utf16", "excel", "parquet"]


def responses(n: int = 400, seed: int = 0, yes="yes", no="no") -> pd.DataFrame:
    """A coupon-response history: young people accept 'Coffee', older people 'Dinner' (85% of the time)."""
    rng = np.random.default_rng(seed)
    age = rng.choice(["below21", "26", "50plus"], n)
    coupon = rng.choice(["Coffee", "Dinner"], n)
    likes = np.where(coupon == "Coffee", age == "below21", age != "below21")
    accepted = np.where(rng.random(n) < 0.85, likes, ~likes)
    return pd.DataFrame({"age": age, "income": rng.integers(10, 100, n), "coupon": coupon,
                         "accepted": np.where(accepted, yes, no)})
