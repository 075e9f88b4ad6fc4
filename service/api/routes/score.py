"""``POST /score``: the what-if widget as an API (hypothetical inputs -> segment, cluster, churn risk, coupon)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Discriminator, Field, Tag

from service.api.deps import ERRORS, require_scope
from service.api.schemas import FiniteNumber, IdText, NameText, Problem, Scored, Strict, text
from service.scoring import UnknownCustomer

router = APIRouter(tags=["score"])

_RFM = ("recency_days", "frequency", "monetary", "tenure_days")


def _attribute_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "text"
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else None


#: A customer table's input: a finite number (a numeric column) or a short text (a category).
AttributeValue = Annotated[
    Annotated[Annotated[FiniteNumber, Field(ge=-1e12, le=1e12)], Tag("number")] | Annotated[text(200, 0), Tag("text")],
    Discriminator(_attribute_kind, custom_error_type="attribute_value",
                  custom_error_message="must be a number or text")]


class ScoreIn(Strict):
    """Transactions datasets: any of recency_days, frequency, monetary, tenure_days (the rest are the customer's,
    or the typical customer's). Customer tables: ``attributes``, the table's columns (e.g. annual income)."""

    customer_id: IdText | None = Field(None, description="start from this customer's values instead of the "
                                                         "typical customer")
    recency_days: Annotated[FiniteNumber, Field(ge=1, le=36_500)] | None = None
    frequency: Annotated[FiniteNumber, Field(ge=1, le=1_000_000)] | None = None
    monetary: Annotated[FiniteNumber, Field(gt=0, le=1_000_000_000)] | None = None
    tenure_days: Annotated[FiniteNumber, Field(ge=1, le=36_500)] | None = None
    attributes: dict[NameText, AttributeValue] | None = Field(None, max_length=200)


class ScoreOut(Scored):
    kind: str
    inputs: dict[str, Any]
    scores: dict[str, Any] = Field(default_factory=dict)
    value: dict[str, Any] = Field(default_factory=dict)
    coupon: dict[str, Any] = Field(default_factory=dict)
    prediction: dict[str, Any] = Field(default_factory=dict)
    learned_coupon: dict[str, Any] | None = None


def _field_error(field: str, msg: str, value: object = None) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", *field.split(".")), "msg": msg, "type": "value_error",
                                    "input": value}])


@router.post("/score", response_model=ScoreOut, responses=ERRORS | {404: {"model": Problem}},
             summary="What if: score hypothetical inputs (segment/cluster, churn risk, coupon)")
def score(body: ScoreIn, request: Request, _key=Depends(require_scope("score"))) -> dict:
    scorer = request.app.state.scorer
    rfm = {k: float(v) for k in _RFM if (v := getattr(body, k)) is not None}
    if scorer.kind == "transactions":
        if body.attributes:
            raise _field_error("attributes", "this dataset has purchases: send recency_days, frequency, monetary "
                                             "or tenure_days instead of attributes")
        inputs: dict[str, object] = rfm
    else:
        if rfm:
            raise _field_error(next(iter(rfm)), "this dataset is a customer table: send its columns in attributes")
        fields = scorer.what_if_fields()
        for name, value in (body.attributes or {}).items():
            spec = fields.get(name)
            if spec is None:
                raise _field_error(f"attributes.{name}", f"not an input of this dataset; use "
                                                         f"{', '.join(fields) or 'none'}", name)
            if spec["kind"] == "number" and isinstance(value, str):
                raise _field_error(f"attributes.{name}", "must be a number", value)
            if spec["kind"] == "choice" and not isinstance(value, str):
                raise _field_error(f"attributes.{name}", "must be text (one of the column's values)", value)
        inputs = dict(body.attributes or {})
    try:
        return scorer.what_if(inputs, body.customer_id)
    except UnknownCustomer:
        raise HTTPException(404, f"customer {body.customer_id!r} is not in the dataset.") from None
