"""One customer's card: who they are, their scores, churn risk and drivers, value, habits, purchases and coupon.

Belongs here: :class:`CustomerProfile` and its JSON (what ``python -m pipeline profile --json`` prints and a
service returns), :func:`customer_profile` composing it from a :class:`~pipeline.customer.scoring.ModelScorer`,
and the per-customer purchase views (:func:`purchase_timeline`). Nothing is fitted here: a card is a read of the
scorer's table and of its card index (:mod:`pipeline.customer.index`: drivers, coupon, top items and next items of
every customer, computed once); a customer the index does not cover gets the same parts computed on their own.
The purchase timeline is computed only when asked for (it is not part of the card's JSON).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.customer.facts import customer_notes
from pipeline.customer.index import NEXT_ITEMS, TOP, CardIndex, product_column, top_items
from pipeline.customer.forecasts import FORECAST_DATES, FORECAST_NUMBERS
from pipeline.customer.scoring import ModelScorer, coupon_fields

__all__ = ["CustomerProfile", "customer_profile", "purchase_timeline", "withhold_drivers"]

#: Driver features that are the card's graded predictions (``pipeline.churn.BTYD_FEATURES`` -> fact name).
_PREDICTION_FEATURES = {"btyd_p_alive": "p_alive", "btyd_expected_purchases": "expected_orders",
                        "btyd_expected_spend": "expected_spend"}

_SCORE_KEYS = ("recency_days", "frequency", "monetary", "tenure_days", "r_score", "f_score", "m_score")
_VALUE_KEYS = ("p_alive", "expected_orders", "expected_spend", "expected_aov", "days_to_next_order")
#: What is withheld with a hidden prediction.
_RELATED = {"expected_spend": ("spend_low", "spend_high"),
            "next_order_date": ("days_to_next_order", *FORECAST_DATES)}
_TIMELINE_COLUMNS = ["invoice_id", "date", "amount", "lines", "quantity", "top_category"]


@dataclass
class CustomerProfile:
    """The card of one customer. Money in the data's currency; days are whole days as of ``as_of``."""

    customer_id: str
    kind: str
    segment: str = ""
    scores: dict = field(default_factory=dict)          # recency_days, frequency, monetary, tenure_days, r/f/m
    cluster: int | None = None
    cluster_name: str = ""                              # what this customer is called ("unlike any group": far
                                                        # from every centre, in no group)
    cluster_label: str = ""                             # the two as shown (pipeline.customer.clusters.cluster_label)
    churn_probability: float | None = None
    risk_band: str = ""
    churn_source: str = ""                              # model, recency or btyd (pipeline.customer.facts.RULES)
    churn_basis: str = ""                               # a rule's risk: the rule and the number it read
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    churn_model: str = ""
    value: dict = field(default_factory=dict)           # p_alive, expected_orders/spend/aov, next order
    habits: dict = field(default_factory=dict)          # avg_order_value, mean_days_between, first/last purchase
    top_categories: pd.DataFrame = field(default_factory=pd.DataFrame)
    top_products: pd.DataFrame = field(default_factory=pd.DataFrame)
    next_items: pd.DataFrame = field(default_factory=pd.DataFrame)
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)
    coupon: dict = field(default_factory=dict)          # coupon_id, coupon_name, expected_value, reason, risk_band
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)
    attributes: dict = field(default_factory=dict)      # customer tables: the row
    prediction: dict = field(default_factory=dict)      # customer tables: the active model's prediction
    learned_coupon: dict | None = None
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)           # prediction -> {"status": shown|caveat|hidden, "note"}

    def shows(self, name: str) -> bool:
        """Whether prediction ``name`` (e.g. ``p_alive``) may be shown (with or without a caveat)."""
        return self.facts.get(name, {}).get("status") != "hidden"

    def to_json(self) -> dict:
        """The card as plain JSON values (what ``python -m pipeline profile --json`` prints); the ``value``
        entries (p_alive, expected_orders, expected_spend, next_order_date, ...) are top-level keys. ``facts``
        says which predictions hold up on this dataset; a hidden one is null and named under ``withheld`` (its value is
        not in the card: nothing downstream may use it)."""
        from pipeline.exports import to_jsonable

        out = {k: getattr(self, k) for k in ("customer_id", "kind", "segment", "scores", "cluster", "cluster_name",
                                             "cluster_label", "churn_probability", "risk_band", "churn_source",
                                             "churn_basis", "churn_model")}
        out |= self.value
        withheld = [k for k in self.facts if k in out and not self.shows(k)]
        out |= dict.fromkeys(withheld) | dict.fromkeys(r for k in withheld for r in _RELATED.get(k, ()))
        out |= {"withheld": withheld, "facts": self.facts}
        out |= {k: getattr(self, k) for k in ("habits", "coupon", "attributes", "prediction", "notes")}
        out["drivers"] = self.drivers.to_dict(orient="records")
        out["top_categories"] = self.top_categories.to_dict(orient="records")
        out["next_items"] = self.next_items.to_dict(orient="records")
        if self.learned_coupon:
            out["learned_coupon"] = {k: v for k, v in self.learned_coupon.items() if k != "table"}
        return to_jsonable(_dates_to_text(out))


def _dates_to_text(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _dates_to_text(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_dates_to_text(v) for v in obj]
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else str(obj.date())
    return None if obj is pd.NaT else obj


def _f(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def customer_profile(scorer: ModelScorer, customer_id: object, top: int = 5,
                     timeline: bool = True) -> CustomerProfile:
    """Compose the card of one customer (DataError naming similar ids when the id is unknown); ``timeline``:
    also the purchase timeline (one row per order; not in the JSON, so a service leaves it out)."""
    cid = scorer.require(customer_id)
    if scorer.kind == "customers":
        return _table_profile(scorer, cid, top)
    row = scorer.table.loc[cid]
    prof = CustomerProfile(cid, "transactions", segment=str(row["segment"]))
    prof.scores = {k: (int(row[k]) if k.endswith("_score") else float(row[k])) for k in _SCORE_KEYS}
    prof.cluster = None if pd.isna(row["cluster"]) else int(row["cluster"])
    prof.cluster_name = str(row["cluster_name"])
    prof.cluster_label = _cluster_label(scorer, prof.cluster, prof.cluster_name)
    prof.churn_probability, prof.risk_band = float(row["churn_probability"]), str(row["risk_band"])
    index = _index(scorer, cid)
    risk, facts = scorer.decisions.risk, scorer.decisions.facts     # the churn model, or the rule that beat it
    prof.churn_source, prof.churn_basis = risk.source, str(row.get("churn_basis") or "")
    if risk.uses_model:
        prof.drivers = index.drivers(cid, top) if index is not None and index.contributions is not None \
            else risk.model.drivers(scorer.table.loc[[cid]], top)
    prof.churn_model = risk.description
    prof.drivers = withhold_drivers(prof.drivers, facts)     # a withheld prediction is withheld here too
    prof.value = {k: _f(row[k]) for k in _VALUE_KEYS} | {k: _f(row.get(k)) for k in FORECAST_NUMBERS} | {
        k: row.get(k) for k in FORECAST_DATES} | {
        "next_order_date": row["next_order_date"], "horizon_days": scorer.settings.horizon_days,
        "btyd_model": scorer.history.btyd.kind_,
        "spend_source": facts.spend_source, "next_source": facts.next_source}
    one, one_day = row["frequency"] <= 1, row["tenure_days"] == row["recency_days"]   # one order / purchase day
    prof.habits = {"avg_order_value": float(row["avg_order_value"]),       # no gap yet: none (not the model's fill)
                   "mean_days_between": None if one or one_day else float(row["mean_days_between"]),
                   "first_purchase": row["first_purchase"], "last_purchase": row["last_purchase"],
                   "country": row.get("country")}
    _purchases(prof, scorer, cid, top, index, timeline)
    rec = index.coupon_for(cid, scorer.coupons) if index is not None else None
    if rec is None:
        prof.coupon, prof.candidates = scorer.coupon(cid, row, str(row.get("next_item", "")))
    else:
        prof.coupon, prof.candidates = coupon_fields(rec), rec.candidates
    prof.learned_coupon = scorer.learned_coupon(row)
    _facts(prof, scorer, row)
    if one or one_day:
        what = "One purchase" if one else f"All {row['frequency']:.0f} orders on one day"
        prof.notes.append(f"{what} so far: there are no gaps between orders yet, and the BTYD estimates "
                          "(P(alive), expected orders, next order date) lean on the behaviour of similar customers.")
    if pd.isna(row["next_order_date"]) and prof.shows("next_order_date"):
        prof.notes.append("One purchase day so far: there is no usual gap between orders yet."
                          if prof.value["next_source"] == "rule" else
                          f"No next order is expected within {scorer.history.btyd.max_next_order_days:.0f} days.")
    return prof


def withhold_drivers(drivers: pd.DataFrame, facts: object) -> pd.DataFrame:
    """The drivers without the numbers of predictions withheld on this dataset (``facts``: its
    :class:`~pipeline.customer.facts.CardFacts`, or None): their ``value`` and ``model_value`` are None and
    ``capped`` says "withheld"; the contribution (what the model made of it) stays."""
    if facts is None or drivers.empty or "feature" not in drivers:
        return drivers
    hidden = drivers["feature"].map(_PREDICTION_FEATURES).map(
        lambda name: isinstance(name, str) and not facts.get(name).visible).to_numpy(bool)
    if not hidden.any():
        return drivers
    out = drivers.copy()
    for col in ("value", "model_value"):
        if col in out:
            out[col] = out[col].astype(object).where(~hidden, None)
    out["capped"] = np.where(hidden, "withheld", out["capped"] if "capped" in out else "")
    return out


def _facts(prof: CustomerProfile, scorer: ModelScorer, row: pd.Series) -> None:
    """The dataset's statuses of the card's predictions, and the notes explaining numbers that seem to disagree."""
    facts = scorer.decisions.facts
    prof.facts = facts.to_json()
    prof.notes += customer_notes(facts, {**row.to_dict(), **prof.value}, prof.scores)


def _index(scorer: ModelScorer, cid: str) -> CardIndex | None:
    """The scorer's card index when it covers this customer, else None (the parts are then computed here)."""
    index = scorer.index
    return index if index is not None and index.covers(cid) else None


def _purchases(prof: CustomerProfile, scorer: ModelScorer, cid: str, top: int, index: CardIndex | None,
               timeline: bool) -> None:
    """Top categories and products, the timeline (when asked for) and the recommender's next items of a card."""
    if index is not None and top == TOP:
        prof.top_categories, prof.top_products = index.top_categories.get(cid), index.top_products.get(cid)
    else:
        lines = scorer.history.lines(cid)
        prof.top_categories = _top_items(lines, "category", top)
        prof.top_products = _top_items(lines, product_column(lines), top)
    if timeline:
        prof.timeline = purchase_timeline(scorer, cid)
    rec, known = scorer.recommender, scorer.index                # next items hold for a rescored customer too
    if rec is not None and cid in rec.customers_:
        prof.next_items = known.next_items.get(cid) if known is not None and known.next_items is not None \
            else rec.top_k(cid, NEXT_ITEMS)


def _cluster_label(scorer: ModelScorer, cluster: int | None, name: str) -> str:
    from pipeline.customer.clusters import cluster_label

    return scorer.clusters.label(cluster, name) if scorer.clusters is not None else cluster_label(cluster, name)


def _table_profile(scorer: ModelScorer, cid: str, top: int) -> CustomerProfile:
    row = scorer.table.loc[cid]
    extra = {"cluster", "cluster_name", "predicted", "predicted_probability"}
    prof = CustomerProfile(cid, "customers", attributes={k: v for k, v in row.items() if k not in extra})
    prof.cluster = None if pd.isna(row["cluster"]) else int(row["cluster"])
    prof.cluster_name = str(row["cluster_name"])
    prof.cluster_label = _cluster_label(scorer, prof.cluster, prof.cluster_name)
    if scorer.model is not None:
        prof.prediction = scorer.model.prediction(scorer.table.loc[[cid]])
        prof.drivers = scorer.model.drivers(scorer.table.loc[[cid]], top, class_index=prof.prediction["class_index"])
        prof.churn_model = scorer.model.description
    prof.learned_coupon = scorer.learned_coupon(prof.attributes)
    if prof.learned_coupon is None:
        prof.notes.append("A customer table has no purchases, so the expected-value coupon rules do not apply; "
                          "train the learned policy on a coupon-response history with this table's columns to "
                          "recommend a coupon.")
    return prof


def purchase_timeline(scorer: ModelScorer, customer_id: object) -> pd.DataFrame:
    """One row per order of a customer: ``invoice_id, date, amount, lines, quantity, top_category``."""
    cid = scorer.require(customer_id)
    if scorer.history is None:
        return pd.DataFrame(columns=_TIMELINE_COLUMNS)
    lines = scorer.history.lines(cid)
    g = lines.groupby("invoice_id", sort=False)
    out = g.agg(date=("date", "min"), amount=("amount", "sum"), lines=("amount", "size"),
                quantity=("quantity", "sum"))
    label = _item_label_column(lines)
    out["top_category"] = _most_common(lines, label).reindex(out.index).fillna("").astype(str) if label else ""
    return out.reset_index().sort_values(["date", "invoice_id"], kind="stable").reset_index(drop=True)


def _most_common(lines: pd.DataFrame, label: str) -> pd.Series:
    """Per invoice, its most common ``label`` (ties: the first in sort order, as ``Series.mode``)."""
    counts = lines.dropna(subset=[label]).groupby(["invoice_id", label], sort=False, observed=True).size()
    counts = counts.reset_index(name="n").sort_values(["invoice_id", "n", label], ascending=[True, False, True])
    return counts.drop_duplicates("invoice_id").set_index("invoice_id")[label]


def _item_label_column(lines: pd.DataFrame) -> str | None:
    for col in ("category", "product_name", "product_id"):
        if col in lines and lines[col].notna().any():
            return col
    return None


def _top_items(lines: pd.DataFrame, column: str, n: int = 5) -> pd.DataFrame:
    """One customer's top items (the card index's rule, :func:`pipeline.customer.index.top_items`)."""
    if column not in lines or lines[column].isna().all():
        return pd.DataFrame(columns=[column, "spend", "lines", "orders"])
    return top_items(lines, column, n).drop(columns=["customer_id"])
