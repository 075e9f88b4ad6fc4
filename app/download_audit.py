"""The audit record of a download from the app (:mod:`pipeline.privacy.audit`: who ``app``, what, how many rows,
whether ids were pseudonymised; never an id). :func:`app.ui.downloads` records every download of a table holding
customer ids (:func:`audit_if_customers`); :mod:`app.privacy_ui` records the customer lists it offers."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from app import state
from pipeline.labels import label
from pipeline.privacy.audit import record
from pipeline.store import Workspace

__all__ = ["audit_download", "audit_if_customers"]


def audit_download(ws: Workspace, what: str, rows: int, hashed: bool, dataset_id: str) -> Callable[[], None]:
    """The download buttons' callback: one audit record of ``what`` (counts and flags only)."""
    return lambda: record(ws, "export", what, rows=rows, pseudonymised=hashed, dataset=dataset_id)


def audit_if_customers(df: pd.DataFrame, stem: str) -> Callable[[], None] | None:
    """The audit callback of a download named ``stem`` when ``df`` holds customer ids (a ``customer_id`` column or
    its label, or index), else None."""
    names = {str(c) for c in df.columns} | {str(n) for n in df.index.names if n is not None}
    if not names & {"customer_id", label("customer_id")}:
        return None
    return audit_download(state.workspace(), stem, len(df), False, state.current_dataset_id() or "")
