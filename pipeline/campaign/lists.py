"""Campaign lists: an audience (segment, cluster, churn band, saved selection) -> one row per customer with the
group (treated or control), the coupon, its expected value, cost and incremental revenue, the reason and a unique
code; and the campaign's totals.

The input is the per-customer table of :class:`pipeline.customer.ModelScorer` (``scorer.table``): transactions
datasets go through the expected-value policy (:func:`pipeline.coupons.recommend_batch`); customer tables need a
learned acceptance policy (:func:`pipeline.coupons.fit_learned_policy`), which picks the coupon type with the
highest predicted acceptance x value for every row. A share of the audience, drawn by
:func:`pipeline.campaign.control.control_mask`, is held out as the control group and gets no coupon.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from pipeline.campaign.control import check_share, control_mask
from pipeline.config import CampaignConfig
from pipeline.coupons import RISK_BANDS, CouponPolicyConfig, LearnedCouponPolicy, coupon_codes, recommend_batch
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = ["CAMPAIGN_COLUMNS", "CONTROL_COUPON", "select_customers", "campaign_list", "learned_batch",
           "campaign_summary", "CampaignTotals", "campaign_totals"]

#: Columns of a campaign list (customer tables have no segment / churn / spend / cost: those stay empty).
CAMPAIGN_COLUMNS = ("customer_id", "group", "segment", "cluster", "cluster_name", "risk_band", "churn_probability",
                    "expected_spend", "next_item", "coupon_id", "coupon_name", "coupon_code", "expected_value",
                    "expected_cost", "incremental_revenue", "reason", "campaign_id", "send_date", "audience_as_of")
#: ``coupon_id`` and ``coupon_name`` of the control group's rows.
CONTROL_COUPON = ("control", "No coupon: control group")


def _one_of(value, available: Sequence, what: str):
    if value not in set(available):
        shown = ", ".join(map(str, list(available)[:12]))
        raise DataError(f"campaign: no customers in {what} {value!r}; choose one of {shown}.")


def select_customers(table: pd.DataFrame, *, segment: str | None = None, cluster: int | None = None,
                     band: str | None = None, customer_ids: Sequence | None = None) -> pd.DataFrame:
    """Rows of the per-customer table (index ``customer_id``) matching every given criterion.

    Raises DataError for an unknown segment / cluster / band, or when nothing matches.
    """
    keep = np.ones(len(table), dtype=bool)
    if segment is not None:
        if "segment" not in table:
            raise DataError("campaign: this dataset has no RFM segments (it is a customer table); choose a cluster "
                            "or a saved selection.")
        _one_of(segment, sorted(table["segment"].dropna().unique()), "segment")
        keep &= (table["segment"] == segment).to_numpy()
    if cluster is not None:
        clusters = sorted(int(c) for c in table["cluster"].dropna().unique()) if "cluster" in table else []
        _one_of(int(cluster), clusters, "cluster")
        keep &= (table["cluster"] == int(cluster)).fillna(False).to_numpy(bool)
    if band is not None:
        if "risk_band" not in table:
            raise DataError("campaign: this dataset has no churn risk (it is a customer table); choose a cluster "
                            "or a saved selection.")
        if band not in RISK_BANDS:
            raise DataError(f"campaign: churn band {band!r} is not one of {', '.join(RISK_BANDS)}.")
        keep &= (table["risk_band"] == band).to_numpy()
    if customer_ids is not None:
        wanted = pd.Index(pd.Series(list(customer_ids), dtype=object).astype(str))
        keep &= table.index.astype(str).isin(wanted)
    out = table[keep]
    if out.empty:
        raise DataError("campaign: no customers match this choice (for a saved selection: its customers are not "
                        "in this dataset); choose another segment, cluster, band or selection.")
    return out


def _next_categories(chosen: pd.DataFrame) -> np.ndarray:
    """The category the policy's category coupons read: ``next_category`` (the scorer's
    ``ModelScorer.next_categories()``) when the table has it, else the next item (data whose items are categories)."""
    col = "next_category" if "next_category" in chosen else "next_item"
    return chosen.get(col, pd.Series("", index=chosen.index)).fillna("").astype(str).to_numpy()


def _policy_coupons(chosen: pd.DataFrame, catalogue, config: CouponPolicyConfig,
                    learned: LearnedCouponPolicy | None, values: Mapping[str, float] | None,
                    facts=None) -> pd.DataFrame:
    """The coupon columns for the treated customers (expected-value policy, else the learned one); ``facts``: the
    dataset's :class:`pipeline.customer.facts.CardFacts`, whose withheld predictions the policy does not use."""
    ids = chosen.index.astype(str)
    if facts is not None and "churn_probability" in chosen:
        chosen = chosen.assign(**facts.usable(chosen))
    if "churn_probability" in chosen:
        inputs = pd.DataFrame({"customer_id": ids, "segment": chosen["segment"].to_numpy(),
                               "churn_probability": chosen["churn_probability"].to_numpy(float),
                               "order_value": chosen["avg_order_value"].to_numpy(float),
                               "expected_spend": chosen["expected_spend"].fillna(0.0).to_numpy(float),
                               "p_alive": chosen["p_alive"].fillna(1.0).to_numpy(float),
                               "next_category": _next_categories(chosen)})
        if "churn_basis" in chosen:            # the rule the churn risk comes from when the model is withheld
            inputs["churn_basis"] = chosen["churn_basis"].fillna("").astype(str).to_numpy()
        return recommend_batch(inputs, catalogue, config)
    if learned is not None:
        return learned_batch(chosen, learned, config, values).assign(expected_cost=np.nan,
                                                                     incremental_revenue=np.nan)
    raise DataError("campaign: a customer table has no purchases for the expected-value rules; train the "
                    "learned policy on a coupon-response history first.")


@logged("campaign")
def campaign_list(table: pd.DataFrame, catalogue=None, config: CouponPolicyConfig = CouponPolicyConfig(), *,
                  segment: str | None = None, cluster: int | None = None, band: str | None = None,
                  customer_ids: Sequence | None = None, learned: LearnedCouponPolicy | None = None,
                  values: Mapping[str, float] | None = None, campaign_id: str = "campaign",
                  control_share: float = CampaignConfig().control_share, send_date: str | None = None,
                  as_of: str | None = None, facts=None) -> pd.DataFrame:
    """One row per selected customer: group, who they are, the coupon, its economics, why, and a unique code.

    ``control_share`` of the audience (drawn per customer and ``campaign_id`` by
    :func:`~pipeline.campaign.control.control_mask`) is the ``control`` group: no coupon, no cost. The others
    (``treated``) get the policy's coupon: transactions (the table has ``churn_probability``) use the
    expected-value policy with ``catalogue``; customer tables use ``learned`` (DataError when it is missing).
    Columns :data:`CAMPAIGN_COLUMNS`; ``send_date`` (YYYY-MM-DD or blank) is what the results are measured from;
    ``as_of`` (``audience_as_of``) the day ``table`` describes (:func:`pipeline.campaign.campaign_audience`), which
    the results check is not after the send date. ``facts`` (the scorer's ``decisions.facts``): a P(alive) or
    expected spend withheld on the dataset is not used by the policy
    (:meth:`pipeline.customer.facts.CardFacts.usable`), as on the card. ``config.currency`` is the unit of the
    reasons' figures: pass the scorer's ``coupons.policy``, which carries the dataset's (the default config writes
    plain numbers).
    """
    share = check_share(control_share)
    chosen = select_customers(table, segment=segment, cluster=cluster, band=band, customer_ids=customer_ids)
    ids = chosen.index.astype(str)
    control = control_mask(ids, campaign_id, share)
    base = pd.DataFrame({"customer_id": ids, "group": np.where(control, "control", "treated")})
    for col in ("segment", "cluster", "cluster_name", "risk_band", "churn_probability", "expected_spend",
                "next_item"):
        base[col] = chosen[col].to_numpy() if col in chosen else pd.NA
    out = base.assign(coupon_id=CONTROL_COUPON[0], coupon_name=CONTROL_COUPON[1], coupon_code="",
                      expected_value=0.0, expected_cost=0.0, incremental_revenue=0.0,
                      reason=f"Control group: held out at random ({share:.0%} of the audience of campaign "
                             f"'{campaign_id}') to measure what the campaign adds; gets no coupon.")
    if (~control).any():
        coupons = _policy_coupons(chosen[~control], catalogue, config, learned, values, facts)
        cols = ["coupon_id", "coupon_name", "coupon_code", "expected_value", "expected_cost", "incremental_revenue",
                "reason"]
        out.loc[~control, cols] = coupons[cols].to_numpy()
    for col in ("expected_value", "expected_cost", "incremental_revenue"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    out["churn_probability"] = pd.to_numeric(out["churn_probability"], errors="coerce").round(4)
    out["expected_spend"] = pd.to_numeric(out["expected_spend"], errors="coerce").round(2)
    if facts is not None and not facts.get("expected_spend").visible:
        out["expected_spend"] = np.nan              # withheld on this dataset: no figure in the list either
    out["campaign_id"], out["send_date"], out["audience_as_of"] = str(campaign_id), send_date or "", as_of or ""
    return out[list(CAMPAIGN_COLUMNS)]


def learned_batch(table: pd.DataFrame, policy: LearnedCouponPolicy,
                  config: CouponPolicyConfig = CouponPolicyConfig(),
                  values: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Best coupon type (acceptance x value) for every row of a customer table with the learned policy.

    Columns the policy knows but the table lacks take the policy's training defaults; the reason says so.
    Returns ``customer_id, coupon_id, coupon_name, expected_value, reason, coupon_code``.
    """
    vals = {**policy.values_, **(values or {})}
    n, types = len(table), list(policy.coupon_types_)
    missing = [c for c in policy.feature_columns_ if c not in table.columns]
    if len(missing) == len(policy.feature_columns_):
        raise DataError(f"campaign: none of the learned policy's inputs ({', '.join(missing[:8])}) is a column of "
                        "this table; learn the policy from a response history that describes these customers.")
    people = table.reset_index(drop=True)
    stacked = pd.concat([people.assign(**{policy.coupon_column_: t}) for t in types], ignore_index=True)
    accept = policy.predict_proba(stacked)[:, 1].reshape(len(types), n).T
    value = np.array([float(vals.get(t, 1.0)) for t in types])
    ev = accept * value
    best = ev.argmax(axis=1)
    rows = np.arange(n)
    note = f" ({', '.join(missing[:5])} not in the table: training defaults used)" if missing else ""
    reasons = [f"{types[b]} has the highest expected value of {len(types)} coupon types: {accept[i, b]:.0%} predicted "
               f"acceptance x value {value[b]:.2f} = {ev[i, b]:.2f}{note}." for i, b in zip(rows, best)]
    ids = table.index.astype(str)
    chosen = np.asarray(types, dtype=object)[best]
    return pd.DataFrame({"customer_id": ids, "coupon_id": chosen, "coupon_name": chosen,
                         "expected_value": ev[rows, best].round(4), "reason": reasons,
                         "coupon_code": coupon_codes(ids, chosen, prefix=config.code_prefix, seed=config.seed,
                                                     length=config.code_length)})


def campaign_summary(campaign: pd.DataFrame) -> pd.DataFrame:
    """Per coupon (the control group is one row): customers, share of the list, total and mean expected value,
    total expected cost (largest group first)."""
    g = campaign.groupby("coupon_name", sort=False)
    out = pd.DataFrame({"customers": g.size(), "total_expected_value": g["expected_value"].sum().round(2),
                        "mean_expected_value": g["expected_value"].mean().round(2),
                        "total_expected_cost": g["expected_cost"].sum(min_count=1).round(2)})
    out.insert(1, "share", (out["customers"] / len(campaign)).round(4))
    return out.sort_values("customers", ascending=False).rename_axis("coupon").reset_index()


@dataclass(frozen=True)
class CampaignTotals:
    """What a campaign list adds up to. Money is in ``currency``; ``None`` where the policy has no money model
    (a learned acceptance policy on a customer table)."""

    customers: int
    treated: int
    control: int
    coupons_issued: int
    coupons_by_type: dict = field(default_factory=dict)
    expected_cost: float | None = None
    incremental_revenue: float | None = None
    expected_value: float | None = None
    currency: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def campaign_totals(campaign: pd.DataFrame, currency: str = "") -> CampaignTotals:
    """Customers (treated / control), coupons issued by type, expected cost, expected incremental revenue and
    net expected value (margin on the extra sales minus the cost) of a list from :func:`campaign_list`."""
    control = campaign["group"].eq("control")
    issued = campaign["coupon_code"].fillna("").astype(str).ne("")

    def money(col: str) -> float | None:
        total = campaign.loc[~control, col].sum(min_count=1)
        return None if pd.isna(total) else round(float(total), 2)

    by_type = campaign.loc[issued, "coupon_name"].value_counts()
    cost = money("expected_cost")
    return CampaignTotals(customers=len(campaign), treated=int((~control).sum()), control=int(control.sum()),
                          coupons_issued=int(issued.sum()), coupons_by_type={str(k): int(v) for k, v in by_type.items()},
                          expected_cost=cost, incremental_revenue=money("incremental_revenue"),
                          expected_value=None if cost is None else money("expected_value"), currency=currency)
