"""Stale cards under concurrency (issue 21): ROUNDS x 20 simultaneous purchases for one new customer against
``serve --workers 2`` on PostgreSQL (a throw-away schema). After each round the stored card must be built from exactly
the committed lines (``line_count`` = lines = 20), count them all (``api_transactions``) and show their sum as
monetary. 503s are retried with the same Idempotency-Key, as a client would.

Run: ``python benchmarks/check_stale_cards.py [ROUNDS]`` (default 100); prints the rounds and how many were wrong.
"""
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from service_support import PG_URL as PG, free_port, make_key  # noqa: E402

schema = "stale_" + uuid.uuid4().hex[:8]
admin = create_engine(PG)
with admin.begin() as c: c.execute(text(f'CREATE SCHEMA "{schema}"'))
url = f"{PG}?options=-csearch_path%3D{schema}"
key = make_key(url, "load", rate=1e6)
import tempfile  # noqa: E402

port = free_port()
ws = tempfile.mkdtemp(prefix="stale_")
proc = subprocess.Popen([sys.executable, "-m", "service", "serve", "--dataset", "synthetic", "--workspace", ws,
                         "--database-url", url, "--port", str(port), "--workers", "2"], cwd=str(ROOT),
                        stdout=open(f"{ws}/log", "wb"), stderr=subprocess.STDOUT,
                        env={**os.environ, "SEGMENTS_LOG_REQUESTS": "false"}, start_new_session=True)
base = f"http://127.0.0.1:{port}"; h = {"Authorization": f"Bearer {key}"}
for _ in range(600):
    try:
        if httpx.get(base + "/health", timeout=1).status_code == 200: break
    except httpx.HTTPError: pass
    time.sleep(0.5)
time.sleep(15)     # both workers loaded
eng = create_engine(url)
stale = 0; rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
try:
    with httpx.Client(base_url=base, timeout=30, headers=h) as cl:
        for rnd in range(rounds):
            cid = f"stale-{rnd}"
            barrier = threading.Barrier(20)
            def one(i):
                barrier.wait()
                body = {"transactions": [{"date": "2024-12-20", "amount": 10 + i + rnd / 100}]}
                for a in range(400):
                    r = cl.post(f"/customers/{cid}/transactions", json=body, headers={"Idempotency-Key": f"{cid}-{i}"})
                    if r.status_code != 503: return r.status_code
                    time.sleep(0.05)
                return 503
            with ThreadPoolExecutor(20) as p: codes = list(p.map(one, range(20)))
            with eng.connect() as c:
                n = c.execute(text("SELECT count(*) FROM transactions WHERE customer_id=:c"), {"c": cid}).scalar()
                row = c.execute(text("SELECT line_count, card FROM customer_cards WHERE customer_id=:c"), {"c": cid}).first()
            card = json.loads(row[1])
            total = sum(10 + i + rnd / 100 for i in range(20))
            ok = (n == 20 and row[0] == 20 and card["api_transactions"] == 20
                  and abs(card["scores"]["monetary"] - total) < 0.01 and codes.count(201) == 20)
            stale += not ok
            if not ok: print("round", rnd, "codes", codes, "lines", n, "line_count", row[0], card["scores"]["monetary"], total, flush=True)
    print(f"rounds {rounds}, stale or wrong {stale}")
finally:
    os.killpg(proc.pid, 15); proc.wait(30)
    with admin.begin() as c: c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
