"""``GET /customers/{id}`` (the card) and ``POST /customers/{id}/transactions`` (real-time segmentation)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

from pipeline.health.predictions import served_log
from service import transactions as store
from service.api.deps import ERRORS, SessionDep, require_scope
from service.api.schemas import Problem, Strict
from service.scoring import SCORING_NOTE, UnknownCustomer

router = APIRouter(prefix="/customers", tags=["customers"])

#: Largest money amount (absolute) or quantity one line may carry: anything above is a typo or an attack.
MAX_AMOUNT = 1_000_000.0
MAX_LINES = 1000
CustomerId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="customer id as in the dataset (text)")]
Number = StrictFloat | StrictInt


class TransactionIn(Strict):
    """One purchase line; a negative ``amount`` (or ``quantity``) is a return."""

    date: datetime = Field(description="purchase date-time (ISO 8601); not before 1970, at most one day ahead")
    amount: Number | None = Field(None, description="line revenue; negative = a return. Omit it to send "
                                                    "quantity and unit_price instead")
    quantity: Number | None = Field(None, description="units (negative = returned units)")
    unit_price: Number | None = Field(None, description="price per unit (>= 0)")
    invoice_id: str | None = Field(None, min_length=1, max_length=64, description="order id; lines without one "
                                   "on the same day form one order")
    product_id: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("date")
    @classmethod
    def _date_in_range(cls, v: datetime) -> datetime:
        if v.tzinfo is not None:
            v = v.astimezone(timezone.utc).replace(tzinfo=None)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        if v < datetime(1970, 1, 1) or v > now + timedelta(days=1):
            raise ValueError(f"date {v.isoformat()} is out of range: give a date from 1970 up to one day from now")
        return v

    @field_validator("amount", "quantity", "unit_price")
    @classmethod
    def _finite_and_sane(cls, v: float | None, info) -> float | None:
        if v is None:
            return v
        v = float(v)
        if not abs(v) <= MAX_AMOUNT:
            raise ValueError(f"{info.field_name} {v:g} is out of range: its size must be at most {MAX_AMOUNT:,.0f}")
        if info.field_name == "unit_price" and v < 0:
            raise ValueError("unit_price must not be negative (send a negative quantity for a return)")
        return v

    @model_validator(mode="after")
    def _amount(self) -> TransactionIn:
        if self.amount is None:
            if self.quantity is None or self.unit_price is None:
                raise ValueError("amount: give amount, or both quantity and unit_price")
            self.amount = round(self.quantity * self.unit_price, 2)
            if not abs(self.amount) <= MAX_AMOUNT:
                raise ValueError(f"amount: quantity x unit_price = {self.amount:g} exceeds {MAX_AMOUNT:,.0f}")
        if self.amount == 0:
            raise ValueError("amount: must not be 0 (a purchase is > 0, a return < 0)")
        return self


class TransactionsIn(Strict):
    transactions: list[TransactionIn] = Field(min_length=1, max_length=MAX_LINES)


class CustomerCard(BaseModel):
    """The customer's card. Transactions datasets fill segment, scores, churn, value and coupon; customer tables
    fill attributes, cluster and prediction. ``scoring`` says how a new or changed customer is scored."""

    model_config = ConfigDict(extra="allow")

    customer_id: str
    kind: Literal["transactions", "customers"]
    segment: str = ""
    scores: dict[str, float] = Field(default_factory=dict, description="recency_days, frequency, monetary, "
                                     "tenure_days and the 1-5 r_score, f_score, m_score")
    cluster: int | None = None
    cluster_name: str = ""
    cluster_label: str = Field("", description="the cluster as shown: 'Cluster 3: recent, frequent', or 'Unlike any "
                               "group (nearest: cluster 3 — recent, frequent)' when cluster_name is 'unlike any group' "
                               "(far from every centre, in no group; cluster is then the nearest)")
    churn_probability: float | None = None
    risk_band: str = ""
    churn_source: str = Field("", description="where churn_probability comes from: 'model' (the churn model), or "
                              "the simple rule used because the model did no better on this data ('recency', "
                              "'btyd'); a withheld model's probability is never returned")
    churn_basis: str = Field("", description="for a rule's risk: the rule and the customer's number it read")
    churn_model: str = ""
    drivers: list[dict[str, Any]] = Field(default_factory=list, description="top reasons for this customer's churn "
                                          "risk (feature, value, contribution)")
    p_alive: float | None = Field(None, description="chance of buying again in the next H days, from the source "
                                  "graded best on this data (BG/NBD P(alive), or 1 - the churn model's risk)")
    expected_orders: float | None = None
    expected_spend: float | None = None
    spend_low: float | None = Field(None, description="80% range of the spend in the next H days (the spend "
                                    "forecast; null when the card shows BG/NBD's figure)")
    spend_high: float | None = None
    next_order_date: str | None = Field(None, description="next order: the hazard model's median date given an "
                                        "order within H days, BG/NBD's date, or the rule 'the last gap repeats' "
                                        "(next_source says which)")
    next_order_low: str | None = Field(None, description="80% range of the next order's date (hazard model only)")
    next_order_high: str | None = None
    usual_gap_days: float | None = Field(None, description="days between the customer's last two purchase days")
    spend_source: str = ""
    next_source: str = ""
    coupon: dict[str, Any] = Field(default_factory=dict, description="coupon_id, coupon_name, expected_value, "
                                   "reason, risk_band")
    notes: list[str] = Field(default_factory=list)
    as_of: str | None = None
    api_transactions: int = 0
    source: str = "dataset"
    scoring: str = SCORING_NOTE
    model_version: str = ""


class TransactionsOut(BaseModel):
    stored: int = Field(description="lines stored (committed before this answer)")
    transaction_ids: list[int]
    card: CustomerCard


def current_card(request: Request, session, customer_id: str) -> dict:
    """The latest card: the one stored after API purchases, else the dataset's. 404 for an unknown id."""
    scorer = request.app.state.scorer
    card = store.stored_card(session, scorer.dataset_id, customer_id)
    if card is not None:
        return card
    try:
        return scorer.card(customer_id)
    except UnknownCustomer:
        raise HTTPException(404, f"customer {customer_id!r} is not in dataset '{scorer.model.dataset_name}' and has "
                                 "no purchases sent to this service.") from None


@router.get("/{customer_id}", response_model=CustomerCard, responses=ERRORS | {404: {"model": Problem}},
            summary="A customer's card: segment, scores, cluster, churn risk and drivers, value, coupon")
def get_customer(customer_id: CustomerId, request: Request, session: SessionDep,
                 _key=Depends(require_scope("read"))) -> dict:
    card = current_card(request, session, customer_id)
    served_log(request.app.state.engine).record_card(request.app.state.scorer.dataset_id, card)  # model health
    return card


@router.post("/{customer_id}/transactions", response_model=TransactionsOut, status_code=201,
             responses=ERRORS | {409: {"model": Problem}},
             summary="Store purchases, then return the customer's recomputed card (a new id creates a customer)")
def post_transactions(customer_id: CustomerId, body: TransactionsIn, request: Request, session: SessionDep,
                      _key=Depends(require_scope("score"))) -> dict:
    scorer = request.app.state.scorer
    if scorer.kind != "transactions":
        raise HTTPException(409, "transactions: this service serves a customer table (no purchases); load a "
                                 "transactions dataset to send purchases.")
    lines = [_line(t, customer_id) for t in body.transactions]
    if not any(ln["amount"] > 0 for ln in lines) and not scorer.knows(customer_id) and \
            not store.has_transactions(session, scorer.dataset_id, customer_id):
        raise HTTPException(409, f"transactions: customer {customer_id!r} is new and every line is a return; send at "
                                 "least one purchase (amount > 0) first.")
    session.close()                      # the read transaction must not hold SQLite's snapshot during the write
    ids = store.append(request.app.state.sessions, scorer.dataset_id, customer_id, lines)
    request.app.state.metrics.count("transactions_stored", len(ids))
    with request.app.state.sessions() as s:
        rows = store.lines_for(s, scorer.dataset_id, customer_id)
    card = scorer.rescore(customer_id, [_as_dict(r) for r in rows])
    store.store_card(request.app.state.sessions, scorer.dataset_id, customer_id, rows[-1].id, card)
    served_log(request.app.state.engine).record_card(scorer.dataset_id, card)                    # model health
    return {"stored": len(ids), "transaction_ids": ids, "card": card}


def _line(t: TransactionIn, customer_id: str) -> dict:
    day = t.date.strftime("%Y%m%d")
    return {"date": t.date, "amount": float(t.amount), "quantity": t.quantity, "unit_price": t.unit_price,
            "invoice_id": t.invoice_id or f"API-{day}", "product_id": t.product_id}


def _as_dict(row) -> dict:
    return {"date": row.date, "amount": row.amount, "quantity": row.quantity, "unit_price": row.unit_price,
            "invoice_id": row.invoice_id, "product_id": row.product_id}
