"""One pure-ASGI middleware for every request: body-size limit, one JSON log line, Prometheus metrics.

The log line holds method, route template (``/customers/{customer_id}``, never the id), status, milliseconds and
the API key's *name*; never customer ids, amounts or bodies. Metrics are per worker process (Prometheus scrapes
and sums workers by instance label, or run one worker per container).
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from bisect import bisect_left
from collections import defaultdict

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "ObservabilityMiddleware", "request_logger", "BodyTooLarge"]

request_logger = logging.getLogger("service.requests")
if not request_logger.handlers:
    _h = logging.StreamHandler(sys.stderr)
    _h.setFormatter(logging.Formatter("%(message)s"))
    request_logger.addHandler(_h)
    request_logger.propagate = False
    request_logger.setLevel(logging.INFO)

#: Latency histogram buckets (seconds).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit; an HTTPException so FastAPI answers 413 (not 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_text(limit))


def _too_large_text(limit: int) -> str:
    return (f"request body: larger than the limit of {limit:,} bytes (SEGMENTS_MAX_BODY_BYTES); send fewer "
            "transactions per request.")


class Metrics:
    """Request counter and latency histogram per (method, route), plus labelled info gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.counters: dict[str, int] = defaultdict(int)
        self.info: dict[str, dict[str, str]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.buckets[(method, route)][bisect_left(BUCKETS, seconds)] += 1
            self.sums[(method, route)] += seconds

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    @staticmethod
    def _labels(**labels: str) -> str:
        def esc(v: str) -> str:
            return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        out = ["# HELP segments_http_requests_total HTTP requests by method, route template and status.",
               "# TYPE segments_http_requests_total counter"]
        with self._lock:
            for (m, r, s), n in sorted(self.requests.items()):
                out.append(f"segments_http_requests_total{self._labels(method=m, route=r, status=str(s))} {n}")
            out += ["# HELP segments_http_request_duration_seconds Request latency by method and route template.",
                    "# TYPE segments_http_request_duration_seconds histogram"]
            for (m, r), counts in sorted(self.buckets.items()):
                acc = 0
                for le, c in zip((*map(str, BUCKETS), "+Inf"), counts):
                    acc += c
                    out.append("segments_http_request_duration_seconds_bucket"
                               f"{self._labels(method=m, route=r, le=le)} {acc}")
                out.append(f"segments_http_request_duration_seconds_sum{self._labels(method=m, route=r)} "
                           f"{self.sums[(m, r)]:.6f}")
                out.append(f"segments_http_request_duration_seconds_count{self._labels(method=m, route=r)} {acc}")
            for name, n in sorted(self.counters.items()):
                out += [f"# TYPE segments_{name}_total counter", f"segments_{name}_total {n}"]
            for name, labels in sorted(self.info.items()):
                out += [f"# TYPE segments_{name} gauge", f"segments_{name}{self._labels(**labels)} 1"]
        return "\n".join(out) + "\n"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, log: bool = True) -> None:
        self.app, self.metrics, self.max_body, self.log = app, metrics, max_body_bytes, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await self._too_large(send_wrapper)
            else:
                await self.app(scope, self._limited(receive), send_wrapper)
        except BodyTooLarge:
            if not started:
                await self._too_large(send_wrapper)
        finally:
            seconds = time.perf_counter() - t0
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.observe(scope["method"], route, status, seconds)
            if self.log:
                state = scope.get("state") or {}
                request_logger.info(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": "request", "method": scope["method"],
                    "route": route, "status": status, "ms": round(seconds * 1000, 2),
                    "key": state.get("key_name") if isinstance(state, dict) else None}))

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message
        return wrapped

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": _too_large_text(self.max_body)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
