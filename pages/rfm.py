"""RFM segments: KPIs, segments with what they mean and what to do, treemap, R×F grid, distributions, customer
lists to download, segment rules."""
import pandas as pd
import plotly.express as px
import streamlit as st

from app import labels_ui, privacy_ui, rfm_ui, state, ui
from app.ui import md
from pipeline.errors import DataError
from pipeline.labels import format_value, hover_labels, label, readable
from pipeline.rfm import filter_customers, load_segment_rules, rf_grid, segment_summary

ds = ui.require_dataset("transactions")
st.title("RFM segments")
ws = state.workspace()
currency = state.currency()

period = state.analysis_period()          # the sidebar's period: purchases after its end are left out
last = pd.Timestamp(period.end) if period else ds.transactions["date"].max().normalize()
with st.sidebar:
    snapshot = rfm_ui.snapshot_input(ds, (last + pd.Timedelta(days=1)).date(), ds.transactions["date"].min().date())
try:
    rfm = state.rfm(str(snapshot))
except DataError as e:
    st.error(str(e))
    st.stop()

summary = rfm_ui.segment_table(segment_summary(rfm), state.segment_rules())
top = summary.iloc[0]
ui.metrics_row({"Customers": f"{len(rfm):,}", ui.words("Revenue"): ui.money(rfm["monetary"].sum(), 0),
                "Days since last order (median)": f"{rfm['recency_days'].median():,.0f}",
                "Orders per customer": f"{rfm['frequency'].mean():,.1f}"})
st.caption(f"{md(top['segment'])} bring {top['revenue_share']:.0%} of the {ui.words('revenue')} — more than any "
           f"other segment. Snapshot {snapshot}: recency is counted up to this date.")

tab_seg, tab_grid, tab_dist, tab_list, tab_rules = st.tabs(
    ["Segments", "R × F grid", "Distributions", "Customer list", "Segment rules"])
with tab_seg:
    st.plotly_chart(rfm_ui.treemap(summary, currency), width="stretch", key="rfm_treemap")
    st.markdown("**What each segment means and what to do**")
    st.table(readable(summary[["segment", "description", "action"]]).set_index(label("segment")))
    figures = summary.drop(columns=["description", "action"])      # a table that wraps: no sideways scroll at 1280
    shown_figures = figures.apply(lambda c: c.map(lambda v: format_value(c.name, v, currency)))
    st.table(shown_figures.rename(columns=lambda c: ui.words(label(c))).set_index(label("segment")))
with tab_grid:
    grid = rf_grid(rfm)
    fig = px.imshow(grid, text_auto=True, color_continuous_scale="Blues", aspect="auto",
                    labels={"x": "Frequency score (5 = most orders)", "y": "Recency score (5 = most recent)",
                            "color": "Customers"},
                    title="Customers by recency and frequency score (5 = best)")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    st.plotly_chart(fig, width="stretch")
with tab_dist:
    names = hover_labels(["recency_days", "frequency", "monetary", "segment"])
    names["monetary"] = ui.money_label(names["monetary"])
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(px.histogram(rfm, x="recency_days", nbins=50, labels=names, title="Days since last order")
                    .update_yaxes(title="Customers"), width="stretch")
    c2.plotly_chart(px.histogram(rfm, x="frequency", nbins=50, log_y=True, labels=names, title="Orders per customer")
                    .update_yaxes(title="Customers (log scale)"), width="stretch")
    c3.plotly_chart(px.box(rfm, x="segment", y="monetary", log_y=True, points=False, labels=names,
                           title=ui.words("Total spend by segment")), width="stretch")
with tab_list:
    f1, f2, f3 = st.columns(3)
    segs = f1.multiselect("Segments", sorted(rfm["segment"].unique()))
    saved = {s["name"]: s["customer_ids"] for s in ws.list_segments(ds.id)}
    custom = f2.selectbox("Saved selection", ["(all customers)"] + list(saved),
                          help="Customer lists saved from the Clusters page.")
    search = f3.text_input("Customer id contains")
    s1, s2, s3 = st.columns(3)
    r = s1.slider("Recency score", 1, 5, (1, 5))
    f = s2.slider("Frequency score", 1, 5, (1, 5))
    m = s3.slider("Spend score", 1, 5, (1, 5))
    shown = filter_customers(rfm, segs, r, f, m, saved.get(custom), search)
    total = ui.money(shown["monetary"].sum(), 0)
    st.caption(f"{len(shown):,} customers, " + (f"revenue {total}" if currency else f"{total} bought"))
    st.dataframe(shown, hide_index=True, width="stretch", column_config=labels_ui.column_config(shown.columns))
    privacy_ui.customer_downloads(ws, readable(shown), "rfm_customers", "rfm_list", "rfm customers", ds.id,
                                  label("customer_id"))
with tab_rules:
    st.caption("Segments are named from the recency and frequency scores; the first matching rule wins. Edit the "
               "rules, the descriptions and the actions, and save to apply them everywhere in this workspace.")
    edited = st.data_editor(state.segment_rules(), num_rows="dynamic", hide_index=True, key="rules_editor")
    b1, b2 = st.columns(2)
    if b1.button("Save rules", type="primary"):
        try:
            ws.write_json("rfm_rules", load_segment_rules(edited).to_dict(orient="records"))
            st.rerun()
        except DataError as e:
            st.error(str(e))
    if b2.button("Restore default rules"):
        ws.write_json("rfm_rules", None)
        st.rerun()
