"""Overview: the landing page once data is loaded. Key figures of the analysis period against the previous period
of the same length, revenue and active customers per month, new and returning customers. Computed by
``pipeline.overview`` (through ``app.insights``); the period is picked in the sidebar."""
import streamlit as st

from app import insights, insights_ui, ui
from pipeline.errors import DataError
from pipeline.units import MIN_BASE

ds = ui.require_dataset("transactions")
st.title("Overview")
try:
    ov = insights.current_overview()
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()

p, w, prev = ov.period, ov.window or ov.period, ov.previous
compared = ov.kpis["comparable"].any()
st.caption((f"Key figures: the last {w.days:,} days of the data" if ov.recent else "Key figures:")
           + f" {w.start:%d %b %Y} – {w.end:%d %b %Y} ({w.days:,} days)"
           + (f", compared with the {w.days:,} days before ({prev.start:%d %b %Y} – {prev.end:%d %b %Y})."
              if compared else ".")
           + (f" The charts cover all the data ({p.start:%d %b %Y} – {p.end:%d %b %Y}); pick dates in the sidebar "
              "to see other figures." if ov.recent else "")
           + f" Active customers bought in the last {ov.horizon_days} days up to the end of the period.")
insights_ui.kpi_tiles(ov)
for note in ov.notes:
    st.caption(f":material/info: {ui.words(note)}")

st.plotly_chart(insights_ui.monthly_figure(ov.monthly, ov.horizon_days), width="stretch", key="ov_monthly")
if not ov.monthly["active_complete"].all():
    st.caption(f"Active customers are drawn from the first month with {ov.horizon_days} days of purchases "
               "before its end.")
st.plotly_chart(insights_ui.new_returning_figure(ov.monthly), width="stretch", key="ov_new_returning")

st.subheader("Next steps")
st.page_link(ui.RFM_PAGE, label="Who are my customers? RFM segments", icon=":material/donut_small:")
st.page_link(ui.MOVEMENT_PAGE, label="Are they staying? Cohorts & segment movement", icon=":material/trending_up:")
st.page_link(ui.CAMPAIGNS_PAGE, label="Reach them: campaigns", icon=":material/campaign:")

with st.expander("Details for analysts"):
    st.markdown(ui.words(
        "- **Customers**: distinct customers with a purchase in the period. **Orders**: distinct invoices. "
        "**Average order value** = revenue ÷ orders.\n"
        f"- **Active customers**: bought in the {ov.horizon_days} days up to the period's last day (earlier "
        "purchases count even before the period starts).\n"
        "- **Repeat-purchase rate**: share of the period's customers with two or more orders in it.\n"
        "- **New** customers made their first purchase in the data inside the period (or month); **returning** "
        "customers had bought before it.\n"
        "- Changes are relative (%) against the previous period of the same length; the repeat-purchase rate "
        "changes in percentage points. No change is shown when the data does not cover the previous period, or "
        f"when it had fewer than {MIN_BASE} customers (orders, for orders) to compare with."))
    st.dataframe(insights_ui.kpi_table(ov), hide_index=True, key="ov_kpis")
    st.dataframe(ov.monthly, hide_index=True, key="ov_monthly_table", column_config={
        "month": st.column_config.DateColumn("Month", format="MMM YYYY"), "days": "Days in the period",
        "complete": "Whole month", "revenue": ui.money_column("Revenue", 2), "orders": ui.count_column("Orders"),
        "customers": ui.count_column("Customers"), "new_customers": ui.count_column("New"),
        "returning_customers": ui.count_column("Returning"),
        "active_customers": ui.count_column(f"Active ({ov.horizon_days} d)"),
        "active_complete": "Active count complete"})
    ui.downloads(ov.monthly, "overview_monthly", "ov_dl")
