"""The service's tables (SQLAlchemy 2, ``Mapped[...]``): their one declaration. :mod:`service.migrations` creates
and upgrades the database from these classes (never ``create_all``); a test checks the migrated database, new or
written by an earlier release, matches them.

Correctness lives here: ``uq_decision_campaign_customer`` makes a coupon decision idempotent (one answer per
customer and campaign), ``coupon_decisions.code`` is unique, and the budget counters on ``campaigns`` are only
ever changed by a conditional ``UPDATE`` (see :mod:`service.coupons`). ``uq_transactions_invoice_line`` stores a
purchase line of a given invoice once (a client's blind retry cannot count it twice), ``idempotency_keys`` keeps
the answer to each ``Idempotency-Key``, and a card records how many lines it was built from
(``customer_cards.line_count``), so a card behind its lines is found and rebuilt (:mod:`service.transactions`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "SchemaVersion", "ApiKey", "Transaction", "CustomerCard", "Campaign", "CouponDecision",
           "IdempotencyKey"]

#: Auto-increment 64-bit id on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(DateTime)


class ApiKey(Base):
    """An API key: only the SHA-256 of the key is kept, with its first characters to recognise it in lists."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    rate_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    burst: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Transaction(Base):
    """A purchase line (amount > 0) or a return (amount < 0) received by the API, per dataset and customer."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_customer", "dataset", "customer_id", "id"),
                      Index("uq_transactions_invoice_line", "dataset", "customer_id", "invoice_id", "line_no",
                            unique=True))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    invoice_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    date: Mapped[datetime] = mapped_column(DateTime)
    quantity: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    amount: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    #: the line's number within its invoice (1, 2, ...) when the client gave an invoice id; NULL otherwise (NULLs
    #: never collide in a unique index, so invoice-less lines are not deduplicated by content)
    line_no: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CustomerCard(Base):
    """The card of a customer who has API transactions (JSON), built from exactly ``line_count`` stored lines
    (NULL: unknown, rebuilt); ``last_transaction_id`` is the newest of them."""

    __tablename__ = "customer_cards"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_transaction_id: Mapped[int] = mapped_column(BigInteger)
    card: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    line_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Campaign(Base):
    """A coupon campaign: audience, control share, budget, and the running counts the budget check reads."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    control_share: Mapped[float] = mapped_column(Float)
    max_coupons: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    audience: Mapped[str] = mapped_column(Text)                 # JSON: segments, bands, clusters
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    issued_value: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CouponDecision(Base):
    """The one answer a customer gets in a campaign: ``issued`` (with a unique code), ``no_coupon`` or
    ``control``."""

    __tablename__ = "coupon_decisions"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", name="uq_decision_campaign_customer"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(String(64), ForeignKey("campaigns.id"))
    customer_id: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(16))                # treatment | control | excluded (not in audience)
    outcome: Mapped[str] = mapped_column(String(16))            # issued | no_coupon | control
    code: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    coupon_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    coupon_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)
    min_spend: Mapped[float] = mapped_column(Float, default=0.0)
    expected_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    order_amount: Mapped[float | None] = mapped_column(Float, nullable=True)


class IdempotencyKey(Base):
    """The answer given to a POST sent with an ``Idempotency-Key`` header (per API key): a repeat with the same
    body gets this answer again; the same key with another body is refused."""

    __tablename__ = "idempotency_keys"

    api_key_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
