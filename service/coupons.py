"""Campaigns and coupon decisions in the database: one answer per customer and campaign, a budget that holds
under concurrency, redeem once.

* Idempotent issue: ``coupon_decisions`` has a unique (campaign, customer) constraint. A request first looks for the
  stored answer; otherwise it plans one (audience, control group, policy), and inserts it in one transaction with
  the budget reservation. When a concurrent request won the race, the insert fails on the constraint, the whole
  transaction (budget included) rolls back and the winner's answer is returned.
* Budget: ``UPDATE campaigns SET issued_count = issued_count + 1, issued_value = issued_value + :v WHERE id = :id AND
  (max_coupons IS NULL OR issued_count < max_coupons) AND (max_value IS NULL OR issued_value + :v <= max_value)``;
  no row updated = budget exhausted, the customer gets "no coupon" with that reason.
* Redeem: ``UPDATE ... SET redeemed_at = now WHERE code = :code AND redeemed_at IS NULL``; a second redeem updates
  nothing and is answered 409.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.campaign import in_control_group
from service.core.db import write_session
from service.models import Campaign, CouponDecision

__all__ = ["Plan", "NotFound", "Conflict", "BadRequest", "save_campaign", "get_campaign", "plan_decision",
           "record_decision", "find_decision", "redeem", "campaign_counts", "new_code"]

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"      # no 0/O, 1/I/L: codes are read aloud and typed


class NotFound(LookupError):
    pass


class Conflict(Exception):
    pass


class BadRequest(ValueError):
    """A request that is well-formed but breaks a rule; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_code(prefix: str = "CPN", length: int = 10) -> str:
    """A random, unguessable code (~49 bits): live codes are handed to customers, so unlike the campaign
    export's reproducible codes they must not be derivable from the customer id."""
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


# ----------------------------------------------------------------------------------------------- campaigns

def save_campaign(factory: sessionmaker[Session], campaign_id: str, dataset: str, name: str, control_share: float,
                  max_coupons: int | None, max_value: float | None, audience: Mapping) -> tuple[Campaign, bool]:
    """Create a campaign, or change its name, control share, budget and audience (counters kept; answers already
    given stay as they were). Returns (campaign, created)."""
    with write_session(factory) as s:
        camp = s.get(Campaign, campaign_id)
        created = camp is None
        if camp is None:
            camp = Campaign(id=campaign_id, dataset=dataset, issued_count=0, issued_value=0.0, created_at=_now())
            s.add(camp)
        elif camp.dataset != dataset:
            raise Conflict(f"campaign {campaign_id!r} belongs to dataset {camp.dataset!r}; this service serves "
                           f"{dataset!r}. Use another campaign id.")
        camp.name, camp.control_share = name, control_share
        camp.max_coupons, camp.max_value = max_coupons, max_value
        camp.audience = json.dumps(dict(audience), sort_keys=True)
        s.commit()
        return camp, created


def get_campaign(session: Session, campaign_id: str, dataset: str) -> Campaign:
    camp = session.get(Campaign, campaign_id)
    if camp is None:
        raise NotFound(f"campaign {campaign_id!r} does not exist; create it with PUT /campaigns/{campaign_id}.")
    if camp.dataset != dataset:
        raise Conflict(f"campaign {campaign_id!r} belongs to dataset {camp.dataset!r}; this service serves "
                       f"{dataset!r}.")
    return camp


def campaign_counts(session: Session, campaign_id: str) -> dict:
    """Decisions, control, treated, excluded, issued, no coupon, redeemed and redeemed order value."""
    rows = session.execute(select(CouponDecision.arm, CouponDecision.outcome, func.count(),
                                  func.count(CouponDecision.redeemed_at), func.sum(CouponDecision.order_amount))
                           .where(CouponDecision.campaign_id == campaign_id)
                           .group_by(CouponDecision.arm, CouponDecision.outcome)).all()
    out = {"decisions": 0, "control": 0, "treated": 0, "excluded": 0, "issued": 0, "no_coupon": 0, "redeemed": 0,
           "redeemed_order_amount": 0.0}
    for arm, outcome, n, redeemed, amount in rows:
        out["decisions"] += n
        out[{"control": "control", "treatment": "treated"}.get(arm, "excluded")] += n
        if outcome in ("issued", "no_coupon"):
            out[outcome] += n
        out["redeemed"] += redeemed
        out["redeemed_order_amount"] += float(amount or 0.0)
    out["redeemed_order_amount"] = round(out["redeemed_order_amount"], 2)
    return out


# ----------------------------------------------------------------------------------------------- decisions

@dataclass(frozen=True)
class Plan:
    """The answer a customer would get, before the budget check."""

    arm: str                     # treatment | control | excluded
    outcome: str                 # issued | no_coupon | control
    reason: str
    coupon_id: str | None = None
    coupon_name: str | None = None
    value: float = 0.0           # money counted against max_value
    min_spend: float = 0.0
    expected_value: float | None = None


def _audience_miss(audience: Mapping, card: Mapping) -> str | None:
    for key, field, label in (("segments", "segment", "segment"), ("risk_bands", "risk_band", "churn risk band"),
                              ("clusters", "cluster", "cluster")):
        wanted = audience.get(key) or []
        if wanted and card.get(field) not in wanted:
            shown = ", ".join(map(str, wanted))
            return f"Not in the campaign's audience: {label} {card.get(field)!r} is not one of {shown}."
    return None


def plan_decision(campaign: Campaign, customer_id: str, card: Mapping, offer: Mapping | None) -> Plan:
    """Audience first, then the control group (:func:`pipeline.campaign.in_control_group`), then the policy's
    coupon (``offer``: ``coupon_id, coupon_name, value, min_spend, expected_value, reason``; None = no coupon)."""
    miss = _audience_miss(json.loads(campaign.audience or "{}"), card)
    if miss:
        return Plan("excluded", "no_coupon", miss)
    if in_control_group(customer_id, campaign.id, campaign.control_share):
        return Plan("control", "control", f"Control group: held out of campaign {campaign.id!r} "
                                          f"({campaign.control_share:.0%} of its audience, drawn per customer).")
    if offer is None or not offer.get("coupon_id"):
        return Plan("treatment", "no_coupon", (offer or {}).get("reason") or "The policy recommends no coupon.",
                    expected_value=(offer or {}).get("expected_value"))
    return Plan("treatment", "issued", str(offer.get("reason") or ""), str(offer["coupon_id"]),
                str(offer.get("coupon_name") or offer["coupon_id"]), float(offer.get("value") or 0.0),
                float(offer.get("min_spend") or 0.0), offer.get("expected_value"))


def find_decision(session: Session, campaign_id: str, customer_id: str) -> CouponDecision | None:
    return session.scalars(select(CouponDecision).where(CouponDecision.campaign_id == campaign_id,
                                                        CouponDecision.customer_id == customer_id)).first()


def _reserve_budget(s: Session, campaign_id: str, value: float) -> bool:
    c = Campaign
    res = s.execute(update(c).where(c.id == campaign_id,
                                    or_(c.max_coupons.is_(None), c.issued_count < c.max_coupons),
                                    or_(c.max_value.is_(None), c.issued_value + value <= c.max_value))
                    .values(issued_count=c.issued_count + 1, issued_value=c.issued_value + value)
                    .execution_options(synchronize_session=False))
    return res.rowcount == 1


def record_decision(factory: sessionmaker[Session], campaign: Campaign, customer_id: str, plan: Plan,
                    code_prefix: str = "CPN") -> tuple[CouponDecision, bool]:
    """Store the answer (reserving budget for a coupon) unless one exists; returns (decision, replayed)."""
    for _ in range(5):                                       # retries only on a code collision (~never)
        with write_session(factory) as s:
            existing = find_decision(s, campaign.id, customer_id)
            if existing is not None:
                return existing, True
            outcome, reason = plan.outcome, plan.reason
            if outcome == "issued" and not _reserve_budget(s, campaign.id, plan.value):
                outcome = "no_coupon"
                reason = (f"Campaign budget used up ({_budget_text(campaign)}); the policy's choice would have been "
                          f"{plan.coupon_name}.")
            issued = outcome == "issued"
            row = CouponDecision(campaign_id=campaign.id, customer_id=customer_id, arm=plan.arm, outcome=outcome,
                                 code=new_code(code_prefix) if issued else None,
                                 coupon_id=plan.coupon_id if issued else None,
                                 coupon_name=plan.coupon_name if issued else None,
                                 value=plan.value if issued else 0.0, min_spend=plan.min_spend if issued else 0.0,
                                 expected_value=plan.expected_value, reason=reason, created_at=_now())
            s.add(row)
            try:
                s.commit()
                return row, False
            except IntegrityError:
                s.rollback()
        with factory() as s:
            existing = find_decision(s, campaign.id, customer_id)
            if existing is not None:
                return existing, True
    raise RuntimeError("coupon issue: could not store a decision after 5 attempts")


def _budget_text(c: Campaign) -> str:
    parts = ([f"at most {c.max_coupons:,} coupons"] if c.max_coupons is not None else []) + \
        ([f"at most {c.max_value:,.2f} in value"] if c.max_value is not None else [])
    return " and ".join(parts) or "no limit"


def redeem(factory: sessionmaker[Session], code: str, order_amount: float) -> CouponDecision:
    """Mark a code redeemed once. NotFound (unknown code), Conflict (already redeemed), BadRequest (order below
    the coupon's minimum spend)."""
    with write_session(factory) as s:
        res = s.execute(update(CouponDecision)
                        .where(CouponDecision.code == code, CouponDecision.redeemed_at.is_(None),
                               CouponDecision.min_spend <= order_amount)
                        .values(redeemed_at=_now(), order_amount=order_amount)
                        .execution_options(synchronize_session=False))
        s.commit()
        row = s.scalars(select(CouponDecision).where(CouponDecision.code == code)).first()
    if row is None:
        raise NotFound(f"coupon code {code!r} does not exist.")
    if res.rowcount == 1:
        return row
    if row.redeemed_at is not None:
        raise Conflict(f"coupon code {code!r} was redeemed already on {row.redeemed_at.isoformat(timespec='seconds')}"
                       " UTC; a code is redeemed once.")
    raise BadRequest("order_amount", f"order_amount {order_amount:,.2f} is below this coupon's minimum spend of "
                                     f"{row.min_spend:,.2f}.")
