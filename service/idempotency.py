"""``Idempotency-Key`` on POST requests (Stripe's convention).

A client that may retry (a time-out, a 5xx, a lost connection) sends a unique key with the request. The first
request with that key runs and its answer is stored with the key (per API key, in the same transaction as its
effects where the route has one); a later request with the same key and the same body gets the stored answer again
(header ``Idempotent-Replayed: true``) and changes nothing; the same key with another body, or on another route, is
refused with 422. Keys are kept for ``SEGMENTS_IDEMPOTENCY_HOURS`` (default 24 h).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.models import IdempotencyKey

__all__ = ["IdempotentRequest", "KeyReused", "HEADER", "REPLAYED", "valid_key", "purge"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")         # printable ASCII, no spaces (Stripe: up to 255 characters)


class KeyReused(Exception):
    """The key was used before for a different request."""


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class IdempotentRequest:
    """One request's key: ``api_key_id`` (keys are per API key), ``key`` (the header), ``fingerprint`` (method,
    route and body)."""

    api_key_id: int
    key: str
    fingerprint: str

    @classmethod
    def of(cls, api_key_id: int, key: str, method: str, path: str, body: object) -> IdempotentRequest:
        text = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
        return cls(api_key_id, key, hashlib.sha256(text.encode()).hexdigest())

    def stored(self, s: Session) -> dict | None:
        """The answer stored for this key, or None; KeyReused when the key was used with another request."""
        row = s.get(IdempotencyKey, (self.api_key_id, self.key))
        if row is None:
            return None
        if row.request_hash != self.fingerprint:
            raise KeyReused(f"{HEADER}: the key {self.key!r} was used for a different request (another body or "
                            "route); use a new key for a new request.")
        return {"status_code": row.status_code, "body": json.loads(row.response)}

    def save(self, s: Session, status_code: int, body: dict) -> None:
        """Store the answer in the caller's transaction (committed with the request's effects)."""
        s.add(IdempotencyKey(api_key_id=self.api_key_id, key=self.key, request_hash=self.fingerprint,
                             status_code=status_code, response=json.dumps(body, default=str), created_at=_now()))

    def run(self, factory: sessionmaker[Session], status_code: int, work) -> tuple[dict, bool]:
        """For routes whose effects are idempotent on their own (a coupon decision, a redeem, a campaign): the
        stored answer (replayed=True), or ``work()``'s answer stored under the key. Two racing requests with one
        key: the second to store gets the first's answer."""
        with factory() as s:
            if (hit := self.stored(s)) is not None:
                return hit["body"], True
        body = work()
        try:
            with factory() as s:
                self.save(s, status_code, body)
                s.commit()
        except IntegrityError:
            with factory() as s:
                if (hit := self.stored(s)) is not None:
                    return hit["body"], True
        return body, False


def purge(factory: sessionmaker[Session], hours: float) -> int:
    """Delete keys older than ``hours``; returns how many."""
    with factory() as s:
        n = s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < _now() - timedelta(hours=hours)))
        s.commit()
        return n.rowcount or 0
