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

:func:`fire` deals streams over client processes that start together once all are up (a slow process start-up
does not show as lag) and merges their results; :func:`stats` turns one stream's results into counts by status,
latency percentiles, goodput and the client's lag.

Clocks: ``time.monotonic`` (the event loop's clock; CLOCK_MONOTONIC, the same in every process of the machine),
so several client processes can share one schedule. Status codes: the HTTP status, ``0`` for a request with no
complete answer within its timeout (counted from its scheduled time), ``-1`` for a connection error.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LAG_LIMIT_MS", "Req", "Stream", "client_process", "fire", "run_streams", "stats", "trivial_server"]

TIMEOUT, CONN_ERROR = 0, -1
#: A client whose p99 lag in starting requests passes this (ms) fell behind its schedule.
LAG_LIMIT_MS = 5.0


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


def fire(host: str, port: int, specs: list[dict], procs: int) -> dict[str, dict]:
    """Run streams ``specs`` (name, reqs, rate, and Stream options) from client processes that start together once
    all are up; a stream with ``procs`` > 1 is dealt round-robin over that many processes. Results per stream
    name, in request order, with numpy arrays."""
    ctx = mp.get_context("spawn")
    per_proc: list[list[Stream]] = [[] for _ in range(max(procs, 1))]
    for spec in specs:
        n_p = spec.pop("procs", 1)
        reqs = spec.pop("reqs")
        for p in range(n_p):
            items = [(i, r) for i, r in enumerate(reqs) if i % n_p == p]
            opts = dict(spec, max_conns=max(spec.get("max_conns", 256) // n_p, 8))
            per_proc[(p + spec.get("proc_offset", 0)) % len(per_proc)].append(
                Stream(items=items, start=0.0, **{k: v for k, v in opts.items() if k != "proc_offset"}))
    queues, workers = [], []
    for streams in per_proc:
        if streams:
            q, go = ctx.Queue(), ctx.Queue()
            w = ctx.Process(target=client_process, args=(host, port, streams, q, go))
            w.start()
            queues.append((q, go, streams))
            workers.append(w)
    for q, _, _ in queues:                                   # every client process is up and has its requests
        status, detail = q.get(timeout=180)
        if status != "ready":
            raise RuntimeError(f"client process failed: {detail}")
    start = time.monotonic() + 0.3
    for _, go, _ in queues:
        go.put(start)
    merged: dict[str, dict] = {}
    limit = max(len(s.items) / s.rate + s.timeout for ss in per_proc for s in ss) + 120
    for q, _, streams in queues:
        status, results = q.get(timeout=limit)
        if status != "ok":
            raise RuntimeError(f"client process failed: {results}")
        for s, res in zip(streams, results):
            m = merged.setdefault(s.name, {k: [] for k in res})
            for k, v in res.items():
                m[k].extend(v)
    for w in workers:
        w.join()
    for m in merged.values():
        order = np.argsort(m["index"])
        for k in m:
            m[k] = np.asarray(m[k], dtype=float if k in ("sched", "lag", "lat") else object)[order]
        m["status"] = m["status"].astype(int)
    return merged


def stats(res: dict, rate: float, skip: int = 0, name: str = "") -> dict:
    """Counts and latencies (ms, from the scheduled time) of the requests after the first ``skip``."""
    st, lat, lag, sched = (res[k][skip:] for k in ("status", "lat", "lag", "sched"))
    if not len(st):
        raise ValueError(f"{name}: no requests to measure (give a longer --duration)")
    ms = lat * 1e3
    span = float((sched + lat).max() - sched.min())
    row = {"scenario": name, "rate": rate, "sent": len(st),
           "2xx": int(((st >= 200) & (st < 300)).sum()), "4xx": int(((st >= 400) & (st < 500) & (st != 429)).sum()),
           "429": int((st == 429).sum()), "503": int((st == 503).sum()),
           "5xx": int(((st >= 500) & (st != 503)).sum()), "timeout": int((st == 0).sum()),
           "conn_err": int((st == -1).sum())}
    row.update({f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)} | {"max": float(ms.max())})
    for label, mask in (("2xx", (st >= 200) & (st < 300)), ("503", st == 503)):
        row[f"by_status_{label}"] = {f"p{q}": float(np.percentile(ms[mask], q)) for q in (50, 95)} | \
            {"max": float(ms[mask].max())} if mask.any() else None
    row["ok_per_s"] = row["2xx"] / span if span > 0 else float("nan")
    row["lag_p99"], row["lag_max"] = float(np.percentile(lag, 99) * 1e3), float(lag.max() * 1e3)
    row["client_behind"] = row["lag_p99"] > LAG_LIMIT_MS
    row["load1"], row["srv_cpu_ms"] = os.getloadavg()[0], float("nan")
    return row


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
