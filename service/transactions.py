"""Purchases received by the API (durable before the 2xx) and the latest card of each customer who has some.

A card computed from transactions up to id N replaces a stored card only if the stored one was computed from
fewer (``last_transaction_id < N``): two workers rescoring the same customer at once cannot leave the older card.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from service.core.db import write_session
from service.models import CustomerCard, Transaction

__all__ = ["append", "lines_for", "stored_card", "store_card", "has_transactions"]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def append(factory: sessionmaker[Session], dataset: str, customer_id: str, lines: Sequence[dict]) -> list[int]:
    """Insert the lines in one transaction and commit; returns their ids."""
    now = _now()
    rows = [Transaction(dataset=dataset, customer_id=customer_id, received_at=now, **line) for line in lines]
    with write_session(factory) as s:
        s.add_all(rows)
        s.commit()
    return [r.id for r in rows]


def lines_for(session: Session, dataset: str, customer_id: str) -> list[Transaction]:
    return list(session.scalars(select(Transaction).where(Transaction.dataset == dataset,
                                                          Transaction.customer_id == customer_id)
                                .order_by(Transaction.id)))


def has_transactions(session: Session, dataset: str, customer_id: str) -> bool:
    return session.execute(select(Transaction.id).where(Transaction.dataset == dataset,
                                                        Transaction.customer_id == customer_id).limit(1)).first() \
        is not None


def stored_card(session: Session, dataset: str, customer_id: str) -> dict | None:
    text = session.execute(select(CustomerCard.card).where(CustomerCard.dataset == dataset,
                                                           CustomerCard.customer_id == customer_id)).scalar()
    return None if text is None else json.loads(text)


def store_card(factory: sessionmaker[Session], dataset: str, customer_id: str, last_id: int, card: dict) -> None:
    """Upsert the card unless a card computed from later transactions is stored already."""
    with write_session(factory) as s:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(CustomerCard).values(dataset=dataset, customer_id=customer_id, last_transaction_id=last_id,
                                           card=json.dumps(card), updated_at=_now())
        stmt = stmt.on_conflict_do_update(
            index_elements=[CustomerCard.dataset, CustomerCard.customer_id],
            set_={"last_transaction_id": stmt.excluded.last_transaction_id, "card": stmt.excluded.card,
                  "updated_at": stmt.excluded.updated_at},
            where=CustomerCard.last_transaction_id < stmt.excluded.last_transaction_id)
        s.execute(stmt)
        s.commit()
