"""Clusters: features, algorithm, k sweep, 2-D map, profiles with names, lasso-to-list, new customer, sequences."""
import hashlib
import json

import streamlit as st

from app import cluster_charts as charts
from app import state, ui
from pipeline.cluster import LOG_MODES, METHODS, apply_names, assign_new, customer_list, saved_clustering
from pipeline.config import ClusterConfig, SequenceConfig
from pipeline.errors import DataError
from pipeline.cluster.sequences import compare_with_rfm, comparison_maps

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Clusters")
tab_map, tab_seq = st.tabs(["Clusters", "Sequence embeddings"])

# ---- sequence embeddings vs K-Means on RFM (TensorFlow is imported only when the button is pressed) -------------
with tab_seq:
    if ds.kind != "transactions":
        st.info("Sequence embeddings need transactions (purchases over time); this dataset is a customer table.")
    else:
        with st.form("clu_seq"):
            c1, c2, c3 = st.columns(3)
            freq = c1.radio("Periods", ["M", "W"], horizontal=True, key="clu_seq_freq",
                            format_func={"M": "monthly (last 12 × 30 days)", "W": "weekly (last 26 × 7 days)"}.get)
            epochs = c2.number_input("Epochs", 2, 300, SequenceConfig().epochs, key="clu_seq_epochs")
            k_seq = c3.number_input("Clusters k (both methods)", 2, 10, SequenceConfig().k, key="clu_seq_k")
            train = st.form_submit_button("Train the GRU autoencoder and compare", type="primary")
        st.caption("Each customer's spend and order count per period → GRU autoencoder → 4-d embedding → K-Means, "
                   "against K-Means on log RFM; 3 seeds for stability. A minute or so on a few thousand customers.")
        results = st.session_state.setdefault(state.SEQUENCE_RESULTS, {})
        skey = (state.dataset_key(), freq, int(epochs), int(k_seq))
        if train:
            bar = st.progress(0.0, text="Loading TensorFlow…")
            try:
                cmp = compare_with_rfm(ds.transactions, k=int(k_seq), freq=freq, epochs=int(epochs),
                                       progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
                results[skey] = (cmp, comparison_maps(cmp, ds.transactions))
            except DataError as e:
                st.error(str(e), icon=":material/error:")
        if skey in results:
            cmp, maps = results[skey]
            st.dataframe(cmp.table, hide_index=True, key="clu_seq_table", column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in cmp.table.columns[3:]})
            st.caption("Silhouette/DB/CH in each method's own space, then (_rfm) in the common RFM space; stability "
                       "= mean adjusted Rand index across seeds; churn = no purchase in the last 90 days.")
            st.dataframe(cmp.per_cluster, hide_index=True, key="clu_seq_clusters")
            for col, method in zip(st.columns(2), cmp.table["method"]):
                col.plotly_chart(charts.comparison_figure(maps, method), width="stretch")

# ---- clustering --------------------------------------------------------------------------------------------------
with tab_map:
    try:
        inp = state.cluster_input()
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    c1, c2, c3 = st.columns([3, 1, 1])
    features = c1.multiselect("Features", inp.features, default=inp.default_features, key=f"clu_features_{ds.id}")
    method = c2.selectbox("Algorithm", list(METHODS), format_func=lambda m: METHODS[m].label, key="clu_method",
                          help="  \n".join(f"**{m.label}**: {m.note}" for m in METHODS.values()))
    projections = ["auto", "pca"] + (["tsne"] if len(inp.table) <= ClusterConfig().tsne_max else [])
    projection = c3.selectbox("Map", projections, key=f"clu_projection_{ds.id}", format_func={
        "auto": "auto (2 features as they are, else PCA)", "pca": "PCA", "tsne": "t-SNE (≤ 20k customers)"}.get)
    with st.expander("Transform options"):
        log = st.radio("Log transform", list(LOG_MODES), index=list(LOG_MODES).index(inp.default_log),
                       format_func=LOG_MODES.get, horizontal=True, key=f"clu_log_{ds.id}")
        scale = st.toggle("Standardise numeric features", value=True, key="clu_scale")
        categorical = st.multiselect("Treat as categories (one-hot)", features, key=f"clu_cat_{ds.id}",
                                     help="Integer codes such as education level; text columns are one-hot anyway.")
    s = {"features": list(features), "method": method, "log": log, "scale": scale, "categorical": list(categorical)}
    key, k = state.dataset_key(), None
    try:
        sweep = state.cluster_sweep(inp, s) if METHODS[method].uses_k else None
        if sweep is not None:
            mark = (key, json.dumps(s), sweep.recommended_k)
            if st.session_state.get("clu_k_for") != mark:      # new settings: the input starts at the recommendation
                st.session_state["clu_k"], st.session_state["clu_k_for"] = sweep.recommended_k, mark
            k = int(st.number_input("Number of clusters k", 2, 30, key="clu_k", help=sweep.reason))
            st.caption(f"Recommended **k = {sweep.recommended_k}**: {sweep.reason}")
        s |= {"k": k, "map": projection}
        run = state.cluster_run(inp, s)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    sig = hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()[:16]
    all_names = ws.read_json("cluster_names", {}) or {}
    try:
        run.profiles = apply_names(run.profiles, all_names.get(ds.id, {}).get(sig, {}))
    except DataError as e:
        st.warning(f"Saved names not applied: {e}")
    for w in run.warnings:
        st.caption(f"Note: {w}")
    m = run.metrics
    ui.metrics_row({"Customers": f"{m['n_customers']:,}", "Clusters": str(m["n_clusters"]),
                    "Silhouette": f"{m['silhouette']:.3f}", "Davies-Bouldin": f"{m['davies_bouldin']:.3f}",
                    "Calinski-Harabasz": f"{m['calinski_harabasz']:,.0f}"})
    if m["noise_share"]:
        st.caption(f"{m['noise_share']:.0%} of the customers are in no dense group ('noise', grey on the map).")
    if sweep is not None:
        with st.expander("Choosing k: the evidence", expanded=True):
            st.plotly_chart(charts.sweep_figure(sweep), width="stretch", key="clu_sweep_fig")
            st.dataframe(sweep.table, hide_index=True, key="clu_sweep_table", column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in ("silhouette", "davies_bouldin")})

    map_box = st.container()
    with st.expander("Place a new customer on the map"):
        on = st.toggle("Show a new customer", key="clu_new_on")
        tf, cols = run.transformer, st.columns(3)
        values = {f: cols[i % 3].number_input(f, value=float(tf.medians_[f]), key=f"clu_new_{ds.id}_{f}")
                  for i, f in enumerate(tf.numeric_)}
        values |= {f: cols[i % 3].selectbox(f, tf.categories_[f], key=f"clu_new_{ds.id}_{f}")
                   for i, f in enumerate(tf.categorical_, start=len(tf.numeric_))}
        new = None
        if on:
            try:
                new = assign_new(run.fit.model, tf, values, run.cmap)
                names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
                st.success(f"This customer belongs to cluster {new.cluster}: {names[new.cluster]} (the star).")
            except DataError as e:
                st.error(str(e), icon=":material/error:")
    with map_box:
        fig, drawn = charts.map_figure(run, inp.table, new)
        if run.cmap.explained_variance:
            st.caption("PCA map: the axes explain " + " and ".join(f"{v:.0%}" for v in run.cmap.explained_variance)
                       + " of the variance.")
        if drawn < len(run.ids):
            st.caption(f"The map shows a random {drawn:,} of {len(run.ids):,} customers.")
        event = st.plotly_chart(fig, width="stretch", key="clu_map", on_select="rerun",
                                selection_mode=("lasso", "box"))

    st.subheader("Cluster profiles")
    colours = charts.cluster_colours(run.profiles["cluster"])
    styled = run.profiles.style.apply(lambda col: [f"background-color: {colours[c]}; color: white" for c in col],
                                      subset=["cluster"])
    edited = st.data_editor(styled, hide_index=True, key=f"clu_profiles_{sig}", width="stretch",
                            disabled=[c for c in run.profiles.columns if c != "name"], column_config={
                                **{f: st.column_config.NumberColumn(format="%.2f") for f in run.transformer.numeric_},
                                "name": st.column_config.TextColumn("name (click to rename)", max_chars=60),
                                "share": st.column_config.NumberColumn(format="percent"),
                                "revenue_share": st.column_config.NumberColumn(format="percent")})
    c1, c2 = st.columns(2)
    if c1.button("Save names", key="clu_save_names", icon=":material/edit:"):
        try:
            apply_names(run.profiles, dict(zip(edited["cluster"], edited["name"])))
            all_names.setdefault(ds.id, {})[sig] = {str(c): n for c, n in zip(edited["cluster"], edited["name"])}
            ws.write_json("cluster_names", all_names)
            st.session_state.pop(f"clu_profiles_{sig}", None)
            st.rerun()
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    assignments, meta = saved_clustering(run)
    saved = (ws.load_clustering(ds.id) or (None, None))[1]
    same = saved is not None and all(saved.get(f) == meta[f] for f in ("method", "k", "features", "options", "seed"))
    use = c2.button("Use this clustering", key="clu_use", type="primary", icon=":material/check:",
                    help="The customer lookup page shows each customer's cluster from the clustering in use.")
    if use or saved is None or (same and saved.get("names") != meta["names"]):
        ws.save_clustering(ds.id, assignments, meta)
        saved, same = meta, True
    c2.caption("This clustering is in use for customer lookup." if same else
               f"In use for customer lookup: {METHODS[saved['method']].label}, k = {saved['k']}, "
               f"features {', '.join(saved['features'])}.")

    st.subheader("Selected customers")
    lasso = charts.selected_ids(event.selection.points if event else [])
    whole = st.multiselect("Select whole clusters", list(run.profiles["cluster"]), key="clu_pick",
                           format_func=lambda c: f"{c} · {dict(zip(run.profiles.cluster, run.profiles.name))[c]}")
    picked = customer_list(run, inp.table, ids=lasso, clusters=whole)
    st.session_state[state.SELECTION] = picked["customer_id"].tolist()
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
