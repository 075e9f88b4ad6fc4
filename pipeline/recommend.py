"""Next-product (or next-category) recommender: item-to-item cosine similarity on the customer x item matrix.

Items are products when the transactions have product ids (on at least half the lines), else product names (a basket
log such as Kaggle's Groceries maps ``itemDescription`` to the product name and has no id), else categories; a
fitted recommender on products also knows each product's most frequent category (:meth:`ItemRecommender.category_of`),
for rules stated per category such as category coupons. The customer x item matrix holds ``log(1 + lines bought)``; the item x item cosine
similarity comes from the binary (bought / not bought) matrix. A customer's score for an item is the sum of the
item's similarities to the customer's past items, weighted by how much of each they bought, optionally blended
with item popularity. With ``include_repeats=True`` (default; consumables are bought again) past items stay
candidates, and an item's similarity to itself (1) makes repeat purchases rank high; with ``False`` only items the
customer never bought are recommended.

Evaluation (:func:`hit_rate_at_k`) is out of time: fit on lines dated ``<= cutoff``, and a customer is a hit when
any of their top-K items is bought in ``(cutoff, cutoff + horizon]``; the baseline recommends the K items bought
by the most customers before the cutoff. With repeats included, a second baseline recommends the customer's own
most-bought items ("buy again"); on Online Retail it beats the cosine scores (see benchmarks/bench_recommend.py), so
the page should show it rather than hide it (:func:`hit_rate_verdict` says so in one sentence). A K at or above
the number of items makes every purchase of a known item a hit, whatever the method: such K are left out.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.log import logged

__all__ = ["ItemRecommender", "item_similarity", "choose_item_column", "item_kind", "ITEM_COLUMNS", "top_sellers", "hit_rate_at_k", "hit_rate_verdict",
           "BUY_AGAIN", "COSINE", "TOP_SELLERS"]

COSINE, TOP_SELLERS, BUY_AGAIN = "Item-item cosine", "Top sellers", "Buy again (own most-bought)"

#: Columns that can be the recommender's items, in order of preference (auto choice).
ITEM_COLUMNS = ("product_id", "product_name", "category")
_PRODUCTS = ("product_id", "product_name")

_CHUNK = 2048   # customers scored at once (dense chunk of customers x items)


def choose_item_column(transactions: pd.DataFrame, item_col: str = "auto") -> str:
    """The first of :data:`ITEM_COLUMNS` (product id, product name, category) filled on at least half the lines;
    or check an explicit choice."""
    if item_col != "auto":
        if item_col not in transactions.columns or transactions[item_col].notna().sum() == 0:
            raise DataError(f"recommender: item column {item_col!r} is missing or empty; use one of "
                            f"{', '.join(map(repr, ITEM_COLUMNS))} (map one of them on upload).")
        return item_col
    for col in ITEM_COLUMNS:
        if col in transactions.columns and transactions[col].notna().mean() >= 0.5:
            return col
    raise DataError("recommender: the transactions have neither a category nor a product id or name on most "
                    "lines; map a product or category column on upload to get next-purchase recommendations.")


def item_kind(item_col: str) -> str:
    """What the items are, in words: ``"products"`` (ids or names) or ``"categories"``."""
    return "products" if item_col in _PRODUCTS else "categories"


def _item_labels(tx: pd.DataFrame, item_col: str) -> pd.Series:
    """Display name per item: the most frequent product name for product ids, the item itself otherwise."""
    if item_col != "product_id" or "product_name" not in tx or tx["product_name"].isna().all():
        return pd.Series(dtype=object)
    names = tx.dropna(subset=["product_name"]).astype({"product_id": str, "product_name": str})
    return names.groupby("product_id")["product_name"].agg(lambda s: s.value_counts().index[0])


def _item_categories(tx: pd.DataFrame, item_col: str) -> pd.Series:
    """Most frequent category per product (id or name; empty when items are categories or there are none)."""
    if item_col not in _PRODUCTS or "category" not in tx or tx["category"].isna().all():
        return pd.Series(dtype=object)
    known = tx.dropna(subset=["category"]).astype({item_col: str, "category": str})
    return known.groupby(item_col)["category"].agg(lambda s: s.value_counts().index[0])


def item_similarity(bought: sp.csr_matrix) -> sp.csr_matrix:
    """Item x item cosine similarity of a binary customer x item matrix (float32)."""
    co = (bought.T @ bought).tocsr().astype(np.float32)
    inv = sp.diags(1.0 / np.sqrt(np.maximum(co.diagonal(), 1.0)).astype(np.float32))
    return (inv @ co @ inv).tocsr()


class ItemRecommender(BaseEstimator):
    """Item-to-item cosine recommender (scikit-learn style: ``fit`` returns self, fitted attributes end in ``_``).

    Parameters
    ----------
    item_col : ``"auto"`` or one of :data:`ITEM_COLUMNS` (``"product_id"``, ``"product_name"``, ``"category"``).
    include_repeats : recommend items the customer already bought (``False``: new items only).
    popularity_weight : blend ``(1 - w) * score / max(score) + w * popularity / max(popularity)``.
    """

    def __init__(self, item_col: str = "auto", include_repeats: bool = True, popularity_weight: float = 0.0):
        self.item_col = item_col
        self.include_repeats = include_repeats
        self.popularity_weight = popularity_weight

    def fit(self, transactions: pd.DataFrame, y=None) -> "ItemRecommender":
        """Build the customer x item matrix and the item x item cosine similarity."""
        require_transactions(transactions, "recommender", ("customer_id", "date"))
        if not 0.0 <= self.popularity_weight <= 1.0:
            raise DataError(f"recommender: popularity_weight {self.popularity_weight} must be between 0 and 1.")
        self.item_col_ = choose_item_column(transactions, self.item_col)
        tx = transactions.dropna(subset=["customer_id", self.item_col_])
        cust = tx["customer_id"].astype(str).to_numpy()
        item = tx[self.item_col_].astype(str).to_numpy()
        self.customers_ = pd.Index(pd.unique(cust))
        self.items_ = pd.Index(pd.unique(item))
        counts = sp.csr_matrix((np.ones(len(tx)), (self.customers_.get_indexer(cust), self.items_.get_indexer(item))),
                               shape=(len(self.customers_), len(self.items_)))
        counts.sum_duplicates()
        self.bought_ = counts.copy()
        self.bought_.data[:] = 1.0
        self.weights_ = counts.copy()
        self.weights_.data = np.log1p(self.weights_.data)
        self.similarity_ = item_similarity(self.bought_)
        self.popularity_ = np.asarray(self.bought_.sum(axis=0)).ravel()   # customers who bought each item
        self.item_names_ = _item_labels(tx, self.item_col_)
        self.item_categories_ = _item_categories(tx, self.item_col_)
        return self

    def category_of(self, items: Sequence) -> pd.Series:
        """Category of each item: the product's most frequent category, the item itself when items are
        categories, "" when unknown (a product without categories in the data)."""
        items = pd.Series(list(items), dtype=object).astype(str)
        if self.item_col_ == "category":
            return items
        return items.map(self.item_categories_).fillna("").astype(str)

    def name_of(self, items: Sequence) -> pd.Series:
        """Display name of each item: the product's most frequent name, the item itself when it has none."""
        items = pd.Series(list(items), dtype=object).fillna("").astype(str)
        return items.map(self.item_names_).fillna(items).astype(str)

    def _scores(self, rows: np.ndarray, include_repeats: bool) -> np.ndarray:
        """Dense scores for customer rows; items already bought are -inf when repeats are excluded."""
        score = np.asarray((self.weights_[rows] @ self.similarity_).todense(), dtype=float)
        w = self.popularity_weight
        if w > 0:
            score = (1 - w) * score / np.maximum(score.max(axis=1, keepdims=True), 1e-12)
            score += w * self.popularity_ / max(self.popularity_.max(), 1)
        if not include_repeats:
            past = self.bought_[rows]
            score[np.repeat(np.arange(len(rows)), np.diff(past.indptr)), past.indices] = -np.inf
        return score

    def _rows(self, customer_ids: Sequence) -> np.ndarray:
        ids = pd.Index(pd.Series(customer_ids, dtype=object).astype(str))
        rows = self.customers_.get_indexer(ids)
        if (rows < 0).any():
            unknown = list(ids[rows < 0][:3])
            raise DataError(f"recommender: customer id(s) {unknown} have no purchases in the data the recommender "
                            "was fitted on; check the id or refit on newer data.")
        return rows

    def top_k_batch(self, customer_ids: Sequence | None = None, k: int = 5,
                    include_repeats: bool | None = None) -> pd.DataFrame:
        """Long table ``customer_id, rank, item, score, already_bought`` (best first) for many customers."""
        repeats = self.include_repeats if include_repeats is None else include_repeats
        rows = np.arange(len(self.customers_)) if customer_ids is None else self._rows(customer_ids)
        k = int(min(max(k, 1), len(self.items_)))
        parts = []
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            score = self._scores(chunk, repeats)
            top = np.argpartition(-score, k - 1, axis=1)[:, :k]
            top_score = np.take_along_axis(score, top, axis=1)
            order = np.argsort(-top_score, axis=1, kind="stable")
            top, top_score = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_score, order, axis=1)
            bought = np.asarray(self.bought_[np.repeat(chunk, k), top.ravel()]).ravel() > 0
            parts.append(pd.DataFrame({
                "customer_id": np.repeat(self.customers_[chunk].to_numpy(), k), "rank": np.tile(np.arange(1, k + 1), len(chunk)),
                "item": self.items_[top.ravel()].to_numpy(), "score": top_score.ravel(), "already_bought": bought}))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["customer_id", "rank", "item", "score", "already_bought"])
        return out[np.isfinite(out["score"].to_numpy(float))].reset_index(drop=True)

    def top_k(self, customer_id, k: int = 5, include_repeats: bool | None = None) -> pd.DataFrame:
        """Top-``k`` items for one customer: ``item, score, already_bought`` (+ ``name`` for products)."""
        return self.top_k_table([customer_id], k, include_repeats).drop(columns=["customer_id"])

    def top_k_table(self, customer_ids: Sequence | None = None, k: int = 5,
                    include_repeats: bool | None = None) -> pd.DataFrame:
        """:meth:`top_k` for many customers at once: ``customer_id, item, score, already_bought`` (+ ``name``
        after ``item`` for products), each customer's best first (``None``: every customer)."""
        out = self.top_k_batch(customer_ids, k, include_repeats).drop(columns=["rank"])
        if len(self.item_names_):
            out.insert(2, "name", out["item"].map(self.item_names_).fillna(""))
        return out

    def next_item(self, customer_ids: Sequence | None = None, include_repeats: bool | None = None) -> pd.Series:
        """Most likely next item per customer (e.g. the ``next_category`` input of the coupon policy)."""
        top = self.top_k_batch(customer_ids, 1, include_repeats)
        return top.set_index("customer_id")["item"].rename(f"next_{self.item_col_}")


def top_sellers(transactions: pd.DataFrame, k: int = 10, item_col: str = "auto") -> pd.DataFrame:
    """Items bought by the most customers: ``item, customers, lines``."""
    require_transactions(transactions, "recommender", ("customer_id", "date"))
    col = choose_item_column(transactions, item_col)
    tx = transactions.dropna(subset=["customer_id", col]).astype({col: str})
    out = tx.groupby(col).agg(customers=("customer_id", "nunique"), lines=("customer_id", "size"))
    out = out.sort_values(["customers", "lines"], ascending=False).head(k)
    return out.rename_axis("item").reset_index()


def _hits(top: np.ndarray, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """Per customer: does any of the first k recommended item indices appear in the truth row?"""
    rows = np.repeat(np.arange(top.shape[0]), k)
    return np.asarray(truth[rows, top[:, :k].ravel()]).reshape(-1, k).any(axis=1)


@logged("recommender_hit_rate")
def hit_rate_at_k(transactions: pd.DataFrame, cutoff=None, horizon_days: int = HORIZON_DAYS,
                  k: Sequence[int] = (5, 10), item_col: str = "auto", include_repeats: bool = True,
                  popularity_weight: float = 0.0) -> pd.DataFrame:
    """Out-of-time hit-rate@K of the cosine recommender vs a top-sellers baseline.

    Fit on lines dated ``<= cutoff`` (default: last date - ``horizon_days``). Evaluated customers bought before
    the cutoff and bought (a new item, when ``include_repeats=False``) in ``(cutoff, cutoff + horizon]``; a hit
    is any top-K item among those purchases. The baseline recommends the most-bought items (excluding the
    customer's own past items when repeats are excluded, as the recommender does); with repeats included a
    "buy again" baseline (the customer's own items by times bought, then top sellers) is added.

    Only K below the number of items are graded (with K >= items every purchase of a known item is a hit for
    any method); the K left out are in ``attrs["dropped_k"]``, and DataError is raised when none is left.

    Returns
    -------
    DataFrame ``method, k, hit_rate, hits, customers, items, item_col, mode, cutoff``.
    """
    require_transactions(transactions, "recommender", ("customer_id", "date"))
    dates = pd.to_datetime(transactions["date"])
    cutoff = dates.max() - pd.Timedelta(days=horizon_days) if cutoff is None else pd.Timestamp(cutoff)
    train = transactions.loc[dates <= cutoff]
    test = transactions.loc[(dates > cutoff) & (dates <= cutoff + pd.Timedelta(days=horizon_days))]
    if train.empty or test.empty:
        raise DataError(f"recommender evaluation: cutoff {cutoff.date()} leaves no purchases before it or in the "
                        f"{horizon_days} days after; choose a cutoff inside the data's date range.")
    model = ItemRecommender(item_col, include_repeats, popularity_weight).fit(train)
    col = model.item_col_
    test = test.dropna(subset=["customer_id", col])
    rows = model.customers_.get_indexer(test["customer_id"].astype(str))
    cols = model.items_.get_indexer(test[col].astype(str))
    keep = (rows >= 0) & (cols >= 0)
    truth = sp.csr_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=model.bought_.shape)
    truth.sum_duplicates()
    truth.data[:] = 1.0
    if not include_repeats:
        truth = (truth - truth.multiply(model.bought_)).tocsr()
        truth.eliminate_zeros()
    evaluated = np.flatnonzero(np.diff(truth.indptr) > 0)
    if evaluated.size == 0:
        raise DataError(f"recommender evaluation: no customer from before {cutoff.date()} bought a known item in "
                        f"the following {horizon_days} days; choose an earlier cutoff or a longer horizon.")
    ks = sorted(set(int(x) for x in k))
    kept, dropped = [x for x in ks if 1 <= x < len(model.items_)], [x for x in ks if x >= len(model.items_)]
    if not kept:
        raise DataError(f"recommender evaluation: the data have only {len(model.items_)} {col} items, so with K = "
                        f"{', '.join(map(str, ks))} every purchase would count as a hit for any method; choose K "
                        f"below {len(model.items_)}.")
    table = _hit_table(model, truth, evaluated, kept, include_repeats, cutoff)
    table.attrs["dropped_k"] = dropped
    return table


def hit_rate_verdict(table: pd.DataFrame) -> str:
    """One plain sentence on a :func:`hit_rate_at_k` table, at its largest K: which method finds most next
    purchases, and plainly so when re-offering the customer's own items (buy again) beats the recommender."""
    k = int(table["k"].max())
    rate = table[table["k"] == k].set_index("method")["hit_rate"]
    what = item_kind(table["item_col"].iloc[0])
    cos, top = rate[COSINE], rate[TOP_SELLERS]
    head = (f"Of {int(table['customers'].iloc[0]):,} customers who bought again, the recommender's top {k} "
            f"{what} included one they bought for {cos:.0%}, against {top:.0%} for the {k} best sellers")
    if BUY_AGAIN in rate:
        head += f" and {rate[BUY_AGAIN]:.0%} for each customer's own {k} most-bought {what} (buy again)"
        if rate[BUY_AGAIN] >= cos:
            return head + (". Buy again wins on this data: remind customers of what they already buy rather than "
                           "suggesting new items.")
    if cos > top:
        beaten = "both baselines" if BUY_AGAIN in rate else "the best sellers"
        return head + f". The recommender beats {beaten}: use it for suggestions."
    return head + ". The recommender does not beat the best sellers here: recommend the best sellers."


def _hit_table(model: ItemRecommender, truth: sp.csr_matrix, evaluated: np.ndarray, ks: list[int],
               include_repeats: bool, cutoff: pd.Timestamp) -> pd.DataFrame:
    kmax = min(max(ks), len(model.items_))
    pop_order = np.argsort(-model.popularity_, kind="stable")
    pop_tiebreak = 1e-6 * model.popularity_ / max(model.popularity_.max(), 1)
    methods = [COSINE, TOP_SELLERS] + ([BUY_AGAIN] if include_repeats else [])
    hits = {(m, k): 0 for m in methods for k in ks}
    for start in range(0, len(evaluated), _CHUNK):
        chunk = evaluated[start:start + _CHUNK]
        score = model._scores(chunk, include_repeats)
        top = np.argsort(-score, axis=1, kind="stable")[:, :kmax]
        if include_repeats:
            base = np.tile(pop_order[:kmax], (len(chunk), 1))
        else:
            pop = np.tile(model.popularity_.astype(float), (len(chunk), 1))
            past = model.bought_[chunk]
            pop[np.repeat(np.arange(len(chunk)), np.diff(past.indptr)), past.indices] = -np.inf
            base = np.argsort(-pop, axis=1, kind="stable")[:, :kmax]
        tops = {COSINE: top, TOP_SELLERS: base}
        if include_repeats:  # the customer's own items by times bought, then top sellers
            own = np.asarray(model.weights_[chunk].todense()) + pop_tiebreak
            tops[BUY_AGAIN] = np.argsort(-own, axis=1, kind="stable")[:, :kmax]
        t = truth[chunk]
        for (m, k) in hits:
            hits[m, k] += int(_hits(tops[m], t, min(k, kmax)).sum())
    n = len(evaluated)
    mode = "include repeat purchases" if include_repeats else "new items only"
    return pd.DataFrame([{"method": m, "k": k, "hit_rate": h / n, "hits": h, "customers": n,
                          "items": len(model.items_), "item_col": model.item_col_, "mode": mode, "cutoff": cutoff}
                         for (m, k), h in hits.items()])
