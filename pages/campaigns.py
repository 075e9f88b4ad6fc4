"""Campaigns: build a campaign list for an audience with a control group (totals, export, save), measure saved
campaigns against their control group, edit the coupon catalogue, learn a coupon policy from a response history,
and check the next-purchase recommender. Drawing lives in ``app.campaign_ui`` / ``app.learned_ui``; numbers in
``pipeline.campaign``, ``pipeline.coupons`` and ``pipeline.recommend``."""
import pandas as pd
import streamlit as st

from app import campaign_ui, customer_ui, learned_ui, state, ui
from app.ui import md
from pipeline.errors import DataError

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Campaigns")
ctx = customer_ui.scoring_context()
catalogue, _ = state.coupon_catalogue()      # as saved (the context holds it parsed)
tab_build, tab_saved, tab_cat, tab_learn, tab_rec = st.tabs(
    ["Build campaign", "Saved campaigns & results", "Coupon catalogue", "Learned coupon policy", "Recommender check"])

with tab_build:
    sent = campaign_ui.send_date(ctx)
    aud = campaign_ui.audience_as_of(ctx, sent)
    if aud is not None:
        choice, label = campaign_ui.audience(ctx, ws, ds, aud.table, sent)
        campaign_ui.build_form(ctx, aud, ds, choice, label, sent)
    campaign_ui.built_campaign(ws, ctx)

with tab_saved:
    picked = campaign_ui.saved_campaigns(ws, ds)
    if picked is not None:
        campaign_ui.campaign_results(ws, ds, *picked, catalogue=ctx.coupons.catalogue)

with tab_cat:
    campaign_ui.catalogue_editor(ws, catalogue)

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
    campaign_ui.recommender_check(ctx)
