"""Per-key token buckets: a key may send ``burst`` requests at once and ``rate`` per second sustained; past that
it gets 429 with ``Retry-After``.

With ``SEGMENTS_REDIS_URL`` set the buckets live in Redis (one atomic script per request, about 0.2 ms on the same
machine), so every worker process of every instance shares one limit per key. Without Redis each worker keeps its
own buckets and takes its share: rate and burst divided by the number of workers (``SEGMENTS_WORKERS``, which
``python -m service serve --workers N`` sets), so a key never gets more than configured in total. When Redis
cannot be reached a worker falls back to its share (logged once) instead of failing the request.

A key's rate is its own (``api-key create --rate``) or ``SEGMENTS_RATE_LIMIT_PER_SECOND``; its burst is its own
(``--burst``), else one second at its own rate, else ``SEGMENTS_RATE_LIMIT_BURST``.
"""
from __future__ import annotations

import logging
import math
import threading
import time

__all__ = ["RateLimiter", "LocalBuckets", "RedisBuckets", "limits"]

log = logging.getLogger("service.requests")

# KEYS[1]: the bucket; ARGV: rate, burst. Redis's own clock, so every worker agrees on the time.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 10)
return {ok, tostring(tokens)}
"""


def limits(key, default_rate: float, default_burst: float) -> tuple[float, float]:
    """(rate, burst) of a :class:`service.keys.KeyInfo`."""
    rate = key.rate_per_second or default_rate
    if key.burst:
        return rate, float(key.burst)
    return rate, (max(1.0, rate) if key.rate_per_second else max(default_burst, 1.0))


class LocalBuckets:
    """Buckets in this process."""

    def __init__(self) -> None:
        self._buckets: dict[object, tuple[float, float]] = {}     # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: object, rate: float, burst: float) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            ok = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
            return ok, tokens - 1.0 if ok else tokens


class RedisBuckets:
    """Buckets in Redis, shared by every process using ``url``."""

    def __init__(self, url: str, prefix: str = "segments:rate:") -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._script = self._client.register_script(_SCRIPT)
        self._prefix = prefix

    def take(self, key: object, rate: float, burst: float) -> tuple[bool, float]:
        ok, tokens = self._script(keys=[f"{self._prefix}{key}"], args=[rate, burst])
        return bool(ok), float(tokens)


class RateLimiter:
    """``allow(key)`` -> (allowed, seconds until a token is available, the key's rate)."""

    def __init__(self, default_rate: float = 100.0, default_burst: float = 200.0, workers: int = 1,
                 redis_url: str = "") -> None:
        self.default_rate, self.default_burst = default_rate, default_burst
        self.share = 1.0 / max(1, workers)
        self._local = LocalBuckets()
        self._shared = RedisBuckets(redis_url) if redis_url else None
        self._warned = False
        self._down_until = 0.0                              # after a Redis failure, this worker's share for 5 s

    @property
    def shared(self) -> bool:
        return self._shared is not None

    def allow(self, key) -> tuple[bool, float, float]:
        rate, burst = limits(key, self.default_rate, self.default_burst)
        if self._shared is not None and time.monotonic() >= self._down_until:
            try:
                ok, tokens = self._shared.take(key.id, rate, burst)
                return ok, (0.0 if ok else (1.0 - tokens) / rate), rate
            except Exception as exc:                       # noqa: BLE001 - Redis down: this worker's share
                self._down_until = time.monotonic() + 5.0
                if not self._warned:
                    log.warning('{"event": "rate_limit_redis_unavailable", "error": "%s"}', type(exc).__name__)
                    self._warned = True
        r, b = rate * self.share, max(1.0, burst * self.share)
        ok, tokens = self._local.take(key.id, r, b)
        return ok, (0.0 if ok else (1.0 - tokens) / r), rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
