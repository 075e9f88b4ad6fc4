"""Streamlit inputs and tables of the Clusters page: the clustering settings, the new-customer inputs, the
cluster-profile editor and the sequence-embedding tab. Clustering itself is ``pipeline.cluster`` (through the
cached loaders in :mod:`app.state`); figures are :mod:`app.cluster_charts`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import cluster_charts as charts
from app import keys, labels_ui, state
from pipeline.cluster import (
    LOG_MODES, METHODS, UNLIKE_NAME, ClusterInput, ClusterRun, KSweep, NewCustomer, assign_new,
)
from pipeline.cluster.sequences import compare_with_rfm, comparison_maps
from pipeline.config import HORIZON_DAYS, ClusterConfig, SequenceConfig
from pipeline.errors import DataError
from pipeline.labels import label
from pipeline.store import Dataset

__all__ = ["K_SETTING", "NAMES_NOTE", "settings_inputs", "k_input", "analyst_details", "new_customer", "profile_editor",
           "sequence_tab"]

K_SETTING = "cluster_k"          # per-dataset workspace setting: {sweep settings signature: k chosen}

NAMES_NOTE = (f"Each word of a generated name holds for at least {ClusterConfig().name_min_share:.0%} of the group "
              "(high = above the median of all customers, low = at or below it, very = beyond the quartile, "
              "average = between the quartiles). "
              "A customer is called only by the words true of them, and one further from the group's centre than "
              f"{ClusterConfig().far_quantile:.0%} of its members is “unlike any group”.")

_MAPS = {"auto": "Auto", "pca": "PCA", "tsne": "t-SNE"}          # short: the picker is a narrow column
_MAPS_HELP = "Auto: two features as they are, more through PCA. t-SNE is offered up to 20,000 customers."


def settings_inputs(inp: ClusterInput, dataset_id: str) -> state.ClusterSettings:
    """Features, algorithm, map and transform options (k is chosen after the sweep)."""
    c1, c2, c3 = st.columns([3, 1, 1])
    features = c1.multiselect("Features", inp.features, default=inp.default_features, key=f"clu_features_{dataset_id}",
                              format_func=label)
    method = c2.selectbox("Algorithm", list(METHODS), format_func=lambda m: METHODS[m].label, key="clu_method",
                          help="  \n".join(f"**{m.label}**: {m.note}" for m in METHODS.values()))
    projections = ["auto", "pca"] + (["tsne"] if len(inp.table) <= ClusterConfig().tsne_max else [])
    projection = c3.selectbox("Map", projections, key=f"clu_projection_{dataset_id}", format_func=_MAPS.get,
                              help=_MAPS_HELP)
    with st.expander("Transform options"):
        log = st.radio("Log transform", list(LOG_MODES), index=list(LOG_MODES).index(inp.default_log),
                       format_func=LOG_MODES.get, horizontal=True, key=f"clu_log_{dataset_id}")
        scale = st.toggle("Standardise numeric features", value=True, key="clu_scale")
        categorical = st.multiselect("Treat as categories (one-hot)", features, key=f"clu_cat_{dataset_id}",
                                     help="Integer codes such as education level; text columns are one-hot anyway.")
    return state.ClusterSettings(tuple(features), method, log, scale, tuple(categorical), map=projection)


def _keep_k(dataset_id: str, sweep_signature: str) -> None:
    ws = state.workspace()
    chosen = dict(ws.dataset_settings(dataset_id).get(K_SETTING, {}))
    chosen[sweep_signature] = int(st.session_state[keys.CLUSTER_K])
    ws.save_dataset_settings(dataset_id, {K_SETTING: chosen})


def k_input(sweep: KSweep, sweep_signature: str, dataset_id: str) -> int:
    """The number of groups: starts at the k kept for this dataset and these settings (so a reload finds it),
    else at the recommendation; any k can be picked, and the pick is kept in the workspace."""
    mark = (state.dataset_key(), sweep_signature, sweep.recommended_k)
    if st.session_state.get(keys.CLUSTER_K_FOR) != mark:       # new data or settings: start from what was kept
        saved = state.workspace().dataset_settings(dataset_id).get(K_SETTING, {}).get(sweep_signature)
        st.session_state[keys.CLUSTER_K] = int(saved) if saved else sweep.recommended_k
        st.session_state[keys.CLUSTER_K_FOR] = mark
    k = int(st.number_input("Number of groups (k)", 2, 30, key=keys.CLUSTER_K, on_change=_keep_k,
                            args=(dataset_id, sweep_signature),
                            help="Any number works; the recommendation suits campaigns."))
    st.caption(f"Recommended: {sweep.reason}")
    return k


def analyst_details(run: ClusterRun, sweep: KSweep | None) -> None:
    """Silhouette, Davies-Bouldin, Calinski-Harabasz, the map's PCA variance and the k sweep (figure and table)."""
    m = run.metrics
    st.markdown(f"Silhouette **{m['silhouette']:.3f}** (higher is better, at most 1) · Davies-Bouldin "
                f"**{m['davies_bouldin']:.3f}** (lower is better) · Calinski-Harabasz "
                f"**{m['calinski_harabasz']:,.0f}** (higher is better).")
    if run.cmap.explained_variance:
        st.caption("PCA map: the axes explain " + " and ".join(f"{v:.0%}" for v in run.cmap.explained_variance)
                   + " of the variance.")
    if sweep is None:
        return
    st.caption(sweep.details)
    st.plotly_chart(charts.sweep_figure(sweep), width="stretch", key="clu_sweep_fig")
    st.dataframe(sweep.table, hide_index=True, key="clu_sweep_table", column_config={
        **{c: st.column_config.NumberColumn(format="%.3f") for c in ("silhouette", "davies_bouldin")},
        "min_share": st.column_config.NumberColumn("smallest group", format="percent")})


def new_customer(run: ClusterRun, dataset_id: str) -> NewCustomer | None:
    """Inputs for a new customer (medians to start) and, when switched on, the cluster they belong to."""
    on = st.toggle("Show a new customer", key="clu_new_on")
    tf, cols = run.transformer, st.columns(3)
    values = {f: cols[i % 3].number_input(label(f), value=float(tf.medians_[f]), key=f"clu_new_{dataset_id}_{f}")
              for i, f in enumerate(tf.numeric_)}
    values |= {f: cols[i % 3].selectbox(label(f), tf.categories_[f], key=f"clu_new_{dataset_id}_{f}")
               for i, f in enumerate(tf.categorical_, start=len(tf.numeric_))}
    if not on:
        return None
    try:
        new = assign_new(run.fit.model, tf, values, run.cmap, run.names())
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return None
    names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
    group = names.get(new.cluster, "")
    if new.name == UNLIKE_NAME:
        st.warning(f"This customer is unlike any group (the star): the nearest is cluster {new.cluster} ({group}), "
                   f"but they are further from it than {ClusterConfig().far_quantile:.0%} of its members, or none "
                   "of its name's words is true of them.", icon=":material/help:")
    elif new.name and new.name != group:
        st.success(f"This customer is closest to cluster {new.cluster} ({group}); of that name only "
                   f"“{new.name}” is true of them (the star).")
    else:
        st.success(f"This customer belongs to cluster {new.cluster}: {group} (the star).")
    return new


def profile_editor(run: ClusterRun, signature: str) -> pd.DataFrame:
    """The cluster profiles, coloured like the map, with the names editable; returns the edited table."""
    colours = charts.cluster_colours(run.profiles["cluster"])
    styled = run.profiles.style.apply(lambda col: [f"background-color: {colours[c]}; color: white" for c in col],
                                      subset=["cluster"])
    return st.data_editor(styled, hide_index=True, key=keys.cluster_names_editor(signature), width="stretch",
                          disabled=[c for c in run.profiles.columns if c != "name"],
                          column_config=labels_ui.column_config(
                              run.profiles.columns,
                              name=st.column_config.TextColumn("Group name (click to rename)", max_chars=60),
                              cluster=st.column_config.NumberColumn("Group", format="%d")))


def _sequence_form() -> tuple[str, int, int, bool]:
    with st.form("clu_seq"):
        c1, c2, c3 = st.columns(3)
        freq = c1.radio("Periods", ["M", "W"], horizontal=True, key="clu_seq_freq",
                        format_func={"M": "monthly (last 12 × 30 days)", "W": "weekly (last 26 × 7 days)"}.get)
        epochs = c2.number_input("Epochs", 2, 300, SequenceConfig().epochs, key="clu_seq_epochs")
        k_seq = c3.number_input("Clusters k (both methods)", 2, 10, SequenceConfig().k, key="clu_seq_k")
        train = st.form_submit_button("Train the GRU autoencoder and compare", type="primary")
    st.caption("Each customer's spend and order count per period → GRU autoencoder → 4-d embedding → K-Means, "
               "against K-Means on log RFM; 3 seeds for stability. A minute or so on a few thousand customers.")
    return freq, int(epochs), int(k_seq), train


def sequence_tab(ds: Dataset) -> None:
    """Sequence embeddings vs K-Means on RFM; TensorFlow is imported only when the button is pressed."""
    if ds.kind != "transactions":
        st.info("Sequence embeddings need transactions (purchases over time); this dataset is a customer table.")
        return
    freq, epochs, k_seq, train = _sequence_form()
    results = st.session_state.setdefault(keys.SEQUENCE_RESULTS, {})
    skey = (state.dataset_key(), freq, epochs, k_seq)
    if train:
        bar = st.progress(0.0, text="Loading TensorFlow…")
        try:
            cmp = compare_with_rfm(ds.transactions, k=k_seq, freq=freq, epochs=epochs,
                                   progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
            results[skey] = state.SequenceRun(cmp, comparison_maps(cmp, ds.transactions))
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    if skey in results:
        seq = results[skey]
        st.dataframe(seq.comparison.table, hide_index=True, key="clu_seq_table", column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in seq.comparison.table.columns[3:]})
        st.caption("Silhouette/DB/CH in each method's own space, then (_rfm) in the common RFM space; stability "
                   f"= mean adjusted Rand index across seeds; churn = no purchase in the last {HORIZON_DAYS} days.")
        st.dataframe(seq.comparison.per_cluster, hide_index=True, key="clu_seq_clusters")
        for col, method in zip(st.columns(2), seq.comparison.table["method"]):
            col.plotly_chart(charts.comparison_figure(seq.maps, method), width="stretch")
