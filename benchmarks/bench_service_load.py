"""The scoring service under an open-loop load (issue 21's targets): 2 uvicorn workers on SQLite and PostgreSQL.

Run: ``python benchmarks/bench_service_load.py [--db sqlite|postgres|both] [--quick] [--json out.json]``
(``--dataset /work/shared/datasets/online_retail.csv`` for Online Retail; ``--self-test`` checks the client alone).

For each database: a fresh store (a temporary SQLite file, or a new PostgreSQL schema dropped afterwards), an API
key made with ``python -m service api-key create`` (rate 10^6/s), and ``python -m service serve --workers 2`` in
its own process group; ready when ``/health`` answers and the workers have stopped loading (CPU quiet). Then:

- ``GET /customers/{id}`` at each ``--rates`` (default 500 and 1000/s) for ``--duration`` s after ``--warmup`` s
  at the same rate (not counted), ids drawn at random from the dataset's customers (``--prewarm RATE``: first GET
  every id a few times, so the phases read cached cards);
- ``POST /customers/{id}/transactions`` at ``--post-rate`` (50/s): a random customer, 1-3 lines, an
  ``Idempotency-Key`` and an invoice id unique to the request;
- overload: POSTs at ``--overload-rate`` (300/s) for ``--overload-duration`` (5 s) while another process polls
  ``GET /health`` every 100 ms until 10 s after the overload;
- after each POST phase, every request without a 201 (time-out, connection error, 429, 5xx) is retried with the
  same key and body (up to 3 passes, honouring ``Retry-After``) as a careful client would; then the lines in the
  ``transactions`` table are counted per invoice (the one read that is not the HTTP API): committed must equal
  acknowledged; more means a retry counted twice or a failed request was stored anyway.

Latency runs from each request's scheduled send time (``benchmarks/loadgen.py``), over every request: a time-out
counts with its time-out. ``lag`` is the client's own delay in starting a request: if its p99 passes 5 ms the
client fell behind and the row is flagged. Only the public HTTP API and the CLI are used, besides that count.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import pg_schema
from benchmarks.bench_service import _server_cpu
from benchmarks.loadgen import (
    LAG_LIMIT_MS,
    Req,
    Stream,
    fire,
    run_streams,
    stats,
    trivial_server,
)

PG_URL = os.environ.get("SEGMENTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
RETRYABLE = {0, -1, 429} | set(range(500, 600))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------- the server
@contextmanager
def store(db: str, pg_url: str, tmp: Path):
    """A fresh database URL: a SQLite file in ``tmp``, or a new PostgreSQL schema dropped afterwards."""
    if db == "sqlite":
        yield f"sqlite:///{tmp / 'service.db'}"
        return
    with pg_schema(pg_url, "bench") as url:
        yield url


def _sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith(("postgresql://", "postgres://")) \
        else url


def make_key(ws: Path, url: str, root: Path = ROOT) -> str:
    out = subprocess.run([sys.executable, "-m", "service", "api-key", "create", "--name", "bench-load",
                          "--scopes", "read,score", "--rate", "1000000", "--workspace", str(ws),
                          "--database-url", url], cwd=root, capture_output=True, text=True, check=True,
                         env={**os.environ, "SEGMENTS_LOG_LEVEL": "WARNING"})
    return json.loads(out.stdout[out.stdout.index("{"):])["key"]


class Server:
    """``python -m service serve --workers N`` in its own process group (stopped as a group)."""

    def __init__(self, dataset: str, ws: Path, url: str, workers: int, log_requests: bool, root: Path = ROOT):
        self.port = free_port()
        self.log_path = ws / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - open while the server runs; closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--dataset", dataset, "--workspace", str(ws),
             "--database-url", url, "--port", str(self.port), "--workers", str(workers)],
            cwd=root, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SEGMENTS_LOG_LEVEL": "WARNING",
                 "SEGMENTS_LOG_REQUESTS": "true" if log_requests else "false"})

    def wait_ready(self, limit: float = 600.0) -> float:
        """Seconds until ``/health`` answers 200 and the process tree used < 0.15 s CPU in the last second."""
        t0, last = time.monotonic(), None
        while time.monotonic() - t0 < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            if health_ok(self.port, 1.0):
                cpu = _server_cpu(self.proc.pid)
                if last is not None and cpu - last < 0.15:
                    return time.monotonic() - t0
                last = cpu
            time.sleep(1.0)
        raise TimeoutError(f"server not ready after {limit:.0f} s")

    def stop(self) -> str:
        """SIGTERM to the group; SIGKILL if it has not ended within 20 s. Says which one stopped it."""
        how = "already gone"
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                how = "SIGKILL (SIGTERM did not stop it within 20 s)"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)         # workers left behind by the parent
        self.log.close()
        return how


def health_ok(port: int, timeout: float) -> bool:
    import httpx

    try:
        return httpx.get(f"http://{HOST}:{port}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(port: int, limit: float) -> float | None:
    """Seconds until ``/health`` answers 200 within 1 s (None: not within ``limit``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if health_ok(port, 1.0):
            return time.monotonic() - t0
        time.sleep(0.25)
    return None


# ----------------------------------------------------------------------------------------------- the requests
def customers(dataset: str) -> tuple[list[str], str]:
    """The dataset's customer ids as the service cleans them, and its last purchase time (ISO)."""
    from pipeline.ingest.datasets import SAMPLES, build_dataset, sample_dataset

    ds = sample_dataset(dataset) if dataset in SAMPLES else build_dataset(Path(dataset), Path(dataset).name)
    tx = ds.transactions
    return sorted(tx["customer_id"].astype(str).unique()), tx["date"].max().isoformat(timespec="seconds")


def get_reqs(key: str, ids: list[str], n: int, seed: int) -> list[Req]:
    rnd, auth = random.Random(seed), (("Authorization", f"Bearer {key}"),)
    return [Req("GET", f"/customers/{quote(rnd.choice(ids), safe='')}", headers=auth) for _ in range(n)]


def post_reqs(key: str, ids: list[str], n: int, seed: int, tag: str, day: str) -> tuple[list[Req], list[int]]:
    """``n`` purchase POSTs (1-3 lines, invoice ``{tag}-{i}``, Idempotency-Key ``{tag}-{i}``) and their line counts."""
    rnd, reqs, lines = random.Random(seed), [], []
    for i in range(n):
        k = rnd.randint(1, 3)
        body = {"transactions": [{"date": day, "amount": round(rnd.uniform(1, 200), 2), "invoice_id": f"{tag}-{i}",
                                  "product_id": f"P{rnd.randint(1, 500)}"} for _ in range(k)]}
        reqs.append(Req("POST", f"/customers/{quote(rnd.choice(ids), safe='')}/transactions",
                        json.dumps(body).encode(), (("Authorization", f"Bearer {key}"),
                                                    ("Content-Type", "application/json"),
                                                    ("Idempotency-Key", f"{tag}-{i}"))))
        lines.append(k)
    return reqs, lines


def retry_failed(port: int, reqs: list[Req], res: dict, rate: float, passes: int = 3) -> dict:
    """Send every request that got no 201 again (same body, same Idempotency-Key), up to ``passes`` times (until a
    pass acknowledges none), once ``/health`` answers; ``Retry-After`` is honoured (at most 10 s). Final status per
    request and pass counts."""
    final = res["status"].copy()
    replayed = np.array([bool(x) for x in res["replayed"]])
    wait, log = 0.0, []
    for _ in range(passes):
        todo = [i for i, s in enumerate(final) if s in RETRYABLE]
        if not todo:
            break
        time.sleep(min(wait, 10.0))
        if wait_healthy(port, 60.0) is None:
            log.append({"retried": 0, "note": "server not healthy within 60 s: retries stopped"})
            break
        s = Stream("retry", [(j, reqs[i]) for j, i in enumerate(todo)], rate, time.monotonic() + 0.2,
                   parse_json=True)
        out = asyncio.run(run_streams(HOST, port, [s]))[0]
        for j, i in enumerate(todo):
            final[i] = out["status"][j]
            replayed[i] |= bool(out["replayed"][j])
        wait = max([r for r in out["retry_after"] if r is not None], default=0.0)
        log.append({"retried": len(todo), "status": _counts(out["status"])})
        if not (np.asarray(out["status"]) == 201).any():
            break                                           # no progress: a fourth try would not do better
    return {"final": final, "replayed": replayed, "passes": log}


def _counts(codes) -> dict[str, int]:
    vals, n = np.unique(np.asarray(codes, dtype=int), return_counts=True)
    return {{0: "timeout", -1: "conn_err"}.get(int(v), str(int(v))): int(c) for v, c in zip(vals, n)}


def committed(url: str, run: str) -> dict[str, int]:
    """Lines in the ``transactions`` table per invoice id of this run (the only read outside the HTTP API)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_sa_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT invoice_id, COUNT(*) FROM transactions WHERE invoice_id LIKE :p "
                                     "GROUP BY invoice_id"), {"p": f"{run}-%"}).all()
    finally:
        engine.dispose()
    return {inv: int(n) for inv, n in rows}


def integrity(name: str, tag: str, lines: list[int], first: np.ndarray, retry: dict, db_lines: dict) -> dict:
    """Acknowledged (201 at first or after retries) against committed lines, per request of one POST phase."""
    acked = retry["final"] == 201
    got = np.array([db_lines.get(f"{tag}-{i}", 0) for i in range(len(lines))])
    want = np.asarray(lines)
    return {"scenario": name, "requests": len(lines), "acked_first": int((first == 201).sum()),
            "acked_after_retry": int(acked.sum() - (first == 201).sum()), "never_acked": int((~acked).sum()),
            "lines_acked": int(want[acked].sum()), "lines_committed": int(got.sum()),
            "duplicate_lines": int(np.clip(got - want, 0, None).sum()),
            "unacked_committed_lines": int(np.minimum(got, want)[~acked].sum()),
            "lost_lines": int(np.clip(want - got, 0, None)[acked].sum()),
            "replayed_answers": int(retry["replayed"].sum()), "retry_passes": retry["passes"]}


# ------------------------------------------------------------------------------------------------ the phases
def health_window(res: dict, overload_s: float) -> dict:
    """/health during the overload: the last poll (s after the overload began) slower than 100 ms or not 200."""
    bad = (res["status"] != 200) | (res["lat"] > 0.1)
    during = res["sched"] < overload_s
    return {"bad_polls": int(bad.sum()), "polls": len(bad),
            "max_ms_during_overload": float(res["lat"][during].max() * 1e3) if during.any() else float("nan"),
            "last_bad_s": float(res["sched"][bad].max()) if bad.any() else None}


def run_db(db: str, args, ids: list[str], day: str) -> dict:
    """Every phase against a fresh server and database; rows, integrity checks and notes. A server whose
    ``/health`` does not answer within ``--recover`` s before a phase (or before the retries) is stopped and
    started again on the same database, and the notes say so."""
    rows, phases, notes, run = [], [], [], f"LT{uuid.uuid4().hex[:6]}"
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-load-{db}-"))
    with store(db, args.pg_url, tmp) as url:
        key = make_key(tmp, url, args.server_root)
        srv: list[Server] = []

        def start() -> None:
            srv.append(Server(args.dataset, tmp, url, args.workers, args.log_requests, args.server_root))
            notes.append(f"ready in {srv[-1].wait_ready():.1f} s")

        def ensure_up(label: str) -> None:
            back = wait_healthy(srv[-1].port, args.recover)
            if back is not None and back > 1:
                notes.append(f"before {label}: /health answered again after {back:.1f} s")
            if back is None:
                notes.append(f"before {label}: /health not answering within {args.recover:g} s; server stopped "
                             f"by {srv[-1].stop()}, restarted on the same database")
                start()

        def get_phase(rate: float, prewarm: bool = False) -> None:
            warm = int(rate * args.warmup)
            reqs = get_reqs(key, ids, warm + int(rate * args.duration), seed=int(rate))
            if prewarm:      # every id (workers + 1) times, shuffled: most cards computed by both workers first
                warm = len(ids) * (args.workers + 1)
                order = random.Random(1).sample(ids * (args.workers + 1), warm)
                auth = (("Authorization", f"Bearer {key}"),)
                reqs = [Req("GET", f"/customers/{quote(c, safe='')}", headers=auth) for c in order]
            cpu = _server_cpu(srv[-1].proc.pid)
            res = fire(HOST, srv[-1].port, [{"name": "get", "reqs": reqs, "rate": rate, "timeout": args.timeout,
                                       "procs": procs_for(rate, args)}], procs_for(rate, args))["get"]
            rows.append(stats(res, rate, 0 if prewarm else warm, "prewarm: GET every id (not a target)" if prewarm
                              else f"GET /customers/{{id}} @ {rate:g}/s")
                        | {"srv_cpu_ms": (_server_cpu(srv[-1].proc.pid) - cpu) / len(reqs) * 1e3})

        def post_phase(name: str, rate: float, seconds: float, tag: str, health: bool) -> None:
            reqs, lines = post_reqs(key, ids, int(rate * seconds), seed=int(rate) + 7, tag=tag, day=day)
            specs = [{"name": "post", "reqs": reqs, "rate": rate, "timeout": args.timeout, "parse_json": True,
                      "procs": procs_for(rate, args)}]
            if health:
                n = int((seconds + args.health_tail) * 10)
                specs.append({"name": "health", "reqs": [Req("GET", "/health")] * n, "rate": 10.0,
                              "timeout": args.timeout, "max_conns": 64, "proc_offset": procs_for(rate, args)})
            cpu = _server_cpu(srv[-1].proc.pid)
            res = fire(HOST, srv[-1].port, specs, procs_for(rate, args) + health)
            rows.append(stats(res["post"], rate, 0, name)
                        | {"srv_cpu_ms": (_server_cpu(srv[-1].proc.pid) - cpu) / len(reqs) * 1e3})
            if health:
                h = stats(res["health"], 10.0, 0, f"  GET /health every 100 ms (to +{args.health_tail:g} s)")
                rows.append(h | {"health": health_window(res["health"], seconds)})
            ensure_up(f"the retries of {name}")
            retry = retry_failed(srv[-1].port, reqs, res["post"], min(rate, args.post_rate))
            phases.append((name, tag, lines, res["post"]["status"], retry))

        todo = [(f"GET @ {r:g}/s", lambda r=r: get_phase(r)) for r in args.rates if "get" in args.scenarios]
        if args.prewarm and "get" in args.scenarios:
            todo.insert(0, ("the prewarm", lambda: get_phase(args.prewarm, prewarm=True)))
        if "post" in args.scenarios:
            todo.append((f"POST @ {args.post_rate:g}/s", lambda: post_phase(
                f"POST /customers/{{id}}/transactions @ {args.post_rate:g}/s", args.post_rate, args.duration,
                f"{run}-p", False)))
        if "overload" in args.scenarios:
            todo.append(("the overload", lambda: post_phase(
                f"POST overload @ {args.overload_rate:g}/s for {args.overload_duration:g} s",
                args.overload_rate, args.overload_duration, f"{run}-o", True)))
        try:
            start()
            for label, phase in todo:
                ensure_up(label)
                phase()
            back = wait_healthy(srv[-1].port, args.recover)
            notes.append("after the last phase: " + (f"/health answered after {back:.1f} s" if back is not None
                                                     else f"/health not answering within {args.recover:g} s"))
        finally:
            if srv:
                notes.append(f"server stopped by {srv[-1].stop()}")
        db_lines = committed(url, run)
    checks = [integrity(name, tag, lines, first, retry, db_lines) for name, tag, lines, first, retry in phases]
    return {"db": db, "workers": args.workers, "customers": len(ids), "rows": rows, "integrity": checks,
            "notes": notes, "workspace": str(tmp)}


def procs_for(rate: float, args) -> int:
    return args.clients or max(1, math.ceil(rate / args.per_client))


# ---------------------------------------------------------------------------------------------------- output
COLS = [("scenario", "scenario", 44, "s"), ("sent", "sent", 6, "d"), ("2xx", "2xx", 6, "d"), ("4xx", "4xx", 4, "d"),
        ("429", "429", 4, "d"), ("503", "503", 5, "d"), ("5xx", "5xx", 5, "d"), ("timeout", "t/o", 5, "d"),
        ("conn_err", "conn", 4, "d"), ("p50", "p50 ms", 8, ".1f"), ("p95", "p95 ms", 8, ".1f"),
        ("p99", "p99 ms", 8, ".1f"), ("max", "max ms", 8, ".0f"), ("ok_per_s", "ok/s", 6, ".0f"),
        ("lag_p99", "lag99", 6, ".1f"), ("lag_max", "lag max", 7, ".1f"), ("srv_cpu_ms", "cpu/req", 7, ".2f"),
        ("load1", "load", 5, ".1f")]


def report(results: list[dict]) -> None:
    for r in results:
        print(f"\n== {r['db']}" + (f" ({r['workers']} workers, {r['customers']:,} customers)" if "workers" in r
                                    else "") + " ==")
        for note in r["notes"]:
            print(f"  {note}")
        print(" ".join(f"{h:{'<' if f == 's' else '>'}{w}}" for _, h, w, f in COLS))
        for row in r["rows"]:
            line = " ".join(f"{row[c]:{'<' if f == 's' else '>'}{w}{f}}" for c, _, w, f in COLS)
            flag = "  << client behind schedule" if row["client_behind"] else ""
            print(line + flag)
            if row["503"] and row["2xx"]:
                ok, shed = row["by_status_2xx"], row["by_status_503"]
                print(f"{'':4}2xx answers p50 {ok['p50']:.1f} / p95 {ok['p95']:.1f} / max {ok['max']:.0f} ms; "
                      f"503 answers p50 {shed['p50']:.1f} / p95 {shed['p95']:.1f} / max {shed['max']:.0f} ms")
            if "health" in row:
                h = row["health"]
                last = "never" if h["last_bad_s"] is None else f"last at +{h['last_bad_s']:.1f} s"
                print(f"{'':4}/health: max {h['max_ms_during_overload']:.0f} ms during the overload; "
                      f"{h['bad_polls']} of {h['polls']} polls slower than 100 ms or not 200 ({last})")
        for c in r["integrity"]:
            print(f"  {c['scenario']}: {c['requests']} requests, {c['acked_first']} acknowledged (201) at once, "
                  f"{c['acked_after_retry']} after retries, {c['never_acked']} never; lines acknowledged "
                  f"{c['lines_acked']}, committed {c['lines_committed']} (duplicates {c['duplicate_lines']}, "
                  f"stored but never acknowledged {c['unacked_committed_lines']}, acknowledged but missing "
                  f"{c['lost_lines']}); replayed answers {c['replayed_answers']}")
            for k, p in enumerate(c["retry_passes"], 1):
                print(f"{'':4}retry pass {k}: {p}")


def self_test(args) -> list[dict]:
    """The client alone against a trivial keep-alive server: does it hold 500-2000 req/s on schedule?"""
    ctx = mp.get_context("spawn")
    port, ready = free_port(), ctx.Event()
    srv = ctx.Process(target=trivial_server, args=(port, ready), daemon=True)
    srv.start()
    ready.wait(10)
    rows = []
    try:
        for rate in (500, 1000, 2000):
            for procs in (1, 2):
                n = int(rate * args.duration)
                spec = {"name": "t", "reqs": [Req("GET", "/")] * n, "rate": rate, "procs": procs}
                res = fire(HOST, port, [spec], procs)["t"]
                rows.append(stats(res, rate, 0, f"trivial GET @ {rate}/s, {procs} client process(es)"))
    finally:
        srv.terminate()
    return [{"db": "client self-test", "rows": rows, "integrity": [], "notes": []}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--dataset", default="synthetic", help="a sample (synthetic, cdnow) or a file, e.g. "
                                                           "/work/shared/datasets/online_retail.csv")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--server-root", type=Path, default=ROOT, help="the source tree whose service is measured "
                    "(e.g. an older commit unpacked with 'git archive'); default this repository")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per GET and POST phase")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds at the same rate before each GET phase")
    ap.add_argument("--prewarm", type=float, default=0.0, metavar="RATE", help="first GET every customer (workers "
                    "+ 1) times at RATE/s, so the GET phases measure cached cards; default 0: cold, random ids")
    ap.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[500.0, 1000.0],
                    help="GET rates, comma-separated")
    ap.add_argument("--post-rate", type=float, default=50.0)
    ap.add_argument("--overload-rate", type=float, default=300.0)
    ap.add_argument("--overload-duration", type=float, default=5.0)
    ap.add_argument("--health-tail", type=float, default=10.0, help="seconds /health is polled after the overload")
    ap.add_argument("--scenarios", type=lambda s: set(s.split(",")), default={"get", "post", "overload"})
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds from a request's scheduled time")
    ap.add_argument("--recover", type=float, default=60.0, help="seconds to wait for /health between phases")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=0, help="client processes per stream (0: one per --per-client)")
    ap.add_argument("--per-client", type=float, default=600.0, help="requests/s one client process sends")
    ap.add_argument("--log-requests", action="store_true", help="keep the service's per-request log lines")
    ap.add_argument("--quick", action="store_true", help="3 s phases (warm-up 1 s), overload 5 s")
    ap.add_argument("--self-test", action="store_true", help="only check the client against a trivial server")
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    if args.quick:
        args.duration = 3.0
    if args.self_test:
        results = self_test(args)
    else:
        ids, day = customers(args.dataset)
        results = [run_db(db, args, ids, day) for db in (["sqlite", "postgres"] if args.db == "both" else [args.db])]
    report(results)
    print("\nLatency from each request's scheduled send time over every request (a time-out counts with its "
          f"{args.timeout:g} s); ok/s = 2xx answers per second; lag = the client's own delay in starting a request "
          f"(ms; p99 above {LAG_LIMIT_MS:g} ms flags the row); cpu/req = the server's CPU time (user + system, "
          "all its processes) during the phase per request sent, in ms: unlike the latencies it does not depend on "
          "other work on the machine; load = 1-minute load average after the phase.")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: sorted(v) if isinstance(v, set) else v
                                                        for k, v in vars(args).items()}, "results": results},
                                              indent=1, default=str))


if __name__ == "__main__":
    main()
