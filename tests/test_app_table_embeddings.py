"""AppTest of the Clusters page's customer-table tabs: "Explore" (stats with skew and fill, heatmap, PCA variance,
elbow) and "Table embeddings" (a tiny dense-autoencoder comparison with the pipeline's verdict)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

PAGE = "pages/clusters.py"


def _table_csv() -> bytes:
    """60 customers in three obvious groups; two blanks in 'spend' (median-filled)."""
    rng = np.random.default_rng(0)
    centres = np.array([[25, 20, 80], [45, 90, 20], [65, 50, 50]])
    X = np.vstack([c + rng.normal(scale=2.0, size=(20, 3)) for c in centres]).round(1)
    df = pd.DataFrame(X, columns=["age", "income", "spend"])
    df.insert(0, "customer_id", [f"C{i:03d}" for i in range(60)])
    df.loc[[3, 30], "spend"] = np.nan
    return df.to_csv(index=False).encode()


@pytest.fixture
def table_page(app):
    app.file_uploader(key="uploader").upload("customers.csv", _table_csv(), "text/csv")
    app.run()
    assert not app.exception and not app.error
    app.switch_page(PAGE).run()
    assert not app.exception and not app.error
    return app


def _figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_explore_section_stats_heatmap_pca_elbow(table_page):
    at = table_page
    n_charts = len(at.get("plotly_chart"))
    at.toggle(key="tex_on").set_value(True).run()
    assert not at.exception and not at.error
    stats = next(d.value for d in at.dataframe if "skew" in d.value.columns).set_index("column")
    assert stats.loc["spend", "missing"] == 2 and stats.loc["spend", "fill"].startswith("median (")
    assert any("Fill: column 'spend': 2 missing value(s) filled with the median" in c.value for c in at.caption)
    figs = _figures(at)
    assert len(figs) == n_charts + 4                                  # histogram, heatmap, PCA, elbow
    assert any(t.get("type") == "heatmap" for f in figs for t in f["data"])
    assert any(t.get("name") == "cumulative" for f in figs for t in f["data"])
    k_table = next(d.value for d in at.dataframe if "silhouette_pca" in d.value.columns)
    assert k_table.loc[k_table["silhouette"].idxmax(), "k"] == 3
    at.selectbox(key="tex_hist_col").set_value("income").run()
    assert not at.exception


def test_table_embeddings_tiny_comparison_and_verdict(table_page):
    at = table_page
    at.multiselect(key="tem_methods").set_value(["dense"])
    at.number_input(key="tem_k").set_value(3)
    at.number_input(key="tem_seeds").set_value(2)
    at.number_input(key="tem_dense_epochs").set_value(2)
    next(b for b in at.button if b.label == "Train the encoders and compare").click().run()
    assert not at.exception and not at.error
    verdict = next(i.value for i in at.info if "more useful segmentation" in i.value)
    assert verdict.startswith("With k = 3 on 60 customers, ")
    table = next(d.value for d in at.dataframe if "silhouette_common" in d.value.columns)
    assert table["key"].tolist() == ["kmeans", "pca", "dense"]
    profiles = next(d.value for d in at.dataframe if "name" in d.value.columns and "method" in d.value.columns)
    assert profiles.groupby("method")["size"].sum().eq(60).all()
    titles = [f["layout"]["title"]["text"] for f in _figures(at) if f["layout"].get("title")]
    assert "Dense autoencoder + K-Means" in titles
