"""Versioned schema: an ordered list of migrations and a ``schema_version`` table recording which have run.

Why not Alembic: the service has five small tables and must create them itself at start-up on SQLite and
PostgreSQL, from several uvicorn workers starting at once. A migration here is a Python function in
:data:`MIGRATIONS` that receives a connection inside the upgrade transaction; :func:`upgrade` takes a database-wide
lock first (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), applies the missing versions
in order and records each one, all in one transaction, so concurrent starts apply each migration exactly once.
Migration functions are frozen: a schema change is a new function appended to the list (plus the change in
:mod:`service.models`); ``tests/test_service_storage.py`` checks the migrated schema equals the models.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import (BigInteger, Column, Connection, DateTime, Engine, Float, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, UniqueConstraint, inspect, select, text)

from service.core.db import is_sqlite

__all__ = ["MIGRATIONS", "upgrade", "current_version"]

_LOCK_ID = 0x5E6_3E17  # any constant: the advisory lock taken while migrating on PostgreSQL


def _v1_initial(conn: Connection) -> None:
    """API keys, received transactions, cached cards, campaigns and coupon decisions."""
    big = BigInteger().with_variant(Integer, "sqlite")
    md = MetaData()
    Table("api_keys", md,
          Column("id", big, primary_key=True, autoincrement=True),
          Column("name", String(64), nullable=False, unique=True),
          Column("prefix", String(16), nullable=False),
          Column("key_hash", String(64), nullable=False, unique=True),
          Column("scopes", String(200), nullable=False),
          Column("rate_per_second", Float, nullable=True),
          Column("created_at", DateTime, nullable=False),
          Column("revoked_at", DateTime, nullable=True))
    tx = Table("transactions", md,
               Column("id", big, primary_key=True, autoincrement=True),
               Column("dataset", String(64), nullable=False),
               Column("customer_id", String(64), nullable=False),
               Column("invoice_id", String(64), nullable=False),
               Column("product_id", String(64), nullable=True),
               Column("date", DateTime, nullable=False),
               Column("quantity", Float, nullable=True),
               Column("unit_price", Float, nullable=True),
               Column("amount", Float, nullable=False),
               Column("received_at", DateTime, nullable=False))
    Index("ix_transactions_customer", tx.c.dataset, tx.c.customer_id, tx.c.id)
    Table("customer_cards", md,
          Column("dataset", String(64), primary_key=True),
          Column("customer_id", String(64), primary_key=True),
          Column("last_transaction_id", BigInteger, nullable=False),
          Column("card", Text, nullable=False),
          Column("updated_at", DateTime, nullable=False))
    Table("campaigns", md,
          Column("id", String(64), primary_key=True),
          Column("dataset", String(64), nullable=False),
          Column("name", String(200), nullable=False),
          Column("control_share", Float, nullable=False),
          Column("max_coupons", Integer, nullable=True),
          Column("max_value", Float, nullable=True),
          Column("audience", Text, nullable=False),
          Column("issued_count", Integer, nullable=False),
          Column("issued_value", Float, nullable=False),
          Column("created_at", DateTime, nullable=False))
    Table("coupon_decisions", md,
          Column("id", big, primary_key=True, autoincrement=True),
          Column("campaign_id", String(64), ForeignKey("campaigns.id"), nullable=False),
          Column("customer_id", String(64), nullable=False),
          Column("arm", String(16), nullable=False),
          Column("outcome", String(16), nullable=False),
          Column("code", String(32), nullable=True, unique=True),
          Column("coupon_id", String(64), nullable=True),
          Column("coupon_name", String(200), nullable=True),
          Column("value", Float, nullable=False),
          Column("min_spend", Float, nullable=False),
          Column("expected_value", Float, nullable=True),
          Column("reason", Text, nullable=False),
          Column("created_at", DateTime, nullable=False),
          Column("redeemed_at", DateTime, nullable=True),
          Column("order_amount", Float, nullable=True),
          UniqueConstraint("campaign_id", "customer_id", name="uq_decision_campaign_customer"))
    md.create_all(conn)


def _v2_traffic(conn: Connection) -> None:
    """Line numbers unique per invoice, cards counting their lines, idempotency keys, per-key burst."""
    conn.execute(text("ALTER TABLE transactions ADD COLUMN line_no INTEGER"))
    conn.execute(text("ALTER TABLE customer_cards ADD COLUMN line_count INTEGER"))   # NULL: rebuilt at start-up
    conn.execute(text("ALTER TABLE api_keys ADD COLUMN burst FLOAT"))
    md = MetaData()
    tx = Table("transactions", md, Column("dataset", String(64)), Column("customer_id", String(64)),
               Column("invoice_id", String(64)), Column("line_no", Integer))
    Index("uq_transactions_invoice_line", tx.c.dataset, tx.c.customer_id, tx.c.invoice_id, tx.c.line_no,
          unique=True).create(conn)
    idem = Table("idempotency_keys", md,
                 Column("api_key_id", BigInteger, primary_key=True, autoincrement=False),
                 Column("key", String(255), primary_key=True),
                 Column("request_hash", String(64), nullable=False),
                 Column("status_code", Integer, nullable=False),
                 Column("response", Text, nullable=False),
                 Column("created_at", DateTime, nullable=False))
    idem.create(conn)
    Index("ix_idempotency_keys_created_at", idem.c.created_at).create(conn)


#: (version, function); append only.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_traffic),
]

_version_table = Table("schema_version", MetaData(),
                       Column("version", Integer, primary_key=True, autoincrement=False),
                       Column("description", String(200), nullable=False),
                       Column("applied_at", DateTime, nullable=False))


def current_version(engine: Engine) -> int:
    """Highest applied migration (0 for an empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("schema_version"):
            return 0
        return int(conn.execute(select(text("max(version)")).select_from(_version_table)).scalar() or 0)


def upgrade(engine: Engine) -> int:
    """Apply every missing migration in one locked transaction; returns the version reached."""
    opts = {"segments_sqlite_immediate": True} if is_sqlite(engine) else {}
    with engine.connect().execution_options(**opts) as conn, conn.begin():
        if not is_sqlite(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        _version_table.create(conn, checkfirst=True)
        done = {int(v) for v in conn.execute(select(_version_table.c.version)).scalars()}
        for version, migrate in MIGRATIONS:
            if version in done:
                continue
            migrate(conn)
            conn.execute(_version_table.insert().values(version=version, description=(migrate.__doc__ or "")
                                                        .strip()[:200], applied_at=datetime.now(timezone.utc)
                                                        .replace(tzinfo=None)))
        return max([v for v, _ in MIGRATIONS] + list(done))
