"""The expensive parts of every customer's card, computed once per dataset in one vectorised pass.

A card (:mod:`pipeline.customer.card`) needs, besides the scorer's table row, the churn model's per-feature
drivers, the expected-value coupon with every candidate's numbers, the top categories and products, and the
recommender's next items. Computed per card these cost tens of milliseconds (a one-row model transform, a policy
run, several group-bys); :func:`card_index` computes them for many customers at once with the same rules (the
drivers by :func:`pipeline.models.explain_rows`, the coupon by :func:`pipeline.coupons.coupon_batch`, the next
items by :meth:`pipeline.recommend.ItemRecommender.top_k_table`, the top items by :func:`top_items`), and
:class:`CardIndex` hands one customer's parts to the card in well under a millisecond. The card of a customer the
index does not cover (a rescored copy, a customer whose coupon inputs are invalid) is composed by running the same
functions on that customer alone, so both ways give the same card. Belongs here: the batch computation and the
per-customer slicing; not the card's layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.coupons import CouponBatch, CouponRecommendation, coupon_batch
from pipeline.errors import DataError

if TYPE_CHECKING:
    from pipeline.recommend import ItemRecommender
    from pipeline.customer.facts import CardFacts
    from pipeline.customer.parts import CouponSetup, Decisions

__all__ = ["CardIndex", "Slices", "card_index", "top_items", "coupon_inputs", "product_column", "suggest_ids",
           "fit_recommender", "next_item", "next_categories", "category_of"]

NEXT_ITEMS = 3       # the card's "likely next" list
TOP = 5              # the card's top categories / products (the default ``top`` of the card)


@dataclass(frozen=True)
class Slices:
    """A long table handed out per value of its ``key`` column, rows in table order (a key without rows gets
    ``empty``)."""

    table: pd.DataFrame
    start: dict[str, int]
    stop: dict[str, int]
    empty: pd.DataFrame
    fallback: Slices | None = None     # asked for keys this table lacks

    @classmethod
    def of(cls, table: pd.DataFrame, key: str, empty: pd.DataFrame, fallback: Slices | None = None) -> Slices:
        keys = table[key].astype(str).to_numpy(dtype=object)
        order = np.argsort(keys, kind="stable")
        table, keys = table.iloc[order], keys[order]
        uniq, first = np.unique(keys, return_index=True)
        last = np.append(first[1:], len(keys))
        return cls(table.drop(columns=[key]), dict(zip(uniq.tolist(), first.tolist())),
                   dict(zip(uniq.tolist(), last.tolist())), empty, fallback)

    def get(self, key: str) -> pd.DataFrame:
        """The rows of one key, indexed 0..n-1 (a copy of ``empty`` when it has none)."""
        if key not in self.start:
            return self.fallback.get(key) if self.fallback is not None else self.empty.copy()
        return self.table.iloc[self.start[key]:self.stop[key]].reset_index(drop=True)


@dataclass(frozen=True)
class CardIndex:
    """One dataset's precomputed card parts, by customer id (see the module docstring).

    ``coupons`` is the coupon setup the coupon part was computed with: a scorer with other coupon rules
    (``ModelScorer.with_coupons``) computes its coupons per card. ``stale`` ids (rescored since) are not covered.
    """

    ids: pd.Index
    coupons: CouponSetup
    driver_inputs: pd.DataFrame | None = None       # the churn model's (clipped) inputs, one row per customer
    driver_values: pd.DataFrame | None = None       # the same columns as the card shows them (own values)
    contributions: pd.DataFrame | None = None       # each customer's per-feature contributions
    coupon: CouponBatch | None = None
    coupon_rows: dict[str, int] = field(default_factory=dict)
    top_categories: Slices | None = None
    top_products: Slices | None = None
    next_items: Slices | None = None
    stale: frozenset[str] = frozenset()

    def covers(self, customer_id: str) -> bool:
        return customer_id not in self.stale and customer_id in self.ids

    def without(self, customer_id: str) -> CardIndex:
        """A copy that no longer covers ``customer_id`` (their card is then composed on its own)."""
        return replace(self, stale=self.stale | {customer_id})

    def drivers(self, customer_id: str, top: int) -> pd.DataFrame:
        from pipeline.models import driver_table

        pos = self.ids.get_loc(customer_id)
        return driver_table(self.driver_values.iloc[pos], self.contributions.iloc[pos], top,
                            self.contributions.attrs["method"], inputs=self.driver_inputs.iloc[pos])

    def coupon_for(self, customer_id: str, coupons: CouponSetup) -> CouponRecommendation | None:
        """The precomputed coupon, or None when it was computed with other rules or the inputs were invalid."""
        i = self.coupon_rows.get(customer_id)
        return None if i is None or coupons is not self.coupons else self.coupon.recommendation(i)


def product_column(lines: pd.DataFrame) -> str:
    """The column a card's top products are named by: product names where the lines have any, else product ids."""
    return "product_name" if "product_name" in lines and lines["product_name"].notna().any() else "product_id"


def top_items(lines: pd.DataFrame, column: str, n: int = TOP) -> pd.DataFrame:
    """Per customer, their ``n`` items of ``column`` with the most spend (then lines): ``customer_id, <column>,
    spend, lines, orders`` (orders: distinct invoices), by customer id, then best first (ties in item order).
    Spend adds a group's lines in their order (rounded to 1e-9 against float noise), so a customer's numbers do
    not depend on the other customers' lines."""
    if column not in lines or lines[column].isna().all():
        return pd.DataFrame(columns=["customer_id", column, "spend", "lines", "orders"])
    known = lines.dropna(subset=[column])
    cust0, cust_names = pd.factorize(known["customer_id"].astype(str), sort=True)
    item0, item_names = pd.factorize(known[column], sort=True)
    by_row = np.lexsort((item0, cust0))                   # groups in (customer, item) order, lines in row order
    cust, item = cust0[by_row], item0[by_row]
    new = np.r_[True, (cust[1:] != cust[:-1]) | (item[1:] != item[:-1])]
    starts = np.flatnonzero(new)
    amount = known["amount"].to_numpy(float)[by_row]
    invoice = pd.factorize(known["invoice_id"])[0]
    invoice = invoice[np.lexsort((invoice, item0, cust0))]   # the same groups, lines by invoice (-1: none)
    fresh = new | np.r_[True, invoice[1:] != invoice[:-1]]
    out = pd.DataFrame({"customer_id": np.asarray(cust_names, dtype=object)[cust[starts]],
                        column: np.asarray(item_names, dtype=object)[item[starts]],
                        "spend": np.round(np.add.reduceat(amount, starts), 9),
                        "lines": np.diff(np.append(starts, len(cust))),
                        "orders": np.add.reduceat((fresh & (invoice >= 0)).astype(np.int64), starts)})
    rank = np.lexsort((-out["lines"].to_numpy(), -out["spend"].to_numpy(), cust[starts]))
    out = out.iloc[rank].reset_index(drop=True)
    first = np.r_[True, out["customer_id"].to_numpy()[1:] != out["customer_id"].to_numpy()[:-1]]
    pos = np.arange(len(out)) - np.maximum.accumulate(np.where(first, np.arange(len(out)), 0))
    return out[pos < n].reset_index(drop=True)


def _empty_items(column: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[column, "spend", "lines", "orders"])


def _item_slices(lines: pd.DataFrame, column: str) -> Slices:
    return Slices.of(top_items(lines, column), "customer_id", _empty_items(column))


def coupon_inputs(table: pd.DataFrame, next_category: pd.Series, facts: CardFacts | None = None) -> pd.DataFrame:
    """The coupon policy's per-customer inputs from the scorer's table (``next_category``: per customer id;
    ``facts``: the dataset's card facts, whose withheld predictions are not used, see ``CardFacts.usable``)."""
    n = len(table)
    if facts is not None:
        table = table.assign(**facts.usable(table))
    col = lambda c, default: table[c] if c in table else pd.Series(default, index=table.index)  # noqa: E731
    return pd.DataFrame({"customer_id": table.index.astype(str), "segment": col("segment", "").to_numpy(),
                         "churn_probability": col("churn_probability", np.nan).to_numpy(float),
                         "order_value": col("avg_order_value", np.nan).to_numpy(float),
                         "expected_spend": col("expected_spend", 0.0).to_numpy(float),
                         "p_alive": col("p_alive", 1.0).to_numpy(float),
                         "next_category": next_category.reindex(table.index).fillna("").astype(str).to_numpy(),
                         "churn_basis": col("churn_basis", "").fillna("").astype(str).to_numpy()},
                        index=np.arange(n))


def coupon_part(table: pd.DataFrame, coupons: CouponSetup, facts: CardFacts | None,
                recommender: ItemRecommender | None) -> dict:
    """The ``coupon`` and ``coupon_rows`` of a :class:`CardIndex`: the coupons of every customer whose inputs the
    policy accepts (the others are left to the card, which then raises the policy's own message)."""
    frame = coupon_inputs(table, next_categories(table, recommender), facts)
    churn, order = frame["churn_probability"].to_numpy(), frame["order_value"].to_numpy()
    ok = (churn >= 0) & (churn <= 1) & (order > 0) & np.isfinite(order)
    frame = frame[ok].reset_index(drop=True)
    if not len(frame):
        return {}
    return {"coupon": coupon_batch(frame, coupons.prepared, coupons.policy),
            "coupon_rows": dict(zip(frame["customer_id"].tolist(), range(len(frame))))}


def card_index(table: pd.DataFrame, lines: pd.DataFrame, coupons: CouponSetup, decisions: Decisions,
               recommender: ItemRecommender | None, next_items: pd.DataFrame | None = None) -> CardIndex:
    """Every customer's card parts of a transactions scorer's ``table`` and purchase ``lines`` (see the module
    docstring), by the dataset's ``decisions`` (drivers only when churn risk comes from the model; withheld
    predictions not used by the coupons); ``next_items``: the recommender's ``top_k_table`` of every customer when
    the caller already has it."""
    parts: dict = {}
    churn = decisions.risk.model                  # None: withheld (a rule gives the risk)
    if churn is not None and churn.positive_index is not None:
        from pipeline.models import explain_rows

        parts["driver_inputs"], parts["driver_values"] = churn.inputs(table), churn.shown_values(table)
        parts["contributions"] = explain_rows(churn.pipeline, parts["driver_inputs"], churn.reference,
                                              churn.positive_index)
    if recommender is not None:
        top = next_items if next_items is not None else recommender.top_k_table(None, NEXT_ITEMS)
        parts["next_items"] = Slices.of(top, "customer_id",
                                        recommender.top_k_table([], NEXT_ITEMS).drop(columns=["customer_id"]))
    return CardIndex(table.index, coupons, **parts, **coupon_part(table, coupons, decisions.facts, recommender),
                     top_categories=_item_slices(lines, "category"), top_products=_top_products(lines))


def _top_products(lines: pd.DataFrame) -> Slices:
    """Top products by name for customers with any named line, by id for the others (:func:`product_column`)."""
    if "product_name" not in lines:
        return _item_slices(lines, "product_id")
    cid = lines["customer_id"].astype(str)
    named = lines["product_name"].notna().groupby(cid, sort=False).transform("any").to_numpy(bool)
    return replace(_item_slices(lines[named], "product_name"), fallback=_item_slices(lines[~named], "product_id"))


def suggest_ids(ids: pd.Index, text: str, limit: int = 10) -> list[str]:
    """Of ``ids`` (a scorer's ``ids``), those starting with ``text`` first, then those containing it
    (case-insensitive), at most ``limit``."""
    text = str(text or "").strip().lower()
    ids = pd.Index(ids).to_series().astype(str)
    if not text:
        return ids.head(limit).tolist()
    low = ids.str.lower()
    starts = ids[low.str.startswith(text)]
    contains = ids[low.str.contains(text, regex=False) & ~low.str.startswith(text)]
    return pd.concat([starts, contains]).head(limit).tolist()


def fit_recommender(tx: pd.DataFrame, table: pd.DataFrame,
                 notes: list[str]) -> tuple[ItemRecommender | None, pd.DataFrame | None]:
    """The fitted recommender and every customer's next items (the card's list; its first is ``next_item``)."""
    from pipeline.recommend import ItemRecommender

    try:
        rec = ItemRecommender().fit(tx)
    except DataError as exc:
        notes.append(f"No next-purchase recommendations: {exc}")
        table["next_item"] = ""
        return None, None
    top = rec.top_k_table(table.index, NEXT_ITEMS)      # ranked best first: the first is rec.next_item's answer
    first = top.groupby("customer_id", sort=False)["item"].first()
    table["next_item"] = first.reindex(table.index).fillna("").astype(str)
    return rec, top


def next_item(recommender: ItemRecommender | None, customer_id: str) -> str:
    """The recommender's next item for one customer ("" without a recommender or for a customer it never saw)."""
    if recommender is None:
        return ""
    try:
        return str(recommender.next_item([customer_id]).iloc[0])
    except (DataError, IndexError):
        return ""


def category_of(recommender: ItemRecommender | None, items: pd.Series) -> pd.Series:
    """The category of each recommended item (same index; "" without a recommender or for no item)."""
    if recommender is None:
        return pd.Series("", index=items.index, dtype=object)
    cats = recommender.category_of(items.fillna("").astype(str)).to_numpy()
    return pd.Series(np.where(items.fillna("").astype(str).to_numpy() == "", "", cats), index=items.index)


def next_categories(table: pd.DataFrame, recommender: ItemRecommender | None) -> pd.Series:
    """Every customer's likely next category (per customer id of a scorer's ``table``), what the coupon policy's
    category rules read: the category of the recommender's next item (the item itself when items are categories;
    "" when unknown)."""
    items = table["next_item"] if "next_item" in table else pd.Series("", index=table.index)
    return category_of(recommender, items)
