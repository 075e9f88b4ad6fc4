"""Create, list, revoke and check API keys (used by ``python -m service api-key`` and the auth dependency).

Requests check their key against :class:`KeyCache`: a key found (or not found) is remembered for a few seconds
(``SEGMENTS_KEY_CACHE_SECONDS``, default 5), so a request costs no database connection for it; a revoked key stops
working within that time.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.privacy.audit import record
from service.core.config import SCOPES
from service.core.security import hash_key, key_prefix, new_key
from service.models import ApiKey

__all__ = ["KeyInfo", "KeyCache", "parse_scopes", "create_key", "list_keys", "revoke_key", "find_key"]


@dataclass(frozen=True)
class KeyInfo:
    """What a request knows about its key (never the key itself)."""

    id: int
    name: str
    scopes: frozenset[str]
    rate_per_second: float | None
    burst: float | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def parse_scopes(text: str) -> list[str]:
    """``"read,score"`` -> ``["read", "score"]``; ValueError naming an unknown scope."""
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"scopes: {', '.join(bad) or '(none)'} not valid; use a comma-separated subset of "
                         f"{','.join(SCOPES)}.")
    return sorted(set(scopes), key=SCOPES.index)


def create_key(session: Session, name: str, scopes: list[str], rate_per_second: float | None = None,
               burst: float | None = None) -> str:
    """Store a new key's hash and return the key (the only time it is seen). ValueError for a taken name.
    ``burst``: requests the key may send at once (default: one second at its rate)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("name: give 1 to 64 characters.")
    if rate_per_second is not None and rate_per_second <= 0:
        raise ValueError("rate: must be above 0 requests per second.")
    if burst is not None and burst < 1:
        raise ValueError("burst: must be at least 1 request.")
    key = new_key()
    session.add(ApiKey(name=name, prefix=key_prefix(key), key_hash=hash_key(key), scopes=",".join(scopes),
                       rate_per_second=rate_per_second, burst=burst, created_at=_now()))
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ValueError(f"name: a key named {name!r} exists already; choose another name or revoke it.") from exc
    record(None, "api_key_create", name, "cli", scopes=",".join(scopes))   # keys change from the command line only
    return key


def list_keys(session: Session) -> list[dict]:
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return [{"name": k.name, "prefix": k.prefix + "...", "scopes": k.scopes, "rate_per_second": k.rate_per_second,
             "burst": k.burst,
             "created_at": k.created_at.isoformat(timespec="seconds"),
             "revoked_at": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None} for k in rows]


def revoke_key(session: Session, name: str) -> bool:
    """Revoke the key called ``name``; False when there is no such active key."""
    key = session.scalars(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))).first()
    if key is None:
        return False
    key.revoked_at = _now()
    session.commit()
    record(None, "api_key_revoke", name, "cli")
    return True


def find_key(session: Session, key: str) -> KeyInfo | None:
    """The active key matching ``key``, or None."""
    row = session.execute(select(ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.rate_per_second, ApiKey.burst)
                          .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))).first()
    if row is None:
        return None
    return KeyInfo(row.id, row.name, frozenset(row.scopes.split(",")), row.rate_per_second, row.burst)


class KeyCache:
    """:func:`find_key` answers kept ``ttl`` seconds per key hash (thread-safe); each lookup uses its own short
    session, closed before the request goes on."""

    MISS = object()

    def __init__(self, factory, ttl: float = 5.0, size: int = 10_000) -> None:
        self._factory, self._ttl, self._size = factory, ttl, size
        self._hits: dict[str, tuple[float, KeyInfo | None]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str):
        """The cached answer (a KeyInfo or None), or ``MISS``."""
        hit = self._hits.get(hash_key(key))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else self.MISS

    def lookup(self, key: str) -> KeyInfo | None:
        with self._factory() as s:
            info = find_key(s, key)
        with self._lock:
            if len(self._hits) >= self._size:
                self._hits.clear()
            self._hits[hash_key(key)] = (time.monotonic() + self._ttl, info)
        return info
