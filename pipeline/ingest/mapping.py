"""Which upload column plays which role (customer id, date, amount, …), and what kind of table a file is.

Roles are guessed from the column names (word tokens: ``Member_number``, ``Customer No.``, ``Kunden-Nr``,
``client_code``) *and* from the values of a sample spread over the file (id-like, date-like, money-like,
quantity-like): a name is confirmed or refused by the values, and a role no name claims is filled from the values, so
non-English or missing headers work. Every guess carries a short reason, shown in the mapping form and in ``clean``'s
JSON. Choosing between *transactions* and a *customer table* (with its reason), checking a mapping the user chose and
finding a customer table's id column also belong here. How single values are read is owned by
:mod:`pipeline.ingest.dates` and :mod:`pipeline.ingest.values`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline.config import ROLES
from pipeline.errors import DataError
from pipeline.ingest.dates import DATE_SHARE, describe_format, detect_date_format
from pipeline.ingest.platforms import Platform, platform_mapping, recognise
from pipeline.ingest.values import ColumnProfile, parse_numbers, profile_column

__all__ = ["SYNONYMS", "ROLE_WORDS", "MappingGuess", "normalize_name", "name_tokens", "propose_mapping",
           "guess_mapping", "guess_customer_id", "detect_kind", "validate_mapping"]

#: role -> normalised column names that mean it exactly (lower case, letters and digits only)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "customer", "custid", "cust", "customerno", "customernumber", "customercode",
                    "customerkey", "clientid", "client", "userid", "memberid", "membernumber", "accountid", "buyerid",
                    "shopperid", "kundennummer", "kundennr", "kundenid", "kunde", "idcliente", "cliente"),
    "invoice_id": ("invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "orderno", "ordernumber", "order",
                   "transactionid", "receiptid", "basketid", "billno", "saleid", "rechnungsnummer", "belegnummer"),
    "date": ("invoicedate", "orderdate", "transactiondate", "purchasedate", "date", "datetime", "timestamp",
             "saledate", "createdat", "orderdatetime", "time", "datum", "fecha"),
    "quantity": ("quantity", "qty", "units", "numberofcds", "itemcount", "count", "nitems", "quantityordered",
                 "menge", "anzahl", "cantidad"),
    "unit_price": ("unitprice", "price", "itemprice", "priceeach", "unitcost", "listprice", "preis", "precio"),
    "amount": ("amount", "dollarvalue", "revenue", "sales", "total", "totalprice", "linetotal", "value", "spend",
               "totalamount", "netamount", "ordervalue", "grandtotal", "subtotal", "totalsales", "umsatz", "betrag",
               "importe"),
    "product_id": ("stockcode", "productid", "sku", "itemid", "productcode", "articleid", "itemcode", "product"),
    "product_name": ("description", "productname", "itemname", "itemdescription", "productdescription", "title"),
    "category": ("category", "productcategory", "department", "productline", "categoryname", "itemcategory"),
    "country": ("country", "region", "market", "countrycode", "shippingcountry"),
}

#: role -> words that, as a token of a column name, suggest it (ids also need an id word unless the word is one)
ROLE_WORDS: dict[str, frozenset[str]] = {
    "customer_id": frozenset({"customer", "customers", "cust", "client", "member", "user", "buyer", "shopper",
                              "account", "consumer", "subscriber", "kunde", "kunden", "cliente", "klant"}),
    "invoice_id": frozenset({"invoice", "order", "transaction", "receipt", "basket", "bill", "sale", "ticket",
                             "rechnung", "bestellung", "beleg", "pedido", "factura", "commande", "facture"}),
    "date": frozenset({"date", "datetime", "timestamp", "day", "datum", "fecha", "created", "dt", "time"}),
    "quantity": frozenset({"quantity", "qty", "units", "count", "items", "pieces", "pcs", "menge", "anzahl",
                           "cantidad", "quantite", "cds"}),
    "unit_price": frozenset({"price", "preis", "precio", "prix", "rate"}),
    "amount": frozenset({"amount", "revenue", "sales", "total", "value", "spend", "dollar", "dollars", "umsatz",
                         "betrag", "importe", "montant", "turnover", "paid", "payment"}),
    "product_id": frozenset({"stockcode", "sku", "ean", "upc", "barcode", "article", "artikel"}),
    "product_name": frozenset({"description", "title", "bezeichnung", "beschreibung", "descripcion", "itemname",
                               "productname"}),
    "category": frozenset({"category", "department", "productline", "family", "kategorie", "categoria",
                           "warengruppe"}),
    "country": frozenset({"country", "region", "market", "land", "pais", "nation"}),
}
_ID_WORDS = frozenset({"id", "no", "nr", "number", "num", "code", "key", "ref", "nummer", "numero", "identifier"})
_NOT_ID_WORDS = frozenset({"name", "date", "datum", "time", "description", "type", "email", "mail", "city", "segment"})
#: an e-mail column names the customer (``Email``, ``Customer Email``, ``billing_email``, ``From Email Address``)
#: unless it is the seller's side of the money (``To Email Address``, ``Merchant Email``)
_EMAIL_WORDS = frozenset({"email", "mail", "emailaddress"})
_NOT_BUYER_WORDS = frozenset({"to", "seller", "merchant", "shop", "store", "vendor", "supplier", "staff", "employee"})
_ID_ROLES = ("customer_id", "invoice_id", "product_id")
_NUMBER_ROLES = ("quantity", "unit_price", "amount")
_TEXT_ROLES = ("product_name", "category", "country")
#: columns profiled from their values (a 10,000-column file is mapped by name beyond these)
MAX_PROFILED_COLUMNS = 300


@dataclass(frozen=True)
class MappingGuess:
    """A guessed mapping with a reason per mapped role, the kind of table and why, and a customer table's id."""

    mapping: dict[str, str | None]
    reasons: dict[str, str]
    kind: str
    kind_reason: str
    id_column: str | None = None
    date_format: str | None = None
    notes: list[str] = field(default_factory=list)


def normalize_name(name: str) -> str:
    """A column name lower-cased with everything but letters and digits removed (``"Customer ID"`` -> ``customerid``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def name_tokens(name: str) -> list[str]:
    """The words of a column name: ``Member_number`` -> member, number; ``CustomerID`` -> customer, id;
    ``Kunden-Nr`` -> kunden, nr; ``itemDescription`` -> item, description."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [t for t in re.split(r"[^a-z0-9äöüß]+", spaced.lower()) if t]


def _name_score(role: str, column: str) -> float:
    """How strongly a column name says ``role``: 3 exact synonym, 2 a role word (ids: with an id word), 1 a word
    stem inside a compound (``Rechnungsdatum``), 0 nothing."""
    if normalize_name(column) in SYNONYMS[role]:
        return 3.0
    tokens = name_tokens(column)
    words = ROLE_WORDS[role]
    hits = [t for t in tokens if t in words]
    if role in _ID_ROLES:
        if role == "customer_id" and _EMAIL_WORDS & set(tokens) and not _NOT_BUYER_WORDS & set(tokens):
            return 1.5      # shop and payment exports name customers by e-mail: below any customer id column
        if any(t in _NOT_ID_WORDS for t in tokens):
            return 0.0
        if role == "product_id" and not hits and {"product", "item"} & set(tokens) & set(tokens[:-1]):
            hits = ["product"] if set(tokens) & _ID_WORDS else []
        return 2.0 if hits and (role == "product_id" or set(tokens) & _ID_WORDS or len(tokens) == 1) else (
            1.0 if hits else 0.0)
    if role == "unit_price" and {"total", "line", "amount", "sum"} & set(tokens):
        return 0.0
    if role == "date" and tokens and tokens[-1] in {"id", "no", "nr", "number"}:
        return 0.0
    if hits:
        return 2.0
    stems = [w for w in words if len(w) >= 5]
    return 1.0 if any(t != w and (t.endswith(w) or t.startswith(w)) for t in tokens for w in stems) else 0.0


@dataclass(frozen=True)
class _Column:
    name: str
    profile: ColumnProfile
    date_format: str
    date_share: float


def _profiles(columns: list[str], sample: pd.DataFrame | None) -> dict[str, _Column]:
    if sample is None or sample.empty:
        return {}
    out = {}
    for c in columns[:MAX_PROFILED_COLUMNS]:
        values = sample[c] if c in sample.columns else pd.Series(dtype=object)
        if isinstance(values, pd.DataFrame):        # duplicated column names: the first one
            values = values.iloc[:, 0]
        prof = profile_column(c, values)
        fmt, share = "ISO", 0.0
        named = _name_score("date", c) > 0
        if prof.filled and prof.mean_length <= 40 and (named or not (prof.numeric >= 0.95 and prof.integer < 0.99)):
            fmt, share, _ = detect_date_format(values, serials=named)
        out[c] = _Column(c, prof, fmt, share)
    return out


def _fits(role: str, col: _Column | None, score: float = 0.0) -> bool:
    """Whether the values allow ``role`` (no sample: anything goes). An exactly named date column is kept whatever
    its values, so cleaning can say what is wrong with them."""
    if col is None:
        return True
    p = col.profile
    if p.filled == 0:
        return True
    dates = col.date_share >= DATE_SHARE
    if role == "date":
        return score >= 3 or col.date_share >= 0.5
    if role in _ID_ROLES:
        return not dates and p.mean_length <= 60 and not (p.numeric >= 0.95 and p.integer < 0.9)
    if role in _NUMBER_ROLES:
        return p.numeric >= 0.5 and not dates
    return p.numeric < 0.5 and not dates


def _values_say(role: str, col: _Column | None) -> str:
    """The content evidence behind a role, as shown to the user."""
    if col is None or col.profile.filled == 0:
        return ""
    p = col.profile
    if role == "date":
        if col.date_share >= 0.5:
            return f"{col.date_share:.0%} of sampled values read as {describe_format(col.date_format)}"
        return f"only {col.date_share:.0%} of sampled values read as dates"
    if role in _ID_ROLES:
        what = f"{p.distinct:,} distinct values"
        return what + (f" repeating over {p.filled:,} sampled rows" if p.repeats else f" in {p.filled:,} sampled rows")
    if role in _NUMBER_ROLES:
        kind = "whole numbers" if p.integer >= 0.98 else "numbers with decimals"
        comma = ", decimal comma" if p.decimal_comma else ""
        return f"{kind}{comma}, {p.positive:.0%} positive, median {p.median:,.4g}" if p.median is not None else kind
    return f"text, {p.distinct:,} distinct values"


def propose_mapping(columns: list[str], sample: pd.DataFrame | None = None) -> MappingGuess:
    """Guess every role in :data:`pipeline.config.ROLES` from the column names and a sample's values, with reasons,
    and the kind of table (see :class:`MappingGuess`). Each column plays at most one role. A platform's export
    (:mod:`pipeline.ingest.platforms`, recognised by headers and content) is mapped as the platform documents it."""
    platform = recognise(columns, sample)
    if platform is not None and (guess := _platform_guess(platform, columns, sample)) is not None:
        return guess
    cols = _profiles(columns, sample)
    candidates = sorted(
        ((score, -list(ROLES).index(role), -i, role, c) for role in ROLES for i, c in enumerate(columns)
         if (score := _name_score(role, c)) > 0 and _fits(role, cols.get(c), score)), reverse=True)
    mapping: dict[str, str | None] = dict.fromkeys(ROLES)
    reasons: dict[str, str] = {}
    for score, _, _, role, c in candidates:
        if mapping[role] is None and c not in mapping.values():
            mapping[role] = c
            evidence = _values_say(role, cols.get(c))
            reasons[role] = f"`{c}` — named like {ROLES[role].lower()}" + (f"; {evidence}" if evidence else "")
    _by_content(mapping, reasons, cols)
    _order_total_is_no_line_amount(mapping, reasons, sample)
    kind, why = _kind(mapping, cols)
    id_col = mapping["customer_id"] if kind == "transactions" else (
        guess_customer_id(sample) if sample is not None else None)
    fmt = cols[mapping["date"]].date_format if mapping["date"] in cols else None
    return MappingGuess(mapping, reasons, kind, why, id_col, fmt)


def _order_total_is_no_line_amount(mapping: dict[str, str | None], reasons: dict[str, str],
                                   sample: pd.DataFrame | None) -> None:
    """Unmap an amount column that holds the order's total on its lines (the same value on every line of an order
    whose items differ, or a value on one line and blanks on the others) when quantity and price are mapped: each
    line is then worth quantity × price, never the order's total once per line. Judged on orders of several lines
    in the sample (at least 5)."""
    inv, amount, qty, price = (mapping[r] for r in ("invoice_id", "amount", "quantity", "unit_price"))
    if not (inv and amount and qty and price) or sample is None or not sample.columns.is_unique:
        return
    key = sample[inv].where(sample[inv].astype(str).str.strip() != "")
    several = key.notna() & key.duplicated(keep=False)
    if key[several].nunique() < 5:
        return
    lines = pd.DataFrame({"k": key, "a": parse_numbers(sample[amount]),
                          "line": parse_numbers(sample[qty]) * parse_numbers(sample[price])})[several]
    g = lines.groupby("k")
    one_value = g["a"].nunique() <= 1
    blanks = g["a"].apply(lambda a: bool(a.isna().any() and a.notna().any()))
    order_level = one_value & (blanks | (g["line"].nunique() > 1))
    if order_level.mean() >= 0.8:
        mapping["amount"] = None
        reasons.pop("amount", None)
        reasons["unit_price"] = reasons.get("unit_price", f"`{price}`") + (
            f"; amount = `{qty}` × `{price}`: `{amount}` holds the order's total on its lines "
            f"({order_level.sum():,} of {len(order_level):,} sampled orders of several lines)")


def _platform_guess(p: Platform, columns: list[str], sample: pd.DataFrame | None) -> MappingGuess | None:
    """The mapping of a recognised platform export (None when its customer or date column is missing)."""
    found, reasons = platform_mapping(p, columns, sample)
    mapping: dict[str, str | None] = dict.fromkeys(ROLES) | found
    if not mapping["customer_id"] or not mapping["date"]:
        return None
    cols = _profiles([mapping["date"]], sample)
    fmt = cols[mapping["date"]].date_format if mapping["date"] in cols else None
    why = (f"transactions: read as a {p.label} (its documented columns and status values), one line per "
           f"{'order line' if mapping['product_name'] else 'order or payment'}")
    return MappingGuess(mapping, reasons, "transactions", why, mapping["customer_id"], fmt, [f"Read as a {p.label}."])


def _by_content(mapping: dict[str, str | None], reasons: dict[str, str], cols: dict[str, _Column]) -> None:
    """Fill the roles no name claimed from the values: date, customer id, amount, quantity."""
    free = lambda: [c for c in cols.values() if c.name not in mapping.values() and c.profile.filled]  # noqa: E731

    def take(role: str, col: _Column, why: str) -> None:
        mapping[role] = col.name
        reasons[role] = f"`{col.name}` — {why} (from the values; the name says nothing)"

    if mapping["date"] is None:
        dates = [c for c in free() if c.date_share >= DATE_SHARE]
        if dates:
            take("date", dates[0], _values_say("date", dates[0]))
    if mapping["customer_id"] is None:
        ids = [c for c in free() if c.profile.code_like() and c.profile.repeats and c.date_share < 0.5
               and c.profile.distinct >= min(10, c.profile.filled / 3)]     # a few codes are categories, not ids
        if ids:   # codes before small counts; customers are the coarsest id: fewest distinct values
            best = min(ids, key=lambda c: (c.profile.quantity_like(), c.profile.distinct, list(cols).index(c.name)))
            take("customer_id", best, _values_say("customer_id", best))
    if mapping["amount"] is None and mapping["unit_price"] is None:
        money = [c for c in free() if c.profile.money_like() and c.date_share < 0.5]
        if money:
            best = max(money, key=lambda c: c.profile.median or 0)
            take("amount", best, _values_say("amount", best))
    if mapping["quantity"] is None:
        qty = [c for c in free() if c.profile.quantity_like() and c.date_share < 0.5]
        if qty:
            take("quantity", qty[0], _values_say("quantity", qty[0]))


def _kind(mapping: dict[str, str | None], cols: dict[str, _Column]) -> tuple[str, str]:
    """Transactions when a date column and a customer id that repeats (or an amount) are mapped; else customers."""
    date, cust = mapping["date"], mapping["customer_id"]
    if not date or not cust:
        missing = " and ".join(ROLES[r].lower() for r in ("customer_id", "date") if not mapping[r])
        return "customers", f"a customer table: no {missing} column, so one row per customer (or per record)"
    p = cols[cust].profile if cust in cols else None
    money = mapping["amount"] or mapping["unit_price"]
    if p is None or p.repeats:
        rep = f"`{cust}` repeats ({p.distinct:,} distinct in {p.filled:,} sampled rows)" if p else f"`{cust}`"
        what = "" if money else "; no amount column, so spend is counted in items bought (a basket log)"
        return "transactions", f"transactions: dates in `{date}` and customer ids {rep}{what}"
    if money:
        return "transactions", (f"transactions: dates in `{date}` and amounts in `{money}`; each customer id in "
                                "the sample occurs once")
    return "customers", (f"a customer table: `{cust}` is unique on every sampled row and there is no amount column, "
                         f"so `{date}` is read as an attribute")


def guess_mapping(columns: list[str], sample: pd.DataFrame | None = None) -> dict[str, str | None]:
    """Map each role in :data:`pipeline.config.ROLES` to an upload column (or None); see :func:`propose_mapping`."""
    return propose_mapping(columns, sample).mapping


def guess_customer_id(sample: pd.DataFrame) -> str | None:
    """The id column of a one-row-per-customer table: an id-like name with unique values, else the first unique column."""
    unique = [c for c in sample.columns if sample[c].notna().all() and sample[c].is_unique]
    named = [c for c in unique if normalize_name(c) in SYNONYMS["customer_id"] + ("id", "customerkey", "key")
             or _name_score("customer_id", c) >= 2]
    return (named or unique or [None])[0]


def detect_kind(mapping: dict[str, str | None], sample: pd.DataFrame) -> str:
    """``"transactions"`` with a customer id and a date (ids repeating, or an amount); otherwise ``"customers"``: a
    table with one row per customer (or per record, e.g. coupon responses) for the clustering and model pages."""
    cols = _profiles([c for c in (mapping.get("customer_id"),) if c], sample)
    return _kind({r: mapping.get(r) for r in ROLES}, cols)[0]


def validate_mapping(mapping: dict[str, str | None], columns: list[str]) -> dict[str, str | None]:
    """Check a transactions mapping against the upload's columns; return it with every role present.

    Transactions without an amount or a unit price (basket logs) are accepted: spend is then counted in items.

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
    return full
