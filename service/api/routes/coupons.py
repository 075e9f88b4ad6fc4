"""``POST /coupons/issue`` (idempotent, budgeted, with a control group) and ``POST /coupons/{code}/redeem``.

Both take an ``Idempotency-Key``: a retried redeem with the same key gets the first answer (not a 409)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from service import coupons as book
from service.api.deps import ERRORS, IdempotencyHeader, SessionDep, idempotent, invalid, require_scope
from service.api.routes.customers import current_card
from service.api.schemas import ID_PATTERN, CampaignIdText, FiniteNumber, IdText, Problem, Strict, utc
from service.idempotency import HEADER, REPLAYED, KeyReused
from service.keys import KeyInfo

router = APIRouter(prefix="/coupons", tags=["coupons"])

#: A coupon code in a path (``CPN-7KQ2M9XA``): no control characters, at most 32 characters.
CouponCode = Annotated[str, Path(min_length=1, max_length=32, pattern=ID_PATTERN)]


class IssueIn(Strict):
    customer_id: IdText
    campaign: CampaignIdText = Field(description="campaign id (create it with PUT /campaigns/{id})")


class DecisionOut(BaseModel):
    """The one answer a customer gets in a campaign."""

    campaign: str
    customer_id: str
    outcome: Literal["issued", "no_coupon", "control"]
    code: str | None = Field(description="unique coupon code when issued")
    coupon_id: str | None
    coupon_name: str | None
    value: float = Field(description="money the coupon is worth on the customer's usual basket (counts against "
                                     "the campaign's max_value)")
    min_spend: float
    expected_value: float | None
    reason: str
    decided_at: datetime
    replayed: bool = Field(description="true when this answer was given before (idempotent repeat)")


class RedeemIn(Strict):
    order_amount: Annotated[FiniteNumber, Field(gt=0, le=1_000_000)]


class RedeemOut(BaseModel):
    code: str
    campaign: str
    customer_id: str
    coupon_id: str | None
    order_amount: float
    redeemed_at: datetime


def _decision(d, replayed: bool) -> dict:
    return {"campaign": d.campaign_id, "customer_id": d.customer_id, "outcome": d.outcome, "code": d.code,
            "coupon_id": d.coupon_id, "coupon_name": d.coupon_name, "value": d.value, "min_spend": d.min_spend,
            "expected_value": d.expected_value, "reason": d.reason, "decided_at": utc(d.created_at),
            "replayed": replayed}


@router.post("/issue", response_model=DecisionOut, responses=ERRORS | {404: {"model": Problem},
                                                                       409: {"model": Problem}},
             summary="Apply the campaign's policy: a unique code, no coupon (with the reason) or control group")
def issue(body: IssueIn, request: Request, session: SessionDep, response: Response,
          key: Annotated[KeyInfo, Depends(require_scope("issue"))], idempotency_key: IdempotencyHeader = None) -> dict:
    return _replayable(idempotent(key, idempotency_key, request, body), request, response,
                       lambda: _issue(body, request, session))


def _replayable(idem, request: Request, response: Response, work) -> dict:
    """``work()``'s answer (no Idempotency-Key), stored under the key, or the answer stored before for it (marked
    replayed)."""
    if idem is None:
        return work()
    try:
        body, replayed = idem.run(request.app.state.sessions, 200, lambda: jsonable_encoder(work()))
    except KeyReused as exc:
        raise invalid(("header", HEADER), str(exc)) from None
    if replayed:
        response.headers[REPLAYED] = "true"
    return body


def _issue(body: IssueIn, request: Request, session) -> dict:
    scorer = request.app.state.scorer
    try:
        campaign = book.get_campaign(session, body.campaign, scorer.dataset_id)
    except book.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except book.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    existing = book.find_decision(session, campaign.id, body.customer_id)
    if existing is not None:
        return _decision(existing, True)
    card = current_card(request, session, body.customer_id)
    session.close()
    plan = book.plan_decision(campaign, body.customer_id, card, scorer.offer(card))
    decision, replayed = book.record_decision(request.app.state.sessions, campaign, body.customer_id, plan,
                                              scorer.model.coupons.policy.code_prefix)
    if not replayed:
        request.app.state.metrics.count(f"coupon_{decision.outcome}")
    return _decision(decision, replayed)


@router.post("/{code}/redeem", response_model=RedeemOut,
             responses=ERRORS | {404: {"model": Problem}, 409: {"model": Problem}},
             summary="Redeem a code once (a second redeem is 409)")
def redeem(code: CouponCode, body: RedeemIn, request: Request, response: Response,
           key: Annotated[KeyInfo, Depends(require_scope("issue"))], idempotency_key: IdempotencyHeader = None) -> dict:
    return _replayable(idempotent(key, idempotency_key, request, body), request, response,
                       lambda: _redeem(code, body, request))


def _redeem(code: str, body: RedeemIn, request: Request) -> dict:
    try:
        d = book.redeem(request.app.state.sessions, code, float(body.order_amount))
    except book.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except book.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except book.BadRequest as exc:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError([{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error",
                                       "input": body.order_amount}]) from None
    return {"code": d.code, "campaign": d.campaign_id, "customer_id": d.customer_id, "coupon_id": d.coupon_id,
            "order_amount": d.order_amount, "redeemed_at": utc(d.redeemed_at)}
