"""``GET /customers/{id}`` (the card) and ``POST /customers/{id}/transactions`` (real-time segmentation)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator

from pipeline.health.predictions import served_log
from pipeline.ingest.lines import day_invoice, line_amount
from service import transactions as store
from service.api.deps import ERRORS, IdempotencyHeader, idempotent, invalid, require_scope
from service.api.schemas import ID_PATTERN, MAX_ID_LENGTH, FiniteNumber, IdText, Problem, Scored, Strict
from service.idempotency import HEADER, REPLAYED, KeyReused
from service.keys import KeyInfo
from service.scoring import SCORING_NOTE, UnknownCustomer

router = APIRouter(prefix="/customers", tags=["customers"])

#: Largest money amount (absolute) or quantity one line may carry: anything above is a typo or an attack.
MAX_AMOUNT = 1_000_000.0
MAX_LINES = 1000
CustomerId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN,
                                 description="customer id as in the dataset (text)")]
Number = FiniteNumber


class TransactionIn(Strict):
    """One purchase line; a negative ``amount`` (or ``quantity``) is a return."""

    date: datetime = Field(description="purchase date-time (ISO 8601); not before 1970, at most one day ahead")
    amount: Number | None = Field(None, description="line revenue; negative = a return. Omit it to send "
                                                    "quantity and unit_price instead (amount = their product, "
                                                    "not rounded, as when a file is cleaned)")
    quantity: Number | None = Field(None, description="units (negative = returned units)")
    unit_price: Number | None = Field(None, description="price per unit (>= 0)")
    invoice_id: IdText | None = Field(None, description="order id; lines without one on the same day form one "
                                                        "order, the customer's order of that day in the dataset "
                                                        "too (invoice '<customer>|YYYY-MM-DD')")
    product_id: IdText | None = None
    line: StrictInt | None = Field(None, ge=1, le=100_000, description="the line's number within its invoice; "
                                   "default its position among this request's lines of that invoice. A line of an "
                                   "invoice is stored once: an identical repeat is skipped")

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
            self.amount = line_amount(self.quantity, self.unit_price)
            if not abs(self.amount) <= MAX_AMOUNT:
                raise ValueError(f"amount: quantity x unit_price = {self.amount:g} exceeds {MAX_AMOUNT:,.0f}")
        if self.amount == 0:
            raise ValueError("amount: must not be 0 (a purchase is > 0, a return < 0)")
        if self.quantity == 0:
            raise ValueError("quantity: must not be 0 (cleaning drops a line without units)")
        if self.quantity is not None and (self.quantity < 0) != (self.amount < 0):
            raise ValueError(f"quantity: {self.quantity:g} with amount {self.amount:g}; a return has both negative, a "
                             "purchase both positive (cleaning reads a negative quantity as a return)")
        return self


class TransactionsIn(Strict):
    transactions: list[TransactionIn] = Field(min_length=1, max_length=MAX_LINES)


class CustomerCard(Scored):
    """The customer's card. Transactions datasets fill segment, scores, churn, value and coupon; customer tables
    fill attributes, cluster and prediction. ``scoring`` says how a new or changed customer is scored."""

    customer_id: str
    kind: Literal["transactions", "customers"]
    scores: dict[str, float] = Field(default_factory=dict, description="recency_days, frequency, monetary, "
                                     "tenure_days and the 1-5 r_score, f_score, m_score")
    churn_model: str = ""
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
    as_of: str | None = None
    api_transactions: int = 0
    source: str = "dataset"
    scoring: str = SCORING_NOTE


class TransactionsOut(BaseModel):
    stored: int = Field(description="lines stored by this request (committed with the card before this answer)")
    skipped: int = Field(0, description="lines of this request stored already (same invoice, line number and "
                         "values: a retry), not stored again")
    transaction_ids: list[int]
    replayed: bool = Field(False, description="true when nothing new was stored: the answer to an earlier request "
                           "with the same Idempotency-Key, or every line a repeat of a stored one")
    card: CustomerCard


def current_card(request: Request, session, customer_id: str) -> dict:
    """The latest card: the one stored after API purchases (rebuilt first when lines arrived that it was not
    built from), else the dataset's. 404 for an unknown id."""
    scorer = request.app.state.scorer
    card, built_from, n_lines = store.card_state(session, scorer.dataset_id, customer_id)
    if n_lines and built_from != n_lines:
        session.close()
        card = store.rebuild(request.app.state.sessions, scorer.dataset_id, customer_id,
                             lambda rows: scorer.rescore(customer_id, rows))
        request.app.state.metrics.count("cards_rebuilt")
    if card is not None:
        return card
    try:
        return scorer.card(customer_id)
    except UnknownCustomer:
        raise HTTPException(404, f"customer {customer_id!r} is not in dataset '{scorer.model.dataset_name}' and has "
                                 "no purchases sent to this service.") from None


@router.get("/{customer_id}", response_model=CustomerCard, responses=ERRORS | {404: {"model": Problem}},
            summary="A customer's card: segment, scores, cluster, churn risk and drivers, value, coupon")
def get_customer(customer_id: CustomerId, request: Request, _key=Depends(require_scope("read"))) -> dict:
    with request.app.state.sessions() as session:
        card = current_card(request, session, customer_id)
    served_log(request.app.state.engine).record_card(request.app.state.scorer.dataset_id, card)  # model health
    return card


@router.post("/{customer_id}/transactions", response_model=TransactionsOut, status_code=201,
             responses=ERRORS | {409: {"model": Problem}},
             summary="Store purchases and the customer's recomputed card in one transaction, return the card (a "
                     "new id creates a customer); send an Idempotency-Key to retry safely")
def post_transactions(customer_id: CustomerId, body: TransactionsIn, request: Request, response: Response,
                      key: Annotated[KeyInfo, Depends(require_scope("score"))],
                      idempotency_key: IdempotencyHeader = None) -> dict:
    scorer = request.app.state.scorer
    if scorer.kind != "transactions":
        raise HTTPException(409, "transactions: this service serves a customer table (no purchases); load a "
                                 "transactions dataset to send purchases.")
    lines = _lines(customer_id, body.transactions)
    if not any(ln["amount"] > 0 for ln in lines) and not scorer.knows(customer_id):
        with request.app.state.sessions() as s:
            known = store.has_transactions(s, scorer.dataset_id, customer_id)
        if not known:
            raise HTTPException(409, f"transactions: customer {customer_id!r} is new and every line is a return; "
                                     "send at least one purchase (amount > 0) first.")
    idem = idempotent(key, idempotency_key, request, body)
    try:
        written, stored = store.write_purchases(request.app.state.sessions, scorer.dataset_id, customer_id, lines,
                                                lambda rows: scorer.rescore(customer_id, rows), idem, _answer)
    except store.LineConflict as exc:
        raise HTTPException(409, f"transactions: {exc}") from None
    except KeyReused as exc:
        raise invalid(("header", HEADER), str(exc)) from None
    if stored is not None:                                   # the answer to an earlier request with this key
        response.headers[REPLAYED] = "true"
        response.status_code = stored["status_code"]
        return stored["body"] | {"replayed": True}
    request.app.state.metrics.count("transactions_stored", len(written.ids))
    served_log(request.app.state.engine).record_card(scorer.dataset_id, written.card)            # model health
    out = _answer(written)
    if not written.ids:                                      # every line a repeat of a stored one
        response.status_code = 200
        out["replayed"] = True
    return out


def _answer(w: store.Written) -> dict:
    return {"stored": len(w.ids), "skipped": w.skipped, "transaction_ids": w.ids, "replayed": False, "card": w.card}


def _lines(customer_id: str, items: list[TransactionIn]) -> list[dict]:
    """Stored lines: an invoice's lines numbered (the client's ``line``, else their position in the request);
    lines without an invoice get the customer's order of that day (the pipeline's
    :func:`~pipeline.ingest.lines.day_invoice`, as for a file without invoices) and no number."""
    seen: dict[str, int] = {}
    out = []
    for t in items:
        line_no = None
        if t.invoice_id is not None:
            seen[t.invoice_id] = seen.get(t.invoice_id, 0) + 1
            line_no = t.line if t.line is not None else seen[t.invoice_id]
        out.append({"date": t.date, "amount": float(t.amount), "quantity": t.quantity, "unit_price": t.unit_price,
                    "invoice_id": t.invoice_id or day_invoice(customer_id, t.date), "product_id": t.product_id,
                    "line_no": line_no})
    numbered = [(ln["invoice_id"], ln["line_no"]) for ln in out if ln["line_no"] is not None]
    if len(set(numbered)) != len(numbered):
        raise invalid(("body", "transactions"), "two lines of one invoice have the same line number; number "
                                                "each line of an invoice once")
    return out
