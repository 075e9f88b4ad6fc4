"""Small widgets and text helpers shared by the pages: the "no data yet" guard, download buttons, a metrics row,
the sidebar, the optional login, and where each page file lives. User strings are only ever rendered as plain
text or escaped Markdown, never as HTML."""
from __future__ import annotations

import hmac
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from app import keys, period_ui, state
from app.download_audit import audit_if_customers
from pipeline import units
from pipeline.exports import to_csv_bytes, to_excel_bytes
from pipeline.store import Dataset

__all__ = ["PAGES", "UPLOAD_PAGE", "RFM_PAGE", "CLUSTERS_PAGE", "MODEL_LAB_PAGE", "CUSTOMER_PAGE", "CAMPAIGNS_PAGE",
           "OVERVIEW_PAGE", "MOVEMENT_PAGE",
           "md", "money", "money_label", "money_column", "words", "count_column", "require_dataset", "downloads",
           "metrics_row", "sidebar", "STYLE", "style",
           "access_gate"]

PAGES = Path(__file__).resolve().parents[1] / "pages"
UPLOAD_PAGE = PAGES / "upload.py"
RFM_PAGE = PAGES / "rfm.py"
CLUSTERS_PAGE = PAGES / "clusters.py"
MODEL_LAB_PAGE = PAGES / "model_lab.py"
CUSTOMER_PAGE = PAGES / "customer.py"
CAMPAIGNS_PAGE = PAGES / "campaigns.py"
OVERVIEW_PAGE = PAGES / "overview.py"
MOVEMENT_PAGE = PAGES / "movement.py"


#: The app's only CSS: no text is cut off (tests/test_browser_layout.py). Metric values shrink with their tile
#: (container query units) instead of ending in "…"; labels, deltas, buttons, tabs and multiselect chips wrap.
STYLE = """<style>
[data-testid="stMetric"] { container-type: inline-size; }
[data-testid="stMetricValue"] { font-size: clamp(1.1rem, 11.5cqi, 2.25rem); }
[data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] *, [data-testid="stMetricDelta"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stMetricLabel"] *, [data-testid="stMetricDelta"] * { overflow-wrap: anywhere; }
[data-testid="stMetricLabel"] { height: auto !important; min-height: 1.5rem; }
button [data-testid="stMarkdownContainer"], button [data-testid="stMarkdownContainer"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
button:has([data-testid="stMarkdownContainer"]) { height: auto; }
[data-testid="stMultiSelectTagsContainer"] { flex-wrap: wrap !important; overflow-x: visible !important; }
[data-testid="stMultiSelectTagsContainer"] [data-tag] { flex-shrink: 0; max-width: 100%; height: auto;
  overflow: visible !important; min-width: 0; }
[data-testid="stMultiSelectTagsContainer"] [data-tag] > span { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; max-width: none !important;
  overflow-wrap: anywhere; }
</style>"""


def style() -> None:
    """Put :data:`STYLE` on the page (called once by the router, before any page draws)."""
    st.html(STYLE)


def md(text: object) -> str:
    """User or data text shown through Markdown, with Markdown/LaTeX characters escaped (never HTML)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~])", r"\\\1", str(text))


def money(x: float | None, decimals: int = 2) -> str:
    """Spend in the current dataset's unit (:func:`pipeline.units.spend`): ``£1,234.50``, or ``4,816 items``
    when spend is counted in items (basket logs); missing as a dash."""
    return units.spend(x, state.currency(), decimals)


def words(text: str) -> str:
    """``text`` in the current dataset's unit: "Revenue" reads "Items bought" on a basket log
    (:func:`pipeline.units.spend_words`)."""
    return units.spend_words(text, state.currency())


def money_label(text: str) -> str:
    """A column header or axis title for money: ``Revenue (£)``, or ``Items bought`` for basket logs."""
    code = state.currency()
    return f"{text} ({units.spend_unit(code)})" if code else units.spend_words(text, code)


def money_column(label: str, decimals: int = 0, help: str | None = None) -> st.column_config.NumberColumn:
    """A table column of money with thousands separators and the unit in each cell (``£7,111``, ``53.9 items``);
    the header reads in items on basket logs ("Items bought")."""
    code = state.currency()
    return st.column_config.NumberColumn(units.spend_words(label, code), format=units.spend_format(code, decimals),
                                         help=help)


def count_column(label: str, help: str | None = None) -> st.column_config.NumberColumn:
    """A table column of whole numbers with thousands separators (``135,080``)."""
    return st.column_config.NumberColumn(label, format="%,d", help=help)


def require_dataset(kind: str | None = "transactions") -> Dataset:
    """The current dataset, or a friendly stop with a link to the Upload page."""
    ds = state.current_dataset()
    if ds is None:
        st.info("No data yet. Load the built-in sample or upload a file first.")
        st.page_link(UPLOAD_PAGE, label="Go to Upload", icon=":material/upload:")
        st.stop()
    if kind and ds.kind != kind:
        what = "transactions (customer, date, amount)" if kind == "transactions" else "a customer table"
        st.info(f"This page needs {what}; the current dataset '{ds.name}' is a {ds.kind} table. "
                "Pick another dataset in the sidebar or upload one.")
        st.page_link(UPLOAD_PAGE, label="Go to Upload", icon=":material/upload:")
        st.stop()
    return ds


def downloads(df: pd.DataFrame, stem: str, key: str, on_click=None) -> None:
    """CSV and Excel download buttons; cells that a spreadsheet would run as formulas are escaped.

    The files are built only when a button is clicked (deferred data), not on every rerun; ``on_click`` (a
    callable) runs on each click: by default, for a table holding customer ids, its audit record
    (:func:`app.download_audit.audit_if_customers`)."""
    on_click = on_click or audit_if_customers(df, stem)
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", lambda: to_csv_bytes(df), f"{stem}.csv", "text/csv", key=f"{key}_csv",
                       icon=":material/download:", on_click=on_click or "rerun")
    if len(df) <= 300_000:
        c2.download_button("Download Excel", lambda: to_excel_bytes(df), f"{stem}.xlsx",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}_xlsx",
                           icon=":material/download:", on_click=on_click or "rerun")
    else:
        c2.caption("Excel download is offered up to 300,000 rows; use CSV for this list.")


def metrics_row(items: dict[str, str]) -> None:
    """One ``st.metric`` per item, side by side."""
    for col, (label, value) in zip(st.columns(len(items)), items.items()):
        col.metric(label, value)


def sidebar() -> None:
    """Dataset picker (switch, delete), the analysis period (``app.period_ui``) and the workspace link."""
    ws = state.workspace()
    metas = ws.list_datasets()
    with st.sidebar:
        st.subheader("Dataset")
        if not metas:
            st.caption("No saved datasets yet.")
        else:
            ids = [m["id"] for m in metas]
            names = {m["id"]: f"{m['name']} · {m['kind']}" for m in metas}
            # the picker follows the current dataset (an upload or Apply changes it after the sidebar is drawn);
            # the analyst's own pick arrives through on_change, before the page runs
            st.session_state[keys.SIDEBAR_DATASET] = state.current_dataset_id()
            pick = st.selectbox("Saved datasets", ids, format_func=names.get, key=keys.SIDEBAR_DATASET,
                                on_change=lambda: state.set_current(st.session_state[keys.SIDEBAR_DATASET]))
            with st.popover("Delete this dataset", icon=":material/delete:"):
                st.write(f"Delete '{names[pick]}' from this workspace? This cannot be undone.")
                if st.button("Delete", type="primary", key="sidebar_delete"):
                    ws.delete_dataset(pick)
                    state.set_current(None)
                    st.rerun()
            period_ui.period_sidebar(ws, next(m["kind"] for m in metas if m["id"] == pick))
        st.caption(f"Workspace `{ws.id}` — this browser reopens it at the plain address; bookmark this page's "
                   "address to open it elsewhere.")
        state.remember_workspace()


def access_gate() -> bool:
    """Optional login. Off unless ``.streamlit/secrets.toml`` sets ``password``; compared in constant time."""
    if state.signed_in():
        return True
    expected = state.password()
    st.title("Customer segmentation")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(given.encode(), str(expected).encode()):
                st.session_state[keys.AUTHED] = True
                st.rerun()
            st.error("Wrong password.")
    return False
