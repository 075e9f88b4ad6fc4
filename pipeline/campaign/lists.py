"""Campaign lists: a segment, cluster, churn band or saved selection -> one coupon per customer, with its expected
value, the reason and a unique code; and the workspace's own coupon catalogue.

The input is the per-customer table of :class:`pipeline.customer.ModelScorer` (``scorer.table``): transactions
datasets go through the expected-value policy (:func:`pipeline.coupons.recommend_batch`); customer tables need a
learned acceptance policy (:func:`pipeline.coupons.fit_learned_policy`), which picks the coupon type with the
highest predicted acceptance x value for every row.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.coupons import (RISK_BANDS, CouponPolicyConfig, LearnedCouponPolicy, coupon_codes, load_catalogue,
                              recommend_batch)
from pipeline.errors import DataError
from pipeline.log import logged

__all__ = [
    "in_control_group", "control_mask", "CATALOGUE_DOC", "CAMPAIGN_COLUMNS", "workspace_catalogue",
    "save_workspace_catalogue", "reset_workspace_catalogue", "select_customers", "campaign_list", "learned_batch", "campaign_summary",
]

#: Workspace JSON document holding the edited coupon catalogue (absent or null: ``assets/coupons.csv``).
CATALOGUE_DOC = "coupon_catalogue"
#: Columns of a campaign list (customer tables have no segment / churn / spend: those stay empty).
CAMPAIGN_COLUMNS = ("customer_id", "segment", "cluster", "cluster_name", "risk_band", "churn_probability",
                    "expected_spend", "next_item", "coupon_id", "coupon_name", "expected_value", "reason",
                    "coupon_code")


# ----------------------------------------------------------------------------------------------- catalogue

def workspace_catalogue(ws) -> tuple[pd.DataFrame, str | None]:
    """The workspace's catalogue (validated) and a warning when a saved one could not be read (default used)."""
    saved = ws.read_json(CATALOGUE_DOC)
    if not saved:
        return load_catalogue(), None
    try:
        return load_catalogue(pd.DataFrame(saved)), None
    except DataError as exc:
        return load_catalogue(), f"The saved coupon catalogue is not valid any more ({exc}); using the default."


def save_workspace_catalogue(ws, catalogue) -> pd.DataFrame:
    """Validate ``catalogue`` (anything :func:`load_catalogue` reads) and save it; returns the validated table.

    Nothing is saved when it is invalid (DataError naming every bad cell)."""
    cat = load_catalogue(catalogue)
    ws.write_json(CATALOGUE_DOC, cat.to_dict(orient="records"))
    return cat


def reset_workspace_catalogue(ws) -> None:
    """Go back to the default catalogue in ``assets/coupons.csv``."""
    ws.write_json(CATALOGUE_DOC, None)


# ----------------------------------------------------------------------------------------------- selection

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


# ----------------------------------------------------------------------------------------------- lists

@logged("campaign")
def campaign_list(table: pd.DataFrame, catalogue=None, config: CouponPolicyConfig = CouponPolicyConfig(), *,
                  segment: str | None = None, cluster: int | None = None, band: str | None = None,
                  customer_ids: Sequence | None = None, learned: LearnedCouponPolicy | None = None,
                  values: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per selected customer: who they are, the coupon, its expected value, why, and a unique code.

    Transactions (the table has ``churn_probability``) use the expected-value policy with ``catalogue``;
    customer tables use ``learned`` (DataError when it is missing). Columns :data:`CAMPAIGN_COLUMNS`.
    """
    chosen = select_customers(table, segment=segment, cluster=cluster, band=band, customer_ids=customer_ids)
    ids = chosen.index.astype(str)
    base = pd.DataFrame({"customer_id": ids})
    for col in ("segment", "cluster", "cluster_name", "risk_band", "churn_probability", "expected_spend",
                "next_item"):
        base[col] = chosen[col].to_numpy() if col in chosen else pd.NA
    if "churn_probability" in chosen:
        inputs = pd.DataFrame({"customer_id": ids, "segment": chosen["segment"].to_numpy(),
                               "churn_probability": chosen["churn_probability"].to_numpy(float),
                               "order_value": chosen["avg_order_value"].to_numpy(float),
                               "expected_spend": chosen["expected_spend"].fillna(0.0).to_numpy(float),
                               "p_alive": chosen["p_alive"].fillna(1.0).to_numpy(float),
                               "next_category": chosen.get("next_item", pd.Series("", index=chosen.index))
                               .fillna("").to_numpy()})
        coupons = recommend_batch(inputs, catalogue, config).drop(columns=["customer_id"])
    elif learned is not None:
        coupons = learned_batch(chosen, learned, config, values).drop(columns=["customer_id"])
    else:
        raise DataError("campaign: a customer table has no purchases for the expected-value rules; train the "
                        "learned policy on a coupon-response history first.")
    out = pd.concat([base, coupons.reset_index(drop=True)], axis=1)
    out["churn_probability"] = pd.to_numeric(out["churn_probability"], errors="coerce").round(4)
    out["expected_spend"] = pd.to_numeric(out["expected_spend"], errors="coerce").round(2)
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
    """Per coupon: customers, share of the list, total and mean expected value (largest group first)."""
    g = campaign.groupby("coupon_name", sort=False)
    out = pd.DataFrame({"customers": g.size(), "total_expected_value": g["expected_value"].sum().round(2),
                        "mean_expected_value": g["expected_value"].mean().round(2)})
    out.insert(1, "share", (out["customers"] / len(campaign)).round(4))
    return out.sort_values("customers", ascending=False).rename_axis("coupon").reset_index()


# ----------------------------------------------------------------------------------------------- control group

def _control_point(customer_id, campaign_id) -> float:
    digest = hashlib.sha256(f"{campaign_id}\x1f{customer_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_control_group(customer_id, campaign_id, share: float) -> bool:
    """Whether a customer is held out of a campaign (gets no coupon), deterministically.

    The customer's point in [0, 1) is the first 64 bits of SHA-256(campaign id, customer id); the customer is in
    the control group when that point is below ``share``. So the same customer and campaign always get the same
    answer (in the dashboard and the scoring service alike), about ``share`` of any audience is held out, and
    each campaign draws its own group. ``share`` must be in [0, 1].
    """
    share = float(share)
    if not 0.0 <= share <= 1.0:
        raise DataError(f"control group: share {share!r} must be between 0 and 1 (e.g. 0.1 for 10%).")
    return _control_point(str(customer_id), str(campaign_id)) < share


def control_mask(customer_ids: Sequence, campaign_id, share: float) -> np.ndarray:
    """:func:`in_control_group` for many customers (a boolean array in the order of ``customer_ids``)."""
    return np.array([in_control_group(c, campaign_id, share) for c in customer_ids], dtype=bool)
