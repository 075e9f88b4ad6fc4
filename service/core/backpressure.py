"""Load shedding: each worker runs at most ``max_inflight`` requests at once, of which at most ``max_writes``
POST/PUT/PATCH/DELETE; a request above either limit gets 503 with ``Retry-After`` at once instead of waiting in a
queue until its client times out (and retries, adding load). ``/health`` and ``/metrics`` are never shed and answer
on the event loop, so they stay fast under any load; ``/health`` reports "degraded" while requests are being shed.
"""
from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LoadShedder", "Load"]

_EXEMPT = ("/health", "/metrics", "/docs", "/openapi.json", "/redoc")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Load:
    """In-flight counts and the last shed time of one worker (the event loop is the only writer)."""

    def __init__(self, max_inflight: int, max_writes: int) -> None:
        self.max_inflight, self.max_writes = max_inflight, max_writes
        self.inflight = self.writes = self.shed = 0
        self.last_shed = 0.0

    def degraded(self, window: float = 10.0) -> bool:
        return time.monotonic() - self.last_shed < window or self.writes >= self.max_writes

    def to_json(self) -> dict:
        return {"inflight": self.inflight, "inflight_writes": self.writes, "max_inflight": self.max_inflight,
                "max_inflight_writes": self.max_writes, "shed_total": self.shed}


class LoadShedder:
    def __init__(self, app: ASGIApp, load: Load, retry_after: int = 1) -> None:
        self.app, self.load, self.retry_after = app, load, retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        load, write = self.load, scope["method"] in _WRITES
        if load.inflight >= load.max_inflight or (write and load.writes >= load.max_writes):
            load.shed += 1
            load.last_shed = time.monotonic()
            await self._busy(send)
            return
        load.inflight += 1
        load.writes += write
        try:
            await self.app(scope, receive, send)
        finally:
            load.inflight -= 1
            load.writes -= write

    async def _busy(self, send: Send) -> None:
        body = json.dumps({"detail": "busy: the service is at capacity; retry after "
                                     f"{self.retry_after} s (Retry-After)."}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(self.retry_after).encode())]})
        await send({"type": "http.response.body", "body": body})
