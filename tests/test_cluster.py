"""Clustering: blobs recovered, k selection, maps, profiles/names, new customers, bad input, Mall_Customers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import unavailable
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from pipeline.cluster import (
    METHODS, NOISE, NOISE_NAME, UNLIKE_NAME, assign_new, cluster_customers, cluster_metrics, cluster_names,
    cluster_profiles, cluster_words, elbow_point, fit_clusters, map_coordinates, name_clusters, prepare_matrix,
    select_k,
)
from pipeline.cluster.selection import _sweep_reason
from pipeline.config import ClusterConfig
from pipeline.errors import DataError

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MALL = DATASETS / "Mall_Customers.csv"
INCOME, SCORE = "Annual Income (k$)", "Spending Score (1-100)"


def blobs(n=600, centers=4, std=0.8, seed=1, d=3):
    return make_blobs(n, d, centers=centers, cluster_std=std, random_state=seed)


# --------------------------------------------------------------------------------------------------- algorithms
@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_blobs_recovered(method):
    X, y = blobs()
    fit = fit_clusters(X, method, 4, random_state=0)
    assert fit.n_clusters == 4
    assert adjusted_rand_score(y, fit.labels) >= 0.9
    sizes = np.bincount(fit.labels[fit.labels >= 0])
    assert (np.diff(sizes) <= 0).all(), "cluster ids are ordered by size"
    assert fit.centroids.shape == (4, 3)
    for c in range(4):
        np.testing.assert_allclose(fit.centroids[c], X[fit.labels == c].mean(axis=0))


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_model_assigns_new_rows_to_their_blob(method):
    X, y = blobs()
    fit = fit_clusters(X, method, 4, random_state=0)
    np.testing.assert_array_equal(fit.model.assign(fit.centroids), np.arange(4))
    agree = (fit.model.predict(X) == fit.labels).mean()
    assert agree >= 0.98


def test_large_table_paths_sample_and_still_recover():
    X, y = blobs(n=3000, centers=5, std=0.7, seed=3)
    cfg = ClusterConfig(large_n=1000, kmeans_init_sample=300, agglomerative_sample=400, hdbscan_sample=500,
                        gmm_sample=500)
    for method in METHODS:
        fit = fit_clusters(X, method, 5, random_state=0, config=cfg)
        assert adjusted_rand_score(y, fit.labels) >= 0.9, method
        if method != "kmeans":
            assert any("sample" in n for n in fit.notes), method


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_cluster_ids_ordered_by_size(method):
    X, y = make_blobs([50, 300, 150], 2, cluster_std=0.5, center_box=(-10, 10), random_state=4)
    fit = fit_clusters(X, method, 3, random_state=0)
    assert adjusted_rand_score(y, fit.labels) >= 0.9
    np.testing.assert_array_equal(np.bincount(fit.labels[fit.labels >= 0]),
                                  sorted(np.bincount(fit.labels[fit.labels >= 0]), reverse=True))
    assert (fit.labels[y == 1] == 0).mean() > 0.9           # the 300-customer blob is cluster 0


def test_hdbscan_keeps_noise_label():
    X, y = blobs(n=400, centers=3, std=0.5, seed=2, d=2)
    X = np.vstack([X, [[40.0, 40.0], [-40.0, 40.0], [40.0, -40.0]]])   # three far-away loners
    fit = fit_clusters(X, "hdbscan", random_state=0)
    assert (fit.labels[-3:] == NOISE).all()
    assert fit.n_clusters == 3
    m = cluster_metrics(X, fit.labels)
    assert m["n_clusters"] == 3 and 0 < m["noise_share"] < 0.05 and m["silhouette"] > 0.7


def test_seeded_runs_are_reproducible():
    X, _ = blobs(centers=6, std=2.5)
    a = fit_clusters(X, "kmeans", 6, random_state=7).labels
    b = fit_clusters(X, "kmeans", 6, random_state=7).labels
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------------- k selection
def test_elbow_point_by_hand():
    # scaled: x = 0, .25, .5, .75, 1; y = 1, .2045, .0909, .0341, 0; chord - y is largest (.545) at k = 2
    assert elbow_point([1, 2, 3, 4, 5], [100, 30, 20, 15, 12]) == 2
    assert elbow_point([1, 2, 3, 4], [40, 30, 20, 10]) is None      # a straight line has no elbow
    assert elbow_point([2, 3], [10, 5]) is None


@pytest.mark.parametrize("true_k", [3, 5])
def test_select_k_finds_true_k_on_clean_blobs(true_k):
    X, _ = make_blobs(500, 4, centers=true_k, cluster_std=0.6, center_box=(-12, 12), random_state=true_k)
    sweep = select_k(X, random_state=0)
    assert list(sweep.table.columns) == ["k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz",
                                         "min_share"]
    assert sweep.table["k"].tolist() == list(range(2, 11))
    assert (np.diff(sweep.table["inertia"]) < 0).all()
    assert sweep.recommended_k == true_k
    assert sweep.elbow_k == true_k
    assert sweep.reason.startswith(f"{true_k} groups: the most clearly separated")
    assert f"k={true_k}" in sweep.details and "silhouette" in sweep.details


def test_recommendation_breaks_silhouette_ties_with_the_elbow():
    table = pd.DataFrame({"k": [2, 3, 4, 5], "inertia": [100.0, 40, 30, 25],
                          "silhouette": [0.50, 0.495, 0.40, 0.498],
                          "davies_bouldin": [0.9, 0.8, 1.0, 1.1], "calinski_harabasz": [10.0, 12, 9, 8]})
    k, reason = _sweep_reason(table, elbow=3, tol=0.01)
    assert k == 3 and "k = 2, 3, 5" in reason and "nearest the inertia elbow (k=3)" in reason
    assert "Davies-Bouldin lowest at k=3" in reason and "Calinski-Harabasz highest at k=3" in reason
    assert _sweep_reason(table, elbow=None, tol=0.01)[0] == 2          # no elbow: the simplest tied k
    assert _sweep_reason(table, elbow=3, tol=0.001)[0] == 2            # no tie: the best silhouette


def _sweep_table(sil, min_share):
    ks = list(range(2, 2 + len(sil)))
    return pd.DataFrame({"k": ks, "inertia": [100.0 / k for k in ks], "silhouette": sil,
                         "davies_bouldin": [1.0] * len(ks), "calinski_harabasz": [10.0] * len(ks),
                         "min_share": min_share})


def test_campaign_rule_by_hand():
    from pipeline.cluster.selection import _recommend

    cfg = ClusterConfig()
    # k:         2     3     4     5     6     7     8     9
    sil = [0.60, 0.40, 0.45, 0.30, 0.30, 0.50, 0.30, 0.70]
    share = [0.40, 0.20, 0.10, 0.08, 0.06, 0.02, 0.05, 0.05]
    k, why = _recommend(_sweep_table(sil, share), None, "campaign", cfg)
    assert k == 4                     # k=2 is outside 3..8, k=7 has a 2% cluster, k=9 is outside 3..8
    assert why.startswith("4 groups: the most clearly separated choice among 3 to 8 groups") and why.endswith(".")
    assert "9 groups separate more clearly but are too many to act on" in why
    assert _recommend(_sweep_table(sil, share), None, "silhouette", cfg)[0] == 9
    sil[7] = 0.1                      # now k=2 is the best overall: said plainly
    assert "(2 groups separate more clearly but are too few to run different campaigns)" in \
        _recommend(_sweep_table(sil, share), None, "campaign", cfg)[1]
    sil[0] = 0.2                      # and now k=7 (a 2% cluster)
    assert "(7 groups separate more clearly but the smallest holds only 2.0% of the customers)" in \
        _recommend(_sweep_table(sil, share), None, "campaign", cfg)[1]
    tiny = [0.01] * 8                 # no k qualifies: the best silhouette, saying why
    k, why = _recommend(_sweep_table(sil, tiny), None, "campaign", cfg)
    assert k == 7 and "no choice of 3 to 8 groups gives every group at least 5%" in why
    with pytest.raises(DataError, match="unknown rule"):
        select_k(blobs()[0], rule="best")


def _rfm_sweep(ds):
    from pipeline.cluster import clustering_input, log_columns
    from pipeline.rfm import rfm_table

    inp = clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers, rfm_table(ds.transactions))
    feats = inp.default_features
    X, _ = prepare_matrix(inp.table, feats, log_columns(inp.table, feats, inp.default_log, []))
    return select_k(X)


def test_synthetic_sample_no_longer_recommends_two():
    from pipeline.ingest import sample_dataset

    sweep = _rfm_sweep(sample_dataset("synthetic"))
    assert sweep.table.set_index("k")["silhouette"].idxmax() == 2       # what silhouette alone picked
    assert 3 <= sweep.recommended_k <= 8 and sweep.recommended_k == 4
    assert sweep.table.set_index("k").loc[sweep.recommended_k, "min_share"] >= 0.05
    assert "too few to run different campaigns" in sweep.reason


def test_online_retail_no_longer_recommends_two():
    from pipeline.ingest import build_dataset

    sweep = _rfm_sweep(build_dataset(DATASETS / "online_retail.csv", "online_retail.csv")
                       if (DATASETS / "online_retail.csv").exists() else unavailable("online_retail.csv missing"))
    assert sweep.table.set_index("k")["silhouette"].idxmax() == 2
    assert sweep.recommended_k == 4 and sweep.table.set_index("k").loc[4, "min_share"] >= 0.05


def test_select_k_limits_k_to_the_data_and_rejects_hdbscan():
    X = np.array([[0.0, 0], [0, 1], [5, 5], [5, 6], [9, 0]])
    sweep = select_k(X, random_state=0)
    assert sweep.table["k"].max() == 4
    with pytest.raises(DataError, match="chooses the number of clusters"):
        select_k(X, method="hdbscan")
    with pytest.raises(DataError, match="too few"):
        select_k(np.array([[0.0], [1.0]]))


# --------------------------------------------------------------------------------------------------- matrix
def test_prepare_matrix_log_scale_onehot_and_transform():
    df = pd.DataFrame({"monetary": [10, 20, 40, 5000, 30, 25, 15, 12.0],
                       "age": [20, 30, 40, 50, 60, 35, 45, 55],
                       "genre": ["F", "M", "F", "F", "M", None, "F", "M"]})
    X, tf = prepare_matrix(df, ["monetary", "age", "genre"])
    assert tf.log_cols_ == ["monetary"]                      # skewed and non-negative; age is not skewed
    assert tf.feature_names_out_ == ["monetary", "age", "genre=(missing)", "genre=F", "genre=M"]
    np.testing.assert_allclose(X[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X[:, :2].std(axis=0), 1)
    np.testing.assert_allclose(X[:, 0], (np.log1p(df.monetary) - np.log1p(df.monetary).mean())
                               / np.log1p(df.monetary).std(ddof=0))
    assert X[:, 2:].sum(axis=1).tolist() == [1.0] * 8
    new = tf.transform(pd.DataFrame({"monetary": [20.0], "age": [30], "genre": ["X"]}))
    np.testing.assert_allclose(new[0, :2], X[1, :2])
    assert new[0, 2:].tolist() == [0, 0, 0]                 # unseen category: no one-hot bit


def test_prepare_matrix_explicit_options_and_integer_codes():
    df = pd.DataFrame({"income": [1.0, 2, 3, 4], "education": [0, 1, 2, 1]})
    X, tf = prepare_matrix(df, ["income", "education"], log_cols=[], scale=False, categorical=["education"])
    assert tf.log_cols_ == [] and tf.categorical_ == ["education"]
    np.testing.assert_array_equal(X, [[1, 1, 0, 0], [2, 0, 1, 0], [3, 0, 0, 1], [4, 0, 1, 0]])


def test_constant_dropped_and_missing_filled_with_warnings():
    df = pd.DataFrame({"a": [1.0, np.nan, 3, 5], "const": [7, 7, 7, 7], "b": [1, 2, 3, 4]})
    X, tf = prepare_matrix(df, ["a", "const", "b"], log_cols=[])
    assert tf.features_ == ["a", "b"] and X.shape == (4, 2)
    assert any("'const' is constant" in w for w in tf.warnings_)
    assert any("'a': 1 missing value(s) filled with the median (3)" in w for w in tf.warnings_)


@pytest.mark.parametrize("frame, features, match", [
    (pd.DataFrame({"a": [1.0]}), ["a"], "needs at least 2"),
    (pd.DataFrame({"a": [1.0, 2]}), [], "no feature chosen"),
    (pd.DataFrame({"a": [1.0, 2]}), ["zz"], "'zz' not in the table"),
    (pd.DataFrame({"a": [1.0, 2], "e": [np.nan, np.nan]}), ["a", "e"], "'e' have no values"),
    (pd.DataFrame({"a": [3.0, 3], "b": ["x", "x"]}), ["a", "b"], "no usable feature"),
    (pd.DataFrame({"name": [f"n{i}" for i in range(60)]}), ["name"], "more than 50 categories"),
    (pd.DataFrame({"a": [1.0, -2, 3]}), ["a"], "non-negative"),
    (pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01"])}), ["d"], "holds dates"),
])
def test_bad_matrix_inputs(frame, features, match):
    with pytest.raises(DataError, match=match):
        prepare_matrix(frame, features, log_cols=["a"] if match == "non-negative" else "auto")


def test_bad_cluster_inputs():
    X = np.array([[0.0, 1], [1, 0], [2, 2]])
    with pytest.raises(DataError, match="cannot form k=4"):
        fit_clusters(X, "kmeans", 4)
    with pytest.raises(DataError, match="at least 2"):
        fit_clusters(X[:1], "kmeans", 2)
    with pytest.raises(DataError, match="distinct customer profiles"):
        fit_clusters(np.array([[1.0, 1], [1, 1], [2, 2]]), "kmeans", 3)
    with pytest.raises(DataError, match="unknown method"):
        fit_clusters(X, "dbscan", 2)
    with pytest.raises(DataError, match="choose at least 2"):
        fit_clusters(X, "kmeans", 1)


# --------------------------------------------------------------------------------------------------- maps
def test_map_two_features_uses_raw_values_and_cluster_means():
    df = pd.DataFrame({"x": [1.0, 2, 10, 11], "y": [5.0, 6, 50, 52]})
    X, tf = prepare_matrix(df, ["x", "y"])
    labels = np.array([0, 0, 1, 1])
    m = map_coordinates(X, labels, raw=df)
    assert m.method == "features" and (m.x_label, m.y_label) == ("x", "y")
    np.testing.assert_array_equal(m.coords, df.to_numpy())
    np.testing.assert_allclose(m.centroids, [[1.5, 5.5], [10.5, 51]])


def test_map_pca_and_tsne():
    X, y = blobs(n=120, d=5)
    fit = fit_clusters(X, "kmeans", 4, random_state=0)
    m = map_coordinates(X, fit.labels)
    assert m.method == "pca" and m.coords.shape == (120, 2) and m.centroids.shape == (4, 2)
    assert m.explained_variance[0] >= m.explained_variance[1] and sum(m.explained_variance) <= 1
    assert m.x_label.startswith("PC1 (")
    np.testing.assert_allclose(m.place(fit.centroids), m.centroids, atol=1e-9)
    t = map_coordinates(X, fit.labels, method="tsne", random_state=0)
    assert t.coords.shape == (120, 2) and t.centroids.shape == (4, 2)
    with pytest.raises(DataError, match="t-SNE is limited"):
        map_coordinates(X, fit.labels, method="tsne", config=ClusterConfig(tsne_max=100))


# --------------------------------------------------------------------------------------------------- names, profiles
def test_name_clusters_by_hand():
    names, used = name_clusters({0: ["high spend", "recent", "frequent", "long-standing"], 1: [], 2: ["lapsed"]})
    assert names == {0: "high spend, recent, frequent", 1: "Group 1 — mixed", 2: "lapsed"}
    assert used[0] == ["high spend", "recent", "frequent"] and used[1] == []
    twins, _ = name_clusters({0: ["older"], 1: ["older"], 2: ["older", "high income"]})
    assert twins == {0: "older (1)", 1: "older (2)", 2: "older, high income"}


def test_cluster_words_hold_for_80_percent_by_hand():
    """Median frequency 1.5, spend 55: cluster 1 has 4 of 5 above both (80%): "high spend, frequent"; cluster 0
    has 4 of 5 at the lower quartile of frequency (1): "very infrequent". With one more one-order customer in
    cluster 1 only 3 of 5 are frequent (60%) and the word is dropped."""
    df = pd.DataFrame({"frequency": [1, 1, 1, 1, 2, 5, 6, 7, 8, 1.0],
                       "monetary": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100.0]})
    labels = np.array([0] * 5 + [1] * 5)
    X, tf = prepare_matrix(df, ["frequency", "monetary"], log_cols=[])
    words = cluster_words(df, labels, tf)
    assert [(w.text, w.side, w.threshold) for w in words[1]] == [("high spend", "high", 55.0),
                                                                 ("frequent", "high", 1.5)]
    assert [w.text for w in words[0]] == ["low spend", "very infrequent"]     # 4 of 5 at or below the lower quartile
    fewer = df.assign(frequency=[1, 1, 1, 1, 2, 1, 6, 7, 8, 1.0])
    tf_fewer = prepare_matrix(fewer, ["frequency", "monetary"], log_cols=[])[1]
    assert name_clusters(cluster_words(fewer, labels, tf_fewer))[0] == {0: "low spend, infrequent", 1: "high spend"}
    naming = cluster_names(df, labels, tf, X, np.array([X[labels == c].mean(axis=0) for c in (0, 1)]))
    # one customer: only the words true of them; the one-order customer of the "frequent" cluster is not frequent
    said = naming.for_customers(df, labels, np.zeros(10))
    assert said[8:] == ["high spend, frequent", "high spend"]
    assert said[:5] == ["low spend, very infrequent"] * 4 + ["low spend"]      # 2 orders: not even "infrequent"
    assert naming.for_customers(df, labels, np.full(10, 99.0)) == [UNLIKE_NAME] * 10     # far from both centres
    typed = naming.renamed({1: "big spenders"})
    assert typed.for_customers(df, labels, np.zeros(10))[9] == "big spenders"


def test_profiles_sizes_shares_revenue_segments_and_noise():
    df = pd.DataFrame({"monetary": [10.0, 12, 11, 500, 520, 510, 60],
                       "frequency": [1.0, 1, 2, 9, 10, 11, 5],
                       "segment": ["Lost", "Lost", "At risk", "Champions", "Champions", "Loyal", "Loyal"]})
    X, tf = prepare_matrix(df, ["monetary", "frequency"], log_cols=[])
    labels = np.array([1, 1, 1, 0, 0, 0, NOISE])
    prof = cluster_profiles(df, labels, tf, revenue_col="monetary", segment_col="segment")
    assert prof["cluster"].tolist() == [0, 1, NOISE]
    assert prof["size"].tolist() == [3, 3, 1]
    assert prof["share"].sum() == pytest.approx(1)
    assert prof["revenue_share"].tolist() == pytest.approx([1530 / 1623, 33 / 1623, 60 / 1623])
    assert prof["monetary"].tolist() == pytest.approx([510, 11, 60])
    assert prof.loc[1, "top_segments"] == "Lost 67%, At risk 33%"
    assert prof.loc[2, "name"] == NOISE_NAME
    assert set(prof.loc[0, "name"].split(", ")) == {"high spend", "frequent"}
    assert set(prof.loc[1, "name"].split(", ")) == {"low spend", "infrequent"}


# --------------------------------------------------------------------------------------------------- new customer
def test_assign_new_customer_with_map():
    df = pd.DataFrame({"income": [10.0, 12, 11, 80, 82, 81], "score": [90.0, 85, 88, 10, 12, 15]})
    run = cluster_customers(df, ["income", "score"], k=2)
    new = assign_new(run.fit.model, run.transformer, {"income": 79, "score": 11}, run.cmap)
    rich = run.fit.labels[3]
    assert new.cluster == rich and (new.x, new.y) == (79.0, 11.0)
    assert assign_new(run.fit.model, run.transformer, {"income": 9, "score": 95}).cluster != rich
    with pytest.raises(DataError, match="give a value for 'score'"):
        assign_new(run.fit.model, run.transformer, {"income": 9})
    with pytest.raises(DataError, match="must be a number"):
        assign_new(run.fit.model, run.transformer, {"income": "lots", "score": 3})


def test_assign_new_rejects_negative_value_in_log_feature():
    df = pd.DataFrame({"monetary": [1.0, 2, 3, 4, 1000, 2000, 3000, 2500]})
    X, tf = prepare_matrix(df, ["monetary"], log_cols=["monetary"])
    fit = fit_clusters(X, "kmeans", 2, 0)
    with pytest.raises(DataError, match="must be >= 0"):
        assign_new(fit.model, tf, {"monetary": -5})


def test_cluster_customers_on_a_feature_table_indexed_by_id():
    X, y = blobs(n=300, centers=3, std=0.5, d=4)
    df = pd.DataFrame(np.abs(X) + 1, columns=["recency_days", "frequency", "monetary", "tenure_days"],
                      index=pd.Index([f"c{i}" for i in range(300)], name="customer_id"))
    run = cluster_customers(df, list(df.columns), log_cols=[], revenue_col="monetary")
    out = run.assignments()
    assert list(out.columns) == ["customer_id", "cluster", "name", "x", "y"]
    assert out["customer_id"].iloc[0] == "c0" and run.cmap.method == "pca"
    assert run.sweep is not None and run.metrics["k"] == run.sweep.recommended_k
    assert run.profiles["name"].is_unique


# --------------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def mall():
    if not MALL.exists():
        unavailable(f"shared dataset missing: {MALL}")
    return pd.read_csv(MALL, dtype={"CustomerID": str})


def test_mall_income_by_spending_k5_gives_the_five_known_groups(mall):
    run = cluster_customers(mall, [INCOME, SCORE], k=5, id_col="CustomerID")
    prof = run.profiles.set_index("cluster")
    assert run.cmap.method == "features" and run.cmap.x_label == INCOME
    assert prof["size"].sum() == 200 and prof["size"].between(15, 100).all()
    centre = prof.iloc[0]                                     # the largest group is the middle one
    assert 40 <= centre[INCOME] <= 70 and 35 <= centre[SCORE] <= 65 and centre["name"] == "average"
    corners = {(inc > 60, sc > 50) for inc, sc in zip(prof[INCOME].iloc[1:], prof[SCORE].iloc[1:])}
    assert corners == {(False, False), (False, True), (True, False), (True, True)}
    assert prof["name"].is_unique
    rich_spender = prof.index[(prof[INCOME] > 60) & (prof[SCORE] > 50)][0]
    assert set(prof.loc[rich_spender, "name"].split(", ")) == {"high income", "high spending score"}
    assert run.metrics["silhouette"] > 0.5
    new = assign_new(run.fit.model, run.transformer, {INCOME: 120, SCORE: 90}, run.cmap)
    assert new.cluster == rich_spender and (new.x, new.y) == (120, 90)


def test_mall_k_sweep_recommends_five(mall):
    X, _ = prepare_matrix(mall, [INCOME, SCORE])
    assert select_k(X, random_state=0).recommended_k == 5


def test_mall_with_genre_one_hot_and_pca(mall):
    run = cluster_customers(mall, ["Genre", "Age", INCOME, SCORE], k=6, id_col="CustomerID")
    assert run.transformer.categorical_ == ["Genre"] and run.cmap.method == "pca"
    assert run.profiles["Genre"].str.match(r"(Female|Male) \(\d+%\)").all()
    new = assign_new(run.fit.model, run.transformer, {"Genre": "Female", "Age": 30, INCOME: 120, SCORE: 90},
                     run.cmap)
    assert new.cluster in set(run.fit.labels) and np.isfinite([new.x, new.y]).all()
