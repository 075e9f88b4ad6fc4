"""Customer-table exploration (hand-checked stats, correlation, PCA variance), the fast silhouette, table encoders,
the comparison with K-Means / K-Means on PCA, its verdict, the CLI, and the CC GENERAL reference figures."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from conftest import ROOT, dataset
from pipeline.cli import main
from pipeline.cluster.explore import column_stats, correlation_matrix, explore_table, pca_variance
from pipeline.cluster.selection import silhouette
from pipeline.cluster.table_embeddings import TABLE_COLUMNS, compare_table_embeddings, table_verdict
from pipeline.config import TableEmbeddingConfig
from pipeline.errors import DataError

TINY = TableEmbeddingConfig(units=4, hidden=8, latent_dim=2, recurrent_epochs=2, dense_epochs=3, batch_size=32)


def blobs(n_per: int = 20, seed: int = 0) -> pd.DataFrame:
    """Three well separated groups of customers in three numeric columns, a text column and two blanks."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 10, 0], [0, 10, 10]])
    X = np.vstack([c + rng.normal(scale=0.5, size=(n_per, 3)) for c in centres])
    df = pd.DataFrame(X, columns=["age", "income", "spend"])
    df.insert(0, "customer_id", [f"C{i:03d}" for i in range(len(df))])
    df["city"] = ["north", "south", "east"] * n_per
    df.loc[[0, 5], "spend"] = np.nan
    return df


# ---- exploration, by hand ------------------------------------------------------------------------------------

def test_column_stats_by_hand():
    df = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "x": [1.0, 2.0, np.nan, 6.0],
                       "t": ["u", None, "u", "v"]})
    s = column_stats(df).set_index("column")
    assert list(s.index) == ["x", "t"]
    x = s.loc["x"]
    assert (x["kind"], x["values"], x["missing"], x["missing_share"]) == ("numeric", 3, 1, 0.25)
    assert x["fill"] == "median (2)" and x["mean"] == pytest.approx(3.0) and x["median"] == 2.0
    assert (x["min"], x["max"], x["distinct"]) == (1.0, 6.0, 3)
    assert x["skew"] == pytest.approx(pd.Series([1.0, 2.0, 6.0]).skew())
    t = s.loc["t"]
    assert (t["kind"], t["missing"], t["fill"], t["distinct"], t["top"]) == ("text", 1, "category '(missing)'", 2,
                                                                             "u (50%)")


def test_correlation_fills_medians_and_drops_constant_columns():
    df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 6, 8], "c": [4, 3, 2, 1], "k": [5, 5, 5, 5],
                       "s": [1, 2, np.nan, 3]})
    corr = correlation_matrix(df)
    assert list(corr.columns) == ["a", "b", "c", "s"]                      # constant 'k' left out
    assert corr.loc["a", "b"] == pytest.approx(1.0) and corr.loc["a", "c"] == pytest.approx(-1.0)
    assert corr.loc["a", "s"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2, 2, 3])[0, 1])   # median 2 filled
    assert correlation_matrix(df, ["a", "k"]).empty


def test_pca_variance_by_hand():
    # a and b = 2a carry one direction twice, c is orthogonal to it: eigenvalues 2, 1, 0 of 3 -> 2/3, 1/3, 0
    a, c = np.array([1.0, -1, 1, -1]), np.array([1.0, 1, -1, -1])
    X = np.column_stack([a, 2 * a, c])
    X = (X - X.mean(0)) / X.std(0)
    pv = pca_variance(X, ["a", "b", "c"])
    assert pv["explained"].round(6).tolist() == [round(2 / 3, 6), round(1 / 3, 6), 0.0]
    assert pv["cumulative"].iloc[-1] == pytest.approx(1.0)
    assert set(pv["top_loadings"].iloc[0].replace("+", "").replace("-", "").split(", ")[:2]) == {"a", "b"}


def test_fast_silhouette_equals_sklearn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(900, 4)) * 1e4 + 5e5
    labels = rng.integers(0, 4, 900)
    labels[:300] = 0
    X[labels == 1] += 2e4
    assert silhouette(X, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-6)
    assert silhouette(X, labels, 400, 7) == pytest.approx(
        silhouette_score(X, labels, sample_size=400, random_state=7), abs=1e-6)


def test_explore_table_finds_three_groups_and_reports_the_fill():
    ex = explore_table(blobs(), ks=[2, 3, 4, 5])
    assert ex.features == ["age", "income", "spend"]
    assert ex.sweep.recommended_k == 3 and ex.sweep_pca.recommended_k == 3
    assert list(ex.k_table.columns) == ["k", "inertia", "silhouette", "davies_bouldin", "inertia_pca",
                                        "silhouette_pca", "davies_bouldin_pca"]
    assert ex.pca["cumulative"].iloc[-1] == pytest.approx(1.0) and ex.pca_components == 2
    assert any("'spend': 2 missing" in w for w in ex.warnings)
    assert ex.stats.set_index("column").loc["city", "kind"] == "text"


# ---- the comparison ------------------------------------------------------------------------------------------

def test_explore_and_kmeans_rows_without_tensorflow(tmp_path):
    path = tmp_path / "table.csv"
    blobs().to_csv(path, index=False)
    code = ("import sys; sys.path.insert(0, 'tests'); from test_table_embeddings import blobs; "
            "from pipeline.cli import main; "
            "from pipeline.cluster.table_embeddings import compare_table_embeddings; "
            "c = compare_table_embeddings(blobs(), methods=(), k=3); print(c.table['key'].tolist()); "
            "assert main(['explore', sys.argv[1]]) == 0; "
            "assert main(['embed', sys.argv[1], '--method', 'none', '--k', '3']) == 0; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    r = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "['kmeans', 'pca']" in r.stdout


def test_kmeans_rows_by_hand():
    c = compare_table_embeddings(blobs(), methods=(), k=3, seeds=(0, 1))
    t = c.table.set_index("key")
    assert list(c.table.columns[:len(TABLE_COLUMNS)]) == list(TABLE_COLUMNS)
    assert t.loc["kmeans", "silhouette_own"] == t.loc["kmeans", "silhouette_common"] > 0.8
    assert t.loc["kmeans", "stability_ari"] == 1.0 and t.loc["kmeans", "smallest_share"] == pytest.approx(1 / 3)
    assert list(c.labels.columns) == ["customer_id", "kmeans", "pca"] and len(c.labels) == 60
    assert sorted(c.profiles.groupby("method")["size"].sum().tolist()) == [60, 60]
    assert "K-Means on the table gives the more useful segmentation" in c.verdict


@pytest.mark.parametrize("kwargs, match", [({"k": 1}, "k=1"), ({"k": 60}, "k=60"),
                                           ({"methods": ["rnn"]}, "'rnn' unknown"), ({"seeds": ()}, "seed")])
def test_bad_comparison_inputs(kwargs, match):
    with pytest.raises(DataError, match=match):
        compare_table_embeddings(blobs(), **{"methods": (), **kwargs})


@pytest.mark.slow
def test_tiny_embeddings_compared_in_both_spaces():
    df = blobs(12)
    steps = []
    c = compare_table_embeddings(df, methods=("gru", "lstm", "dense"), k=3, seeds=(0, 1), config=TINY,
                                 progress=lambda f, msg: steps.append(f))
    assert c.table["key"].tolist() == ["kmeans", "pca", "gru", "lstm", "dense"]
    assert c.table[["silhouette_own", "silhouette_common", "davies_bouldin_common"]].notna().all().all()
    assert c.table["stability_ari"].between(-1, 1).all() and steps[-1] == 1.0 and all(0 <= f <= 1 for f in steps)
    assert [len(h) for h in c.loss_history["gru"]] == [2, 2] and c.arms[2].X.shape == (36, 2)
    assert list(c.labels.columns) == ["customer_id", "kmeans", "pca", "gru", "lstm", "dense"]
    assert c.verdict.startswith("With k = 3 on 36 customers, ")


def test_encoders_are_seeded_transformers():
    from pipeline.cluster.embeddings import DenseAutoencoder, table_encoder

    X = blobs(10)[["age", "income"]].to_numpy()
    X = (X - X.mean(0)) / X.std(0)
    a = DenseAutoencoder(hidden=4, latent_dim=2, epochs=2, batch_size=8, random_state=3)
    assert a.fit(X) is a and a.transform(X).shape == (30, 2) and a.reconstruction_error(X).shape == (30,)
    b = DenseAutoencoder(hidden=4, latent_dim=2, epochs=2, batch_size=8, random_state=3).fit(X)
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-5)
    assert table_encoder("lstm", 5, TINY).get_params()["cell"] == "lstm"
    with pytest.raises(DataError, match="missing or infinite"):
        a.fit(np.array([[1.0, np.nan], [2.0, 3.0]]))


def _row(method, key, own, common, db, ari, smallest, seconds):
    return {"method": method, "key": key, "silhouette_own": own, "silhouette_common": common,
            "davies_bouldin_common": db, "stability_ari": ari, "smallest_share": smallest, "seconds": seconds}


def test_verdict_follows_the_numbers():
    table = pd.DataFrame([_row("K-Means on the table", "kmeans", 0.25, 0.25, 1.6, 1.0, 0.10, 0.1),
                          _row("K-Means on PCA (2 components)", "pca", 0.46, 0.22, 1.7, 0.98, 0.12, 0.05),
                          _row("GRU encoder + K-Means", "gru", 0.52, 0.15, 1.9, 0.45, 0.08, 9.0)])
    v = table_verdict(table, 4, 1000)
    assert v.startswith("With k = 4 on 1,000 customers, K-Means on the table gives the more useful segmentation")
    assert "GRU encoder + K-Means 0.52" in v and "not comparable" in v and "adjusted Rand 0.45" in v
    assert "do not separate the customers better" in v
    # an embedding that separates better on the table, stably, wins — whatever the method
    table.loc[2, ["silhouette_common", "davies_bouldin_common", "stability_ari"]] = [0.35, 1.2, 0.9]
    v = table_verdict(table, 4, 1000)
    assert v.startswith("With k = 4 on 1,000 customers, GRU encoder + K-Means gives") and "It costs 9 s" in v
    # ... but not when one of its clusters is tiny
    table.loc[2, "smallest_share"] = 0.005
    assert "K-Means on the table gives" in table_verdict(table, 4, 1000)


# ---- CLI -----------------------------------------------------------------------------------------------------

def test_cli_embed_and_explore(tmp_path, capsys):
    path, out = tmp_path / "table.csv", tmp_path / "labels.csv"
    blobs().drop(columns="city").to_csv(path, index=False)
    assert main(["embed", str(path), "--method", "none", "--k", "3", "--json", "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in res["table"]] == ["K-Means on the table", "K-Means on PCA (2 components)"]
    assert set(TABLE_COLUMNS) <= set(res["table"][0]) and res["k"] == 3 and res["verdict"]
    labels = pd.read_csv(out, encoding="utf-8-sig")
    assert list(labels.columns) == ["customer_id", "kmeans", "pca"] and len(labels) == 60
    assert main(["explore", str(path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["recommended_k"] == 3 and res["columns"][0]["column"] == "age" and len(res["pca"]) == 3
    assert main(["embed", str(path), "--method", "rnn"]) == 2
    assert "'rnn' unknown" in capsys.readouterr().err


# ---- the reference figures on the real file -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cc_general() -> pd.DataFrame:
    return pd.read_csv(dataset("CC GENERAL.csv")).rename(columns={"CUST_ID": "customer_id"})


def test_cc_general_exploration_reproduces_reference(cc_general):
    ex = explore_table(cc_general, ks=[2, 3, 4])
    k = ex.k_table.set_index("k")
    assert k["silhouette"].tolist() == pytest.approx([0.205, 0.252, 0.196], abs=0.01)
    assert k["silhouette_pca"].tolist() == pytest.approx([0.462, 0.456, 0.405], abs=0.01)
    assert ex.pca["cumulative"].iloc[[1, 3, 5]].tolist() == pytest.approx([0.476, 0.639, 0.759], abs=0.01)
    stats = ex.stats.set_index("column")
    assert stats.loc["MINIMUM_PAYMENTS", "missing"] == 313 and stats.loc["CREDIT_LIMIT", "missing"] == 1
    assert stats.loc["CREDIT_LIMIT", "fill"] == "median (3000)"


@pytest.mark.parametrize("k, table_sil, pca_sil", [(2, 0.205, 0.462), (3, 0.252, 0.456), (4, 0.196, 0.405)])
def test_cc_general_kmeans_rows_reproduce_reference(cc_general, k, table_sil, pca_sil):
    t = compare_table_embeddings(cc_general, methods=(), k=k, seeds=(0,)).table.set_index("key")
    assert t.loc["kmeans", "silhouette_own"] == pytest.approx(table_sil, abs=0.01)
    assert t.loc["pca", "silhouette_own"] == pytest.approx(pca_sil, abs=0.01)
