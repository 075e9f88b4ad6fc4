"""Purchases received by the API and the card of each customer who has some: stored together, serialised per
customer, so a stored card is always a function of exactly the committed lines.

A write (:func:`write_purchases`) runs in one transaction that first takes the customer's lock
(``pg_advisory_xact_lock`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite, whose one writer serialises everything),
then appends the lines, stores the card built from all of the customer's lines with their count
(``customer_cards.line_count``) and the ``Idempotency-Key`` answer, and commits. The card is built before the lock
from a snapshot of the customer's lines (scoring is the slow part and must not hold the lock); under the lock the
count is checked again and, when another purchase landed in between, the card is rebuilt there.

A line of a given invoice is stored once (``uq_transactions_invoice_line``): a retried line that is identical is
skipped, a different one with the same invoice and line number is a :class:`LineConflict`. A card whose
``line_count`` differs from its lines (written before this scheme, or by hand) is rebuilt by :func:`rebuild` — on a
GET that finds it behind and, for every such customer, at start-up (:func:`behind`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from service.core.db import write_session
from service.idempotency import IdempotentRequest
from service.models import CustomerCard, Transaction

__all__ = ["Written", "LineConflict", "write_purchases", "rebuild", "card_state", "behind", "lines_for",
           "has_transactions", "line_dict"]

#: columns of a line that a retry must repeat exactly to count as the same line
_SAME = ("date", "amount", "quantity", "unit_price", "product_id")
BuildCard = Callable[[list[dict]], dict]


class LineConflict(Exception):
    """A line's (invoice, line number) is stored already with different content."""


@dataclass(frozen=True)
class Written:
    ids: list[int]           # ids of the lines stored by this request (skipped duplicates excluded)
    skipped: int             # lines of the request stored already (an identical retry)
    card: dict
    line_count: int


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def line_dict(row: Transaction) -> dict:
    return {"date": row.date, "amount": row.amount, "quantity": row.quantity, "unit_price": row.unit_price,
            "invoice_id": row.invoice_id, "product_id": row.product_id, "line_no": row.line_no}


def lines_for(session: Session, dataset: str, customer_id: str) -> list[Transaction]:
    return list(session.scalars(select(Transaction).where(Transaction.dataset == dataset,
                                                          Transaction.customer_id == customer_id)
                                .order_by(Transaction.id)))


def has_transactions(session: Session, dataset: str, customer_id: str) -> bool:
    return session.execute(select(Transaction.id).where(Transaction.dataset == dataset,
                                                        Transaction.customer_id == customer_id).limit(1)).first() \
        is not None


def _count(session: Session, dataset: str, customer_id: str) -> int:
    return int(session.execute(select(func.count()).select_from(Transaction).where(
        Transaction.dataset == dataset, Transaction.customer_id == customer_id)).scalar() or 0)


def card_state(session: Session, dataset: str, customer_id: str) -> tuple[dict | None, int | None, int]:
    """(stored card or None, the number of lines it was built from, the number of lines stored now): one query."""
    mine = (CustomerCard.dataset == dataset) & (CustomerCard.customer_id == customer_id)
    row = session.execute(select(
        select(CustomerCard.card).where(mine).scalar_subquery(),
        select(CustomerCard.line_count).where(mine).scalar_subquery(),
        select(func.count()).select_from(Transaction).where(Transaction.dataset == dataset,
                                                            Transaction.customer_id == customer_id)
        .scalar_subquery())).one()
    return (None if row[0] is None else json.loads(row[0])), row[1], int(row[2] or 0)


def behind(session: Session, dataset: str) -> list[str]:
    """Customers whose stored card is missing or was not built from exactly their stored lines."""
    counts = select(Transaction.customer_id, func.count().label("n")).where(Transaction.dataset == dataset) \
        .group_by(Transaction.customer_id).subquery()
    rows = session.execute(select(counts.c.customer_id).outerjoin(
        CustomerCard, (CustomerCard.dataset == dataset) & (CustomerCard.customer_id == counts.c.customer_id))
        .where((CustomerCard.line_count.is_(None)) | (CustomerCard.line_count != counts.c.n)))
    return sorted(r[0] for r in rows)


def _lock(s: Session, dataset: str, customer_id: str) -> None:
    """Serialise writers of one customer until the transaction ends (SQLite: BEGIN IMMEDIATE did already)."""
    if s.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"{dataset}\x1f{customer_id}".encode(), digest_size=8).digest()
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest, "big", signed=True)})


def _store_card(s: Session, dataset: str, customer_id: str, card: dict, line_count: int, last_id: int) -> None:
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(CustomerCard).values(dataset=dataset, customer_id=customer_id, last_transaction_id=last_id,
                                       card=json.dumps(card), updated_at=_now(), line_count=line_count)
    s.execute(stmt.on_conflict_do_update(
        index_elements=[CustomerCard.dataset, CustomerCard.customer_id],
        set_={"last_transaction_id": stmt.excluded.last_transaction_id, "card": stmt.excluded.card,
              "updated_at": stmt.excluded.updated_at, "line_count": stmt.excluded.line_count}))


def _split_stored(s: Session, dataset: str, customer_id: str, lines: Sequence[dict]) -> tuple[list[dict], int]:
    """The request's lines not stored yet, and how many are stored already (identical: skipped; different: a
    LineConflict). Only lines with an invoice id and a line number can be recognised."""
    keyed = {(ln["invoice_id"], ln["line_no"]): ln for ln in lines if ln.get("line_no") is not None}
    if not keyed:
        return list(lines), 0
    stored = {(r.invoice_id, r.line_no): r for r in s.scalars(select(Transaction).where(
        Transaction.dataset == dataset, Transaction.customer_id == customer_id,
        Transaction.invoice_id.in_({k[0] for k in keyed}), Transaction.line_no.is_not(None)))}
    new, skipped = [], 0
    for ln in lines:
        old = stored.get((ln["invoice_id"], ln.get("line_no")))
        if old is None:
            new.append(ln)
        elif all(_same(getattr(old, c), ln.get(c)) for c in _SAME):
            skipped += 1
        else:
            raise LineConflict(f"invoice {ln['invoice_id']!r} line {ln['line_no']} is stored already with other "
                               "values; a correction is a new line (a return), and lines of one invoice sent in "
                               "several requests need their own 'line' numbers.")
    return new, skipped


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return a == b


def write_purchases(factory: sessionmaker[Session], dataset: str, customer_id: str, lines: Sequence[dict],
                    build_card: BuildCard, idem: IdempotentRequest | None = None,
                    answer: Callable[[Written], dict] | None = None) -> tuple[Written | None, dict | None]:
    """Store ``lines`` and the customer's card rebuilt from all their lines, in one transaction under the
    customer's lock. Returns (what was written, None), or (None, the stored answer) when ``idem`` was answered
    before. ``answer`` turns the result into the response stored for ``idem``. Raises LineConflict, or
    :class:`service.idempotency.KeyReused` for the key sent with another body."""
    with factory() as snap:                                   # the slow part, before any lock
        before = [line_dict(r) for r in lines_for(snap, dataset, customer_id)]
    card = build_card(before + [ln for ln in lines])
    with write_session(factory) as s:
        _lock(s, dataset, customer_id)
        if idem is not None and (stored := idem.stored(s)) is not None:
            return None, stored
        new, skipped = _split_stored(s, dataset, customer_id, lines)
        rows = lines_for(s, dataset, customer_id)
        if len(rows) != len(before) or skipped:               # another purchase landed, or a retried line
            card = build_card([line_dict(r) for r in rows] + new)
        now = _now()
        added = [Transaction(dataset=dataset, customer_id=customer_id, received_at=now, **ln) for ln in new]
        s.add_all(added)
        s.flush()
        count = len(rows) + len(added)
        last = max([r.id for r in rows] + [r.id for r in added])
        _store_card(s, dataset, customer_id, card, count, last)
        written = Written([r.id for r in added], skipped, card, count)
        if idem is not None:
            idem.save(s, 201, answer(written) if answer else {})
        s.commit()
    return written, None


def rebuild(factory: sessionmaker[Session], dataset: str, customer_id: str, build_card: BuildCard) -> dict | None:
    """Rebuild and store the card from the customer's stored lines (under their lock); None when they have none."""
    with write_session(factory) as s:
        _lock(s, dataset, customer_id)
        rows = lines_for(s, dataset, customer_id)
        if not rows:
            return None
        card = build_card([line_dict(r) for r in rows])
        _store_card(s, dataset, customer_id, card, len(rows), rows[-1].id)
        s.commit()
    return card
