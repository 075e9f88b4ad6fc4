"""`python -m pipeline cluster` (transactions, customer tables, the k sweep, formula-safe output, bad input)
and the orchestration helpers the Clusters page and the CLI share."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from pipeline.cli import main
from pipeline.cluster import (apply_names, cluster_customers, clustering_input, customer_list, log_columns,
                              saved_clustering)
from pipeline.errors import DataError

INCOME, SCORE = "Annual Income (k$)", "Spending Score (1-100)"


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"customer_id": str})


def _run(args, capsys) -> dict:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def shop_csv(tmp_path):
    """10 customers: H1..H5 buy £100 every 10 days up to the end; L1..L5 bought once for £10, 300+ days earlier."""
    rows = []
    for i in range(1, 6):
        rows += [(f"H{i}", f"H{i}-{j}", pd.Timestamp("2021-12-31") - pd.Timedelta(days=10 * j + i), 100.0 + i)
                 for j in range(10)]
        rows.append((f"L{i}", f"L{i}-0", pd.Timestamp("2021-01-01") + pd.Timedelta(days=3 * i), 10.0 + i))
    df = pd.DataFrame(rows, columns=["CustomerID", "InvoiceNo", "InvoiceDate", "Amount"])
    path = tmp_path / "shop.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def table_csv(tmp_path):
    """Two obvious groups of customers; one id starts with '=' (a spreadsheet formula)."""
    path = tmp_path / "table.csv"
    path.write_text("id,age,spend\n=cmd,20,10\nb,21,12\nc,22,11\nd,60,90\ne,61,95\nf,62,92\n")
    return path


def test_transactions_file_two_clusters_by_hand(shop_csv, tmp_path, capsys):
    out = tmp_path / "clusters.csv"
    res = _run(["cluster", str(shop_csv), "--k", "2", "--out", str(out)], capsys)
    assert res["kind"] == "transactions" and res["features"] == ["recency_days", "frequency", "monetary"]
    assert res["metrics"]["k"] == 2 and res["metrics"]["n_customers"] == 10 and res["sweep"] is None
    assert res["metrics"]["map"] == "pca" and len(res["metrics"]["explained_variance"]) == 2
    got = _read(out)
    assert list(got.columns) == ["customer_id", "cluster", "x", "y"] and len(got) == 10
    groups = got.groupby(got["customer_id"].str[0])["cluster"].agg(set)
    assert groups["H"] != groups["L"] and len(groups["H"]) == len(groups["L"]) == 1
    prof = {p["cluster"]: p for p in res["profiles"]}
    heavy = prof[groups["H"].pop()]
    assert heavy["size"] == 5 and heavy["frequency"] == 10 and heavy["monetary"] == pytest.approx(1030.0)
    assert heavy["revenue_share"] == pytest.approx(5150 / (5150 + 65))
    assert set(heavy["name"].split(", ")) >= {"frequent", "high spend"} and heavy["top_segments"]


def test_without_k_the_sweep_recommends(shop_csv, tmp_path, capsys):
    res = _run(["cluster", str(shop_csv), "--out", str(tmp_path / "o.csv")], capsys)
    sweep = res["sweep"]
    assert [r["k"] for r in sweep["table"]] == list(range(2, 10))       # k <= customers - 1
    assert res["metrics"]["k"] == sweep["recommended_k"] and sweep["reason"].startswith(f"{sweep['recommended_k']} groups")
    assert sweep["details"].startswith("By silhouette alone: k=")


def test_customer_table_raw_axes_and_formula_safe_ids(table_csv, tmp_path, capsys):
    out = tmp_path / "t.csv"
    res = _run(["cluster", str(table_csv), "--k", "2", "--out", str(out)], capsys)
    assert res["kind"] == "customers" and res["features"] == ["age", "spend"] and res["metrics"]["map"] == "features"
    raw = out.read_bytes().decode("utf-8-sig")
    assert "\n'=cmd," in raw and "\n=cmd" not in raw                      # the formula is escaped
    got = _read(out)
    assert got["x"].tolist() == [20, 21, 22, 60, 61, 62] and got["y"].tolist() == [10, 12, 11, 90, 95, 92]
    assert got["cluster"].iloc[:3].nunique() == 1 and got["cluster"].iloc[3:].nunique() == 1
    assert got["cluster"].iloc[0] != got["cluster"].iloc[3]


def test_mall_income_by_spending_recommends_five(tmp_path, capsys):
    out = tmp_path / "mall.csv"
    path = dataset("Mall_Customers.csv")
    res = _run(["cluster", str(path), "--features", f"{INCOME},{SCORE}", "--out", str(out)], capsys)
    assert res["sweep"]["recommended_k"] == 5 and res["metrics"]["k"] == 5
    assert res["metrics"]["silhouette"] > 0.5
    got, mall = _read(out), pd.read_csv(path, dtype={"CustomerID": str})
    assert got["customer_id"].tolist() == mall["CustomerID"].tolist()
    assert got["x"].tolist() == mall[INCOME].tolist() and got["y"].tolist() == mall[SCORE].tolist()
    assert sorted(p["size"] for p in res["profiles"]) == sorted(got["cluster"].value_counts().tolist())


@pytest.mark.parametrize("method", ["gmm", "agglomerative", "hdbscan"])
def test_mall_other_methods(method, tmp_path, capsys):
    res = _run(["cluster", str(dataset("Mall_Customers.csv")), "--method", method, "--k", "4", "--features",
                f"Genre,Age,{INCOME},{SCORE}", "--out", str(tmp_path / "m.csv")], capsys)
    assert res["metrics"]["method"] == method and res["metrics"]["map"] == "pca"
    assert sum(p["size"] for p in res["profiles"]) == 200
    if method != "hdbscan":
        assert res["metrics"]["k"] == 4


@pytest.mark.parametrize("args, message", [
    (["--k", "9"], "cannot form k=9"),
    (["--features", "age,height"], "'height' not in the table"),
    (["--k", "1"], "at least 2 clusters"),
])
def test_bad_input_exit_2_one_line(table_csv, tmp_path, capsys, args, message):
    out = tmp_path / "x.csv"
    assert main(["cluster", str(table_csv), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: clustering:") and message in err[0]
    assert not out.exists()


def test_missing_file_and_single_customer(tmp_path, capsys):
    assert main(["cluster", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    one = tmp_path / "one.csv"
    one.write_text("id,age,spend\na,20,10\n")
    assert main(["cluster", str(one), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 customer(s)" in err[0]


# ---------------------------------------------------------------------------- orchestration helpers the page uses


def test_log_columns_modes():
    df = pd.DataFrame({"a": [1.0, 5, 50], "neg": [-1.0, 0, 1], "const": [3.0, 3, 3], "code": [1, 2, 3],
                       "text": ["x", "y", "x"]})
    feats = ["a", "neg", "const", "code", "text"]
    assert log_columns(df, feats, "all", categorical=["code"]) == ["a"]
    assert log_columns(df, feats, "auto") == "auto" and log_columns(df, feats, "none") == []
    with pytest.raises(DataError, match="log mode 'sqrt' unknown"):
        log_columns(df, feats, "sqrt")


def test_clustering_input_for_both_kinds(shop_csv):
    from pipeline.ingest import build_dataset

    ds = build_dataset(shop_csv, "shop.csv")
    inp = clustering_input(ds.kind, ds.transactions, ds.returns)
    assert inp.default_features == ["recency_days", "frequency", "monetary"] and inp.default_log == "all"
    assert inp.revenue_col == "monetary" and inp.segment_col == "segment" and "country" in inp.features
    assert len(inp.table) == 10 and inp.table["segment"].notna().all()
    assert inp.table.set_index("customer_id").loc["H1", "frequency"] == 10
    table = pd.DataFrame({"customer_id": ["a", "b", "c"], "age": [20, 30, 40], "flag": [1, 1, 1],
                          "city": ["x", "y", "x"]})
    inp = clustering_input("customers", customers=table)
    assert inp.features == ["age", "flag", "city"] and inp.default_features == ["age"] and inp.revenue_col is None
    assert clustering_input("customers", customers=table[["customer_id", "city"]]).default_features == ["city"]
    with pytest.raises(DataError, match="only an id column"):
        clustering_input("customers", customers=table[["customer_id"]])
    with pytest.raises(DataError, match="kind 'orders' unknown"):
        clustering_input("orders")


def test_names_lists_and_saved_clustering():
    df = pd.DataFrame({"customer_id": list("abcdef"), "age": [20, 21, 22, 60, 61, 62],
                       "spend": [10, 12, 11, 90, 95, 92]})
    run = cluster_customers(df, ["age", "spend"], k=2, log_cols=[])
    old = run.profiles["name"].tolist()
    renamed = apply_names(run.profiles, {0: "  young savers ", 1: ""})
    assert renamed["name"].tolist() == ["young savers", old[1]] and run.profiles["name"].tolist() == old
    with pytest.raises(DataError, match="more than one cluster"):
        apply_names(run.profiles, {0: "same", 1: "same"})
    run.profiles = renamed
    young = int(run.fit.labels[0])
    picked = customer_list(run, df, ids=["d"], clusters=[young])
    assert picked["customer_id"].tolist() == ["a", "b", "c", "d"]
    assert list(picked.columns) == ["customer_id", "cluster", "cluster_name", "age", "spend"]
    assert customer_list(run, df).empty
    assignments, meta = saved_clustering(run)
    assert list(assignments.columns) == ["customer_id", "cluster", "cluster_name", "x", "y"]
    assert meta["method"] == "kmeans" and meta["k"] == 2 and meta["features"] == ["age", "spend"]
    assert meta["names"][str(young)] == "young savers" and meta["seed"] == 42
    assert meta["options"]["log_cols"] == [] and meta["options"]["map"] == "features"
    json.dumps(meta)                                                        # JSON-ready for the workspace


def test_comparison_maps_without_training(shop_csv):
    from pipeline.ingest import build_dataset
    from pipeline.cluster.sequences import SequenceComparison, comparison_maps, customer_sequences

    tx = build_dataset(shop_csv, "shop.csv").transactions
    seq = customer_sequences(tx)
    ids = seq.customer_ids
    labels = pd.DataFrame({"customer_id": ids, "sequence_cluster": [i % 2 for i in range(len(ids))],
                           "rfm_cluster": [int(c.startswith("H")) for c in ids]})
    cmp = SequenceComparison(pd.DataFrame({"method": ["GRU autoencoder + K-Means", "K-Means on RFM"]}), None,
                             labels, np.random.default_rng(0).normal(size=(len(ids), 4)), seq, [])
    maps = comparison_maps(cmp, tx)
    assert maps.groupby("method").size().to_dict() == {"GRU autoencoder + K-Means": 10, "K-Means on RFM": 10}
    rfm = maps[maps["method"] == "K-Means on RFM"]
    assert rfm["x_label"].iloc[0].startswith("PC1") and np.isfinite(maps[["x", "y"]].to_numpy()).all()
    assert rfm.groupby("cluster")["x"].mean().diff().abs().iloc[1] > 1     # heavy and light buyers far apart
