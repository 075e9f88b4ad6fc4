"""Exports of shop and payment platforms, and order-level fields carried to every line of their order.

A platform export (Shopify, WooCommerce, Magento / Adobe Commerce, BigCommerce, Square, Stripe, PayPal, Etsy) is
recognised by its headers *and* its content: most of the export's documented columns are present, and its status
column holds the platform's status words, its date column dates and its money column numbers. Each platform is data
(:data:`PLATFORMS`): which columns play which role, which statuses are not purchases (pending, voided, failed…),
where refunds are written, which fields only an order's first line carries.

:func:`prepare_orders` runs before cleaning types the raw table, in SQL on the cleaning connection:

* **Order-level fields filled within an order**, for any file (:mod:`pipeline.ingest.orderfill`, a rule by shape,
  not by name): the customer, date or country written on some lines of an order only take the order's one value.
* **Platform rules**: unpaid orders (pending, voided, failed) and lines that are no sales (PayPal withdrawals,
  holds, currency conversions) are left out with a note; refunds written as an amount on the order (or line) become
  return lines, as cleaning represents returns (negative quantity or amount).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipeline.ingest.dates import detect_date_format
from pipeline.ingest.db import quote_ident
from pipeline.ingest.orderfill import (
    blank_sql,
    fill_decision,
    fill_orders,
    may_need_fill,
)
from pipeline.ingest.values import decimal_comma, profile_column

__all__ = ["PLATFORMS", "Platform", "platform_mapping", "prepare_orders", "recognise"]

#: share of the sampled status (or kind) values that must be the platform's own words
VOCABULARY_SHARE = 0.8


def _norm(name: object) -> str:
    """A header or status lower-cased with everything but letters and digits removed (``Paid at`` -> ``paidat``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class Platform:
    """One platform export: its documented headers (normalised), roles, statuses and refund columns.

    ``roles`` maps a role of :data:`pipeline.config.ROLES` to candidate headers, the first present one wins (for the
    customer, the one most filled in the sample). ``refund`` is the refunded amount (per order, or per line when
    ``refund_qty`` is given); ``refund_base``/``refund_adjusted``: the refund is base minus adjusted total.
    ``kind``: a column telling sales from other money movements (PayPal's Type), with ``payer_on_refund`` the
    buyer's column on refund lines.
    """

    key: str
    label: str
    markers: tuple[str, ...]
    roles: dict[str, tuple[str, ...]]
    status: tuple[str, ...] = ()
    vocabulary: frozenset[str] = frozenset()
    unpaid: frozenset[str] = frozenset()
    refund: tuple[str, ...] = ()
    refund_qty: tuple[str, ...] = ()
    refund_base: tuple[str, ...] = ()
    refund_adjusted: tuple[str, ...] = ()
    order_level: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    memo: tuple[str, ...] = ()
    payer_on_refund: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


_SALE_WORDS = ("payment", "sale", "order", "donation", "subscription", "purchase", "checkout", "invoice")
_RETURN_WORDS = ("refund", "reversal", "chargeback")
_OTHER_WORDS = ("hold", "withdraw", "conversion", "transfer", "authori", "fee", "deposit", "tax", "payout")

PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "shopify", "Shopify orders export",
        ("name", "email", "financialstatus", "paidat", "fulfillmentstatus", "currency", "subtotal", "total",
         "createdat", "lineitemquantity", "lineitemname", "lineitemprice", "lineitemsku", "refundedamount",
         "billingname", "shippingcountry", "cancelledat", "paymentmethod"),
        {"customer_id": ("email",), "invoice_id": ("name", "ordernumber", "orderid", "id"),
         "date": ("createdat", "paidat"),
         "quantity": ("lineitemquantity",), "unit_price": ("lineitemprice",), "product_name": ("lineitemname",),
         "product_id": ("lineitemsku",), "country": ("shippingcountry", "billingcountry")},
        status=("financialstatus",),
        vocabulary=frozenset({"pending", "authorized", "partiallypaid", "paid", "partiallyrefunded", "refunded",
                              "voided", "expired"}),
        unpaid=frozenset({"pending", "voided", "expired"}),
        refund=("refundedamount", "amountrefunded"),
        order_level=("email", "financialstatus", "paidat", "currency", "createdat", "shippingcountry",
                     "billingcountry", "cancelledat")),
    Platform(
        "woocommerce", "WooCommerce orders export",
        ("orderid", "ordernumber", "orderdate", "status", "shippingtotal", "taxtotal", "ordertotal",
         "refundedtotal", "ordercurrency", "paymentmethod", "customerid", "billingemail", "billingfirstname",
         "billingcountry", "itemname", "itemsku", "itemquantity", "itemtotal", "itemrefunded", "itemrefundedqty"),
        {"customer_id": ("billingemail", "customerid"), "invoice_id": ("ordernumber", "orderid"),
         "date": ("orderdate", "date"), "quantity": ("itemquantity",), "amount": ("itemtotal", "ordertotal"),
         "product_name": ("itemname",), "product_id": ("itemsku", "itemproductid"),
         "country": ("billingcountry", "shippingcountry")},
        status=("status", "orderstatus"),
        vocabulary=frozenset({p + s for p in ("", "wc") for s in (
            "pending", "processing", "onhold", "completed", "cancelled", "refunded", "failed", "checkoutdraft",
            "trash")}),
        unpaid=frozenset({p + s for p in ("", "wc") for s in (
            "pending", "onhold", "cancelled", "failed", "checkoutdraft", "trash")}),
        refund=("itemrefunded",), refund_qty=("itemrefundedqty",),
        order_level=("billingemail", "customerid", "orderdate", "status", "ordercurrency", "billingcountry")),
    Platform(
        "magento", "Magento / Adobe Commerce orders export",
        ("id", "purchasepoint", "purchasedate", "billtoname", "shiptoname", "grandtotalbase", "grandtotalpurchased",
         "status", "billingaddress", "shippingaddress", "shippinginformation", "customeremail", "customergroup",
         "subtotal", "shippingandhandling", "customername", "paymentmethod", "totalrefunded"),
        {"customer_id": ("customeremail",), "invoice_id": ("id",), "date": ("purchasedate",),
         "amount": ("grandtotalpurchased", "grandtotalbase")},
        status=("status",),
        vocabulary=frozenset({"pending", "pendingpayment", "processing", "complete", "closed", "canceled",
                              "cancelled", "onhold", "holded", "suspectedfraud", "fraud", "paymentreview"}),
        unpaid=frozenset({"pending", "pendingpayment", "canceled", "cancelled", "suspectedfraud", "fraud",
                          "paymentreview"}),
        refund=("totalrefunded",)),
    Platform(
        "bigcommerce", "BigCommerce orders export",
        ("orderid", "customerid", "customername", "customeremail", "customerphone", "orderdate", "orderstatus",
         "subtotalinctax", "subtotalextax", "taxtotal", "shippingcostinctax", "ordertotalinctax", "ordertotalextax",
         "paymentmethod", "totalquantity", "ordercurrencycode", "productdetails", "refundamount"),
        {"customer_id": ("customeremail", "billingemail", "customerid"), "invoice_id": ("orderid",),
         "date": ("orderdate",), "quantity": ("totalquantity",), "amount": ("ordertotalinctax", "ordertotalextax"),
         "country": ("shippingcountry", "billingcountry")},
        status=("orderstatus",),
        vocabulary=frozenset({"pending", "awaitingpayment", "awaitingfulfillment", "awaitingshipment",
                              "awaitingpickup", "partiallyshipped", "shipped", "completed", "cancelled", "declined",
                              "refunded", "partiallyrefunded", "disputed", "manualverificationrequired",
                              "incomplete"}),
        unpaid=frozenset({"pending", "awaitingpayment", "cancelled", "declined", "incomplete"}),
        refund=("refundamount",)),
    Platform(
        "square", "Square item sales export",
        ("date", "time", "timezone", "category", "item", "qty", "pricepointname", "sku", "modifiersapplied",
         "grosssales", "discounts", "netsales", "tax", "transactionid", "paymentid", "devicename", "eventtype",
         "location", "customerid", "customername"),
        {"customer_id": ("customerid", "customerreferenceid"), "invoice_id": ("transactionid",), "date": ("date",),
         "quantity": ("qty",), "amount": ("grosssales", "netsales"), "product_name": ("item",),
         "product_id": ("sku",), "category": ("category",)},
        status=("eventtype",), vocabulary=frozenset({"payment", "refund", "exchange"}),
        notes=("Refunds are its own lines (negative quantity and gross sales): read as returns.",)),
    Platform(
        "stripe", "Stripe payments export",
        ("id", "createddateutc", "amount", "amountrefunded", "currency", "captured", "convertedamount", "fee",
         "status", "customerid", "customeremail", "customerdescription", "paymentintentid", "sellermessage",
         "declinereason", "description", "cardbrand"),
        {"customer_id": ("customerid", "customeremail"), "invoice_id": ("id", "paymentintentid"),
         "date": ("createddateutc", "createdutc", "created"), "amount": ("amount",)},
        status=("status",),
        vocabulary=frozenset({"paid", "refunded", "partiallyrefunded", "failed", "canceled", "cancelled",
                              "uncaptured", "pending", "disputed", "blocked", "succeeded", "expired", "incomplete"}),
        unpaid=frozenset({"failed", "canceled", "cancelled", "uncaptured", "pending", "blocked", "expired",
                          "incomplete"}),
        refund=("amountrefunded",)),
    Platform(
        "paypal", "PayPal activity download",
        ("date", "time", "timezone", "name", "type", "status", "currency", "gross", "fee", "net",
         "fromemailaddress", "toemailaddress", "transactionid", "referencetxnid", "itemtitle", "invoicenumber",
         "balance", "balanceimpact"),
        {"customer_id": ("fromemailaddress",), "invoice_id": ("transactionid",), "date": ("date",),
         "amount": ("gross",), "product_name": ("itemtitle",), "product_id": ("itemid",),
         "country": ("countrycode", "country")},
        status=("status",),
        vocabulary=frozenset({"completed", "pending", "denied", "reversed", "refunded", "partiallyrefunded",
                              "canceled", "cancelled", "held", "unclaimed", "removed", "placed", "cleared", "failed",
                              "voided", "expired", "returned", "uncleared"}),
        unpaid=frozenset({"pending", "denied", "failed", "voided", "canceled", "cancelled", "expired", "unclaimed",
                          "held", "removed", "placed", "returned"}),
        kind=("type",), memo=("balanceimpact",), payer_on_refund=("toemailaddress",),
        notes=("On a refund line the buyer is the recipient (`To Email Address`).",)),
    Platform(
        "etsy_orders", "Etsy sold orders export",
        ("saledate", "orderid", "buyeruserid", "fullname", "numberofitems", "paymentmethod", "dateshipped",
         "shipcountry", "currency", "ordervalue", "discountamount", "shipping", "salestax", "ordertotal", "status",
         "cardprocessingfees", "ordernet", "adjustedordertotal", "adjustednetorderamount", "buyer"),
        {"customer_id": ("buyeruserid", "buyer"), "invoice_id": ("orderid",), "date": ("saledate", "datepaid"),
         "quantity": ("numberofitems",), "amount": ("ordertotal", "ordervalue"), "country": ("shipcountry",)},
        refund_base=("ordertotal",), refund_adjusted=("adjustedordertotal",)),
    Platform(
        "etsy_items", "Etsy sold order items export",
        ("saledate", "itemname", "buyer", "quantity", "price", "couponcode", "discountamount", "itemtotal",
         "currency", "transactionid", "listingid", "datepaid", "dateshipped", "shipname", "shipcountry", "orderid",
         "variations", "ordertype", "paymenttype", "sku"),
        {"customer_id": ("buyer",), "invoice_id": ("orderid",), "date": ("saledate", "datepaid"),
         "quantity": ("quantity",), "unit_price": ("price",), "amount": ("itemtotal",),
         "product_name": ("itemname",), "product_id": ("sku", "listingid"), "country": ("shipcountry",)},
        order_level=("buyer", "saledate", "datepaid", "currency", "shipcountry")),
)


def _present(columns: list[str]) -> dict[str, str]:
    """Normalised header -> the file's column (the first of equal ones)."""
    out: dict[str, str] = {}
    for c in columns:
        out.setdefault(_norm(c), c)
    return out


def _first(names: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    return next((names[c] for c in candidates if c in names), None)


def _values(sample: pd.DataFrame | None, col: str | None) -> pd.Series:
    if sample is None or col is None or col not in sample.columns:
        return pd.Series(dtype=object)
    v = sample[col]
    v = v.iloc[:, 0] if isinstance(v, pd.DataFrame) else v
    v = v.dropna().astype(str).str.strip()
    return v[v != ""]


def _content_fits(p: Platform, names: dict[str, str], sample: pd.DataFrame | None) -> bool:
    """The export's content, not only its headers: status words of the platform, dates, numbers."""
    if sample is None or sample.empty:
        return True
    status = _values(sample, _first(names, p.status))
    if p.vocabulary and len(status) and status.map(_norm).isin(p.vocabulary).mean() < VOCABULARY_SHARE:
        return False
    dates = _values(sample, _first(names, p.roles.get("date", ())))
    if len(dates) and detect_date_format(dates, serials=True)[1] < VOCABULARY_SHARE:
        return False
    money = _first(names, p.roles.get("amount", ()) or p.roles.get("unit_price", ()))
    values = _values(sample, money)
    return not len(values) or profile_column(money, values).numeric >= VOCABULARY_SHARE


def recognise(columns: list[str], sample: pd.DataFrame | None = None) -> Platform | None:
    """The platform whose export this is: at least 60% (and 4) of its documented headers are present (or, in an
    export cut down to a few columns, at least 6 of them make up 75% of the file's), and the content agrees
    (:func:`_content_fits`); the best-covered platform when several do. None for any other file."""
    names = _present(columns)
    scored = []
    for p in PLATFORMS:
        hits = sum(m in names for m in p.markers)
        share = hits / len(p.markers)
        if hits >= 4 and (share >= 0.6 or (hits >= 6 and hits >= 0.75 * len(names))):
            scored.append((share, hits, p))
    for _, _, p in sorted(scored, key=lambda t: (t[0], t[1]), reverse=True):
        if _content_fits(p, names, sample):
            return p
    return None


def platform_mapping(p: Platform, columns: list[str], sample: pd.DataFrame | None = None
                     ) -> tuple[dict[str, str | None], dict[str, str]]:
    """(role -> column, role -> reason) of a recognised export. The customer is the most filled of its candidate
    columns in the sample (e-mail or customer id); every other role takes its first present candidate."""
    names = _present(columns)
    mapping: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    for role, candidates in p.roles.items():
        present = [names[c] for c in candidates if c in names and names[c] not in mapping.values()]
        if not present:
            continue
        col = present[0]
        if role == "customer_id" and sample is not None and len(present) > 1:
            col = max(present, key=lambda c: (len(_values(sample, c)), -present.index(c)))
        mapping[role] = col
        reasons[role] = f"`{col}` — the {_ROLE_WORDS.get(role, role)} of a {p.label}"
    if "amount" not in mapping and "quantity" in mapping and "unit_price" in mapping:
        reasons["unit_price"] += f"; amount = `{mapping['quantity']}` × `{mapping['unit_price']}`"
    return mapping, reasons


_ROLE_WORDS = {"customer_id": "customer (e-mail or customer id)", "invoice_id": "order number", "date": "order date",
               "quantity": "quantity", "unit_price": "line price", "amount": "amount", "product_name": "item name",
               "product_id": "item SKU", "category": "category", "country": "country"}


# --- platform rules: unpaid orders, lines that are no sales, refunds ----------------------------------------------

def _negative(expr: str) -> str:
    """SQL: the text value reads as a negative number (``-12.50``, ``$-12.50``, ``-$12.50``, ``(12.50)``)."""
    s = f"regexp_replace(trim({expr}), '[^0-9.,()-]', '', 'g')"
    return f"({s} LIKE '-%' OR {s} LIKE '(%)')"


def _nonzero(expr: str) -> str:
    return f"(regexp_replace(coalesce({expr}, ''), '[^1-9]', '', 'g') <> '')"


def _positive_text(expr: str) -> str:
    """The text of an amount without its sign (``-12.50``, ``$-12.50``, ``(12.50)`` -> ``12.50``, ``$12.50``)."""
    return f"regexp_replace(trim({expr}), '[-()]', '', 'g')"


def _number(expr: str, comma: bool) -> str:
    s = f"regexp_replace(coalesce({expr}, ''), '[^0-9.,-]', '', 'g')"
    s = f"replace(replace({s}, '.', ''), ',', '.')" if comma else f"replace({s}, ',', '')"
    return f"TRY_CAST({s} AS DOUBLE)"


@dataclass(frozen=True)
class _Cols:
    """The file's columns a platform's rules use (None: absent)."""

    status: str | None
    refund: str | None
    refund_qty: str | None
    base: str | None
    adjusted: str | None
    kind: str | None
    memo: str | None
    payer: str | None
    order_level: tuple[str, ...]

    @classmethod
    def of(cls, p: Platform, columns: list[str]) -> _Cols:
        n = _present(columns)
        adjusted = _first(n, p.refund_adjusted)
        return cls(_first(n, p.status), _first(n, p.refund), _first(n, p.refund_qty),
                   _first(n, p.refund_base) if adjusted else None, adjusted, _first(n, p.kind), _first(n, p.memo),
                   _first(n, p.payer_on_refund), tuple(n[c] for c in p.order_level if c in n))


def _conditions(p: Platform, c: _Cols, m: dict[str, str | None]) -> tuple[str, str]:
    """SQL (not a sale, unpaid) over a raw line."""
    not_sale = "FALSE"
    if c.kind and m.get("amount"):
        kind, neg = f"lower(coalesce({quote_ident(c.kind)}, ''))", _negative(quote_ident(m["amount"]))
        words = lambda ws: "(" + " OR ".join(f"{kind} LIKE '%{w}%'" for w in ws) + ")"
        sale = f"(NOT {neg} AND {words(_SALE_WORDS)} AND NOT {words(_OTHER_WORDS)})"
        ret = f"({neg} AND {words(_RETURN_WORDS)} AND NOT {words(('hold',))})"
        not_sale = f"NOT coalesce({sale} OR {ret}, FALSE)"
        if c.memo:
            not_sale = f"({not_sale} OR lower(trim(coalesce({quote_ident(c.memo)}, ''))) = 'memo')"
    unpaid = "FALSE"
    if c.status and p.unpaid:
        words = ", ".join(f"'{s}'" for s in sorted(p.unpaid))
        unpaid = f"coalesce(regexp_replace(lower({quote_ident(c.status)}), '[^a-z0-9]', '', 'g') IN ({words}), FALSE)"
    elif c.status:      # a platform without a list of unpaid words: cancelled orders are no purchases
        unpaid = f"coalesce(lower({quote_ident(c.status)}) LIKE '%cancel%', FALSE)"
    return not_sale, unpaid


def _refund_rows(p: Platform, c: _Cols, m: dict[str, str | None], columns: list[str], src: str,
                 comma: bool) -> str | None:
    """SQL of the return lines (the file's columns, then ``_rn``: the refunded amount as a number) from refund
    amounts written on orders or lines; None when the export writes none or the mapping has no money to put them in."""
    if not (c.refund or c.adjusted) or not (m.get("amount") or (m.get("quantity") and m.get("unit_price"))):
        return None
    inv = m.get("invoice_id")
    if c.adjusted:      # refund = total - adjusted total; adjusted 0 is a full refund only where the column is used
        base, adj = _number(quote_ident(c.base), comma), _number(quote_ident(c.adjusted), comma)
        used = f"max(abs(coalesce({adj}, 0))) OVER () > 0"
        refund_num = (f"CASE WHEN {adj} IS NOT NULL AND {adj} < {base} AND ({adj} > 0 OR {used}) "
                      f"THEN round({base} - {adj}, 2) END")
        text = f"CAST({refund_num} AS VARCHAR)"
        refund_text = f"replace({text}, '.', ',')" if comma else text
    else:
        r = quote_ident(c.refund)
        refund_text = f"CASE WHEN {_nonzero(r)} THEN {_positive_text(r)} END"
        refund_num = f"CASE WHEN {_nonzero(r)} THEN abs({_number(r, comma)}) END"
    fixed = {m.get("quantity"): "'-1'", m.get("product_name"): "'Refund'"}
    if c.refund_qty and m.get("quantity"):
        q = quote_ident(c.refund_qty)
        fixed[m["quantity"]] = f"CASE WHEN {_nonzero(q)} THEN '-' || {_positive_text(q)} ELSE '-1' END"
    if m.get("amount"):
        fixed[m["amount"]] = "'-' || _r"
    if m.get("unit_price"):
        fixed[m["unit_price"]] = "_r"
    keep = [col for col in columns if col in {m.get("customer_id"), m.get("date"), m.get("country"), inv,
                                                *c.order_level} and col not in fixed]
    if c.refund_qty or c.adjusted or not inv:   # refunds on lines (or one line per order): one return each
        own = {col: quote_ident(col) for col in keep}
        inner = f"SELECT *, {refund_text} AS _r, {refund_num} AS _rn FROM {src}"
    else:                             # refunds written on the order: one return line per order
        key = blank_sql(inv)
        own = {col: (f"_v{i}" if col != inv else "_k") for i, col in enumerate(keep)}
        aggs = "".join(f", max({quote_ident(col)}) AS _v{i}" for i, col in enumerate(keep) if col != inv)
        inner = (f"SELECT {key} AS _k{aggs}, max({refund_text}) AS _r, max({refund_num}) AS _rn FROM {src} "
                 f"WHERE {key} IS NOT NULL GROUP BY {key}")
    cols = [f"{fixed[col] if col in fixed else own.get(col, 'CAST(NULL AS VARCHAR)')} AS {quote_ident(col)}"
            for col in columns]
    return f"SELECT {', '.join(cols)}, _rn FROM ({inner}) WHERE _r IS NOT NULL AND _rn > 0"


def _apply_platform(con: duckdb.DuckDBPyConnection, src: str, columns: list[str], m: dict[str, str | None],
                    p: Platform, sample: pd.DataFrame | None, notes: list[str]) -> str:
    """Table ``_orders_ready``: the sales of ``src`` (unpaid orders and other money movements left out, each
    counted in a note) and one return line per refund; PayPal-like refund lines carry the buyer as customer."""
    c = _Cols.of(p, columns)
    not_sale, unpaid = _conditions(p, c, m)
    if not_sale == unpaid == "FALSE" and not (c.refund or c.adjusted) and not c.payer:
        return src
    money = m.get("amount") or m.get("unit_price")
    comma = bool(money) and decimal_comma(_values(sample, money))
    inv = blank_sql(m["invoice_id"]) if m.get("invoice_id") else "NULL"
    n_other, n_unpaid, n_orders = con.execute(
        f"SELECT sum(CASE WHEN {not_sale} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN NOT ({not_sale}) AND {unpaid} THEN 1 ELSE 0 END), "
        f"count(DISTINCT CASE WHEN NOT ({not_sale}) AND {unpaid} THEN {inv} END) FROM {src}").fetchone()
    if n_other:
        kinds = con.execute(f"SELECT {quote_ident(c.kind)}, count(*) FROM {src} WHERE {not_sale} "
                            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3").fetchall() if c.kind else []
        ex = ", ".join(f"{k!r} ×{n}" for k, n in kinds)
        notes.append(f"{n_other:,} lines are no sales (e.g. {ex}): money moved for other reasons, left out.")
    if n_unpaid:
        st = con.execute(f"SELECT {quote_ident(c.status)}, count(*) FROM {src} WHERE NOT ({not_sale}) AND {unpaid} "
                         "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 4").fetchall()
        ex = ", ".join(f"{s!r} ×{n}" for s, n in st)
        notes.append(f"{n_unpaid:,} lines of {n_orders:,} orders are not purchases: payment not made "
                     f"(`{c.status}`: {ex}); left out.")
    kept = f"SELECT * FROM {src} WHERE NOT ({not_sale}) AND NOT ({unpaid})"
    if c.payer and m.get("customer_id") and m.get("amount"):
        cust = m["customer_id"]
        sel = ", ".join(
            f"CASE WHEN {_negative(quote_ident(m['amount']))} AND {blank_sql(c.payer)} IS NOT NULL "
            f"THEN {quote_ident(c.payer)} ELSE {quote_ident(cust)} END AS {quote_ident(cust)}" if col == cust
            else quote_ident(col) for col in columns)
        kept = f"SELECT {sel} FROM ({kept})"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _orders_sales AS {kept}")
    refunds = _refund_rows(p, c, m, columns, "_orders_sales", comma)
    body = "SELECT * FROM _orders_sales"
    if refunds is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _orders_refunds AS {refunds}")
        n_ref, total = con.execute("SELECT count(*), coalesce(sum(_rn), 0) FROM _orders_refunds").fetchone()
        if n_ref:
            body += f" UNION ALL SELECT {', '.join(quote_ident(col) for col in columns)} FROM _orders_refunds"
            notes.append(f"{n_ref:,} refunds ({total:,.2f} in all) were read as returns: one return line each, "
                         "dated on its order.")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _orders_ready AS {body}")
    return "_orders_ready"


def prepare_orders(con: duckdb.DuckDBPyConnection, table: str, mapping: dict[str, str | None],
                   sample: pd.DataFrame | None = None, columns: list[str] | None = None) -> tuple[str, list[str]]:
    """The table cleaning should read instead of ``table``, and the notes saying what was done: order-level fields
    filled within an order (any file, see :func:`fill_decision`), and a recognised platform's rules (unpaid orders
    and other money movements left out, refunds as return lines). ``table`` itself when nothing applies.

    ``sample``: rows spread over the table (a file whose sample shows no blank in the order-level columns is not
    looked at again); ``columns``: the table's columns when known."""
    columns = columns or [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    m = {role: col for role, col in mapping.items() if col and col in columns}
    p = recognise(columns, sample)
    notes: list[str] = []
    try:
        return _prepare(con, table, columns, m, p, sample, notes), notes
    except duckdb.Error as e:       # never fail cleaning over these rules; a decoding error is the reader's to fix
        if "unicode" in str(e).lower():
            raise
        what = f"the {p.label} rules" if p is not None else "carrying order-level fields to every line"
        return table, [f"The file is read as it is: {what} could not be applied ({str(e).splitlines()[0][:120]})."]


def _prepare(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], m: dict[str, str],
             p: Platform | None, sample: pd.DataFrame | None, notes: list[str]) -> str:
    src = table
    order = m.get("invoice_id")
    if order:
        extra = _Cols.of(p, columns).order_level if p is not None else ()
        wanted = [m.get("customer_id"), m.get("date"), m.get("country"), *extra]
        wanted = [c for c in dict.fromkeys(wanted) if c and c != order]
        fill = fill_decision(con, table, order, wanted) if may_need_fill(sample, order, wanted) else []
        if fill:
            src = fill_orders(con, table, columns, order, fill, notes)
    if p is not None:
        src = _apply_platform(con, src, columns, m, p, sample, notes)
        notes.insert(0, _platform_note(p, m))
    return src


def _platform_note(p: Platform, m: dict[str, str]) -> str:
    """"Read as a Shopify orders export: …" with the columns read as customer, order, date and amount."""
    amount = (f"`{m['amount']}`" if m.get("amount") else
              f"`{m['quantity']}` × `{m['unit_price']}`" if m.get("quantity") and m.get("unit_price") else "items")
    roles = "; ".join(f"{what} `{m[r]}`" for r, what in (("customer_id", "customers by"), ("invoice_id", "orders by"),
                                                        ("date", "dated by")) if m.get(r))
    return " ".join([f"Read as a {p.label}: {roles}; amount {amount}.", *p.notes])
