"""Per-key token buckets (in memory, one set per worker process).

A key may send ``burst`` requests at once and ``rate`` per second sustained; past that it gets 429 with
``Retry-After``. Buckets are per process: with ``uvicorn --workers N`` a key's effective limit is up to N times the
setting (set the rate divided by N when that matters). Keeping the counter in the database would cost a write per
request on the read path.
"""
from __future__ import annotations

import math
import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[object, tuple[float, float]] = {}     # key -> (tokens, last time)
        self._lock = threading.Lock()

    def allow(self, key: object, rate: float, burst: float) -> tuple[bool, float]:
        """Take one token for ``key``; returns (allowed, seconds until a token is available)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
