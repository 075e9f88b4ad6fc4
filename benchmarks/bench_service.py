"""Scoring service benchmark: start-up to ready on Online Retail, then load from a second process at a fixed
arrival rate (open loop: latency counts from the scheduled send time, so a slow server cannot hide queueing).

Run: ``python benchmarks/bench_service.py [--get-rate 200] [--post-rate 50] [--seconds 60] [--workers 1]``
Targets (issue 12): start-up <= 15 s; ``GET /customers/{id}`` p95 <= 20 ms at 200 requests/s for 60 s, 0 errors;
``POST /customers/{id}/transactions`` p95 <= 50 ms at 50 requests/s. The server is ``python -m service serve``
with SQLite (WAL) in a temporary workspace; ids are drawn uniformly from the dataset's customers (so most GETs
are a customer's first card in this worker), POSTs add one purchase to a random existing customer. A request
without an answer within 5 s counts as an error (and its 5 s as its latency). Each figure comes with the
server's CPU time (user + system of the server process tree, from /proc) at ready and per request, and the load
average: on a shared machine the wall-clock latencies include waiting for a CPU, the CPU times do not.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"


def _load(base: str, key: str, ids: list[str], method: str, rate: float, seconds: float, out) -> None:
    """Second process: send ``rate`` requests/s for ``seconds`` at fixed times; report latencies and errors."""
    import httpx

    async def run() -> tuple[list[float], int, float]:
        h = {"Authorization": f"Bearer {key}"}
        lat: list[float] = []
        errors = 0
        rnd = random.Random(0)
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(base_url=base, headers=h, timeout=5, limits=limits) as client:
            async def one(t_sched: float, cid: str, i: int) -> None:
                nonlocal errors
                try:
                    if method == "GET":
                        r = await client.get(f"/customers/{cid}")
                        ok = r.status_code == 200
                    else:
                        r = await client.post(f"/customers/{cid}/transactions", json={"transactions": [
                            {"date": "2011-12-09T12:00:00", "amount": 10 + i % 90, "invoice_id": f"B{i}"}]})
                        ok = r.status_code == 201
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t_sched)
                errors += not ok

            start = time.perf_counter() + 0.2
            tasks = []
            n = int(rate * seconds)
            for i in range(n):
                t = start + i / rate
                delay = t - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(t, rnd.choice(ids), i)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - start
        return lat, errors, n / elapsed

    lat, errors, achieved = asyncio.run(run())
    out.put((lat, errors, achieved))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers), from /proc."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
            kids.setdefault(int(parts[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _server_cpu(pid: int) -> float:
    return sum(_cpu_seconds(p) for p in _tree(pid))


def _phase(base, key, ids, method, rate, seconds) -> dict:
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_load, args=(base, key, ids, method, rate, seconds, q))
    p.start()
    lat, errors, achieved = q.get()
    p.join()
    ms = np.array(lat) * 1e3
    return {"n": len(ms), "errors": errors, "rate": achieved, "p50": np.percentile(ms, 50),
            "p95": np.percentile(ms, 95), "p99": np.percentile(ms, 99), "max": ms.max()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--get-rate", type=float, default=200)
    ap.add_argument("--post-rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    import httpx
    import pandas as pd

    from service.core.db import make_engine, session_factory
    from service.keys import create_key
    from service.migrations import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    url = f"sqlite:///{tmp / 'service.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        key = create_key(s, "bench", ["read", "score"], rate_per_second=1e6)
    engine.dispose()
    raw = pd.read_csv(DATA, usecols=["InvoiceNo", "Quantity", "UnitPrice", "CustomerID"], dtype={"InvoiceNo": str})
    kept = raw[~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0) & (raw["UnitPrice"] > 0)]
    ids = kept["CustomerID"].dropna().astype(int).astype(str).unique().tolist()     # customers left after cleaning
    port = 8765
    base = f"http://127.0.0.1:{port}"
    log = open(tmp / "server.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "service", "serve", "--dataset", str(DATA), "--workspace",
                             str(tmp), "--database-url", url, "--port", str(port), "--workers", str(args.workers)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "SEGMENTS_LOG_LEVEL": "WARNING", "SEGMENTS_LOG_REQUESTS": "false"})
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        startup = time.perf_counter() - t0
        cpu = _server_cpu(proc.pid)
        health = httpx.get(base + "/health").json()
        print(f"load average at ready: {os.getloadavg()[0]:.2f} (1 min; other work on this machine slows every "
              "figure: the server's CPU time per request below does not depend on it)")
        print(f"start-up to ready: {startup:.1f} s (target <= 15 s; server CPU {cpu:.1f} s); {health['customers']:,} "
              f"customers, churn model {health['churn_model']!r}, {args.workers} worker(s)")
        for method, rate, target in (("GET", args.get_rate, 20), ("POST", args.post_rate, 50)):
            cpu = _server_cpu(proc.pid)
            r = _phase(base, key, ids, method, rate, args.seconds)
            r["cpu_ms"] = (_server_cpu(proc.pid) - cpu) / max(r["n"], 1) * 1e3
            path = "/customers/{id}" if method == "GET" else "/customers/{id}/transactions"
            print(f"{method} {path}: {r['n']:,} requests at {r['rate']:.0f}/s, {r['errors']} errors; "
                  f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.0f} ms "
                  f"(target p95 <= {target} ms{', 0 errors' if method == 'GET' else ''}); server CPU "
                  f"{r['cpu_ms']:.2f} ms per request; load average {os.getloadavg()[0]:.2f}")
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
