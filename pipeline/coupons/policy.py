"""Coupon catalogue and the two coupon policies: expected-value rules and a learned acceptance model.

Catalogue (``assets/coupons.csv``), one row per coupon:

==================  =========================================================================================
id, name            unique id and display name
kind                ``percent`` | ``amount`` | ``free_shipping`` | ``category`` | ``none`` (the "no coupon" row)
value               face value to the customer: percent off (percent, category) or money off / shipping saved
min_spend           order value needed to redeem (0 = none)
cost                our cost per redemption: money (``4``), a share of the order (``10%``), or blank = face value
eligible_segments   ``;``-separated RFM segment names, or ``*`` for everyone
eligible_risk_bands ``;``-separated subset of Low, Medium, High, or ``*``
category            category a ``category`` coupon applies to; blank = the customer's predicted next category
description         free text
==================  =========================================================================================

Default policy (expected value, per customer *i* and eligible coupon *j*; every constant is a field of
:class:`CouponPolicyConfig`)::

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
"""
from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import ASSETS
from pipeline.errors import DataError

__all__ = [
    "CATALOGUE_COLUMNS", "KINDS", "RISK_BANDS", "RFM_SEGMENTS", "DEFAULT_CATALOGUE",
    "CouponPolicyConfig", "CustomerContext", "CouponRecommendation",
    "load_catalogue", "risk_band", "risk_bands", "recommend_coupon", "recommend_batch", "coupon_codes",
    "yes_no_columns", "detect_response_column", "detect_coupon_column", "ResponseData", "prepare_responses",
    "acceptance_estimator", "evaluate_acceptance_model", "fit_learned_policy", "LearnedCouponPolicy",
]

CATALOGUE_COLUMNS = ("id", "name", "kind", "value", "min_spend", "cost", "eligible_segments",
                     "eligible_risk_bands", "category", "description")
_REQUIRED_COLUMNS = ("id", "name", "kind", "value")
KINDS = ("percent", "amount", "free_shipping", "category", "none")
RISK_BANDS = ("Low", "Medium", "High")
RFM_SEGMENTS = ("Champions", "Loyal", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
                "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating")
DEFAULT_CATALOGUE = ASSETS / "coupons.csv"
_PERCENT_KINDS = ("percent", "category")


@dataclass(frozen=True)
class CouponPolicyConfig:
    """Assumptions of the expected-value policy, as data (see the module docstring for the formula)."""

    horizon_days: int = 90                          # H of "expected spend in the next H days"
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


# ----------------------------------------------------------------------------------------------- catalogue

def _read_table(source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"coupon catalogue: file {path} does not exist; upload a CSV with columns "
                            f"{', '.join(CATALOGUE_COLUMNS)}.")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data = source.read()
        data = data.encode() if isinstance(data, str) else data
    else:
        raise DataError(f"coupon catalogue: cannot read a {type(source).__name__}; give a path, bytes or DataFrame.")
    if not data.strip():
        raise DataError("coupon catalogue: the file is empty; it needs a header row "
                        f"({', '.join(CATALOGUE_COLUMNS)}) and at least one coupon.")
    text = data.decode("utf-8-sig", errors="replace") if _is_utf8(data) else data.decode("latin-1")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise DataError(f"coupon catalogue: not a readable CSV ({exc}); save it as comma-separated text.") from exc


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _numbers(df: pd.DataFrame, column: str, problems: list[str]) -> pd.Series:
    raw = _text(df[column]).replace("", "0")
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        problems.append(f"'{column}' must be a number >= 0 (rows {_rows(bad)}: {list(raw[bad][:3])})")
    return values.fillna(0.0).astype(float)


def _rows(mask: pd.Series) -> str:
    idx = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())[:5]]  # +2: header line, 1-based
    return ", ".join(idx) + (" ..." if mask.sum() > 5 else "")


def _split_list(cell: str, allowed: Sequence[str] | None, what: str, row: int, problems: list[str]) -> str:
    parts = [p.strip() for p in str(cell).split(";") if p.strip()]
    if not parts or "*" in parts:
        return "*"
    if allowed is not None:
        lookup = {a.lower(): a for a in allowed}
        unknown = [p for p in parts if p.lower() not in lookup]
        if unknown:
            problems.append(f"row {row}: unknown {what} {unknown}; use '*' or names from {list(allowed)}")
        parts = [lookup.get(p.lower(), p) for p in parts]
    return ";".join(dict.fromkeys(parts))


def _check_cost(cost: pd.Series, problems: list[str]) -> pd.Series:
    text = _text(cost).str.replace(" ", "")
    frac = pd.to_numeric(text.str.rstrip("%").where(text.str.endswith("%")), errors="coerce")
    amount = pd.to_numeric(text.where(~text.str.endswith("%") & (text != "")), errors="coerce")
    bad = (text != "") & frac.isna() & amount.isna() | (frac < 0) | (frac > 100) | (amount < 0)
    if bad.any():
        problems.append(f"'cost' must be a money amount (4.50), a share of the order (10%) or blank "
                        f"(rows {_rows(bad)}: {list(text[bad][:3])})")
    return text


def load_catalogue(source=None, known_segments: Sequence[str] | None = RFM_SEGMENTS) -> pd.DataFrame:
    """Read and validate a coupon catalogue.

    Parameters
    ----------
    source : path, bytes, file-like or DataFrame; ``None`` reads ``assets/coupons.csv``.
    known_segments : segment names ``eligible_segments`` may use (``None``: accept any name).

    Returns
    -------
    DataFrame with exactly :data:`CATALOGUE_COLUMNS`; numbers as float, lists normalised to ``a;b`` or ``*``.

    Raises
    ------
    DataError naming the missing columns or every bad value (row numbers as in the CSV file).
    """
    df = _read_table(DEFAULT_CATALOGUE if source is None else source)
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"coupon catalogue: missing column(s) {missing}; required are {list(_REQUIRED_COLUMNS)}, "
                        f"optional {[c for c in CATALOGUE_COLUMNS if c not in _REQUIRED_COLUMNS]}.")
    if df.empty:
        raise DataError("coupon catalogue: no coupons (the table has a header but no rows); add at least one row.")
    defaults = {"min_spend": "0", "cost": "", "eligible_segments": "*", "eligible_risk_bands": "*",
                "category": "", "description": ""}
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    df = df[list(CATALOGUE_COLUMNS)].reset_index(drop=True)
    for col in ("id", "name", "kind", "eligible_segments", "eligible_risk_bands", "category", "description", "cost"):
        df[col] = _text(df[col])
    df["kind"] = df["kind"].str.lower().str.replace(" ", "_").str.replace("-", "_")
    return _validate(df, known_segments)


def _validate(df: pd.DataFrame, known_segments: Sequence[str] | None) -> pd.DataFrame:
    problems: list[str] = []
    if (df["id"] == "").any():
        problems.append(f"'id' is blank in rows {_rows(df['id'] == '')}")
    dup = df["id"].duplicated(keep=False) & (df["id"] != "")
    if dup.any():
        problems.append(f"'id' must be unique; repeated: {sorted(set(df.loc[dup, 'id']))}")
    bad_kind = ~df["kind"].isin(KINDS)
    if bad_kind.any():
        problems.append(f"'kind' must be one of {list(KINDS)} (rows {_rows(bad_kind)}: {list(df.loc[bad_kind, 'kind'][:3])})")
    df["name"] = df["name"].where(df["name"] != "", df["id"])
    df["value"] = _numbers(df, "value", problems)
    df["min_spend"] = _numbers(df, "min_spend", problems)
    over = df["kind"].isin(_PERCENT_KINDS) & ((df["value"] <= 0) | (df["value"] > 100))
    if over.any():
        problems.append(f"percent/category coupons need 0 < value <= 100 (percent off) (rows {_rows(over)})")
    df["cost"] = _check_cost(df["cost"], problems)
    for i in range(len(df)):
        df.loc[i, "eligible_segments"] = _split_list(df.at[i, "eligible_segments"], known_segments,
                                                     "segment(s)", i + 2, problems)
        df.loc[i, "eligible_risk_bands"] = _split_list(df.at[i, "eligible_risk_bands"], RISK_BANDS,
                                                       "risk band(s)", i + 2, problems)
    if problems:
        raise DataError("coupon catalogue: " + "; ".join(problems) + ". Fix these cells and load it again.")
    return df


# ----------------------------------------------------------------------------------------------- policy

def risk_bands(churn_probability, config: CouponPolicyConfig = CouponPolicyConfig()) -> np.ndarray:
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
    percent_kind = np.isin(kind, _PERCENT_KINDS)
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
    pct = np.isin(cat["kind"], _PERCENT_KINDS)[None, :]
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
    seg_ok, seg_named = _membership(ctx["segment"], cat["segments"])
    band_ok, band_named = _membership(ctx["band"], cat["bands"])
    has_next = ctx["next_category"] != ""
    eligible = seg_ok & band_ok & ~(dynamic & ~has_next[:, None])
    return {"extra_p": extra_p, "value": value, "stretch": stretch, "gain": gain, "cost": cost,
            "ev": gain - cost, "eligible": eligible, "explicit": eligible & (seg_named | band_named)}


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
    high = _text(seg).isin(config.high_value_segments).to_numpy()
    if config.high_value_min_spend is not None:
        high = high | (spend >= config.high_value_min_spend)
    return {"customer_id": _text(customers["customer_id"]).to_numpy(), "segment": _text(seg).to_numpy(),
            "churn": churn, "band": risk_bands(churn, config), "order_value": order, "expected_spend": spend,
            "p_alive": np.clip(_num(customers, "p_alive", 1.0), 0, 1), "next_category": _text(nxt).to_numpy(),
            "high_value": high}


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


def _reasons(ctx: dict, cat: dict, ev: dict, chosen: np.ndarray, guarded: np.ndarray,
             config: CouponPolicyConfig) -> list[str]:
    """One human-readable sentence per customer, built from the policy's numbers."""
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
    out = []
    for i, (c, g, b) in enumerate(zip(chosen.tolist(), guarded.tolist(), best.tolist())):
        head = f"{seg[i]}, {ctx['band'][i]} churn risk ({ctx['churn'][i]:.0%})"
        gain = (f"gain {gains[i]:.2f} = {extra[i]:.1%} more likely to buy x {value[i]:.2f} margin at stake"
                + (f" + {stretch[i]:.2f} from baskets stretched to the {mins[i]:.2f} minimum" if stretch[i] >= 0.005 else ""))
        if c >= 0 and g:
            out.append(f"{head}, high value: the catalogue explicitly targets them with '{names[i]}' "
                       f"(expected value {evs[i]:+.2f}: {gain}, cost {costs[i]:.2f}).")
        elif c >= 0:
            out.append(f"{head}: '{names[i]}' has the best expected value of {n_elig[i]} eligible coupon(s), "
                       f"{evs[i]:+.2f} ({gain}; minus {costs[i]:.2f} expected discount cost).")
        elif g:
            spend = ctx["expected_spend"][i]
            worth = f"{spend:.2f} expected spend in {config.horizon_days} days" if spend > 0 else seg[i]
            alt = f"; best eligible '{names[i]}' would be {evs[i]:+.2f}" if b >= 0 and n_elig[i] else ""
            out.append(f"{head}, high value ({worth}): no discount. They are {1 - ctx['churn'][i]:.0%} likely to "
                       f"buy anyway, so a coupon would mostly discount purchases already coming{alt}.")
        elif n_elig[i]:
            out.append(f"{head}: no coupon. None of the {n_elig[i]} eligible coupon(s) pays for itself; best "
                       f"'{names[i]}' is {evs[i]:+.2f} ({gain}; minus {costs[i]:.2f} expected discount cost).")
        else:
            out.append(f"{head}: no coupon. The catalogue has none eligible for this segment and risk band.")
    return out


def recommend_batch(customers: pd.DataFrame, catalogue: pd.DataFrame | None = None,
                    config: CouponPolicyConfig = CouponPolicyConfig(), with_codes: bool = True) -> pd.DataFrame:
    """Recommend one coupon per customer with the expected-value policy (vectorised, for campaign export).

    Parameters
    ----------
    customers : columns ``customer_id``, ``churn_probability``, ``segment``, ``order_value`` (or
        ``monetary`` + ``frequency``); optional ``expected_spend`` (or ``clv``), ``p_alive``, ``next_category``.
    catalogue : validated catalogue (:func:`load_catalogue`); ``None`` = the default one.

    Returns
    -------
    DataFrame ``customer_id, coupon_id, coupon_name, expected_value, reason, coupon_code`` (code blank when
    no coupon), in the input order.
    """
    cat, (none_id, none_name) = _catalogue_arrays(load_catalogue(catalogue))
    ctx = _context_arrays(customers, config)
    ev = _expected_values(ctx, cat, config)
    chosen, guarded = _choose(ev, ctx, config)
    has = chosen >= 0
    rows = np.arange(len(chosen))
    ev_chosen = ev["ev"][rows, np.maximum(chosen, 0)] if len(cat["id"]) else np.zeros(len(chosen))
    out = pd.DataFrame({
        "customer_id": ctx["customer_id"],
        "coupon_id": np.where(has, cat["id"][np.maximum(chosen, 0)] if len(cat["id"]) else none_id, none_id),
        "coupon_name": np.where(has, cat["name"][np.maximum(chosen, 0)] if len(cat["id"]) else none_name, none_name),
        "expected_value": np.round(np.where(has, ev_chosen, 0.0), 2),
        "reason": _reasons(ctx, cat, ev, chosen, guarded, config),
        "coupon_code": "",
    })
    if with_codes and has.any():
        out.loc[has, "coupon_code"] = coupon_codes(out.loc[has, "customer_id"], out.loc[has, "coupon_id"],
                                                   prefix=config.code_prefix, seed=config.seed,
                                                   length=config.code_length)
    return out


def recommend_coupon(context: CustomerContext | Mapping, catalogue: pd.DataFrame | None = None,
                     config: CouponPolicyConfig = CouponPolicyConfig()) -> CouponRecommendation:
    """Recommend a coupon for one customer; ``candidates`` lists every coupon's numbers (for the card)."""
    data = context.__dict__ if isinstance(context, CustomerContext) else dict(context)
    frame = pd.DataFrame([{k: ("" if v is None else v) for k, v in data.items()}])
    cat, (none_id, none_name) = _catalogue_arrays(load_catalogue(catalogue))
    ctx = _context_arrays(frame, config)
    ev = _expected_values(ctx, cat, config)
    chosen, guarded = _choose(ev, ctx, config)
    reason = _reasons(ctx, cat, ev, chosen, guarded, config)[0]
    candidates = pd.DataFrame({
        "coupon_id": cat["id"], "coupon_name": cat["name"], "eligible": ev["eligible"][0],
        "extra_purchase_probability": ev["extra_p"][0].round(4), "gain": ev["gain"][0].round(2),
        "cost": ev["cost"][0].round(2), "expected_value": ev["ev"][0].round(2),
    }).sort_values("expected_value", ascending=False, ignore_index=True)
    c = int(chosen[0])
    return CouponRecommendation(
        customer_id=str(ctx["customer_id"][0]),
        coupon_id=str(cat["id"][c]) if c >= 0 else none_id,
        coupon_name=str(cat["name"][c]) if c >= 0 else none_name,
        expected_value=round(float(ev["ev"][0, c]), 2) if c >= 0 else 0.0,
        reason=reason, risk_band=str(ctx["band"][0]), candidates=candidates)


def coupon_codes(customer_ids, coupon_ids, prefix: str = "CPN", seed: int = 0, length: int = 10) -> np.ndarray:
    """Unique, reproducible codes ``PREFIX-XXXXXXXXXX``: base32 of a keyed BLAKE2b hash of (customer, coupon).

    The same (seed, customer, coupon) always gives the same code; a collision (or a repeated pair) is re-hashed
    with a counter until every code in the batch is distinct.
    """
    if not 4 <= length <= 50:
        raise DataError(f"coupon codes: length {length} must be between 4 and 50 characters.")
    key = str(seed).encode()[:64]
    pairs = [f"{a}\x1f{b}" for a, b in zip(pd.Series(customer_ids).astype(str), pd.Series(coupon_ids).astype(str))]

    def code(text: str) -> str:
        digest = hashlib.blake2b(text.encode(), key=key, digest_size=32).digest()
        return base64.b32encode(digest).decode()[:length]

    codes = [code(p) for p in pairs]
    seen: set[str] = set()
    for i, p in enumerate(pairs):
        salt = 0
        while codes[i] in seen:
            salt += 1
            codes[i] = code(f"{p}\x1f{salt}")
        seen.add(codes[i])
    sep = "-" if prefix else ""
    return np.array([f"{prefix}{sep}{c}" for c in codes], dtype=object)


# ----------------------------------------------------------------------------------------------- learned policy

_YES = {"1", "1.0", "yes", "y", "true", "t", "accepted", "accept", "redeemed", "used", "converted"}
_NO = {"0", "0.0", "no", "n", "false", "f", "rejected", "declined", "not accepted", "unused", "ignored"}
_TARGET_HINTS = ("y", "accepted", "accept", "acceptance", "response", "responded", "redeemed", "redeem",
                 "converted", "conversion", "used", "target", "label", "outcome")
_COUPON_HINTS = ("coupon", "coupon_type", "coupontype", "offer", "offer_type", "promotion", "promo", "campaign")


def _norm_name(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _yes_no_values(series: pd.Series) -> pd.Series | None:
    """0/1 as floats (NaN where missing) if the column holds only yes/no-like values of both kinds, else None."""
    text = _text(series).str.lower()
    present = text[text != ""]
    values = set(present.unique())
    if len(values) > 4 or not values or not values <= (_YES | _NO) or not values & _YES or not values & _NO:
        return None
    return text.map(lambda v: 1.0 if v in _YES else 0.0 if v in _NO else np.nan)


def yes_no_columns(history: pd.DataFrame) -> list[str]:
    """Columns holding only yes/no-like values (yes/no, 1/0, true/false, accepted/rejected), both present."""
    return [c for c in history.columns if _yes_no_values(history[c]) is not None]


def detect_response_column(history: pd.DataFrame, target: str | None = None) -> str:
    """The accepted yes/no column: ``target`` if given and valid, else a yes/no column with a telling name.

    Raises DataError saying which columns were considered when none (or several equally plausible) qualify.
    """
    if target is not None:
        if target not in history.columns:
            raise DataError(f"coupon responses: column {target!r} does not exist; columns are {list(history.columns)}.")
        if _yes_no_values(history[target]) is None:
            sample = sorted(map(str, history[target].dropna().unique()[:6]))
            raise DataError(f"coupon responses: column {target!r} is not yes/no (values {sample}); it must hold "
                            "two values such as 1/0, yes/no or true/false.")
        return target
    binary = yes_no_columns(history)
    if not binary:
        raise DataError(f"coupon responses: no yes/no column. Considered all {history.shape[1]} columns "
                        f"({', '.join(map(str, history.columns))}); none holds only two values such as 1/0, "
                        "yes/no or true/false. Add a column 'accepted' with 1 for accepted and 0 for declined.")
    named = [c for h in _TARGET_HINTS for c in binary if _norm_name(c) == h]
    if named:
        return named[0]
    if len(binary) == 1:
        return binary[0]
    raise DataError(f"coupon responses: several yes/no columns ({', '.join(binary)}) and none is named like an "
                    f"outcome ({', '.join(_TARGET_HINTS)}); choose the accepted column explicitly.")


def detect_coupon_column(history: pd.DataFrame, coupon_col: str | None = None, target: str | None = None) -> str:
    """The coupon-type column: ``coupon_col`` if given, else one named like coupon/offer/promotion."""
    if coupon_col is not None:
        if coupon_col not in history.columns:
            raise DataError(f"coupon responses: column {coupon_col!r} does not exist; columns are {list(history.columns)}.")
        return coupon_col
    for hint in _COUPON_HINTS:
        for c in history.columns:
            if _norm_name(c) == hint and c != target:
                return c
    raise DataError(f"coupon responses: no coupon-type column; looked for a column named one of {list(_COUPON_HINTS)} "
                    f"among {list(history.columns)}. Choose the column that says which coupon was offered.")


@dataclass(frozen=True)
class ResponseData:
    """A validated response history: features ``X`` (coupon column included), 0/1 ``y`` and column roles."""

    X: pd.DataFrame
    y: np.ndarray
    target: str
    coupon_column: str
    categorical: list[str]
    numeric: list[str]


def prepare_responses(history: pd.DataFrame, target: str | None = None,
                      coupon_col: str | None = None) -> ResponseData:
    """Detect the yes/no and coupon columns, drop unusable columns (constant, id-like), type the features.

    Rows with a blank answer are dropped. Raises DataError for an empty table, no yes/no or coupon column,
    too few answers of either kind, or a single coupon type.
    """
    if not isinstance(history, pd.DataFrame) or history.empty:
        raise DataError("coupon responses: the table is empty; upload a file with one row per coupon offered.")
    target = detect_response_column(history, target)
    coupon_col = detect_coupon_column(history, coupon_col, target)
    y = _yes_no_values(history[target])
    keep = y.notna().to_numpy()
    X = history.loc[keep].drop(columns=[target]).reset_index(drop=True)
    y = y[keep].to_numpy(int)
    if len(y) < 50 or y.min() == y.max() or min(np.bincount(y)) < 10:
        raise DataError(f"coupon responses: need at least 50 answered offers with 10+ of each answer in {target!r} "
                        f"(have {len(y)}: {int(y.sum())} yes, {int(len(y) - y.sum())} no).")
    if X[coupon_col].nunique() < 2:
        raise DataError(f"coupon responses: column {coupon_col!r} has a single coupon type; a policy needs at least two.")
    categorical, numeric = _feature_types(X, coupon_col)
    X = X[categorical + numeric]
    for c in categorical:
        X[c] = _text(X[c]).replace("", "(missing)").astype(object)
    for c in numeric:
        X[c] = pd.to_numeric(X[c], errors="coerce")
    return ResponseData(X, y, target, coupon_col, categorical, numeric)


def _feature_types(X: pd.DataFrame, coupon_col: str) -> tuple[list[str], list[str]]:
    """Categorical and numeric features; drops constant and id-like columns (unique text per row)."""
    categorical, numeric = [], []
    for c in X.columns:
        col = X[c]
        if col.nunique(dropna=True) < 2 and c != coupon_col:
            continue
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            if not (len(col) > 50 and col.is_unique):      # a unique number per row is an id, not a feature
                numeric.append(c)
        elif c == coupon_col or col.nunique() <= max(50, 0.05 * len(col)):
            categorical.append(c)
    return categorical, numeric


def acceptance_estimator(categorical: Sequence[str], numeric: Sequence[str], seed: int = 42, n_jobs: int = 1):
    """One-hot encoding + XGBoost, as a scikit-learn Pipeline (``n_jobs=1``: on 2 shared cores, 2 threads made
    the in-vehicle 5-fold CV 10x slower under load).

    The encoder's output is a dense numpy array: XGBoost never sees feature names (it refuses names with
    ``[ ] <`` such as ``coupon_Restaurant(<20)``), and zeros stay zeros, so :class:`LearnedCouponPolicy` can
    predict one person through the booster directly with identical results.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from xgboost import XGBClassifier

    pre = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"), list(categorical)),
                             ("num", "passthrough", list(numeric))], sparse_threshold=0.0)
    xgb = XGBClassifier(n_estimators=600, learning_rate=0.05, max_depth=8, subsample=0.8, colsample_bytree=0.4,
                        tree_method="hist", random_state=seed, n_jobs=n_jobs, eval_metric="logloss")
    return Pipeline([("prep", pre), ("model", xgb)])


def _estimator(prep: ResponseData, model: str | None, seed: int, n_jobs: int):
    """Our one-hot + XGBoost pipeline, or model ``model`` of the model lab (pipeline.models.REGISTRY)."""
    if model is None:
        return acceptance_estimator(prep.categorical, prep.numeric, seed, n_jobs)
    from pipeline.models import ZooSettings, build_pipeline

    types = {c: "categorical" for c in prep.categorical} | {c: "numeric" for c in prep.numeric}
    return build_pipeline(model, types, ZooSettings(random_state=seed, n_jobs=n_jobs))


def _model_label(model: str | None) -> str:
    if model is None:
        return "One-hot + XGBoost"
    from pipeline.models import REGISTRY

    return REGISTRY[model].label


def evaluate_acceptance_model(history: pd.DataFrame, target: str | None = None, coupon_col: str | None = None,
                              n_splits: int = 5, seed: int = 42, model: str | None = None,
                              n_jobs: int = 1) -> pd.DataFrame:
    """Stratified k-fold CV of the acceptance model next to a majority-class baseline.

    ``model``: a model-lab registry key, or ``None`` for one-hot + XGBoost.

    Returns
    -------
    DataFrame with rows ``model`` (the acceptance model, "Majority baseline") and columns ``roc_auc``,
    ``roc_auc_std``, ``accuracy``, ``log_loss``, ``n_rows``, ``n_splits``, ``fit_seconds``.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import StratifiedKFold, cross_validate

    prep = prepare_responses(history, target, coupon_col)
    est = _estimator(prep, model, seed, n_jobs)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rows = []
    for name, candidate in ((_model_label(model), est), ("Majority baseline", DummyClassifier(strategy="prior"))):
        t0 = time.perf_counter()
        res = cross_validate(candidate, prep.X, prep.y, cv=cv, scoring=("roc_auc", "accuracy", "neg_log_loss"))
        rows.append({"model": name, "roc_auc": res["test_roc_auc"].mean(), "roc_auc_std": res["test_roc_auc"].std(),
                     "accuracy": res["test_accuracy"].mean(), "log_loss": -res["test_neg_log_loss"].mean(),
                     "n_rows": len(prep.y), "n_splits": n_splits, "fit_seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


@dataclass
class LearnedCouponPolicy:
    """A fitted acceptance model and the value of each coupon type; recommends argmax acceptance x value.

    ``feature_columns``, ``defaults`` and ``choices`` describe the what-if inputs (anything not given for a
    person takes the training default: most frequent category / median number).
    """

    model: object
    target: str
    coupon_column: str
    coupon_types: list[str]
    categorical: list[str]
    numeric: list[str]
    defaults: dict
    values: dict[str, float]
    choices: dict = field(default_factory=dict)      # what-if inputs: categories, or (min, max) for numbers

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.categorical + self.numeric if c != self.coupon_column]

    def _row(self, person) -> dict:
        """One person's features (training defaults for anything not given), categorical values as text."""
        data = person.iloc[0].to_dict() if isinstance(person, pd.DataFrame) else dict(person)
        row = {}
        for c in self.categorical:
            v = data.get(c, self.defaults[c])
            missing = v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""
            row[c] = "(missing)" if missing else str(v).strip()
        for c in self.numeric:
            v = pd.to_numeric(data.get(c, self.defaults[c]), errors="coerce")
            row[c] = float(v) if v is not None and not pd.isna(v) else np.nan
        return row

    def _frame(self, person) -> pd.DataFrame:
        """One row per coupon type: the person's features with the coupon column set to that type."""
        frame = pd.DataFrame([self._row(person)] * len(self.coupon_types))
        frame[self.coupon_column] = self.coupon_types
        return frame

    def _fast_layout(self):
        """(booster, {column: {category: position}}, n one-hot columns) for our one-hot + XGBoost pipeline."""
        if not hasattr(self, "_layout"):
            self._layout = None
            steps = getattr(self.model, "named_steps", {})
            prep, xgb = steps.get("prep"), steps.get("model")
            names = [t[0] for t in getattr(prep, "transformers_", [])]
            if xgb is not None and hasattr(xgb, "get_booster") and names[:2] == ["onehot", "num"]:
                enc, pos, offsets = prep.named_transformers_["onehot"], 0, {}
                for col, cats in zip(self.categorical, enc.categories_):
                    offsets[col] = {str(v): pos + i for i, v in enumerate(cats)}
                    pos += len(cats)
                booster = xgb.get_booster().copy()
                booster.set_param({"nthread": 1})   # a few rows: threads cost more than they save
                self._layout = (booster, offsets, pos)
        return self._layout

    def acceptance(self, person) -> pd.Series:
        """Predicted acceptance probability of each coupon type for one person (dict, Series or 1-row frame)."""
        layout = self._fast_layout()
        if layout is None:
            proba = self.model.predict_proba(self._frame(person))[:, 1]
        else:  # same numbers as predict_proba, without scikit-learn's per-call validation
            booster, offsets, n_onehot = layout
            row = self._row(person)
            x = np.zeros(n_onehot + len(self.numeric), dtype=np.float32)
            for col, lookup in offsets.items():
                if col != self.coupon_column and row[col] in lookup:
                    x[lookup[row[col]]] = 1.0
            x[n_onehot:] = [row[c] for c in self.numeric]
            X = np.tile(x, (len(self.coupon_types), 1))
            coupon_pos = offsets.get(self.coupon_column, {})
            for r, t in enumerate(self.coupon_types):
                if str(t) in coupon_pos:
                    X[r, coupon_pos[str(t)]] = 1.0
            proba = booster.inplace_predict(X)
        return pd.Series(np.asarray(proba, dtype=float), index=self.coupon_types, name="acceptance")

    def recommend(self, person, values: Mapping[str, float] | None = None) -> dict:
        """Coupon type with the highest acceptance x value, with a reason and the full ranking table."""
        vals = {**self.values, **(values or {})}
        table = self.acceptance(person).to_frame()
        table["value"] = [float(vals.get(t, 1.0)) for t in table.index]
        table["expected_value"] = table["acceptance"] * table["value"]
        table = table.sort_values("expected_value", ascending=False).rename_axis("coupon").reset_index()
        best = table.iloc[0]
        nxt = (f"; next {table.at[1, 'coupon']}: {table.at[1, 'acceptance']:.0%} x {table.at[1, 'value']:.2f} = "
               f"{table.at[1, 'expected_value']:.2f}") if len(table) > 1 else ""
        reason = (f"{best['coupon']} has the highest expected value: {best['acceptance']:.0%} predicted acceptance "
                  f"x value {best['value']:.2f} = {best['expected_value']:.2f}{nxt}.")
        return {"coupon": best["coupon"], "acceptance": float(best["acceptance"]), "value": float(best["value"]),
                "expected_value": float(best["expected_value"]), "reason": reason, "table": table}


def fit_learned_policy(history: pd.DataFrame, target: str | None = None, coupon_col: str | None = None,
                       values: Mapping[str, float] | None = None, seed: int = 42, model: str | None = None,
                       n_jobs: int = 1) -> LearnedCouponPolicy:
    """Fit the acceptance model on all of ``history``; ``values`` = value per coupon type (default 1 each).

    ``model`` = a model-lab registry key (``"logreg"``, ``"forest"``, ...); ``None`` = one-hot + XGBoost,
    which also gets the fast one-person prediction path.
    """
    prep = prepare_responses(history, target, coupon_col)
    est = _estimator(prep, model, seed, n_jobs)
    est.fit(prep.X, prep.y)
    types = sorted(prep.X[prep.coupon_column].unique().tolist())
    unknown = sorted(set(values or {}) - set(types))
    if unknown:
        raise DataError(f"coupon responses: values given for unknown coupon type(s) {unknown}; types are {types}.")
    defaults = {c: prep.X[c].mode().iloc[0] for c in prep.categorical}
    defaults |= {c: float(prep.X[c].median()) for c in prep.numeric}
    choices = {c: sorted(prep.X[c].unique().tolist(), key=str) for c in prep.categorical if c != prep.coupon_column}
    choices |= {c: (float(prep.X[c].min()), float(prep.X[c].max())) for c in prep.numeric}
    return LearnedCouponPolicy(model=est, target=prep.target, coupon_column=prep.coupon_column, coupon_types=types,
                               categorical=prep.categorical, numeric=prep.numeric, defaults=defaults,
                               values={t: float((values or {}).get(t, 1.0)) for t in types}, choices=choices)
