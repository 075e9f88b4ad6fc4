"""An open-loop HTTP/1.1 load generator (wrk2-style) on plain asyncio streams, for ``bench_service_load``.

Request ``i`` of a stream is *scheduled* at ``start + i / rate`` and sent then whatever happened to the earlier
ones; its latency runs from that scheduled time to the end of its answer. A server that stalls therefore shows
the stall in every request scheduled during it (no coordinated omission), including the time a request waits for
a free connection of the client's pool. Each request also records the client's own lag (when its task started
running minus when it was scheduled): a client that cannot keep up shows here, not in the server's figures.

A hand-written client rather than httpx: it spends a few tens of microseconds of CPU per request instead of about
a millisecond, which matters on a machine where the server's two workers share the CPUs with the load. It speaks
just enough HTTP/1.1: keep-alive, ``Content-Length`` and chunked bodies, one retry on a fresh connection when a
reused idle connection turns out to be closed before any byte of the answer (uvicorn drops idle ones after 5 s).

Clocks: ``time.monotonic`` (the event loop's clock; CLOCK_MONOTONIC, the same in every process of the machine),
so several client processes can share one schedule. Status codes: the HTTP status, ``0`` for a request with no
complete answer within its timeout (counted from its scheduled time), ``-1`` for a connection error.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

__all__ = ["Req", "Stream", "client_process", "run_streams", "trivial_server"]

TIMEOUT, CONN_ERROR = 0, -1


@dataclass(frozen=True)
class Req:
    """One request, fully prepared (no work left for the send loop but writing bytes)."""

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def wire(self, host: str) -> bytes:
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(self.body)}"]
        head += [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


@dataclass
class Stream:
    """Requests ``items`` (global index, request) fired at ``rate``/s from ``start`` (monotonic seconds): item
    ``i`` at ``start + i / rate``. ``parse_json``: keep ``stored`` and ``replayed`` from JSON answers."""

    name: str
    items: list[tuple[int, Req]]
    rate: float
    start: float
    timeout: float = 5.0
    max_conns: int = 256
    parse_json: bool = False
    results: dict = field(default_factory=dict)


class _Pool:
    """Keep-alive connections to one host: at most ``size`` in use; idle ones are reused (LIFO)."""

    def __init__(self, host: str, port: int, size: int):
        self.host, self.port = host, port
        self.sem = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self):
        return await asyncio.open_connection(self.host, self.port)

    @staticmethod
    def close(conn) -> None:
        with contextlib.suppress(Exception):                # closing a broken socket
            conn[1].close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def _exchange(pool: _Pool, wire: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send on an idle connection (or a new one) and read the answer; the pool's semaphore is held by the caller."""
    for attempt in (0, 1):
        reused = bool(pool.idle) and attempt == 0
        conn = pool.idle.pop() if reused else await pool.open()
        try:
            conn[1].write(wire)
            answer = await _read_answer(conn[0])
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            pool.close(conn)
            stale = isinstance(exc, ConnectionError) or not exc.partial
            if reused and stale:                            # an idle connection the server had closed: once more
                continue
            raise
        except BaseException:                              # timeout / cancellation: the connection is unusable
            pool.close(conn)
            raise
        if answer[1].get("connection", "").lower() == "close":
            pool.close(conn)
        else:
            pool.idle.append(conn)
        return answer
    raise ConnectionError("unreachable")


async def _one(pool: _Pool, stream: Stream, k: int, t_sched: float, wire: bytes, out: dict) -> None:
    loop = asyncio.get_running_loop()
    out["lag"][k] = loop.time() - t_sched
    status, headers, body = CONN_ERROR, {}, b""
    try:
        async with asyncio.timeout_at(t_sched + stream.timeout):
            async with pool.sem:
                status, headers, body = await _exchange(pool, wire)
    except TimeoutError:
        status = TIMEOUT
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        status = CONN_ERROR
    out["lat"][k] = loop.time() - t_sched
    out["status"][k] = status
    retry = headers.get("retry-after")
    out["retry_after"][k] = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
    if stream.parse_json and body[:1] == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        out["stored"][k] = doc.get("stored") if isinstance(doc.get("stored"), int) else None
        out["replayed"][k] = bool(doc.get("replayed")) or headers.get("idempotent-replayed", "") == "true"


async def _run_stream(host: str, port: int, stream: Stream) -> None:
    loop = asyncio.get_running_loop()
    pool = _Pool(host, port, stream.max_conns)
    n = len(stream.items)
    out = {"index": [i for i, _ in stream.items], "sched": [0.0] * n, "lag": [0.0] * n, "lat": [0.0] * n,
           "status": [CONN_ERROR] * n, "retry_after": [None] * n, "stored": [None] * n, "replayed": [False] * n}
    wires = [req.wire(f"{host}:{port}") for _, req in stream.items]
    tasks = []
    for k, (i, _) in enumerate(stream.items):
        t = stream.start + i / stream.rate
        out["sched"][k] = t - stream.start
        delay = t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(_one(pool, stream, k, t, wires[k], out)))
    await asyncio.gather(*tasks)
    for conn in pool.idle:
        pool.close(conn)
    stream.results = out


async def run_streams(host: str, port: int, streams: list[Stream]) -> list[dict]:
    """Run the streams concurrently in this event loop; each stream's per-request results, in item order."""
    await asyncio.gather(*(_run_stream(host, port, s) for s in streams))
    return [s.results for s in streams]


def client_process(host: str, port: int, streams: list[Stream], queue, go) -> None:
    """Entry point of a client process: say ``ready`` on ``queue``, take the common start time (monotonic seconds)
    from ``go``, run ``streams`` from then and put their results on ``queue``."""
    try:
        queue.put(("ready", None))
        start = go.get()
        for s in streams:
            s.start = start
        queue.put(("ok", asyncio.run(run_streams(host, port, streams))))
    except BaseException as exc:                           # noqa: BLE001 - reported by the parent
        queue.put(("error", repr(exc)))


def trivial_server(port: int, ready) -> None:
    """A minimal keep-alive HTTP server answering ``200 ok`` at once (to check that the client keeps up)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":                                 # a smoke test: 200 requests at 100/s against itself
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ev = ctx.Event()
    srv = ctx.Process(target=trivial_server, args=(18999, ev), daemon=True)
    srv.start()
    ev.wait(10)
    s = Stream("smoke", [(i, Req("GET", "/")) for i in range(200)], 100.0, time.monotonic() + 0.2)
    res = asyncio.run(run_streams("127.0.0.1", 18999, [s]))[0]
    print({c: res["status"].count(c) for c in set(res["status"])}, f"max latency {max(res['lat']) * 1e3:.1f} ms")
    srv.terminate()
