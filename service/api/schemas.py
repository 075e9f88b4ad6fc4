"""Schemas shared by several routes (each route module holds its own request/response schemas)."""
from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict

__all__ = ["Problem", "Strict", "utc"]


def utc(value: datetime | None) -> datetime | None:
    """Stored times are naive UTC; answers carry the zone (RFC 3339 date-time)."""
    return None if value is None else value.replace(tzinfo=timezone.utc)


class Problem(BaseModel):
    """An error: what is wrong and how to fix it."""

    detail: str


class Strict(BaseModel):
    """Request bodies: unknown fields are refused (422 naming the field), types are not coerced from text."""

    model_config = ConfigDict(extra="forbid", strict=False)
