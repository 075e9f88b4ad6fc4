"""The open-loop load generator of ``benchmarks/bench_service_load.py``: a server stall shows in every request
scheduled during it (latency from the scheduled time, no coordinated omission), statuses and time-outs are counted
as the server gave them, and a retry on a stale keep-alive connection does not lose the request."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from benchmarks.loadgen import Req, Stream, run_streams, stats


async def _serve(stall_from: float, stall_to: float, codes: dict[str, int], close_after: int | None = None):
    """A keep-alive server: answers wait while ``stall_from <= now < stall_to`` (monotonic); the status is
    ``codes[path]`` (default 200); with ``close_after`` each connection is closed after that many answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                now = time.monotonic()
                if stall_from <= now < stall_to:
                    await asyncio.sleep(stall_to - now)
                status = codes.get(path, 200)
                if status == -5:                               # never answer: the client's time-out
                    await asyncio.sleep(10)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nRetry-After: 1\r\n\r\nok".encode())
                await writer.drain()
                served += 1
                if close_after and served >= close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run(rate: float, n: int, paths, stall=(0.0, 0.0), codes=None, timeout=2.0, close_after=None, max_conns=64):
    async def main():
        t0 = time.monotonic() + 0.1
        server = await _serve(t0 + stall[0], t0 + stall[1], codes or {}, close_after)
        port = server.sockets[0].getsockname()[1]
        s = Stream("t", [(i, Req("GET", paths[i % len(paths)])) for i in range(n)], rate, t0, timeout=timeout,
                   max_conns=max_conns)
        async with server:
            res = await run_streams("127.0.0.1", port, [s])
        return {k: np.asarray(v, dtype=float if k in ("sched", "lag", "lat") else object) for k, v in res[0].items()}

    res = asyncio.run(main())
    res["status"] = res["status"].astype(int)
    return res


@pytest.mark.parametrize("conns", [64, 1])
def test_a_stall_counts_in_every_request_scheduled_during_it(conns):
    # 100 req/s for 1 s; the server answers nothing from 0.3 s to 0.6 s after the start. With one connection the
    # requests queue in the client during the stall: their wait counts too (from the scheduled time, not the send)
    res = _run(100, 100, ["/"], stall=(0.3, 0.6), max_conns=conns)
    assert (res["status"] == 200).all()
    assert np.allclose(res["sched"], np.arange(100) / 100)
    slow = res["lat"] > 0.05
    # every request scheduled in the stall waits until it ends: ~30 slow ones (a closed loop would record 1 per
    # connection), and each one's latency is at least the rest of the stall
    assert 25 <= slow.sum() <= 35
    during = (res["sched"] >= 0.31) & (res["sched"] < 0.58)
    assert (res["lat"][during] >= 0.6 - res["sched"][during] - 0.02).all()
    assert np.median(res["lat"][~slow]) < 0.02


def test_statuses_timeouts_and_stats_are_counted_as_given():
    codes = {"/a": 200, "/b": 503, "/c": 429, "/d": -5}
    res = _run(200, 40, ["/a", "/b", "/c", "/d"], codes=codes, timeout=0.3)
    row = stats(res, 200, 0, "mix")
    assert (row["2xx"], row["503"], row["429"], row["timeout"], row["5xx"]) == (10, 10, 10, 10, 0)
    assert row["max"] >= 300                                  # a time-out counts with its time-out (ms)
    assert all(r == 1.0 for r, s in zip(res["retry_after"], res["status"]) if s in (503, 429))


def test_a_connection_closed_by_the_server_is_replaced_without_losing_the_request():
    # each connection serves 2 answers and is then closed: later requests find a stale idle connection
    res = _run(50, 30, ["/"], close_after=2, max_conns=1)
    assert (res["status"] == 200).all()
