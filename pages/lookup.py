"""Customer lookup: one customer's card and what-if, campaign export, coupon catalogue, learned coupon policy and
the recommender's check. Composition lives in pipeline.profile / pipeline.campaign; this page only draws."""
import dataclasses
import re

import pandas as pd
import plotly.express as px
import streamlit as st

from app import state, ui
from pipeline import campaign, profile
from pipeline.coupons import RISK_BANDS, yes_no_columns
from pipeline.errors import DataError

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Customer lookup")


def md(text) -> str:
    """User or data text shown through Markdown, with Markdown/LaTeX characters escaped (never HTML)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~])", r"\\\1", str(text))


def money(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:,.2f}"


catalogue, warning = state.coupon_catalogue()
if warning:
    st.warning(warning, icon=":material/warning:")
try:
    base = state.profile_context()
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
learned_store = st.session_state.setdefault(state.LEARNED, {})   # source -> (CV table, policy, label, values)
learned = learned_store.get(st.session_state.get(state.LEARNED_PICK))
policy = dataclasses.replace(learned[1], values=learned[3]) if learned else None   # this session's coupon values
ctx = base.with_(catalogue=catalogue, learned=policy)
for note in ctx.notes:
    st.info(note, icon=":material/info:")

tab_card, tab_campaign, tab_cat, tab_learn, tab_rec = st.tabs(
    ["Customer", "Campaign export", "Coupon catalogue", "Learned coupon policy", "Recommender check"])


# ---- the card ------------------------------------------------------------------------------------------------------
def coupon_box(coupon: dict) -> None:
    with st.container(border=True):
        st.markdown(f"**Coupon: {md(coupon['coupon_name'])}** · expected value {coupon['expected_value']:+.2f}")
        st.caption(md(coupon["reason"]))


def learned_box(rec: dict | None) -> None:
    if rec:
        with st.container(border=True):
            st.markdown(f"**Learned policy: {md(rec['coupon'])}** · acceptance × value = {rec['expected_value']:.2f}")
            st.caption(md(rec["reason"]))


def card(p: profile.CustomerProfile) -> None:
    if p.kind == "transactions":
        s, v, h = p.scores, p.value, p.habits
        nxt = v["next_order_date"]
        ui.metrics_row({"Segment": p.segment, "Churn risk": f"{p.churn_probability:.0%} · {p.risk_band}",
                        "P(alive)": f"{v['p_alive']:.0%}", "Expected next order":
                        "none expected" if pd.isna(nxt) else str(pd.Timestamp(nxt).date())})
        ui.metrics_row({"Recency (days)": f"{s['recency_days']:.0f} · R{s['r_score']}",
                        "Orders": f"{s['frequency']:.0f} · F{s['f_score']}",
                        "Spend": f"{money(s['monetary'])} · M{s['m_score']}",
                        "Avg order value": money(h["avg_order_value"]),
                        "Days between orders": "–" if h["mean_days_between"] is None else f"{h['mean_days_between']:.0f}"})
        ui.metrics_row({f"Expected orders ({v['horizon_days']} d)": f"{v['expected_orders']:.2f}",
                        f"Expected spend ({v['horizon_days']} d)": money(v["expected_spend"]),
                        "First order": str(pd.Timestamp(h["first_purchase"]).date()),
                        "Last order": str(pd.Timestamp(h["last_purchase"]).date())})
        likely = ", ".join(p.next_items["item"].astype(str)) if len(p.next_items) else "–"
        st.markdown(f"**Cluster {p.cluster}**: {md(p.cluster_name)} · **Likely next**: {md(likely)}")
        coupon_box(p.coupon)
    else:
        st.markdown(f"**Cluster {p.cluster}**: {md(p.cluster_name)}")
        if p.prediction:
            ui.metrics_row({f"Predicted {p.prediction['target']}":
                            f"{p.prediction['predicted']} ({p.prediction['probability']:.0%})"})
        st.dataframe(pd.DataFrame([p.attributes]).astype(str), hide_index=True)
    learned_box(p.learned_coupon)
    for note in p.notes:
        st.info(note, icon=":material/info:")
    if p.kind == "transactions":
        fig = px.bar(p.timeline, x="date", y="amount", color="top_category", hover_data=["invoice_id", "lines"],
                     title="Purchase timeline (one bar per order)", labels={"amount": "order value"})
        span = (p.timeline["date"].max() - p.timeline["date"].min()).days
        fig.update_traces(width=86_400_000 * max(1, span / 80))          # bar width in ms: visible on long spans
        st.plotly_chart(fig, width="stretch", key="lookup_timeline")
        tops = [t for t in (p.top_categories, p.top_products) if len(t)]
        for col, table in zip(st.columns(max(len(tops), 1)), tops):
            col.dataframe(table, hide_index=True)
    if not p.drivers.empty:
        st.markdown("**Main drivers of the prediction for this customer**, compared with an average customer "
                    f"(positive = pushes towards {'churn' if p.kind == 'transactions' else 'the predicted class'})")
        st.dataframe(p.drivers.assign(value=p.drivers["value"].astype(str)), hide_index=True, key="lookup_drivers")
        st.caption(f"Method: {p.drivers.attrs.get('method', '')}. {md(p.churn_model)}")
    elif p.churn_model:
        st.caption(md(p.churn_model))
    if len(p.candidates):
        with st.expander("Expected value of every coupon"):
            st.dataframe(p.candidates, hide_index=True)


@st.fragment
def what_if_panel(cid: str | None) -> None:
    st.subheader("What if…" if cid else "What if: a new customer")
    specs = profile.what_if_inputs(ctx, cid)
    values, cols = {}, st.columns(min(4, max(len(specs), 1)))
    for i, s in enumerate(specs):
        key = f"wi_{s['name']}_{cid or 'new'}"
        with cols[i % len(cols)]:
            if s["kind"] == "number":
                values[s["name"]] = st.number_input(s["label"], s["min"], s["max"], s["value"], s["step"],
                                                    format=s["format"], key=key)
            else:
                values[s["name"]] = st.selectbox(s["label"], s["options"], key=key,
                                                 index=s["options"].index(s["value"]) if s["value"] in s["options"] else 0)
    try:
        res = profile.what_if(ctx, values, cid)
    except DataError as e:
        st.warning(str(e), icon=":material/warning:")
        return
    shown = {"Segment": res.segment} if res.segment else {}
    shown["Cluster"] = "–" if res.cluster is None else str(res.cluster)
    if res.churn_probability is not None:
        shown |= {"Churn risk": f"{res.churn_probability:.0%} · {res.risk_band}",
                  "P(alive)": f"{res.value['p_alive']:.0%}", "Expected spend": money(res.value["expected_spend"])}
    if res.prediction:
        shown[f"Predicted {res.prediction['target']}"] = f"{res.prediction['predicted']} ({res.prediction['probability']:.0%})"
    ui.metrics_row(shown)
    if res.cluster is not None:
        st.caption(f"Cluster {res.cluster}: {md(res.cluster_name)}")
    if res.coupon:
        coupon_box(res.coupon)
    learned_box(res.learned_coupon)
    for note in res.notes:
        st.caption(md(note))


with tab_card:
    ids, linked = ctx.ids, st.query_params.get("customer")
    options = list(ids[:50_000])
    pos = options.index(linked) if linked in ids[:50_000] else None
    picked = st.selectbox("Customer id", options, index=pos, key=state.LOOKUP_ID, accept_new_options=True,
                          placeholder=f"Type or pick one of {len(ids):,} customer ids")
    if picked is not None:
        st.query_params["customer"] = cid = picked
    elif linked in ids:                 # the user cleared the box: forget the linked customer
        del st.query_params["customer"]
        cid = None
    else:                               # a link (or typed id) to a customer who is not in this dataset
        cid = linked
    prof = None
    if cid:
        try:
            prof = profile.customer_profile(ctx, cid)
        except DataError as e:
            st.error(str(e), icon=":material/person_off:")
    if prof is not None:
        card(prof)
    else:
        st.caption("Pick a customer to see their card; the what-if below starts from a typical customer.")
    what_if_panel(prof.customer_id if prof else None)


# ---- campaign export -----------------------------------------------------------------------------------------------
with tab_campaign:
    saved = {s["name"]: s["customer_ids"] for s in ws.list_segments(ds.id)}
    kinds = ["All customers", "Cluster", "Saved selection"]
    if ctx.kind == "transactions":
        kinds[1:1] = ["Segment", "Churn band"]
    by = st.radio("Customers", kinds, horizontal=True, key="camp_by")
    choice: dict = {}
    if by == "Segment":
        choice["segment"] = st.selectbox("Segment", sorted(ctx.table["segment"].unique()), key="camp_segment")
    elif by == "Churn band":
        choice["band"] = st.selectbox("Churn band", RISK_BANDS, index=2, key="camp_band")
    elif by == "Cluster":
        names = ctx.table.groupby("cluster")["cluster_name"].first().to_dict()
        choice["cluster"] = st.selectbox("Cluster", list(names), key="camp_cluster",
                                         format_func=lambda c: f"{c} · {names[c]}")
    elif by == "Saved selection":
        if not saved:
            st.info("No saved selections for this dataset yet: lasso customers on the Clusters page and save them.")
        else:
            choice["customer_ids"] = saved[st.selectbox("Saved selection", list(saved), key="camp_saved")]
    if st.button("Build campaign list", key="camp_build", type="primary", icon=":material/campaign:"):
        try:
            st.session_state["camp_result"] = (state.dataset_key(), campaign.campaign_list(
                ctx.table, ctx.catalogue, ctx.policy, learned=ctx.learned, **choice))
        except DataError as e:
            st.session_state.pop("camp_result", None)
            st.error(str(e), icon=":material/error:")
    key, result = st.session_state.get("camp_result", (None, None))
    if result is not None and key == state.dataset_key():
        st.dataframe(campaign.campaign_summary(result), hide_index=True, key="camp_summary",
                     column_config={"share": st.column_config.NumberColumn(format="percent")})
        st.dataframe(result, hide_index=True, key="camp_table")
        ui.downloads(result, "campaign", "camp_dl")


# ---- coupon catalogue ----------------------------------------------------------------------------------------------
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
    if up is not None and st.session_state.get("cat_upload_id") != up.file_id:
        try:
            campaign.save_workspace_catalogue(ws, up.getvalue())
            st.session_state["cat_upload_msg"] = ("ok", f"Catalogue '{up.name}' saved.")
        except DataError as e:
            st.session_state["cat_upload_msg"] = ("error", str(e))
        st.session_state["cat_upload_id"] = up.file_id
        st.rerun()
    if up is not None and "cat_upload_msg" in st.session_state:
        kind, msg = st.session_state["cat_upload_msg"]
        (st.success if kind == "ok" else st.error)(msg)
    ui.downloads(catalogue, "coupons", "cat_dl")


# ---- learned policy ------------------------------------------------------------------------------------------------
with tab_learn:
    st.caption("Upload a coupon-response history (one row per coupon offered, with who/when, the coupon type and a "
               "yes/no accepted column) to learn which coupon each person is most likely to accept.")
    customer_sets = {m["id"]: m["name"] for m in ws.list_datasets() if m["kind"] == "customers"}
    src = st.radio("Response history", ["Upload a file", "A saved customer table"], horizontal=True, key="learn_src")
    table, source = None, None
    try:
        if src == "Upload a file":
            f = st.file_uploader("Response file (CSV, Excel, Parquet)", type=["csv", "xlsx", "xls", "parquet"],
                                 key="learn_upload")
            if f is not None:
                digest, table = state.response_table(f.getvalue(), f.name)
                source = f"upload:{digest}"
        elif customer_sets:
            pick = st.selectbox("Dataset", list(customer_sets), format_func=customer_sets.get, key="learn_ds")
            table, source = ws.load_dataset(pick).customers.drop(columns=["customer_id"]), f"dataset:{pick}"
        else:
            st.info("No saved customer tables; upload one on the Upload page or upload a file here.")
    except DataError as e:
        st.error(str(e), icon=":material/error:")
    if table is not None:
        yes_no = yes_no_columns(table)
        if not yes_no:
            st.error(f"This file has no yes/no column (values such as 1/0, yes/no, true/false), so there is no "
                     f"outcome to learn from. Columns: {', '.join(map(str, table.columns[:30]))}. Add an 'accepted' "
                     "column with 1 for accepted and 0 for declined.", icon=":material/error:")
        else:
            c1, c2, c3 = st.columns(3)
            target = c1.selectbox("Accepted (yes/no) column", ["(detect)"] + yes_no, key="learn_target")
            folds = c2.selectbox("Cross-validation folds", [5, 3], key="learn_folds")
            model = c3.selectbox("Model", [None, "logreg", "forest", "xgboost"], key="learn_model",
                                 format_func=lambda m: "One-hot + XGBoost" if m is None else m)
            if st.button("Train acceptance model", type="primary", key="learn_train", icon=":material/school:"):
                try:
                    with st.spinner("Cross-validating and fitting the acceptance model…"):
                        evaluation, fitted = state.learn_coupon_policy(
                            source, table, None if target == "(detect)" else target, folds, model)
                    learned_store[source] = (evaluation, fitted, src, dict(fitted.values))
                    st.session_state[state.LEARNED_PICK] = source
                    st.rerun()
                except DataError as e:
                    st.error(str(e), icon=":material/error:")
    if learned:
        evaluation, pick = learned[0], st.session_state[state.LEARNED_PICK]
        st.dataframe(evaluation, hide_index=True, key="learn_eval")
        st.caption(f"Outcome {md(policy.target)}, coupon types from {md(policy.coupon_column)}. The majority "
                   "baseline always predicts the commoner answer; the model must beat its ROC AUC of 0.5.")
        st.caption("Value of each coupon type to the business (acceptance × value is maximised):")
        values = st.data_editor(pd.DataFrame({"coupon": list(policy.values), "value": list(policy.values.values())}),
                                hide_index=True, disabled=["coupon"], key=f"learn_values_{pick}")
        new = dict(zip(values["coupon"], pd.to_numeric(values["value"], errors="coerce").fillna(1.0).astype(float)))
        if new != learned[3]:
            learned_store[pick] = learned[:3] + (new,)
            st.rerun()

        @st.fragment
        def person_panel() -> None:
            st.markdown("**What if: a person**")
            person, cols = {}, st.columns(4)
            for i, c in enumerate(policy.feature_columns):
                choice_ = policy.choices.get(c)
                with cols[i % 4]:
                    if isinstance(choice_, list):
                        d = str(policy.defaults[c])
                        person[c] = st.selectbox(c, choice_, index=choice_.index(d) if d in choice_ else 0, key=f"lp_{c}")
                    else:
                        person[c] = st.number_input(c, value=float(policy.defaults[c]), key=f"lp_{c}")
            rec = policy.recommend(person)
            learned_box(rec)
            st.dataframe(rec["table"], hide_index=True, key="learn_table")

        person_panel()


# ---- recommender check ---------------------------------------------------------------------------------------------
with tab_rec:
    if ctx.kind != "transactions":
        st.info("The next-purchase recommender needs transactions with products or categories.")
    else:
        try:
            hits = state.recommender_hit_rates(ctx.horizon_days)
            st.caption(f"Out-of-time check: fitted on purchases up to {hits['cutoff'].iloc[0].date()}, graded on "
                       f"what {hits['customers'].iloc[0]:,} customers bought in the next {ctx.horizon_days} days (a "
                       f"hit = any of the top K {hits['item_col'].iloc[0]} items bought). Baselines: the top sellers, "
                       "and each customer's own most-bought items.")
            table = hits.pivot(index="method", columns="k", values="hit_rate").add_prefix("hit rate @").reset_index()
            st.dataframe(table, hide_index=True, key="rec_hits", column_config={
                c: st.column_config.NumberColumn(format="percent") for c in table.columns if c != "method"})
        except DataError as e:
            st.info(str(e), icon=":material/info:")
