"""Cohorts & movement: monthly first-purchase cohorts (share still buying, revenue per customer) and how customers
moved between RFM segments from one date to another, with the customers behind any cell to download or to save
as a selection the Campaigns page can target. Computed by ``pipeline.cohorts`` / ``pipeline.movement``."""
from datetime import timedelta

import streamlit as st

from app import insights, insights_ui, state, ui
from app.ui import md
from pipeline.cohorts import COHORT_VALUES, cohort_matrix, retention_curve
from pipeline.errors import DataError
from pipeline.movement import cell_customers, default_dates
from pipeline.period import resolve_period

ds = ui.require_dataset("transactions")
ws = state.workspace()
st.title("Cohorts & segment movement")
try:
    period = resolve_period(state.analysis_period(), ds.transactions)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
tab_cohorts, tab_move = st.tabs(["Cohorts", "Segment movement"])

with tab_cohorts:
    cohorts = insights.current_cohorts()
    value = st.segmented_control("Show", list(COHORT_VALUES)[:3], default="share",
                                 format_func=lambda v: ui.words(COHORT_VALUES[v]), key="coh_value") or "share"
    matrix = cohort_matrix(cohorts, value)
    curve = retention_curve(cohorts).set_index("months_since")
    if matrix.empty:
        st.info("No cohort has a whole month in this period yet; widen the analysis period in the sidebar.")
    else:
        if 1 in curve.index:
            per = md(ui.money(curve.loc[1, "revenue_per_customer"]))
            st.markdown(f"On average **{curve.loc[1, 'share']:.0%}** of new customers buy again in the month after "
                        "their first purchase, and " + (f"{per} of revenue per customer comes" if state.currency()
                                                        else f"each customer buys {per} on average") + " in that month.")
        st.plotly_chart(insights_ui.cohort_figure(matrix, value), width="stretch", key="coh_heatmap")
        sizes = cohorts.drop_duplicates("cohort").set_index(cohorts.drop_duplicates("cohort")["cohort"]
                                                            .dt.strftime("%Y-%m"))["cohort_size"]
        st.dataframe(insights_ui.cohort_display(matrix, value, sizes), hide_index=True, key="coh_table")
    partial = sorted(set(cohorts.loc[~cohorts["complete"], "month"].dt.strftime("%B %Y")))
    if partial:
        st.caption(f"Left out because the period covers only part of the month: {', '.join(partial)}.")
    with st.expander("Details for analysts"):
        st.caption("Cohort = calendar month of a customer's first purchase in the data (on or after the period's "
                   "start). Share = customers of the cohort buying in that month ÷ cohort size; revenue per "
                   "customer divides by the cohort size too. Month 0 is the first-purchase month.")
        st.dataframe(curve.reset_index(), hide_index=True, key="coh_curve", column_config={
            "months_since": ui.count_column("Months since first purchase"), "cohorts": ui.count_column("Cohorts"),
            "cohort_customers": ui.count_column("Cohort customers"), "customers": ui.count_column("Customers buying"),
            "revenue": ui.money_column("Revenue", 2),
            "share": st.column_config.NumberColumn("Share buying", format="percent"),
            "revenue_per_customer": ui.money_column("Revenue per cohort customer", 2)})
        ui.downloads(cohorts, "cohorts", "coh_dl")

with tab_move:
    if period.days < 2:
        st.info("Segment movement compares two dates: pick an analysis period of at least two days.")
        st.stop()
    d_from0, d_to0 = default_dates(period)
    c1, c2 = st.columns(2)
    d_from = c1.date_input("Segments on", value=max(d_from0, period.start), min_value=period.start,
                           max_value=period.end - timedelta(days=1), format="YYYY-MM-DD", key=f"mv_from_{period.start}_{period.end}")
    d_to = c2.date_input("compared with", value=d_to0, min_value=period.start + timedelta(days=1),
                         max_value=period.end, format="YYYY-MM-DD", key=f"mv_to_{period.start}_{period.end}")
    try:
        mv = insights.current_movement(d_from, d_to)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    st.caption(f"Each customer's RFM segment on {mv.date_from} (from purchases up to that day) and on "
               f"{mv.date_to}. Customers who first bought in between start from 'Not a customer yet'. Scores are "
               "relative to the other customers, so a segment can change without a purchase.")
    st.dataframe(mv.segments, hide_index=True, key="mv_segments", column_config={
        "segment": "Segment", "customers_from": ui.count_column(f"Customers on {mv.date_from}"),
        "customers_to": ui.count_column(f"Customers on {mv.date_to}"),
        "change": st.column_config.NumberColumn("Change", format="%+,d")})
    shares = st.toggle("Show the share of each row", key="mv_shares")
    st.plotly_chart(insights_ui.movement_figure(mv, shares), width="stretch", key="mv_heatmap")
    st.plotly_chart(insights_ui.sankey_figure(mv), width="stretch", key="mv_sankey")

    st.subheader("Customers behind a cell")
    off = mv.counts.stack()
    off = off[[a != b for a, b in off.index]]
    start_cell = off.idxmax() if off.any() else mv.counts.stack().idxmax()
    rows, cols = list(mv.counts.index), list(mv.counts.columns)
    f1, f2 = st.columns(2)
    seg_from = f1.selectbox(f"Segment on {mv.date_from}", rows, index=rows.index(start_cell[0]), key="mv_cell_from")
    seg_to = f2.selectbox(f"Segment on {mv.date_to}", cols, index=cols.index(start_cell[1]), key="mv_cell_to")
    picked = cell_customers(mv, seg_from, seg_to)
    st.caption(f"{len(picked):,} customers went from {md(seg_from)} to {md(seg_to)}.")
    if not picked.empty:
        st.dataframe(insights_ui.cell_table(picked), hide_index=True, key="mv_cell_table")
        ui.downloads(picked, f"movement_{mv.date_from}_{mv.date_to}", "mv_dl")
        with st.form("mv_save"):
            name = st.text_input("Selection name", value=f"{seg_from} → {seg_to} ({mv.date_from} → {mv.date_to})",
                                 key="mv_save_name")
            if st.form_submit_button("Save as a selection", icon=":material/bookmark_add:"):
                try:
                    ws.save_segment(name, ds.id, picked["customer_id"].tolist(), source="movement")
                    st.success(f"Saved {len(picked):,} customers as '{md(name.strip())}'. Target them on the "
                               "Campaigns page (Saved selection).", icon=":material/check:")
                except DataError as e:
                    st.error(str(e), icon=":material/error:")
    with st.expander("Details for analysts"):
        st.caption("Segments come from the R and F scores (quintiles among the customers existing at each date) "
                   "and the segment rules of the RFM page. Rows: segment on the first date; columns: on the second.")
        st.dataframe(insights_ui.movement_matrix(mv), key="mv_matrix")
        ui.downloads(mv.customers, "movement_all_customers", "mv_all_dl")
