"""Pieces of the RFM page: the snapshot date (kept per dataset in the workspace, so a reload finds it), the segment
table with each segment's meaning and recommended action, and the treemap with readable tiles and tooltips."""
from __future__ import annotations

from datetime import date
from html import escape

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from pipeline.labels import format_value, label
from pipeline.units import spend_words
from pipeline.store import Dataset

__all__ = ["SNAPSHOT_SETTING", "snapshot_input", "segment_table", "treemap"]

SNAPSHOT_SETTING = "snapshot"          # per-dataset workspace setting: the RFM snapshot date (ISO) chosen by hand


def _keep_snapshot(dataset_id: str, widget: str, default: date) -> None:
    picked = st.session_state.get(widget)
    state.workspace().save_dataset_settings(
        dataset_id, {SNAPSHOT_SETTING: None if picked in (None, default) else picked.isoformat()})


def snapshot_input(ds: Dataset, default: date, first: date) -> date:
    """The snapshot date picker (sidebar): starts at the date saved for this dataset, else ``default``."""
    widget = f"rfm_snapshot_{ds.id}"
    if widget not in st.session_state:
        saved = state.workspace().dataset_settings(ds.id).get(SNAPSHOT_SETTING)
        st.session_state[widget] = max(date.fromisoformat(saved), first) if saved else default
    return st.date_input("Snapshot date", min_value=first, key=widget, format="YYYY-MM-DD",
                         on_change=_keep_snapshot, args=(ds.id, widget, default),
                         help="Recency is counted in days up to this date; later purchases are ignored. "
                              "Default: the day after the last purchase. Kept for this dataset.")


def segment_table(summary: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """The segment summary with each segment's description and recommended action from the rules."""
    text = rules.drop_duplicates("segment").set_index("segment")
    out = summary.copy()
    for col in ("description", "action"):
        out[col] = out["segment"].map(text[col]) if col in text.columns else ""
    return out[["segment", "description", "action", "customers", "share", "revenue", "revenue_share",
                "mean_recency_days", "mean_frequency", "mean_monetary"]]


def treemap(table: pd.DataFrame, currency: str | None) -> go.Figure:
    """Customers per segment (tile size), coloured by share of revenue (of items bought on a basket log); tiles and
    tooltips in plain words and the dataset's unit. A name that does not fit its tile at 10 px is hidden rather
    than cut (the tooltip still names the tile)."""
    hover_cols = ["customers", "share", "revenue", "revenue_share", "mean_monetary", "mean_recency_days"]
    hover = [["<br>".join(f"{escape(spend_words(label(c), currency))}: {escape(format_value(c, row[c], currency))}"
                          for c in hover_cols)] for _, row in table.iterrows()]
    what = spend_words("revenue", currency)
    names = [escape(s) for s in table["segment"]]
    wrapped = [n.replace(" ", "<br>") if len(n) > 8 else n for n in names]     # small tiles: one word a line
    fig = go.Figure(go.Treemap(
        labels=names, parents=[""] * len(table), values=table["customers"], text=wrapped,
        marker={"colors": table["revenue_share"], "colorscale": "Blues", "showscale": True,
                "line": {"color": "white", "width": 1}, "pad": {"t": 0, "l": 0, "r": 0, "b": 0},
                "colorbar": {"title": {"text": f"Share of<br>{what}"}, "tickformat": ".0%"}},
        customdata=hover, texttemplate="<b>%{text}</b><br>%{value:,}",
        hovertemplate="<b>%{label}</b><br>%{customdata[0]}<extra></extra>", branchvalues="total",
        root_color="white", tiling={"pad": 2}, pathbar={"visible": False}))   # no dark frame around the tiles
    return fig.update_layout(title=f"Customers per segment (colour: share of {what})", height=480,
                             margin={"t": 40, "l": 0, "r": 40, "b": 0}, uniformtext={"minsize": 10, "mode": "hide"})
