"""Clusters: features, algorithm, k sweep, 2-D map, profiles with names, lasso-to-list, new customer, sequences;
exploring the customer table and its embeddings (app.table_explore)."""
import dataclasses

import streamlit as st

from app import cluster_charts as charts
from app import cluster_ui, keys, state, table_explore, ui
from pipeline.cluster import METHODS, apply_names, customer_list
from pipeline.errors import DataError

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Clusters")
tab_map, tab_explore, tab_embed, tab_seq = st.tabs(["Clusters", "Explore", "Table embeddings",
                                                    "Sequence embeddings"])

with tab_seq:
    cluster_ui.sequence_tab(ds)
table_explore.draw(tab_explore, tab_embed)

# ---- clustering --------------------------------------------------------------------------------------------------
with tab_map:
    try:
        inp = state.cluster_input()
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    settings, k = cluster_ui.settings_inputs(inp, ds.id), None
    try:
        sweep = state.cluster_sweep(settings) if METHODS[settings.method].uses_k else None
        if sweep is not None:
            k = cluster_ui.k_input(sweep, settings.for_sweep().signature(), ds.id)
        settings = dataclasses.replace(settings, k=k)
        run = state.cluster_run(settings)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    sig = settings.signature()
    try:
        run.profiles = apply_names(run.profiles, state.cluster_names(ds.id, sig))
    except DataError as e:
        st.warning(f"Saved names not applied: {e}")
    for w in run.warnings:
        st.caption(f"Note: {w}")
    m = run.metrics
    shares = run.profiles.loc[run.profiles["cluster"] >= 0, "share"]
    ui.metrics_row({"Customers": f"{m['n_customers']:,}", "Groups": str(m["n_clusters"]),
                    "Smallest group": f"{shares.min():.0%}", "Largest group": f"{shares.max():.0%}"})
    st.caption("Group sizes are shares of all customers.")
    if m["noise_share"]:
        st.caption(f"{m['noise_share']:.0%} of the customers are in no dense group ('noise', grey on the map).")
    with st.expander("Details for analysts: how well the groups separate, choosing k"):
        cluster_ui.analyst_details(run, sweep)

    map_box = st.container()
    with st.expander("Place a new customer on the map"):
        new = cluster_ui.new_customer(run, ds.id)
    with map_box:
        fig, drawn = charts.map_figure(run, inp.table, new)
        if run.cmap.explained_variance:
            st.caption("Each dot is a customer; customers close together buy alike (a 2-D summary of the "
                       "features — see the details for analysts).")
        if drawn < len(run.ids):
            st.caption(f"The map shows a random {drawn:,} of {len(run.ids):,} customers.")
        event = st.plotly_chart(fig, width="stretch", key="clu_map", on_select="rerun",
                                selection_mode=("lasso", "box"))

    st.subheader("Group profiles")
    edited = cluster_ui.profile_editor(run, sig)
    st.caption(cluster_ui.NAMES_NOTE)
    c1, c2 = st.columns(2)
    if c1.button("Save names", key="clu_save_names", icon=":material/edit:"):
        try:
            names = dict(zip(edited["cluster"], edited["name"]))
            apply_names(run.profiles, names)
            state.save_cluster_names(ds.id, sig, names)
            st.session_state.pop(keys.cluster_names_editor(sig), None)
            st.rerun()
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    use = c2.button("Use this clustering", key="clu_use", type="primary", icon=":material/check:",
                    help="The Customer page shows each customer's cluster from the clustering in use.")
    saved, same = state.use_clustering(ds.id, run, force=use)
    c2.caption("This clustering is in use for customer lookup." if same else
               f"In use for customer lookup: {METHODS[saved['method']].label}, k = {saved['k']}, "
               f"features {', '.join(saved['features'])}.")

    st.subheader("Selected customers")
    lasso = charts.selected_ids(event.selection.points if event else [])
    cluster_names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
    whole = st.multiselect("Select whole clusters", list(run.profiles["cluster"]), key="clu_pick",
                           format_func=lambda c: f"{c} · {cluster_names[c]}")
    picked = customer_list(run, inp.table, ids=lasso, clusters=whole)
    st.session_state[keys.SELECTION] = picked["customer_id"].tolist()
    if picked.empty:
        st.info("Lasso or box-select points on the map (toolbar at the top right of the map), or pick whole clusters.")
    else:
        st.caption(f"{len(picked):,} customers selected.")
        st.dataframe(picked, hide_index=True, key="clu_picked")
        ui.downloads(picked, "cluster_selection", "clu_dl")
        with st.form("clu_segment"):
            seg_name = st.text_input("Segment name", key="clu_seg_name", placeholder="e.g. big spenders to win back")
            if st.form_submit_button("Save as a segment", icon=":material/bookmark_add:"):
                try:
                    ws.save_segment(seg_name, ds.id, picked["customer_id"].tolist(), source="clusters")
                    st.success(f"Saved {len(picked):,} customers as '{seg_name.strip()}'; filter on it on the RFM page.")
                except DataError as e:
                    st.error(str(e), icon=":material/error:")
