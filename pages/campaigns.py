"""Campaigns: a campaign list to export, the coupon catalogue, a coupon policy learned from a response history,
and the recommender's out-of-time check. Composition lives in ``pipeline.campaign`` / ``pipeline.coupons``."""
import pandas as pd
import streamlit as st

from app import customer_ui, keys, learned_ui, state, ui
from app.ui import md
from pipeline import campaign
from pipeline.coupons import RISK_BANDS
from pipeline.errors import DataError

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Campaigns")
ctx = customer_ui.scoring_context()
catalogue, _ = state.coupon_catalogue()      # as saved (the context holds it parsed)
tab_campaign, tab_cat, tab_learn, tab_rec = st.tabs(
    ["Campaign export", "Coupon catalogue", "Learned coupon policy", "Recommender check"])


def audience() -> dict:
    """Who the campaign is for, as keyword arguments of ``campaign.campaign_list``."""
    saved = {s["name"]: s["customer_ids"] for s in ws.list_segments(ds.id)}
    kinds = ["All customers", "Cluster", "Saved selection"]
    if ctx.kind == "transactions":
        kinds[1:1] = ["Segment", "Churn band"]
    by = st.radio("Customers", kinds, horizontal=True, key="camp_by")
    if by == "Segment":
        return {"segment": st.selectbox("Segment", sorted(ctx.table["segment"].unique()), key="camp_segment")}
    if by == "Churn band":
        return {"band": st.selectbox("Churn band", RISK_BANDS, index=2, key="camp_band")}
    if by == "Cluster":
        names = ctx.table.groupby("cluster")["cluster_name"].first().to_dict()
        return {"cluster": st.selectbox("Cluster", list(names), key="camp_cluster",
                                        format_func=lambda c: f"{c} · {names[c]}")}
    if by == "Saved selection":
        if not saved:
            st.info("No saved selections for this dataset yet: lasso customers on the Clusters page and save them.")
            return {}
        return {"customer_ids": saved[st.selectbox("Saved selection", list(saved), key="camp_saved")]}
    return {}


with tab_campaign:
    choice = audience()
    if st.button("Build campaign list", key="camp_build", type="primary", icon=":material/campaign:"):
        try:
            st.session_state[keys.CAMPAIGN_RESULT] = state.CampaignResult(state.dataset_key(), campaign.campaign_list(
                ctx.table, ctx.coupons.catalogue, ctx.coupons.policy, learned=ctx.coupons.learned, **choice))
        except DataError as e:
            st.session_state.pop(keys.CAMPAIGN_RESULT, None)
            st.error(str(e), icon=":material/error:")
    built = st.session_state.get(keys.CAMPAIGN_RESULT)
    if built is not None and built.dataset == state.dataset_key():
        st.dataframe(campaign.campaign_summary(built.table), hide_index=True, key="camp_summary",
                     column_config={"share": st.column_config.NumberColumn(format="percent")})
        st.dataframe(built.table, hide_index=True, key="camp_table")
        ui.downloads(built.table, "campaign", "camp_dl")

with tab_cat:
    st.caption("One row per coupon: kind is percent, amount, free_shipping, category or none; value is the percent "
               "off or the money off; cost is money (4), a share of the order (10%) or blank (= face value); eligible "
               "segments and risk bands are ;-separated lists or *. Saved in this workspace.")
    edited = st.data_editor(catalogue, num_rows="dynamic", hide_index=True, key="cat_editor")
    c1, c2 = st.columns(2)
    if c1.button("Save catalogue", type="primary", key="cat_save", icon=":material/save:"):
        try:
            campaign.save_workspace_catalogue(ws, edited)
            st.rerun()
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    if c2.button("Restore default catalogue", key="cat_reset", icon=":material/restart_alt:"):
        campaign.reset_workspace_catalogue(ws)
        st.rerun()
    up = st.file_uploader("Or upload a catalogue CSV", type=["csv"], key="cat_upload")
    if up is not None and st.session_state.get(keys.CATALOGUE_UPLOAD_ID) != up.file_id:
        try:
            campaign.save_workspace_catalogue(ws, up.getvalue())
            st.session_state[keys.CATALOGUE_UPLOAD_MESSAGE] = state.Message("success", f"Catalogue '{up.name}' saved.")
        except DataError as e:
            st.session_state[keys.CATALOGUE_UPLOAD_MESSAGE] = state.Message("error", str(e))
        st.session_state[keys.CATALOGUE_UPLOAD_ID] = up.file_id
        st.rerun()
    msg = st.session_state.get(keys.CATALOGUE_UPLOAD_MESSAGE)
    if up is not None and msg is not None:
        (st.success if msg.kind == "success" else st.error)(msg.text)
    ui.downloads(catalogue, "coupons", "cat_dl")


with tab_learn:
    st.caption("Upload a coupon-response history (one row per coupon offered, with who/when, the coupon type and a "
               "yes/no accepted column) to learn which coupon each person is most likely to accept.")
    try:
        table, source, label = learned_ui.response_history(ws)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        table = None
    if table is not None:
        learned_ui.train_form(table, source, label)
    pick, learned = state.active_learned()
    if learned:
        policy = learned.applied()
        st.dataframe(learned.evaluation, hide_index=True, key="learn_eval")
        st.caption(f"Outcome {md(policy.target_)}, coupon types from {md(policy.coupon_column_)}. The majority "
                   "baseline always predicts the commoner answer; the model must beat its ROC AUC of 0.5.")
        st.caption("Value of each coupon type to the business (acceptance × value is maximised):")
        values = st.data_editor(pd.DataFrame({"coupon": list(policy.values_), "value": list(policy.values_.values())}),
                                hide_index=True, disabled=["coupon"], key=f"learn_values_{pick}")
        edited_policy = learned.with_edited_values(values)
        if edited_policy.values != learned.values:
            state.keep_learned(pick, edited_policy)
            st.rerun()
        learned_ui.person_panel(policy)

with tab_rec:
    if ctx.kind != "transactions":
        st.info("The next-purchase recommender needs transactions with products or categories.")
    else:
        try:
            horizon = ctx.settings.horizon_days
            hits = state.recommender_hit_rates(horizon)
            st.caption(f"Out-of-time check: fitted on purchases up to {hits['cutoff'].iloc[0].date()}, graded on "
                       f"what {hits['customers'].iloc[0]:,} customers bought in the next {horizon} days (a "
                       f"hit = any of the top K {hits['item_col'].iloc[0]} items bought). Baselines: the top sellers, "
                       "and each customer's own most-bought items.")
            table = hits.pivot(index="method", columns="k", values="hit_rate").add_prefix("hit rate @").reset_index()
            st.dataframe(table, hide_index=True, key="rec_hits", column_config={
                c: st.column_config.NumberColumn(format="percent") for c in table.columns if c != "method"})
        except DataError as e:
            st.info(str(e), icon=":material/info:")
