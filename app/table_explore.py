"""Clusters page, the customer table itself: the "Explore" tab (column distributions with skew, missing values and
their fill, correlation heatmap, PCA explained and cumulative variance, the elbow) and the "Table embeddings" tab
(GRU/LSTM/dense-autoencoder embeddings + K-Means against K-Means on the table and on PCA, with the verdict the
pipeline writes). The numbers come from ``pipeline.cluster.explore`` and ``pipeline.cluster.table_embeddings``;
this module only asks, caches and draws. TensorFlow is imported only when the comparison button is pressed.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app import cluster_charts as charts
from app import keys, state
from pipeline.cluster import LOG_MODES, ClusterInput
from pipeline.cluster.embeddings import TABLE_ENCODERS
from pipeline.cluster.explore import TableExploration, explore_table, numeric_features
from pipeline.cluster.table_embeddings import compare_table_embeddings, table_maps
from pipeline.config import TableEmbeddingConfig
from pipeline.errors import DataError
from pipeline.labels import label

__all__ = ["draw", "explore_tab", "embeddings_tab", "pca_figure", "elbow_figure", "heatmap_figure"]

_CFG = TableEmbeddingConfig()
_FMT3 = st.column_config.NumberColumn(format="%.3f")


def draw(explore_container, embeddings_container) -> None:
    """Draw both tabs of the current dataset's customer table into the two containers (e.g. ``st.tabs``)."""
    try:
        inp = state.cluster_input()
    except DataError:                      # the Clusters tab shows the error
        explore_container.caption("Nothing to explore: see the message on the Clusters tab.")
        return
    with explore_container:
        explore_tab(inp)
    with embeddings_container:
        embeddings_tab(inp)


@st.cache_data(max_entries=6, show_spinner="Exploring the table: statistics, correlation, PCA, k = 2…10…",
               hash_funcs={pd.DataFrame: state.frame_digest})
def _explore(table: pd.DataFrame, features: tuple[str, ...], log: str) -> TableExploration:
    return explore_table(table, list(features), log)


def _columns_input(inp: ClusterInput, prefix: str) -> tuple[list[str], str] | None:
    """Numeric columns and log mode, or None (with a note) when the table has no numeric column that varies."""
    try:
        numeric = numeric_features(inp.table)
    except DataError as e:
        st.info(f"{e} Upload a table with numeric columns (spend, income, counts, …).")
        return None
    c1, c2 = st.columns([3, 2])                          # wide enough for the log transform's longest choice
    cols = c1.multiselect("Columns", numeric, default=numeric, key=f"{prefix}_cols_{state.dataset_key().dataset_id}",
                          format_func=label, help="Numeric columns; blanks are filled with the column median, then "
                                                  "each column is standardised (mean 0, spread 1).")
    default_log = "all" if inp.segment_col else _CFG.log    # transactions: log RFM; tables: fill + standardise
    log = c2.selectbox("Log transform", list(LOG_MODES), index=list(LOG_MODES).index(default_log),
                       format_func=LOG_MODES.get, key=f"{prefix}_log")
    return cols, log


def explore_tab(inp: ClusterInput) -> None:
    """Distributions, missing values and fill, correlations, PCA variance and the elbow of the customer table."""
    if not st.toggle("Explore this table", key="tex_on", help="Column statistics, correlations, PCA and the elbow "
                                                              "(a few seconds on large tables)."):
        st.caption("Switch on to see each column's distribution, skew, missing values and how they are filled, the "
                   "correlation heatmap, the PCA variance and the elbow chart.")
        return
    chosen = _columns_input(inp, "tex")
    if chosen is None:
        return
    try:
        ex = _explore(inp.table, tuple(chosen[0]), chosen[1])
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    _stats_section(inp.table, ex)
    st.subheader("Correlations")
    if ex.correlation.empty:
        st.caption("Fewer than two numeric columns: no correlation to show.")
    else:
        st.plotly_chart(heatmap_figure(ex.correlation), width="stretch", key="tex_heatmap")
    st.subheader("Principal components")
    st.plotly_chart(pca_figure(ex.pca), width="stretch", key="tex_pca")
    st.dataframe(ex.pca, hide_index=True, key="tex_pca_table",
                 column_config={"explained": _FMT3, "cumulative": _FMT3})
    st.subheader("Elbow and silhouette by k")
    st.plotly_chart(elbow_figure(ex), width="stretch", key="tex_elbow")
    st.caption(f"Standardised table: {ex.sweep.reason}  \nFirst {ex.pca_components} principal components: "
               f"{ex.sweep_pca.reason}  \nSilhouettes on principal components are higher because the space is "
               "smaller, not because the groups are better separated.")
    st.dataframe(ex.k_table, hide_index=True, key="tex_k_table",
                 column_config={c: _FMT3 for c in ex.k_table.columns if c != "k"})


def _stats_section(table: pd.DataFrame, ex: TableExploration) -> None:
    missing = int(ex.stats["missing"].sum())
    st.caption(f"{len(table):,} customers · {len(ex.stats)} columns · {missing:,} missing values"
               + ("".join(f"  \nFill: {w}" for w in ex.warnings)))
    st.dataframe(ex.stats, hide_index=True, key="tex_stats", column_config={
        "missing_share": st.column_config.NumberColumn(format="percent"),
        **{c: st.column_config.NumberColumn(format="localized") for c in ("mean", "std", "min", "median", "max")},
        "skew": st.column_config.NumberColumn(format="%.2f")})
    numeric = ex.stats[ex.stats["kind"] == "numeric"].set_index("column")
    if numeric.empty:
        return
    c1, c2 = st.columns([3, 1])
    col = c1.selectbox("Distribution of", list(numeric.index), key="tex_hist_col")
    log_y = c2.toggle("Log count axis", key="tex_hist_log", help="Shows the long tail of skewed columns.")
    row = numeric.loc[col]
    fig = px.histogram(table, x=col, nbins=50, log_y=log_y, height=320)
    fig.update_layout(margin={"t": 30}, title=f"skew {row['skew']:.2f} · {int(row['missing']):,} missing"
                      + (f" → {row['fill']}" if row["fill"] else ""))
    st.plotly_chart(fig, width="stretch", key="tex_hist")


def heatmap_figure(corr: pd.DataFrame) -> go.Figure:
    """Correlation heatmap, -1 (blue) to +1 (red)."""
    fig = px.imshow(corr.round(2), zmin=-1, zmax=1, color_continuous_scale="RdBu_r", aspect="auto",
                    text_auto=len(corr) <= 20)
    return fig.update_layout(height=max(380, 24 * len(corr)), margin={"t": 20})


def pca_figure(pca: pd.DataFrame) -> go.Figure:
    """Explained variance per component (bars) and cumulative variance (line)."""
    fig = go.Figure([go.Bar(x=pca["component"], y=pca["explained"], name="explained"),
                     go.Scatter(x=pca["component"], y=pca["cumulative"], name="cumulative", mode="lines+markers")])
    return fig.update_layout(height=340, margin={"t": 20}, xaxis_title="principal component",
                             yaxis_title="share of variance", yaxis_range=[0, 1.02], yaxis_tickformat=".0%")


def elbow_figure(ex: TableExploration) -> go.Figure:
    """Inertia by k with the elbow marked (left), silhouette by k on the table and on PCA (right)."""
    t = ex.k_table
    fig = make_subplots(1, 2, subplot_titles=("Inertia (within-cluster sum of squares)", "Silhouette"))
    fig.add_trace(go.Scatter(x=t["k"], y=t["inertia"], mode="lines+markers", name="inertia"), 1, 1)
    if ex.sweep.elbow_k is not None:
        at = t[t["k"] == ex.sweep.elbow_k]
        fig.add_trace(go.Scatter(x=at["k"], y=at["inertia"], mode="markers", name=f"elbow k={ex.sweep.elbow_k}",
                                 marker={"size": 14, "symbol": "x"}), 1, 1)
    fig.add_trace(go.Scatter(x=t["k"], y=t["silhouette"], mode="lines+markers", name="on the table"), 1, 2)
    fig.add_trace(go.Scatter(x=t["k"], y=t["silhouette_pca"], mode="lines+markers",
                             name=f"on {ex.pca_components} principal components"), 1, 2)
    return fig.update_layout(height=360, margin={"t": 40}).update_xaxes(title_text="k", dtick=1)


# ---- table embeddings ----------------------------------------------------------------------------------------

def _embedding_form(cols: list[str], log: str) -> tuple[dict, bool]:
    with st.form("tem_form"):
        c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
        methods = c1.multiselect("Embeddings", list(TABLE_ENCODERS), default=list(_CFG.methods),
                                 format_func=TABLE_ENCODERS.get, key="tem_methods")
        k = c2.number_input("Clusters k (every method)", 2, 12, _CFG.k, key="tem_k")
        n_seeds = c3.number_input("Seeds", 1, 5, len(_CFG.seeds), key="tem_seeds", help="Stability = mean adjusted "
                                  "Rand index between the clusterings of different seeds.")
        rec = c4.number_input("GRU/LSTM epochs", 1, 200, _CFG.recurrent_epochs, key="tem_rec_epochs")
        dense = c5.number_input("Dense epochs", 1, 500, _CFG.dense_epochs, key="tem_dense_epochs")
        run = st.form_submit_button("Train the encoders and compare", type="primary")
    st.caption("Each customer's standardised columns → a GRU/LSTM reading them as a sequence, or a dense "
               f"autoencoder → {_CFG.latent_dim}-d embedding → K-Means, against K-Means on the table and on its "
               f"first {_CFG.pca_components} principal components. Under a minute on ~10,000 customers.")
    return {"features": tuple(cols), "log": log, "methods": tuple(methods), "k": int(k),
            "seeds": tuple(range(int(n_seeds))), "recurrent_epochs": int(rec), "dense_epochs": int(dense)}, run


def _run_comparison(inp: ClusterInput, s: dict) -> tuple:
    config = dataclasses.replace(_CFG, recurrent_epochs=s["recurrent_epochs"], dense_epochs=s["dense_epochs"])
    bar = st.progress(0.0, text="Loading TensorFlow…" if s["methods"] else "Clustering…")
    cmp = compare_table_embeddings(inp.table, s["methods"], s["k"], s["seeds"], s["features"], s["log"],
                                   progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg),
                                   config=config)
    bar.empty()
    return cmp, table_maps(cmp)


def embeddings_tab(inp: ClusterInput) -> None:
    """The comparison form, then the verdict, the table, cluster sizes and profiles, and a map per method."""
    chosen = _columns_input(inp, "tem")
    if chosen is None:
        return
    settings, run = _embedding_form(*chosen)
    results = st.session_state.setdefault(keys.TABLE_EMBEDDING_RESULTS, {})
    skey = (state.dataset_key(), tuple(sorted(settings.items())))
    if run:
        try:
            results[skey] = _run_comparison(inp, settings)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
    if skey not in results:
        return
    cmp, maps = results[skey]
    st.info(cmp.verdict, icon=":material/balance:")
    table = cmp.table
    st.dataframe(table, hide_index=True, key="tem_table", column_config={
        c: _FMT3 for c in table.columns if c not in ("method", "key", "space", "clusters", "smallest_share")}
        | {"smallest_share": st.column_config.NumberColumn(format="percent")})
    st.caption("_own: in each method's own space (embedding, principal components); _common: all judged on the same "
               "standardised table — only these compare methods. Stability: mean adjusted Rand index across seeds "
               "(1 = the same clusters every time). Seconds: one fit.")
    st.subheader("Clusters in the original units")
    st.dataframe(cmp.profiles, hide_index=True, key="tem_profiles", column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        **{f: st.column_config.NumberColumn(label(f), format="%,.2f") for f in cmp.space.transformer.numeric_}})
    for pair in np.array_split(np.asarray(table["method"]), max(1, (len(table) + 1) // 2)):
        for col, method in zip(st.columns(2), pair):
            col.plotly_chart(charts.comparison_figure(maps, method), width="stretch", key=f"tem_map_{method}")
