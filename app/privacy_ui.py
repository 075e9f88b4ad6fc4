"""Downloads of customer lists (campaign list, RFM customers): a *Pseudonymise customer ids* checkbox beside the
buttons (keyed hashes, :mod:`pipeline.privacy.pseudonym`, for sharing with an agency) and one audit record per
download (:mod:`app.download_audit`; every other download of a table holding customer ids, such as a cluster
selection, movement customers or Model-lab scores, is audited by :func:`app.ui.downloads`)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from app.download_audit import audit_download
from pipeline.errors import DataError
from pipeline.privacy.pseudonym import pseudonymise
from pipeline.store import Workspace

__all__ = ["customer_downloads"]


def customer_downloads(ws: Workspace, df: pd.DataFrame, stem: str, key: str, what: str, dataset_id: str,
                       column: str = "customer_id") -> None:
    """:func:`app.ui.downloads` of a customer list (ids in ``column``), with the pseudonymise checkbox; each download
    is audited."""
    hashed = st.checkbox("Pseudonymise customer ids", key=f"{key}_pseudonymise",
                         help="Replace each customer id with a keyed hash (HMAC-SHA-256 with this workspace's key, "
                              "kept outside the workspace) before sharing the file with an agency. The same customer "
                              "always gets the same hash in this workspace; a campaign list that comes back with "
                              "these hashes is joined back by python -m pipeline campaign-results --workspace.")
    if hashed:
        try:
            df = pseudonymise(df, ws, column)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
    ui.downloads(df, f"{stem}_pseudonymised" if hashed else stem, key,
                 on_click=audit_download(ws, what, len(df), hashed, dataset_id))
