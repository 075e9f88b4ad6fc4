"""Streamlit drawing of the Campaigns page: the audience picker (segment, movement cell, churn band, cluster, saved
selection), the build form with the control group, the totals and the list, saved campaigns with their results
(treated vs control), the coupon catalogue editor and the recommender check. Numbers come from
``pipeline.campaign`` and ``pipeline.recommend``; data text goes through :func:`app.ui.md` (escaped Markdown)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from app import keys, labels_ui, privacy_ui, state, ui
from app.ui import md, money
from pipeline import campaign as cm
from pipeline.config import CampaignConfig
from pipeline.coupons import RISK_BANDS
from pipeline.errors import DataError
from pipeline.store import Dataset, Workspace

__all__ = ["send_date", "audience_as_of", "audience", "build_form", "built_campaign", "saved_campaigns",
           "campaign_results", "catalogue_editor", "recommender_check"]

_PCT = st.column_config.NumberColumn(format="percent")


def _movement_cell(sent: dt.date | None, end: dt.date | None) -> tuple[dict, str]:
    """Customers who moved between two segments; for a send date inside the data, between two dates that end the
    day before it (what was known on the send date), with the same gap as the Cohorts & movement page's."""
    from app.insights import current_movement
    from pipeline.movement import cell_customers

    mv = current_movement()
    if sent is not None and end is not None and sent < end:
        last = sent - dt.timedelta(days=1)
        try:
            mv = current_movement(last - (mv.date_to - mv.date_from), last)
        except DataError as e:
            st.info(f"No movement as of the send date {sent}: {e}", icon=":material/info:")
            return {"customer_ids": []}, ""
    cells = [(a, b) for (a, b), n in mv.counts.stack().items() if n > 0 and a != b]
    if not cells:
        st.info("No customer changed segment between the two dates.")
        return {"customer_ids": []}, ""
    a, b = st.selectbox(f"Customers who moved between {mv.date_from} and {mv.date_to}", cells, key="camp_cell",
                        format_func=lambda c: f"{c[0]} → {c[1]} ({mv.counts.loc[c]:,} customers)")
    ids = cell_customers(mv, a, b)["customer_id"].tolist()
    return {"customer_ids": ids}, f"Moved {a} → {b} ({mv.date_from} → {mv.date_to})"


def send_date(ctx: Any) -> dt.date:
    """The send date picker (default: the day after the last purchase)."""
    as_of = ctx.history.as_of.date() if getattr(ctx, "history", None) is not None else pd.Timestamp.today().date()
    return st.date_input("Send date", value=as_of, key="camp_sent", format="YYYY-MM-DD",
                         help="Customers are chosen as they were on this day: segments, churn bands and clusters "
                              "from the purchases before it. Results count the purchases from this day on.")


def audience_as_of(ctx: Any, sent: dt.date) -> cm.CampaignAudience | None:
    """The customers as of the send date (shared, read-only), with a caption saying so; None (after an error
    shown) when there is no purchase before it."""
    try:
        aud = state.campaign_audience(str(sent))
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return None
    end = ctx.history.as_of if getattr(ctx, "history", None) is not None else None
    if aud.as_of is not None and end is not None and aud.as_of < end:
        st.caption(f"Customers as they were on {aud.as_of_text}: {len(aud.table):,} who had bought before it, with "
                   "segments, churn bands and clusters from those purchases only; the purchases from that day on "
                   "are the campaign's follow-up.")
    for note in aud.notes:
        st.caption(md(note))
    return aud


def _risk_source(ctx, ws: Workspace, ds: Dataset) -> None:
    """Which model the bands come from: the dataset's live model (named as every page names it), or the simple
    rule the cards use when that model is withheld."""
    from pipeline.health.live import live_model

    risk = getattr(ctx, "risk", None)
    rule = f" Churn bands use {risk.label} (the live model is withheld on this dataset)." \
        if risk is not None and not risk.uses_model else ""
    st.caption(md(live_model(ws, ds.id, ds.kind).sentence() + rule))


def audience(ctx: Any, ws: Workspace, ds: Dataset, table: pd.DataFrame | None = None,
             sent: dt.date | None = None) -> tuple[dict, str]:
    """Who the campaign is for, as keyword arguments of ``campaign_list``, and a plain description; ``table`` is
    the per-customer table the choice is made in (the audience as of the send date ``sent``; default
    ``ctx.table``)."""
    table = ctx.table if table is None else table
    end = ctx.history.as_of.date() if getattr(ctx, "history", None) is not None else None
    saved = {s["name"]: s["customer_ids"] for s in ws.list_segments(ds.id)}
    kinds = ["All customers", "Cluster", "Saved selection"]
    if ctx.kind == "transactions":
        kinds[1:1] = ["Segment", "Movement cell", "Churn band"]
    by = st.radio("Customers", kinds, horizontal=True, key="camp_by")
    if by == "Segment":
        seg = st.selectbox("Segment", sorted(table["segment"].unique()), key="camp_segment")
        return {"segment": seg}, f"Segment: {seg}"
    if by == "Movement cell":
        return _movement_cell(sent, end)
    if by == "Churn band":
        band = st.selectbox("Churn risk", RISK_BANDS, index=2, key="camp_band")
        _risk_source(ctx, ws, ds)
        return {"band": band}, f"{band} churn risk"
    if by == "Cluster":
        group = getattr(getattr(ctx, "clusters", None), "names", None) or {}     # the clusters' own names, not
        names = {c: group.get(int(c), n) for c, n in                              # one member's (trimmed) name
                 table.groupby("cluster")["cluster_name"].first().items()}
        c = st.selectbox("Cluster", list(names), key="camp_cluster", format_func=lambda c: f"{c} · {names[c]}")
        return {"cluster": c}, f"Cluster {c}: {names[c]}"
    if by == "Saved selection":
        if not saved:
            st.info("No saved selections for this dataset yet: lasso customers on the Clusters page, or save a "
                    "movement cell on Cohorts & movement.")
            return {"customer_ids": []}, ""
        name = st.selectbox("Saved selection", list(saved), key="camp_saved")
        if sent is not None and end is not None and sent < end:
            st.caption(f"A saved selection was made on the data as they are now, not as of {sent}: if it was "
                       "picked by segment, cluster or recent purchases, what its customers bought after the send "
                       "date helped choose them. For a past send date, a segment, churn band or cluster is taken as "
                       "of the send date.")
        return {"customer_ids": saved[name]}, f"Selection: {name}"
    return {}, "All customers"


def build_form(ctx: Any, aud: cm.CampaignAudience, ds: Dataset, choice: dict, label: str, sent: dt.date) -> None:
    """Name and control share, and the button that builds the list (from the customers as of the send date,
    ``aud``) into ``keys.CAMPAIGN_RESULT``."""
    c1, c2 = st.columns(2)
    name = c1.text_input("Campaign name", value="spring-campaign", key="camp_name",
                         help="The name fixes who is drawn into the control group: rebuilding it gives the same split.")
    share = c2.slider("Control group (no coupon)", 0, 50, int(CampaignConfig().control_share * 100), step=5,
                      format="%d%%", key="camp_control") / 100
    if st.button("Build campaign list", key="camp_build", type="primary", icon=":material/campaign:"):
        try:
            cid = cm.campaign_id_for(name)
            table = cm.campaign_list(aud.table, ctx.coupons.catalogue, ctx.coupons.policy, learned=ctx.coupons.learned,
                                     campaign_id=cid, control_share=share, send_date=str(sent), as_of=aud.as_of_text,
                                     facts=ctx.decisions.facts if ctx.decisions else None,  # withheld: not used
                                     **choice)
            meta = cm.SavedCampaign(cid, name.strip(), ds.id, label, share, str(sent), state.currency() or "")
            st.session_state[keys.CAMPAIGN_RESULT] = state.CampaignResult(state.dataset_key(), table, meta)
        except DataError as e:
            st.session_state.pop(keys.CAMPAIGN_RESULT, None)
            st.error(str(e), icon=":material/error:")


def _on_screen(table: pd.DataFrame, ctx: Any) -> pd.DataFrame:
    """The campaign list as shown: product names for the likely next purchase (the export keeps the codes)."""
    rec = getattr(ctx, "recommender", None)
    if rec is None or "next_item" not in table or table.empty:
        return table
    return table.assign(next_item=rec.name_of(table["next_item"]).to_numpy())


def built_campaign(ws: Workspace, ctx: Any = None) -> None:
    """Totals, coupons by type, the list, downloads and "Save" of the campaign built last (for this dataset)."""
    built = st.session_state.get(keys.CAMPAIGN_RESULT)
    if built is None or built.dataset != state.dataset_key():
        return
    meta, table = built.meta, built.table
    t = cm.campaign_totals(table, meta.currency)
    ui.metrics_row({"Customers": f"{t.customers:,}", "Get a coupon": f"{t.coupons_issued:,}",
                    "No coupon (policy)": f"{t.treated - t.coupons_issued:,}", "Control group": f"{t.control:,}"})
    if t.expected_cost is not None:
        ui.metrics_row({"Expected coupon cost": money(t.expected_cost),
                        "Expected extra revenue": money(t.incremental_revenue),
                        "Expected net value": money(t.expected_value)})
        st.caption("Extra revenue: purchases the coupons are expected to win back plus baskets stretched to a "
                   "minimum spend. Net value: the margin on it minus the expected discount cost. The control group "
                   "gets nothing and measures what the campaign really adds (Saved campaigns tab).")
    st.dataframe(cm.campaign_summary(table), hide_index=True, key="camp_summary", column_config={
        "coupon": "Coupon", "customers": ui.count_column("Customers"), "share": st.column_config.NumberColumn("Share", format="percent"),
        "total_expected_value": ui.money_column("Net value (total)", 2),
        "mean_expected_value": ui.money_column("Net value (each)", 2),
        "total_expected_cost": ui.money_column("Cost (total)", 2)})
    st.dataframe(_on_screen(table, ctx), hide_index=True, key="camp_table",
                 column_config=labels_ui.column_config(table.columns))
    privacy_ui.customer_downloads(ws, table, f"campaign_{meta.id}", "camp_dl", "campaign list", meta.dataset_id)
    if st.button(f"Save campaign '{meta.name}'", key="camp_save", icon=":material/save:"):
        cm.save_campaign(ws, dataclasses.replace(meta, totals=t.to_dict()), table)
        st.success(f"Saved '{md(meta.name)}'. Measure it on the Saved campaigns tab once purchases after "
                   f"{meta.send_date} are in.", icon=":material/check:")


def _count(totals: dict, key: str) -> str:
    """A saved count with thousands separators ("–" when the campaign did not record it)."""
    n = totals.get(key)
    return "–" if n is None else f"{int(n):,}"


def saved_campaigns(ws: Workspace, ds: Dataset) -> tuple[cm.SavedCampaign, pd.DataFrame] | None:
    """The table of this dataset's saved campaigns, a picker and "Delete"; returns the picked one with its list."""
    saved = cm.list_campaigns(ws, ds.id)
    if not saved:
        st.info("No saved campaigns for this dataset yet: build one and press Save.")
        return None
    st.dataframe(pd.DataFrame([{
        "Campaign": m.name, "Audience": m.audience, "Send date": m.send_date, "Customers": _count(m.totals, "customers"),
        "Control group": _count(m.totals, "control"), "Coupons": _count(m.totals, "coupons_issued"),
        "Expected coupon cost (when built)": money(m.totals.get("expected_cost")), "Saved": m.created[:10]}
        for m in saved]),
        hide_index=True, key="camp_saved_table")
    names = {m.id: m.name for m in saved}
    pick = st.selectbox("Campaign", list(names), format_func=names.get, key="camp_pick")
    with st.popover("Delete this campaign", icon=":material/delete:"):
        if st.button("Delete", type="primary", key="camp_delete"):
            cm.delete_campaign(ws, pick)
            st.rerun()
    return cm.load_campaign(ws, pick)


def campaign_results(ws: Workspace, ds: Dataset, meta: cm.SavedCampaign, table: pd.DataFrame,
                     catalogue: Any = None) -> None:
    """Treated vs control after the send date, on the current dataset or a later upload; the cost of redeemed
    coupons from ``catalogue``. A follow-up too short to judge is said instead of numbers."""
    st.subheader("Results")
    sources = {m["id"]: m["name"] for m in ws.list_datasets() if m["kind"] == "transactions"}
    c1, c2 = st.columns(2)
    src = c1.selectbox("Purchases after the send date from", list(sources), key="camp_res_src",
                       index=list(sources).index(ds.id) if ds.id in sources else 0, format_func=sources.get)
    days = int(c2.number_input("Days counted from the send date", 1, 365, CampaignConfig().results_window_days,
                               key="camp_res_days"))
    wanted = (meta.id, src, days)
    if st.button("Measure results", key="camp_measure", icon=":material/query_stats:"):
        try:
            res = cm.campaign_results(table, state.saved_dataset(src).transactions, window_days=days,
                                      currency=state.currency() or "", catalogue=catalogue)
            st.session_state[keys.CAMPAIGN_MEASURE] = (wanted, res)
        except DataError as e:
            st.session_state.pop(keys.CAMPAIGN_MEASURE, None)
            st.info(str(e), icon=":material/info:")
    got = st.session_state.get(keys.CAMPAIGN_MEASURE)
    if got is None or got[0] != wanted:
        return
    res = got[1]
    for note in res.notes:
        st.caption(md(note))
    if not res.measured:
        st.warning(md(res.summary), icon=":material/hourglass_empty:")
        return
    st.markdown(md(res.summary))
    how = ("the redemption record says which" if res.redemption_source == "record" else
           "a coupon counts as used on its holder's first order in the window that reaches its minimum spend; the "
           "transactions carry no coupon codes, so this is an upper bound")
    ui.metrics_row({"Extra revenue (measured)": money(res.incremental_revenue),
                    "Coupon cost (redeemed)": money(res.cost), "Net (margin − cost)": money(res.net)})
    st.caption(f"Coupon cost counts the {res.redeemed:,} redeemed coupons only: {how}. Issued, not a cost: "
               f"{res.coupons_issued:,} coupons, expected to cost {money(res.issued_expected_cost)} when the list "
               "was built.")
    st.dataframe(res.groups, hide_index=True, key="camp_res_groups", column_config={
        "group": "Group", "customers": ui.count_column("Customers"), "buyers": ui.count_column("Bought"), "conversion_rate": st.column_config.NumberColumn(
            "Bought (share)", format="percent"), "revenue": ui.money_column("Revenue", 2),
        "revenue_per_customer": ui.money_column("Revenue per customer", 2)})
    with st.expander("Details for analysts"):
        st.dataframe(_effects_shown(res.effects), hide_index=True, key="camp_res_effects")
        st.caption(f"Purchases from {res.send_date.date()} up to (not including) {res.window_end.date()}. "
                   f"{res.confidence:.0%} intervals: conversion difference by Newcombe's hybrid score method (from "
                   "Wilson intervals), revenue per customer by Welch's t. Extra revenue = difference per customer × "
                   "treated customers; the cost counts redeemed coupons at the catalogue's cost per redemption.")


def _effects_shown(effects: pd.DataFrame) -> pd.DataFrame:
    """The treated-vs-control differences in words and units: the share who bought in % and points, revenue per
    customer in the dataset's currency."""
    rows = []
    for r in effects.itertuples():
        if r.metric == "conversion_rate":
            pct, pts = (lambda x: f"{x:.1%}"), (lambda x: f"{x * 100:+.1f} points")
            rows.append({"Measure": "Share who bought", "Treated": pct(r.treated), "Control": pct(r.control),
                         "Difference": pts(r.difference), "Interval": f"{pts(r.ci_low)} to {pts(r.ci_high)}",
                         "Method": r.method})
        else:
            signed = lambda x: ("+" if x >= 0 else "") + money(x)      # noqa: E731
            rows.append({"Measure": "Revenue per customer", "Treated": money(r.treated), "Control": money(r.control),
                         "Difference": signed(r.difference), "Interval": f"{signed(r.ci_low)} to {signed(r.ci_high)}",
                         "Method": r.method})
    return pd.DataFrame(rows)


def catalogue_editor(ws: Workspace, catalogue: pd.DataFrame) -> None:
    """The workspace's coupon catalogue: edit, save, restore, upload, download."""
    st.caption("One row per coupon: kind is percent, amount, free_shipping, category or none; value is the percent "
               "off or the money off; cost is money (4), a share of the order (10%) or blank (= face value); eligible "
               "segments and risk bands are ;-separated lists or *. Saved in this workspace.")
    edited = st.data_editor(catalogue, num_rows="dynamic", hide_index=True, key="cat_editor")
    c1, c2 = st.columns(2)
    if c1.button("Save catalogue", type="primary", key="cat_save", icon=":material/save:"):
        try:
            cm.save_workspace_catalogue(ws, edited)
            st.rerun()
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    if c2.button("Restore default catalogue", key="cat_reset", icon=":material/restart_alt:"):
        cm.reset_workspace_catalogue(ws)
        st.rerun()
    up = st.file_uploader("Or upload a catalogue CSV", type=["csv"], key="cat_upload")
    if up is not None and st.session_state.get(keys.CATALOGUE_UPLOAD_ID) != up.file_id:
        try:
            cm.save_workspace_catalogue(ws, up.getvalue())
            st.session_state[keys.CATALOGUE_UPLOAD_MESSAGE] = state.Message("success", f"Catalogue '{up.name}' saved.")
        except DataError as e:
            st.session_state[keys.CATALOGUE_UPLOAD_MESSAGE] = state.Message("error", str(e))
        st.session_state[keys.CATALOGUE_UPLOAD_ID] = up.file_id
        st.rerun()
    msg = st.session_state.get(keys.CATALOGUE_UPLOAD_MESSAGE)
    if up is not None and msg is not None:
        (st.success if msg.kind == "success" else st.error)(msg.text)
    ui.downloads(catalogue, "coupons", "cat_dl")


def recommender_check(ctx: Any) -> None:
    """Out-of-time hit rates of the next-purchase recommender against best sellers and buy-again, in one sentence
    first; K at or above the number of items is not shown (every method would score 100%)."""
    from pipeline.recommend import hit_rate_verdict, item_kind

    if ctx.kind != "transactions":
        st.info("The next-purchase recommender needs transactions with products or categories.")
        return
    asked = (5, 10)
    try:
        hits = state.recommender_hit_rates(ctx.settings.horizon_days)
    except DataError as e:
        st.info(str(e), icon=":material/info:")
        return
    st.markdown(md(hit_rate_verdict(hits)))
    what = item_kind(hits["item_col"].iloc[0])            # product ids or names (a basket log) are products
    table = hits.pivot(index="method", columns="k", values="hit_rate")
    table.columns = [f"Found in the top {k}" for k in table.columns]
    st.dataframe(table.reset_index().rename(columns={"method": "Method"}), hide_index=True, key="rec_hits",
                 column_config={c: _PCT for c in table.columns})
    dropped = [k for k in asked if k not in set(hits["k"])]
    if dropped:
        st.caption(f"Top {', '.join(map(str, dropped))} not shown: the data have only {hits['items'].iloc[0]} "
                   f"{what}, so any list that long contains every item and every method would score 100%.")
    st.caption(f"Out-of-time check: fitted on purchases up to {hits['cutoff'].iloc[0].date()}, graded on what "
               f"{hits['customers'].iloc[0]:,} customers bought in the next {ctx.settings.horizon_days} days (found = "
               f"any of the top K {what} bought, among {hits['items'].iloc[0]:,}).")
