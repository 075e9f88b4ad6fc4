"""``PUT /campaigns/{id}`` (create or change; admin) and ``GET /campaigns/{id}`` (counts; read)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StrictInt

from service import coupons as book
from service.api.deps import ERRORS, SessionDep, require_scope
from service.api.schemas import CAMPAIGN_ID_PATTERN, FiniteNumber, LabelText, NameText, Problem, Strict, utc

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

CampaignId = Annotated[str, Path(pattern=CAMPAIGN_ID_PATTERN, description="letters, digits, '_', '-', '.' (1-64)")]


class Audience(Strict):
    """Who may get a coupon; an empty list means no restriction on that criterion."""

    segments: list[LabelText] = Field(default_factory=list, max_length=50)
    risk_bands: list[Literal["Low", "Medium", "High"]] = Field(default_factory=list, max_length=3)
    clusters: list[Annotated[StrictInt, Field(ge=-1, le=10_000)]] = Field(default_factory=list, max_length=100)


class CampaignIn(Strict):
    name: NameText
    control_share: Annotated[FiniteNumber, Field(ge=0, le=0.9)] = Field(
        0.1, description="share of the audience held out (no coupon), drawn per customer and campaign")
    max_coupons: Annotated[StrictInt, Field(ge=0, le=100_000_000)] | None = Field(
        None, description="at most this many coupons (null: no limit)")
    max_value: Annotated[FiniteNumber, Field(ge=0, le=1e12)] | None = Field(
        None, description="at most this much coupon value in money (null: no limit)")
    audience: Audience = Field(default_factory=Audience)


class CampaignOut(BaseModel):
    id: str
    dataset: str
    name: str
    control_share: float
    max_coupons: int | None
    max_value: float | None
    audience: Audience
    created_at: datetime
    decisions: int = Field(description="customers answered (every outcome)")
    treated: int = Field(description="audience customers outside the control group (issued or no coupon)")
    control: int = Field(description="audience customers held out")
    excluded: int = Field(description="customers outside the audience (no coupon)")
    issued: int
    no_coupon: int
    redeemed: int
    issued_value: float
    redeemed_order_amount: float
    coupons_left: int | None
    value_left: float | None


def _out(session, camp) -> dict:
    counts = book.campaign_counts(session, camp.id)
    return {"id": camp.id, "dataset": camp.dataset, "name": camp.name, "control_share": camp.control_share,
            "max_coupons": camp.max_coupons, "max_value": camp.max_value,
            "audience": json.loads(camp.audience or "{}"), "created_at": utc(camp.created_at),
            "issued_value": round(camp.issued_value, 2),
            "coupons_left": None if camp.max_coupons is None else max(camp.max_coupons - camp.issued_count, 0),
            "value_left": None if camp.max_value is None else round(max(camp.max_value - camp.issued_value, 0.0), 2),
            **counts}


@router.put("/{campaign_id}", response_model=CampaignOut,
            responses=ERRORS | {201: {"model": CampaignOut, "description": "Created"}, 409: {"model": Problem}},
            summary="Create a campaign or change its name, control share, budget and audience")
def put_campaign(campaign_id: CampaignId, body: CampaignIn, request: Request, response: Response,
                 session: SessionDep, _key=Depends(require_scope("admin"))) -> dict:
    from pipeline.coupons import RFM_SEGMENTS

    scorer = request.app.state.scorer
    known = set(RFM_SEGMENTS) | set(scorer.model.table["segment"].astype(str).unique()) \
        if "segment" in scorer.model.table else set()
    for i, seg in enumerate(body.audience.segments):
        if seg not in known:
            raise RequestValidationError([{"loc": ("body", "audience", "segments", i), "type": "value_error",
                                           "msg": f"unknown segment {seg!r}; use one of {', '.join(sorted(known))}"
                                           if known else "this dataset has no RFM segments", "input": seg}])
    session.close()
    try:
        camp, created = book.save_campaign(request.app.state.sessions, campaign_id, scorer.dataset_id, body.name,
                                           float(body.control_share), body.max_coupons,
                                           None if body.max_value is None else float(body.max_value),
                                           body.audience.model_dump())
    except book.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    response.status_code = 201 if created else 200
    with request.app.state.sessions() as s:
        return _out(s, camp)


@router.get("/{campaign_id}", response_model=CampaignOut,
            responses=ERRORS | {404: {"model": Problem}, 409: {"model": Problem}},
            summary="A campaign's settings and counts: issued, redeemed, control, treated")
def get_campaign(campaign_id: CampaignId, request: Request, session: SessionDep,
                 _key=Depends(require_scope("read"))) -> dict:
    try:
        camp = book.get_campaign(session, campaign_id, request.app.state.scorer.dataset_id)
    except book.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except book.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _out(session, camp)
