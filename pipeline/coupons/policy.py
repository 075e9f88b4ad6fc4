"""The expected-value coupon policy: risk bands and one coupon per customer, with the reason in numbers.

Per customer *i* and eligible coupon *j* (every constant is a field of :class:`CouponPolicyConfig`)::

    basket   = max(order_value_i, min_spend_j)              reach  = min(1, order_value_i / min_spend_j) ** stretch_power
    depth    = face value / basket                          uplift = max_uplift * (1 - exp(-depth / depth_scale)) * appeal * match
    extra_p  = uplift * churn_i * p_alive_i * reach         (customers won back who would not have bought)
    gain     = extra_p * margin * max(basket, expected_spend_i)
             + (1 - churn_i) * reach * redemption_rate * margin * max(0, min_spend_j - order_value_i)   (stretched baskets)
    cost     = ((1 - churn_i) * reach * redemption_rate + extra_p) * cost per redemption
    EV       = gain - cost        ("no coupon" has EV 0 and wins unless a coupon's EV is above min_expected_value)

Customers who are likely to buy anyway mostly redeem a coupon on a purchase that was coming: their EV is
negative. A low-risk, high-value customer is never offered a wildcard coupon; only a coupon whose catalogue row
names their segment or the Low band is offered to them ("the catalogue says so"), and then regardless of EV.
The catalogue itself is read by :mod:`pipeline.coupons.catalogue`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS
from pipeline.coupons.catalogue import PERCENT_KINDS, coupon_codes, load_catalogue, text_values
from pipeline.currency import currency as currency_of
from pipeline.errors import DataError
from pipeline.units import UNKNOWN, spend_exact

__all__ = [
    "CouponPolicyConfig", "CustomerContext", "CouponRecommendation", "risk_band", "risk_bands",
    "recommend_coupon", "recommend_batch", "PreparedCatalogue", "prepare_catalogue", "face_value", "CouponBatch",
    "coupon_batch",
]


@dataclass(frozen=True)
class CouponPolicyConfig:
    """Assumptions of the expected-value policy, as data (see the module docstring for the formula)."""

    horizon_days: int = HORIZON_DAYS                # H of "expected spend in the next H days"
    risk_thresholds: tuple[float, float] = (0.3, 0.6)   # churn prob: Low < t0 <= Medium < t1 <= High
    margin: float = 0.35                            # gross margin earned on a sale
    max_uplift: float = 0.5                         # share of would-be churners a very deep discount wins back
    depth_scale: float = 0.15                       # discount depth (share of basket) giving 63% of max_uplift
    free_shipping_appeal: float = 1.2               # free shipping is valued above its face value
    category_match_boost: float = 1.3               # coupon on the category the customer is likely to buy next
    category_mismatch_factor: float = 0.5           # category coupon on some other category
    redemption_rate: float = 0.7                    # share of would-buy-anyway customers who redeem
    stretch_power: float = 2.0                      # how fast redemption falls when min_spend > order value
    high_value_segments: tuple[str, ...] = ("Champions", "Loyal", "Can't Lose Them")
    high_value_min_spend: float | None = None       # also high value: expected spend >= this (None: off)
    min_expected_value: float = 0.0                 # a coupon must beat "no coupon" by more than this
    code_prefix: str = "CPN"
    code_length: int = 10                           # base32 characters after the prefix (50 bits)
    seed: int = 0
    # The unit of the spend figures the policy reads and writes in its reasons: an ISO code ("GBP": "£0.05"),
    # None for spend counted in items (a basket log: "0.05 items", and the reason says a coupon's money is counted
    # in items), or UNKNOWN (pipeline.units.UNKNOWN, the default: nobody said, plain numbers, never a guessed
    # unit). build_scorer sets it from the dataset and ModelScorer.with_coupons keeps it.
    currency: str | None = UNKNOWN

    def __post_init__(self) -> None:
        if self.currency is not None and self.currency != UNKNOWN:
            object.__setattr__(self, "currency", currency_of(self.currency).code)   # DataError naming the codes



def risk_bands(churn_probability: Sequence[float] | np.ndarray,
               config: CouponPolicyConfig = CouponPolicyConfig()) -> np.ndarray:
    """Low / Medium / High for each churn probability, from ``config.risk_thresholds``."""
    p = np.asarray(churn_probability, dtype=float)
    low, high = config.risk_thresholds
    return np.where(p < low, "Low", np.where(p < high, "Medium", "High"))


def risk_band(churn_probability: float, config: CouponPolicyConfig = CouponPolicyConfig()) -> str:
    """Risk band of one churn probability."""
    return str(risk_bands([churn_probability], config)[0])


@dataclass(frozen=True)
class CustomerContext:
    """What the default policy knows about one customer."""

    customer_id: str
    segment: str
    churn_probability: float
    order_value: float                   # average order value
    expected_spend: float = 0.0          # expected spend in the next H days (or CLV)
    p_alive: float = 1.0
    next_category: str | None = None     # likely next category (pipeline.recommend)
    churn_basis: str = ""                # where churn_probability comes from when it is a rule's, e.g. "the
                                         # recency rule: 210 days since the last order" ("": the churn model)


@dataclass
class CouponRecommendation:
    """The chosen coupon, why, and the expected value of every coupon in the catalogue."""

    customer_id: str
    coupon_id: str
    coupon_name: str
    expected_value: float
    reason: str
    risk_band: str
    candidates: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class PreparedCatalogue:
    """A validated catalogue with the policy's per-coupon arrays, built once (:func:`prepare_catalogue`): what
    :func:`recommend_coupon` and :func:`recommend_batch` accept instead of re-reading and re-validating a
    catalogue on every call."""

    table: pd.DataFrame              # the validated catalogue (``load_catalogue``'s result)
    arrays: dict                     # per coupon (the no-coupon row left out): id, name, kind, value, ...
    none: tuple[str, str]            # id and name of the no-coupon answer


def prepare_catalogue(catalogue: object = None) -> PreparedCatalogue:
    """Validate ``catalogue`` once (anything :func:`load_catalogue` reads; None = the default; a prepared one is
    returned as it is)."""
    if isinstance(catalogue, PreparedCatalogue):
        return catalogue
    table = load_catalogue(catalogue)
    arrays, none = _catalogue_arrays(table)
    return PreparedCatalogue(table, arrays, none)


def face_value(kind: str, value: float, min_spend: float, order_value: float) -> float:
    """Money a coupon is worth on a customer's typical basket (the policy's ``face``): percent kinds take
    ``value``% of the basket (the larger of the average order and the minimum spend), the others are money off;
    rounded to cents."""
    if kind in PERCENT_KINDS:
        return round(value / 100.0 * max(order_value, min_spend), 2)
    return round(value, 2)


def _catalogue_arrays(catalogue: pd.DataFrame) -> tuple[dict, tuple[str, str]]:
    """Split off the no-coupon row and turn the coupons into arrays (one entry per coupon)."""
    none_rows = catalogue[catalogue["kind"] == "none"]
    none = (none_rows["id"].iloc[0], none_rows["name"].iloc[0]) if len(none_rows) else ("none", "No coupon")
    cat = catalogue[catalogue["kind"] != "none"].reset_index(drop=True)
    kind = cat["kind"].to_numpy()
    value = cat["value"].to_numpy(float)
    cost = cat["cost"].astype(str)
    is_frac = cost.str.endswith("%").to_numpy()
    num = pd.to_numeric(cost.str.rstrip("%").replace("", np.nan), errors="coerce").to_numpy(float)
    blank = np.isnan(num)
    percent_kind = np.isin(kind, PERCENT_KINDS)
    cost_frac = np.where(is_frac, num / 100, np.where(blank & percent_kind, value / 100, 0.0))
    cost_amount = np.where(is_frac, 0.0, np.where(blank, np.where(percent_kind, 0.0, value), num))
    arrays = {
        "id": cat["id"].to_numpy(), "name": cat["name"].to_numpy(), "kind": kind, "value": value,
        "min_spend": cat["min_spend"].to_numpy(float), "cost_frac": np.nan_to_num(cost_frac),
        "cost_amount": np.nan_to_num(cost_amount), "segments": cat["eligible_segments"].to_numpy(),
        "bands": cat["eligible_risk_bands"].to_numpy(), "category": cat["category"].to_numpy(),
    }
    return arrays, none


def _membership(values: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, named explicitly) n x m masks for ``;``-lists with ``*`` wildcards."""
    eligible = np.ones((values.size, lists.size), dtype=bool)
    explicit = np.zeros_like(eligible)
    for j, spec in enumerate(lists):
        if spec != "*":
            hit = np.isin(values, spec.split(";"))
            eligible[:, j] = hit
            explicit[:, j] = hit
    return eligible, explicit


def _expected_values(ctx: dict, cat: dict, config: CouponPolicyConfig) -> dict:
    """n x m arrays: extra purchase probability, value at stake, gain, cost, EV, eligibility."""
    c = config
    order = ctx["order_value"][:, None]
    min_spend = cat["min_spend"][None, :]
    basket = np.maximum(order, min_spend)
    pct = np.isin(cat["kind"], PERCENT_KINDS)[None, :]
    face = np.where(pct, cat["value"][None, :] / 100 * basket, cat["value"][None, :])
    depth = face / np.maximum(basket, 1e-9)
    appeal = np.where(cat["kind"] == "free_shipping", c.free_shipping_appeal, 1.0)[None, :]
    next_cat = ctx["next_category"][:, None]
    is_cat = (cat["kind"] == "category")[None, :]
    dynamic = is_cat & (cat["category"] == "")[None, :]
    matches = dynamic | (next_cat == cat["category"][None, :])
    match = np.where(is_cat, np.where(matches, c.category_match_boost, c.category_mismatch_factor), 1.0)
    uplift = np.minimum(c.max_uplift * (1 - np.exp(-depth / c.depth_scale)) * appeal * match, 1.0)
    reach = np.where(min_spend > 0, np.minimum(1.0, order / np.maximum(min_spend, 1e-9)), 1.0) ** c.stretch_power
    churn, p_buy = ctx["churn"][:, None], 1 - ctx["churn"][:, None]
    extra_p = uplift * churn * ctx["p_alive"][:, None] * reach
    value = c.margin * np.maximum(basket, ctx["expected_spend"][:, None])
    stretch = p_buy * reach * c.redemption_rate * c.margin * np.maximum(0.0, min_spend - order)
    unit_cost = cat["cost_amount"][None, :] + cat["cost_frac"][None, :] * basket
    cost = (p_buy * reach * c.redemption_rate + extra_p) * unit_cost
    gain = extra_p * value + stretch
    revenue = extra_p * np.maximum(basket, ctx["expected_spend"][:, None]) \
        + p_buy * reach * c.redemption_rate * np.maximum(0.0, min_spend - order)   # gain before the margin
    seg_ok, seg_named = _membership(ctx["segment"], cat["segments"])
    band_ok, band_named = _membership(ctx["band"], cat["bands"])
    has_next = ctx["next_category"] != ""
    eligible = seg_ok & band_ok & ~(dynamic & ~has_next[:, None])
    return {"extra_p": extra_p, "value": value, "stretch": stretch, "gain": gain, "cost": cost,
            "ev": gain - cost, "revenue": revenue, "eligible": eligible, "explicit": eligible & (seg_named | band_named)}


def _context_arrays(customers: pd.DataFrame, config: CouponPolicyConfig) -> dict:
    """Validate the per-customer inputs and return them as arrays."""
    missing = [c for c in ("customer_id", "churn_probability") if c not in customers.columns]
    if missing:
        raise DataError(f"coupon policy: customers lack column(s) {missing}; give customer_id, segment, "
                        "churn_probability, order_value (or monetary and frequency), and optionally "
                        "expected_spend, p_alive, next_category.")
    churn = pd.to_numeric(customers["churn_probability"], errors="coerce").to_numpy(float)
    if np.isnan(churn).any() or (churn < 0).any() or (churn > 1).any():
        raise DataError("coupon policy: churn_probability must be a number between 0 and 1 for every customer "
                        f"({int(np.sum(~((churn >= 0) & (churn <= 1))))} are not); score churn first.")
    order = _order_value(customers)
    spend_col = "expected_spend" if "expected_spend" in customers else "clv" if "clv" in customers else None
    spend = _num(customers, spend_col, 0.0)
    seg = customers["segment"] if "segment" in customers else pd.Series("", index=customers.index)
    nxt = customers["next_category"] if "next_category" in customers else pd.Series("", index=customers.index)
    basis = customers["churn_basis"] if "churn_basis" in customers else pd.Series("", index=customers.index)
    high = text_values(seg).isin(config.high_value_segments).to_numpy()
    if config.high_value_min_spend is not None:
        high = high | (spend >= config.high_value_min_spend)
    return {"customer_id": text_values(customers["customer_id"]).to_numpy(),
            "segment": text_values(seg).to_numpy(), "churn": churn, "band": risk_bands(churn, config),
            "order_value": order, "expected_spend": spend, "p_alive": np.clip(_num(customers, "p_alive", 1.0), 0, 1),
            "next_category": text_values(nxt).to_numpy(), "high_value": high,
            "basis": text_values(basis).to_numpy()}


def _num(df: pd.DataFrame, column: str | None, default: float) -> np.ndarray:
    if column is None or column not in df:
        return np.full(len(df), default)
    return pd.to_numeric(df[column], errors="coerce").fillna(default).to_numpy(float)


def _order_value(customers: pd.DataFrame) -> np.ndarray:
    if "order_value" in customers:
        order = _num(customers, "order_value", np.nan)
    elif {"monetary", "frequency"} <= set(customers.columns):
        order = _num(customers, "monetary", np.nan) / np.maximum(_num(customers, "frequency", 1.0), 1.0)
    else:
        raise DataError("coupon policy: customers need an 'order_value' column (average order value) or "
                        "'monetary' and 'frequency' to derive it.")
    if np.isnan(order).any() or (order <= 0).any():
        raise DataError("coupon policy: order_value must be a positive number for every customer "
                        f"({int(np.sum(~(order > 0)))} are not).")
    return order


def _choose(ev: dict, ctx: dict, config: CouponPolicyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Index of the chosen coupon per customer (-1 = no coupon) and whether the low-risk guard applied."""
    guarded = (ctx["band"] == "Low") & ctx["high_value"]
    allowed = np.where(guarded[:, None], ev["explicit"], ev["eligible"])
    masked = np.where(allowed, ev["ev"], -np.inf)
    best = masked.argmax(axis=1) if masked.shape[1] else np.zeros(len(masked), dtype=int)
    best_ev = masked[np.arange(len(best)), best] if masked.shape[1] else np.full(len(best), -np.inf)
    take = np.isfinite(best_ev) & (guarded | (best_ev > config.min_expected_value))
    return np.where(take, best, -1), guarded


def _best_eligible(ev: dict) -> np.ndarray:
    masked = np.where(ev["eligible"], ev["ev"], -np.inf)
    return masked.argmax(axis=1) if masked.shape[1] else np.full(masked.shape[0], -1)


#: Said on a basket log (spend counted in items) after a reason with figures: a coupon's money is not money there.
ITEMS_NOTE = ("Figures are in items bought, not money: this dataset has no amounts, so a coupon's value is counted "
              "in items.")


def _reasons(ctx: dict, cat: dict, ev: dict, chosen: np.ndarray, guarded: np.ndarray,
             config: CouponPolicyConfig) -> list[str]:
    """One human-readable sentence per customer, built from the policy's numbers, every figure in
    ``config.currency`` (:func:`pipeline.units.spend_exact`)."""
    n = len(chosen)
    rows = np.arange(n)
    best = _best_eligible(ev)
    pick = np.where(chosen >= 0, chosen, np.maximum(best, 0))
    take = lambda a: a[rows, pick].tolist() if a.shape[1] else [0.0] * n  # noqa: E731
    evs, gains, costs, extra, value, stretch = (take(ev[k]) for k in
                                                ("ev", "gain", "cost", "extra_p", "value", "stretch"))
    n_elig = ev["eligible"].sum(axis=1).tolist()
    names = cat["name"][pick].tolist() if len(cat["name"]) else [""] * n
    mins = cat["min_spend"][pick].tolist() if len(cat["name"]) else [0.0] * n
    seg = [s or "Unsegmented" for s in ctx["segment"].tolist()]
    unit = config.currency
    amt = lambda x: spend_exact(x, unit)                         # noqa: E731
    signed = lambda x: spend_exact(x, unit, signed=True)         # noqa: E731
    items = unit is None
    spend_words = "expected items bought" if items else "expected spend"
    out = []
    for i, (c, g, b) in enumerate(zip(chosen.tolist(), guarded.tolist(), best.tolist())):
        by = f" by {ctx['basis'][i]}" if ctx["basis"][i] else ""
        head = f"{seg[i]}, {ctx['band'][i]} churn risk ({ctx['churn'][i]:.0%}{by})"
        gain = (f"gain {amt(gains[i])} = {extra[i]:.1%} more likely to buy x {amt(value[i])} margin at stake"
                + (f" + {amt(stretch[i])} from baskets stretched to the {amt(mins[i])} minimum"
                   if stretch[i] >= 0.005 else ""))
        figures = True
        if c >= 0 and g:
            text = (f"{head}, high value: the catalogue explicitly targets them with '{names[i]}' "
                    f"(expected value {signed(evs[i])}: {gain}, cost {amt(costs[i])}).")
        elif c >= 0:
            text = (f"{head}: '{names[i]}' has the best expected value of {n_elig[i]} eligible coupon(s), "
                    f"{signed(evs[i])} ({gain}; minus {amt(costs[i])} expected discount cost).")
        elif g:
            spend = ctx["expected_spend"][i]
            worth = f"{amt(spend)} {spend_words} in {config.horizon_days} days" if spend > 0 else seg[i]
            alt = f"; best eligible '{names[i]}' would be {signed(evs[i])}" if b >= 0 and n_elig[i] else ""
            figures = spend > 0 or bool(alt)
            text = (f"{head}, high value ({worth}): no discount. They are {1 - ctx['churn'][i]:.0%} likely to "
                    f"buy anyway, so a coupon would mostly discount purchases already coming{alt}.")
        elif n_elig[i]:
            text = (f"{head}: no coupon. None of the {n_elig[i]} eligible coupon(s) pays for itself; best "
                    f"'{names[i]}' is {signed(evs[i])} ({gain}; minus {amt(costs[i])} expected discount cost).")
        else:
            text, figures = f"{head}: no coupon. The catalogue has none eligible for this segment and risk band.", False
        out.append(f"{text} {ITEMS_NOTE}" if items and figures else text)
    return out


def recommend_batch(customers: pd.DataFrame, catalogue: object = None,
                    config: CouponPolicyConfig = CouponPolicyConfig(), with_codes: bool = True) -> pd.DataFrame:
    """Recommend one coupon per customer with the expected-value policy (vectorised, for campaign export).

    Parameters
    ----------
    customers : columns ``customer_id``, ``churn_probability``, ``segment``, ``order_value`` (or
        ``monetary`` + ``frequency``); optional ``expected_spend`` (or ``clv``), ``p_alive``, ``next_category``,
        ``churn_basis`` (where the churn probability comes from when a rule gives it, named in the reason: pass
        the scorer's ``churn_basis`` column, :meth:`pipeline.customer.ModelScorer.churn_risk`).
    catalogue : a :class:`PreparedCatalogue`, or a catalogue :func:`load_catalogue` reads; ``None`` = the default.

    Returns
    -------
    DataFrame ``customer_id, coupon_id, coupon_name, expected_value, reason, coupon_code`` (code blank when
    no coupon), ``expected_cost`` (expected discount cost) and ``incremental_revenue`` (expected extra sales:
    won-back purchases and stretched baskets, before the margin), in the input order.
    """
    b = coupon_batch(customers, catalogue, config)
    cat, (none_id, none_name), ctx, ev, chosen = b.cat, b.none, b.ctx, b.ev, b.chosen
    has = chosen >= 0
    rows = np.arange(len(chosen))
    at = (lambda a: np.where(has, a[rows, np.maximum(chosen, 0)], 0.0)) if len(cat["id"]) else \
        (lambda a: np.zeros(len(chosen)))  # noqa: E731
    out = pd.DataFrame({
        "customer_id": ctx["customer_id"],
        "coupon_id": np.where(has, cat["id"][np.maximum(chosen, 0)] if len(cat["id"]) else none_id, none_id),
        "coupon_name": np.where(has, cat["name"][np.maximum(chosen, 0)] if len(cat["id"]) else none_name, none_name),
        "expected_value": np.round(at(ev["ev"]), 2),
        "reason": b.reasons,
        "coupon_code": "",
        "expected_cost": np.round(at(ev["cost"]), 2),
        "incremental_revenue": np.round(at(ev["revenue"]), 2),
    })
    if with_codes and has.any():
        out.loc[has, "coupon_code"] = coupon_codes(out.loc[has, "customer_id"], out.loc[has, "coupon_id"],
                                                   prefix=config.code_prefix, seed=config.seed,
                                                   length=config.code_length)
    return out


def recommend_coupon(context: CustomerContext | Mapping, catalogue: object = None,
                     config: CouponPolicyConfig = CouponPolicyConfig()) -> CouponRecommendation:
    """Recommend a coupon for one customer; ``candidates`` lists every coupon's numbers (for the card).
    ``catalogue``: a :class:`PreparedCatalogue` (fast), or anything :func:`load_catalogue` reads."""
    data = context.__dict__ if isinstance(context, CustomerContext) else dict(context)
    frame = pd.DataFrame([{k: ("" if v is None else v) for k, v in data.items()}])
    return coupon_batch(frame, catalogue, config).recommendation(0)


@dataclass
class CouponBatch:
    """The policy's numbers for many customers at once (n x coupons arrays); :meth:`recommendation` turns one
    customer's into a :class:`CouponRecommendation` (the same as :func:`recommend_coupon` on that customer)."""

    cat: dict
    none: tuple[str, str]
    ctx: dict
    ev: dict
    chosen: np.ndarray
    guarded: np.ndarray
    reasons: list[str]

    def recommendation(self, i: int) -> CouponRecommendation:
        """The recommendation of the ``i``-th customer (position in the input order)."""
        cat, ev, (none_id, none_name) = self.cat, self.ev, self.none
        candidates = pd.DataFrame({
            "coupon_id": cat["id"], "coupon_name": cat["name"], "eligible": ev["eligible"][i],
            "extra_purchase_probability": ev["extra_p"][i].round(4), "gain": ev["gain"][i].round(2),
            "cost": ev["cost"][i].round(2), "expected_value": ev["ev"][i].round(2),
        }).sort_values("expected_value", ascending=False, ignore_index=True)
        c = int(self.chosen[i])
        return CouponRecommendation(
            customer_id=str(self.ctx["customer_id"][i]),
            coupon_id=str(cat["id"][c]) if c >= 0 else none_id,
            coupon_name=str(cat["name"][c]) if c >= 0 else none_name,
            expected_value=round(float(ev["ev"][i, c]), 2) if c >= 0 else 0.0,
            reason=self.reasons[i], risk_band=str(self.ctx["band"][i]), candidates=candidates)


def coupon_batch(customers: pd.DataFrame, catalogue: object = None,
                 config: CouponPolicyConfig = CouponPolicyConfig()) -> CouponBatch:
    """The expected-value policy applied to every row of ``customers`` (columns as :func:`recommend_batch`)."""
    prepared = prepare_catalogue(catalogue)
    cat = prepared.arrays
    ctx = _context_arrays(customers, config)
    ev = _expected_values(ctx, cat, config)
    chosen, guarded = _choose(ev, ctx, config)
    return CouponBatch(cat, prepared.none, ctx, ev, chosen, guarded, _reasons(ctx, cat, ev, chosen, guarded, config))
