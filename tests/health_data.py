"""Hand-made transactions whose churn truth is known, for the model-health tests.

Time runs in periods of ``H`` days. Half the customers are big spenders (about 100 per order), half small (about 10);
both order once or twice in a period they are active in, so BG/NBD (which sees only counts and dates) cannot tell
them apart. In each period a customer is active with a probability set by that period's regime letter:
``A`` big 0.9 / small 0.15, ``B`` big 0.15 / small 0.9 (the behaviour flips), ``N`` both 0.5 (no signal).
Period 0 is active for everyone. Each period draws from its own seed, so a longer regime string extends a shorter
one with identical earlier rows (a source that gained rows).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ACTIVE = {"A": (0.9, 0.15), "B": (0.15, 0.9), "N": (0.5, 0.5)}
START = pd.Timestamp("2022-01-03")


def regime_transactions(regimes: str, n: int = 300, horizon: int = 30, seed: int = 0,
                        start: pd.Timestamp = START) -> pd.DataFrame:
    """Raw order lines (``InvoiceNo, CustomerID, InvoiceDate, Quantity, UnitPrice``) for the regime string."""
    big = np.arange(n) < n // 2
    rows = []
    for p, regime in enumerate(regimes):
        rng = np.random.default_rng([seed, p])
        p_big, p_small = (1.0, 1.0) if p == 0 else ACTIVE[regime]
        active = rng.random(n) < np.where(big, p_big, p_small)
        orders = rng.integers(1, 3, n)
        for c in np.flatnonzero(active):
            for k in range(orders[c]):
                day = int(rng.integers(0, horizon))
                price = (100.0 if big[c] else 10.0) * float(rng.uniform(0.8, 1.2))
                rows.append((f"{p}-{c}-{k}", f"C{c:04d}", start + pd.Timedelta(days=p * horizon + day), 1,
                             round(price, 2)))
        last = start + pd.Timedelta(days=(p + 1) * horizon - 1)      # every period ends on a purchase day
        rows.append((f"{p}-end", "C9999", last, 1, 5.0))
    df = pd.DataFrame(rows, columns=["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"])
    df["InvoiceDate"] = df["InvoiceDate"].dt.strftime("%Y-%m-%d 10:00")
    return df


def cleaned(regimes: str, **kw):
    """``(transactions, returns)`` of :func:`regime_transactions`, cleaned by pipeline.ingest."""
    from pipeline.ingest import clean_frame

    result = clean_frame(regime_transactions(regimes, **kw))
    return result.transactions, result.returns
