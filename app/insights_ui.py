"""Drawing pieces of the Overview and Cohorts & movement pages: key-figure tiles with their change, the monthly
charts, the cohort heatmap, the movement heatmap and Sankey diagram. Figures take pipeline results and return
plotly figures; labels are plain words (no column names), money goes through :func:`app.ui.money`.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app import state, ui
from pipeline.cohorts import COHORT_VALUES
from pipeline import units
from pipeline.currency import currency
from pipeline.movement import Movement, sankey_links
from pipeline.overview import Overview

__all__ = ["kpi_tiles", "value_text", "change_text", "kpi_table", "monthly_figure", "new_returning_figure",
           "cohort_figure", "cohort_display", "movement_figure", "sankey_figure", "cell_table", "movement_matrix"]


def value_text(value: float, kind: str, short: bool = False) -> str:
    """A key figure as text: spend via ``ui.money`` (money or items; ``short`` for a tile: ``£3.44M``), rates in
    percent, counts with separators."""
    if units.is_missing(value):
        return units.DASH
    if kind == "money":
        return units.spend_short(value, state.currency()) if short else ui.money(value)
    return units.percent(value, 1) if kind == "rate" else units.count(value)


def change_text(row) -> str | None:
    """The change of a key figure against the previous period as shown (``+12.5%``, ``+3.0 pts``); None when the
    data does not cover the previous period or its base is too small (``row.note`` says why)."""
    if not row.comparable or not row.base_ok or pd.isna(row.change):
        return None
    return f"{row.change * 100:+,.1f} pts" if row.kind == "rate" else f"{row.change:+,.1%}"


_KPI_HELP = {
    "customers": "Customers with a purchase in these days.",
    "repeat_rate": "Share of these days' customers with two or more orders within them.",
    "new_customers": "Customers whose first purchase in the data falls in these days.",
    "returning_customers": "Customers who bought in these days and had bought before them. Over all the data "
                           "nobody can have bought before, so every customer counts as new.",
}


def _help(row) -> str:
    text = _KPI_HELP.get(row.kpi, "")
    if row.kind == "money" and value_text(row.value, row.kind, short=True) != value_text(row.value, row.kind):
        text = f"Exactly {value_text(row.value, row.kind)}. " + text
    if not row.comparable:
        return text + " No comparison for this period."
    text += f" Previous period: {value_text(row.previous, row.kind)}."
    return text + (f" No change shown: {row.note}." if row.note else "")


def kpi_tiles(ov: Overview, per_row: int = 4) -> None:
    """One ``st.metric`` per key figure (in the dataset's unit), with its change against the previous period when
    comparable; "too few to compare" when the previous period is below the minimum base."""
    rows = list(ov.kpis.itertuples())
    for i in range(0, len(rows), per_row):
        for col, row in zip(st.columns(per_row), rows[i:i + per_row]):
            delta = change_text(row)
            if delta is None and row.comparable and row.note:
                col.metric(ui.words(row.label), value_text(row.value, row.kind, True), "too few to compare",
                           delta_color="off", delta_arrow="off", help=_help(row), border=True)
            else:
                col.metric(ui.words(row.label), value_text(row.value, row.kind, True), delta, help=_help(row),
                           border=True)


def kpi_table(ov: Overview) -> pd.DataFrame:
    """The key figures as a table of text (for "Details for analysts"): label, this period, previous period,
    change; a dash where there is nothing (never "None")."""
    return pd.DataFrame({
        "Key figure": [ui.words(x) for x in ov.kpis["label"]],
        "This period": [value_text(v, k) for v, k in zip(ov.kpis["value"], ov.kpis["kind"])],
        "Previous period": [value_text(v, k) for v, k in zip(ov.kpis["previous"], ov.kpis["kind"])],
        "Change": [change_text(r) or (r.note if r.note else units.DASH) for r in ov.kpis.itertuples()]})


def monthly_figure(monthly: pd.DataFrame, horizon_days: int) -> go.Figure:
    """Revenue per month (bars, partial months paler) and active customers at each month's end (line)."""
    code = state.currency()
    cur = currency(code) if code else None
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    colours = ["#1f77b4" if c else "#a6c8e6" for c in monthly["complete"]]
    revenue = ui.words("Revenue")
    fig.add_bar(x=monthly["month"], y=monthly["revenue"], name=revenue, marker_color=colours,
                hovertemplate="%{x|%B %Y}<br>" + revenue + (f" %{{y:,.2f}} {code}" if code else " %{y:,.0f} items")
                + "<extra></extra>")
    active = monthly["active_customers"].where(monthly["active_complete"])
    fig.add_scatter(x=monthly["month"], y=active, name=f"Active customers ({horizon_days} days)",
                    mode="lines+markers", line_color="#d62728", secondary_y=True,
                    hovertemplate="%{x|%B %Y}<br>%{y:,} active customers<extra></extra>")
    fig.update_yaxes(title_text=ui.money_label("Revenue"), secondary_y=False, tickformat=",.0f",
                     tickprefix=cur.symbol if cur and cur.prefix else "",
                     ticksuffix=f" {cur.symbol}" if cur and not cur.prefix else "")
    fig.update_yaxes(title_text="Active customers", secondary_y=True, rangemode="tozero", tickmode="auto",
                     tickformat=",d", showgrid=False)                       # whole customers, its own ticks
    fig.update_layout(title=f"{revenue} and active customers per month", legend_orientation="h",
                      legend_y=-0.15, margin_t=50)
    return fig


def new_returning_figure(monthly: pd.DataFrame) -> go.Figure:
    """Customers buying each month, split into new (first purchase that month) and returning."""
    long = monthly.melt(id_vars="month", value_vars=["new_customers", "returning_customers"],
                        var_name="kind", value_name="buyers")
    long["kind"] = long["kind"].map({"new_customers": "New", "returning_customers": "Returning"})
    fig = px.bar(long, x="month", y="buyers", color="kind", title="New and returning customers per month",
                 labels={"month": "Month", "buyers": "Customers", "kind": ""},
                 color_discrete_map={"New": "#2ca02c", "Returning": "#1f77b4"})
    fig.update_traces(hovertemplate="%{x|%B %Y}<br>%{y:,} customers<extra></extra>")
    fig.update_layout(legend_orientation="h", legend_y=-0.15)
    return fig


def cohort_figure(matrix: pd.DataFrame, value: str) -> go.Figure:
    """Heatmap of one cohort value: cohorts (rows) × months since the first purchase (columns)."""
    fmt = ".0%" if value == "share" else (",.0f" if value == "customers" else ",.2f")
    what = ui.words(COHORT_VALUES[value])
    fig = px.imshow(matrix, text_auto=fmt, aspect="auto", color_continuous_scale="Blues",
                    labels={"x": "Months since first purchase", "y": "First-purchase month", "color": what},
                    title=what)
    fig.update_xaxes(type="category", side="top")
    fig.update_yaxes(type="category")
    fig.update_traces(hovertemplate="Cohort %{y}, month %{x}: %{z:" + fmt + "}<extra></extra>")
    return fig


def movement_figure(mv: Movement, shares: bool) -> go.Figure:
    """Transition matrix as a heatmap: customers (or the share of each row) from segment to segment."""
    data = mv.row_share if shares else mv.counts
    fmt = ".0%" if shares else ","
    fig = px.imshow(data, text_auto=".0%" if shares else True, aspect="auto", color_continuous_scale="Blues",
                    labels={"x": f"Segment on {mv.date_to}", "y": f"Segment on {mv.date_from}",
                            "color": "Share of the row" if shares else "Customers"})
    fig.update_xaxes(type="category", side="top")
    fig.update_yaxes(type="category")
    fig.update_traces(hovertemplate="%{y} → %{x}: %{z:" + fmt + "}<extra></extra>")
    return fig


def sankey_figure(mv: Movement) -> go.Figure:
    """Sankey diagram of the customers flowing from each segment at the first date to the second."""
    links = sankey_links(mv)
    left = [f"{s} ({mv.date_from})" for s in mv.counts.index]
    right = [f"{s} ({mv.date_to})" for s in mv.counts.columns]
    src = {s: i for i, s in enumerate(mv.counts.index)}
    dst = {s: len(left) + i for i, s in enumerate(mv.counts.columns)}
    fig = go.Figure(go.Sankey(
        node={"label": left + right, "pad": 12, "thickness": 14, "line": {"width": 0}},
        textfont={"color": "#111827", "size": 13, "shadow": "none"},
        link={"source": links["source"].map(src).tolist(), "target": links["target"].map(dst).tolist(),
              "value": links["customers"].tolist(), "color": "rgba(99, 110, 250, 0.25)",
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} customers<extra></extra>"}))
    fig.update_layout(title=f"Where customers went between {mv.date_from} and {mv.date_to}", height=520)
    return fig


def cell_table(picked: pd.DataFrame) -> pd.DataFrame:
    """The customers behind a movement cell as shown: human headers, spend in the currency, and a dash (not
    "None") for the figures of customers who were not customers yet at the first date."""
    def text(col: str, v) -> str:
        return ui.money(v) if col.startswith("monetary") else units.count(v)

    shown = picked.copy()
    for col in [c for c in shown.columns if c.startswith(("recency_days", "frequency", "monetary"))]:
        shown[col] = [text(col, v) for v in shown[col]]
    return shown.rename(columns={
        "customer_id": "Customer", "segment_from": "Segment before", "segment_to": "Segment after",
        "recency_days_from": "Days since last order (before)", "frequency_from": "Orders (before)",
        "monetary_from": ui.words("Spend (before)"), "recency_days_to": "Days since last order (after)",
        "frequency_to": "Orders (after)", "monetary_to": ui.words("Spend (after)")})


def movement_matrix(mv: Movement) -> pd.DataFrame:
    """The movement matrix as text: customers and the share of the row in each cell (``28 · 62%``), a dash for an
    empty row's shares (never "None")."""
    cells = {col: [f"{units.count(n)} · {units.percent(sh)}" if n else "0"
                   for n, sh in zip(mv.counts[col], mv.row_share[col])] for col in mv.counts.columns}
    out = pd.DataFrame(cells, index=mv.counts.index.astype(str))
    out.index.name = f"Segment on {mv.date_from} ↓ / on {mv.date_to} →"
    return out


def cohort_display(matrix: pd.DataFrame, value: str, sizes: pd.Series) -> pd.DataFrame:
    """The cohort table as shown: one row per first-purchase month with its size, each month's value written
    (percent, money or count) and blank for months that have not happened yet (never "None")."""
    def text(v) -> str:
        if pd.isna(v):
            return ""
        return units.percent(v) if value == "share" else (ui.money(v) if "revenue" in value else units.count(v))

    table = matrix.apply(lambda col: col.map(text))
    table.columns = [f"Month {c}" for c in table.columns]
    table.insert(0, "Customers", sizes.reindex(table.index).map(units.count))
    table.insert(0, "First-purchase month", table.index.astype(str))
    return table.reset_index(drop=True)
