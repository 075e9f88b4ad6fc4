"""Plotly figures of the Clusters page: the k sweep, the cluster map, the sequence-vs-RFM maps; one colour map.

Figures only (no Streamlit calls). Text from the data (customer ids, column and cluster names) is HTML-escaped
before it goes into Plotly labels, which understand a few tags.
"""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from pipeline.cluster import NOISE, ClusterRun, KSweep, NewCustomer
from pipeline.labels import label

__all__ = ["PALETTE", "NOISE_COLOUR", "MAP_MAX_POINTS", "cluster_colours", "sweep_figure", "map_figure",
           "selected_ids", "comparison_figure"]

PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
NOISE_COLOUR = "#9e9e9e"
MAP_MAX_POINTS = 40_000          # more customers than this: the map draws a random sample (all are still clustered)


def cluster_colours(ids) -> dict[int, str]:
    """Colour of every cluster id (noise grey); the map, the legend and the profile table all use it."""
    return {int(c): NOISE_COLOUR if c == NOISE else PALETTE[int(c) % len(PALETTE)] for c in ids}


def sweep_figure(sweep: KSweep) -> go.Figure:
    """Inertia (elbow marked), silhouette, Davies-Bouldin and Calinski-Harabasz against k; recommended k dashed."""
    t = sweep.table
    panels = [("inertia", "Inertia (elbow)"), ("silhouette", "Silhouette (higher is better)"),
              ("davies_bouldin", "Davies-Bouldin (lower is better)"),
              ("calinski_harabasz", "Calinski-Harabasz (higher is better)")]
    fig = make_subplots(rows=1, cols=4, subplot_titles=[p[1] for p in panels], horizontal_spacing=0.06)
    for i, (col, _) in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(x=t["k"], y=t[col], mode="lines+markers", name=col, showlegend=False), 1, i)
        fig.add_vline(x=sweep.recommended_k, line_dash="dash", line_color="firebrick", row=1, col=i)
    if sweep.elbow_k is not None:
        y = t.set_index("k").loc[sweep.elbow_k, "inertia"]
        fig.add_trace(go.Scatter(x=[sweep.elbow_k], y=[y], mode="markers", marker={"size": 14, "symbol": "circle-open",
                                 "color": "firebrick"}, name="elbow", showlegend=False), 1, 1)
    fig.update_xaxes(title_text="k", dtick=1)
    return fig.update_layout(height=300, margin={"t": 40, "b": 10})


def _hover(features: list[str], numeric: set[str]) -> str:
    lines = ["Customer %{customdata[0]}", "Group %{customdata[1]}"]
    for i, f in enumerate(features, start=2):
        lines.append(f"{escape(label(f))}: %{{customdata[{i}]{':,.2f' if f in numeric else ''}}}")
    return "<br>".join(lines) + "<extra></extra>"


def map_figure(run: ClusterRun, table: pd.DataFrame, new: NewCustomer | None = None,
               max_points: int = MAP_MAX_POINTS, random_state: int = 0) -> tuple[go.Figure, int]:
    """The cluster map: one trace per cluster (WebGL above 2,000 points), centres as crosses, a new customer as
    a star. Returns ``(figure, points drawn)``; ``table`` is the table the run was fitted on (for hover values).
    A customer's hover shows what is true of that customer (``run.customer_names``), the legend the groups' names."""
    labels, coords, n = run.fit.labels, run.cmap.coords, len(run.ids)
    show = np.arange(n) if n <= max_points else np.sort(
        np.random.default_rng(random_state).choice(n, max_points, replace=False))
    feats = list(run.transformer.features_)
    names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
    colours = cluster_colours(names)
    values = table[feats].reset_index(drop=True).iloc[show]
    own = np.asarray(run.customer_names(table), dtype=object)[show]
    custom = np.column_stack([run.ids[show].astype(object), [f"{c} · {escape(n)}" for c, n in zip(labels[show], own)],
                              values.to_numpy(dtype=object)])
    hover = _hover(feats, set(run.transformer.numeric_))
    trace = go.Scattergl if len(show) > 2000 else go.Scatter
    fig = go.Figure()
    for cid in run.profiles["cluster"]:
        m = labels[show] == cid
        fig.add_trace(trace(x=coords[show][m, 0], y=coords[show][m, 1], mode="markers", customdata=custom[m],
                            name=f"{cid} · {escape(names[cid])}", hovertemplate=hover,
                            marker={"color": colours[cid], "size": 6, "opacity": 0.75}))
    c = run.cmap.centroids
    fig.add_trace(go.Scatter(x=c[:, 0], y=c[:, 1], mode="markers+text", text=[str(i) for i in range(len(c))],
                             textposition="top center", name="cluster centres", hoverinfo="skip",
                             marker={"symbol": "x", "size": 16, "color": [colours[i] for i in range(len(c))],
                                     "line": {"width": 2, "color": "black"}}))
    if new is not None and new.x is not None:
        fig.add_trace(go.Scatter(x=[new.x], y=[new.y], mode="markers", name=f"new customer → {new.cluster}",
                                 hovertemplate=f"new customer<br>group {new.cluster} · "
                                               f"{escape(new.name or names[new.cluster])}<extra></extra>",
                                 marker={"symbol": "star", "size": 24, "color": colours[new.cluster],
                                         "line": {"width": 2, "color": "black"}}))
    axis = (lambda t: label(t)) if run.cmap.method == "features" else str     # noqa: E731  PCA/t-SNE axes as named
    fig.update_layout(height=560, dragmode="lasso", legend_title_text="Group", margin={"t": 30},
                      xaxis_title=escape(axis(run.cmap.x_label)), yaxis_title=escape(axis(run.cmap.y_label)))
    return fig, len(show)


def selected_ids(points: list[dict]) -> list[str]:
    """Customer ids of the points picked with lasso/box (``event.selection.points``); centres and stars have none."""
    out = [p["customdata"][0] for p in points or [] if isinstance(p.get("customdata"), (list, tuple))
           and p["customdata"]]
    return list(dict.fromkeys(str(i) for i in out))


def comparison_figure(maps: pd.DataFrame, method: str) -> go.Figure:
    """PCA map of one clustering from ``pipeline.cluster.sequences.comparison_maps``."""
    part = maps[maps["method"] == method]
    colours = cluster_colours(part["cluster"].unique())
    trace = go.Scattergl if len(part) > 2000 else go.Scatter
    fig = go.Figure([trace(x=g["x"], y=g["y"], mode="markers", name=f"cluster {c}", customdata=g[["customer_id"]],
                           hovertemplate="customer %{customdata[0]}<extra></extra>",
                           marker={"color": colours[int(c)], "size": 5, "opacity": 0.7})
                     for c, g in part.groupby("cluster", sort=True)])
    return fig.update_layout(title=escape(method), height=420, margin={"t": 40},
                             xaxis_title=part["x_label"].iloc[0], yaxis_title=part["y_label"].iloc[0])
