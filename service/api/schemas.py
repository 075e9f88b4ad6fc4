"""Schemas shared by several routes (each route module holds its own request/response schemas), and the
constrained types every request field is built from: one definition of "a number" and "a piece of text".

A request number is finite: Python's ``json`` reads ``NaN``, ``Infinity``, ``-Infinity`` and ``1e400`` (as
``inf``), so :data:`FiniteNumber` refuses them with a 422 naming the field. Request text never holds a control
character (U+0000-U+001F, U+007F) or a lone surrogate (a JSON ``"\\ud800"`` escape, which is not text and can be
neither stored nor sent back); every text field has a maximum length. The error answers themselves never echo such
values (:mod:`service.api.errors`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic import Strict as StrictType
from pydantic_core import PydanticCustomError

__all__ = ["CAMPAIGN_ID_PATTERN", "ID_PATTERN", "MAX_ID_LENGTH", "TEXT_PATTERN", "CampaignIdText", "FiniteNumber",
           "IdText", "LabelText", "NameText", "Problem", "Scored", "Strict", "forbidden_character", "text", "utc"]

#: Longest id (customer, invoice, product, coupon code, campaign) accepted; the tables hold String(64).
MAX_ID_LENGTH = 64
#: OpenAPI patterns (clients and Schemathesis read them; the validator below gives the clearer message).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def forbidden_character(value: str) -> str | None:
    """Why ``value`` is not acceptable text ("a control character U+0000 at position 3"), or None."""
    m = _FORBIDDEN.search(value)
    if m is None:
        return None
    what = "a lone surrogate" if "\ud800" <= m.group() <= "\udfff" else "a control character"
    return f"{what} U+{ord(m.group()):04X} at position {m.start()}"


def _clean_text(value: Any) -> Any:
    """Before pydantic's own checks (whose message for a surrogate is a vague 'unable to parse'): refuse control
    characters and lone surrogates, saying which and where. Non-text values go on to the type check."""
    if isinstance(value, str) and (why := forbidden_character(value)) is not None:
        raise PydanticCustomError("text_characters", "text must not contain control characters (U+0000-U+001F, "
                                  "U+007F) or lone surrogates (U+D800-U+DFFF); found {found}", {"found": why})
    return value


def text(max_length: int, min_length: int = 1, pattern: str | None = None) -> Any:
    """A request text type: no control characters or lone surrogates, ``min_length``..``max_length`` characters,
    and ``pattern`` when given (else the no-control-character pattern, for the OpenAPI document)."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=pattern or (ID_PATTERN if min_length else TEXT_PATTERN)),
                     BeforeValidator(_clean_text)]                # listed last: it runs first


#: Ids: customer, invoice, product, coupon code (1-64 characters).
IdText = text(MAX_ID_LENGTH)
#: A campaign id: letters, digits, '_', '-', '.' (1-64).
CampaignIdText = text(MAX_ID_LENGTH, pattern=CAMPAIGN_ID_PATTERN)
#: Names people type (campaign names): 1-200 characters.
NameText = text(200)
#: Labels (segment names): 1-64 characters.
LabelText = text(MAX_ID_LENGTH)
#: A number in a request: an integer or a finite float (never NaN, ±Infinity, 1e400, true/false or "5").
FiniteNumber = Annotated[float, StrictType(), AllowInfNan(False)]


def utc(value: datetime | None) -> datetime | None:
    """Stored times are naive UTC; answers carry the zone (RFC 3339 date-time)."""
    return None if value is None else value.replace(tzinfo=timezone.utc)


class Problem(BaseModel):
    """An error: what is wrong and how to fix it."""

    detail: str


class Strict(BaseModel):
    """Request bodies: unknown fields are refused (422 naming the field), types are not coerced from text, and no
    float field accepts NaN or infinity (also for a field declared without :data:`FiniteNumber`)."""

    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


class Scored(BaseModel):
    """What a customer's card (``GET /customers/{id}``) and a what-if answer (``POST /score``) both say."""

    model_config = ConfigDict(extra="allow")

    segment: str = ""
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
    drivers: list[dict[str, Any]] = Field(default_factory=list, description="top reasons for this customer's churn "
                                          "risk (feature, value, contribution)")
    notes: list[str] = Field(default_factory=list)
    model_version: str = ""
