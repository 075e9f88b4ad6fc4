"""Downloads of customer lists (campaign list, RFM customers): a *Pseudonymise customer ids* checkbox beside the
buttons (keyed hashes, :mod:`pipeline.privacy.pseudonym`, for sharing with an agency) and one audit record per
download (:mod:`pipeline.privacy.audit`: who ``app``, what, how many rows; never an id)."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from app import ui
from pipeline.errors import DataError
from pipeline.privacy.audit import record
from pipeline.privacy.pseudonym import pseudonymise
from pipeline.store import Workspace

__all__ = ["customer_downloads", "audit_download"]


def audit_download(ws: Workspace, what: str, rows: int, hashed: bool, dataset_id: str) -> Callable[[], None]:
    """The download buttons' callback: one audit record of ``what`` (counts and flags only)."""
    return lambda: record(ws, "export", what, rows=rows, pseudonymised=hashed, dataset=dataset_id)


def customer_downloads(ws: Workspace, df: pd.DataFrame, stem: str, key: str, what: str, dataset_id: str,
                       column: str = "customer_id") -> None:
    """:func:`app.ui.downloads` of a customer list (ids in ``column``), with the pseudonymise checkbox; each download
    is audited."""
    hashed = st.checkbox("Pseudonymise customer ids", key=f"{key}_pseudonymise",
                         help="Replace each customer id with a keyed hash (HMAC-SHA-256 with this workspace's key, "
                              "kept outside the workspace) before sharing the file with an agency. The same customer "
                              "always gets the same hash in this workspace; a results file with these hashes can "
                              "be joined back here (python -m pipeline campaign-results).")
    if hashed:
        try:
            df = pseudonymise(df, ws, column)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
    ui.downloads(df, f"{stem}_pseudonymised" if hashed else stem, key,
                 on_click=audit_download(ws, what, len(df), hashed, dataset_id))
