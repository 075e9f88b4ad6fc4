"""RFM segments: KPIs, segment summary, treemap, R×F heatmap, distributions, customer lists to download."""
import pandas as pd
import plotly.express as px
import streamlit as st

from app import state, ui
from pipeline.errors import DataError
from pipeline.rfm import filter_customers, load_segment_rules, rf_grid, segment_summary

ds = ui.require_dataset("transactions")
st.title("RFM segments")
ws = state.workspace()

last = ds.transactions["date"].max().normalize()
with st.sidebar:
    snapshot = st.date_input("Snapshot date", value=last + pd.Timedelta(days=1), min_value=ds.transactions["date"].min(),
                             help="Recency is counted in days up to this date; later purchases are ignored. "
                                  "Default: the day after the last transaction.")
try:
    rfm = state.rfm(str(snapshot))
except DataError as e:
    st.error(str(e))
    st.stop()

summary = segment_summary(rfm)
top = summary.iloc[0]
ui.metrics_row({"Customers": f"{len(rfm):,}", "Revenue": f"{rfm['monetary'].sum():,.0f}",
                "Median recency (days)": f"{rfm['recency_days'].median():.0f}",
                "Mean orders": f"{rfm['frequency'].mean():.2f}",
                f"Revenue share of {top['segment']}": f"{top['revenue_share']:.0%}"})

tab_seg, tab_grid, tab_dist, tab_list, tab_rules = st.tabs(
    ["Segments", "R × F grid", "Distributions", "Customer list", "Segment rules"])
with tab_seg:
    st.plotly_chart(px.treemap(summary, path=["segment"], values="customers", color="revenue_share",
                                 color_continuous_scale="Blues", hover_data=["revenue", "mean_monetary"],
                                 title="Customers per segment (colour: share of revenue)"), width="stretch")
    st.dataframe(summary, hide_index=True, column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        "revenue_share": st.column_config.NumberColumn(format="percent"),
        "revenue": st.column_config.NumberColumn(format="%.0f"),
        "mean_recency_days": st.column_config.NumberColumn("mean R (days)", format="%.0f"),
        "mean_frequency": st.column_config.NumberColumn("mean F", format="%.2f"),
        "mean_monetary": st.column_config.NumberColumn("mean M", format="%.0f")})
with tab_grid:
    grid = rf_grid(rfm)
    fig = px.imshow(grid, text_auto=True, color_continuous_scale="Blues", aspect="auto",
                    labels={"x": "F score (frequency)", "y": "R score (recency)", "color": "customers"},
                    title="Customers by recency and frequency score (5 = best)")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    st.plotly_chart(fig, width="stretch")
with tab_dist:
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(px.histogram(rfm, x="recency_days", nbins=50, title="Recency (days)"), width="stretch")
    c2.plotly_chart(px.histogram(rfm, x="frequency", nbins=50, log_y=True, title="Frequency (orders)"), width="stretch")
    c3.plotly_chart(px.box(rfm, x="segment", y="monetary", log_y=True, points=False, title="Monetary by segment"),
                    width="stretch")
with tab_list:
    f1, f2, f3 = st.columns(3)
    segs = f1.multiselect("Segments", sorted(rfm["segment"].unique()))
    saved = {s["name"]: s["customer_ids"] for s in ws.list_segments(ds.id)}
    custom = f2.selectbox("Saved selection", ["(all customers)"] + list(saved),
                          help="Customer lists saved from the Clusters page.")
    search = f3.text_input("Customer id contains")
    s1, s2, s3 = st.columns(3)
    r = s1.slider("R score", 1, 5, (1, 5))
    f = s2.slider("F score", 1, 5, (1, 5))
    m = s3.slider("M score", 1, 5, (1, 5))
    shown = filter_customers(rfm, segs, r, f, m, saved.get(custom), search)
    st.caption(f"{len(shown):,} customers, revenue {shown['monetary'].sum():,.0f}")
    st.dataframe(shown, hide_index=True, width="stretch")
    ui.downloads(shown, "rfm_customers", "rfm_list")
with tab_rules:
    st.caption("Segments are named from the R and F scores; the first matching rule wins. Edit and save to apply "
               "everywhere in this workspace.")
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
