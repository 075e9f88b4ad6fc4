"""Which upload column plays which role (customer id, date, amount, …), and what kind of table a file is.

Guessing a mapping from column names (and, for dates, from values), checking a mapping the user chose, choosing
between *transactions* and a *customer table*, and finding a customer table's id column all belong here. Rules that
read values (dates, numbers, ids) are owned by :mod:`pipeline.ingest.dates` and :mod:`pipeline.ingest.values`;
content-aware role guessing and the reasons shown for each guess also have their home here.
"""
from __future__ import annotations

import re

import pandas as pd

from pipeline.config import ROLES
from pipeline.errors import DataError
from pipeline.ingest.dates import detect_date_format

__all__ = ["SYNONYMS", "normalize_name", "guess_mapping", "guess_customer_id", "detect_kind", "validate_mapping"]

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


def normalize_name(name: str) -> str:
    """A column name lower-cased with everything but letters and digits removed (``"Customer ID"`` -> ``customerid``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _looks_like_dates(values: pd.Series) -> bool:
    v = values.dropna().astype(str).head(200)
    return len(v) > 0 and detect_date_format(v)[1] >= 0.9


def _partial_ok(role: str, name: str) -> bool:
    if role.endswith("_id"):
        return "name" not in name and "date" not in name
    return not name.endswith("id")


def _match_role(role: str, columns: list[str], normed: dict[str, str], used: set[str]) -> str | None:
    """Exact synonym first, then a partial match: "Purchase Amount (USD)" -> amount; ids never match "...name"."""
    hit = next((c for syn in SYNONYMS[role] for c in columns if normed[c] == syn and c not in used), None)
    if hit is None:
        hit = next((c for syn in SYNONYMS[role] if len(syn) >= 5 for c in columns
                    if syn in normed[c] and c not in used and _partial_ok(role, normed[c])), None)
    return hit


def guess_mapping(columns: list[str], sample: pd.DataFrame | None = None) -> dict[str, str | None]:
    """Map each role in :data:`pipeline.config.ROLES` to an upload column (or None) from the column names.

    Exact synonyms win over partial matches; each column is used once. When no column is named like a date,
    a column whose sample values parse as dates is used.
    """
    normed = {c: normalize_name(c) for c in columns}
    used: set[str] = set()
    mapping: dict[str, str | None] = {}
    for role in ROLES:
        hit = _match_role(role, columns, normed, used)
        mapping[role] = hit
        if hit:
            used.add(hit)
    if mapping["date"] is None and sample is not None:
        mapping["date"] = next((c for c in columns if c not in used and _looks_like_dates(sample[c])), None)
    return mapping


def guess_customer_id(sample: pd.DataFrame) -> str | None:
    """The id column of a one-row-per-customer table: an id-like name with unique values, else the first unique column."""
    unique = [c for c in sample.columns if sample[c].notna().all() and sample[c].is_unique]
    named = [c for c in unique if normalize_name(c) in SYNONYMS["customer_id"] + ("id", "customerkey", "key")]
    return (named or unique or [None])[0]


def detect_kind(mapping: dict[str, str | None], sample: pd.DataFrame) -> str:
    """``"transactions"`` with a customer id, a date and an amount or price; otherwise ``"customers"``: a table
    with one row per customer (or per record, e.g. coupon responses) for the clustering and model pages."""
    if mapping.get("date") and mapping.get("customer_id") and (mapping.get("amount") or mapping.get("unit_price")):
        return "transactions"
    return "customers"


def validate_mapping(mapping: dict[str, str | None], columns: list[str]) -> dict[str, str | None]:
    """Check a transactions mapping against the upload's columns; return it with every role present.

    Raises
    ------
    DataError
        A mapped column is missing from the file, one column has two roles, or a required role is unmapped.
    """
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
