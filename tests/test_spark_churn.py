"""The churn feature table and labels built on Spark equal the one-machine churn sets (DuckDB, and frames).

``pipeline.engines.history.EngineHistory`` runs the features, the BTYD summary and the label window as SQL on the
engine, or on pandas frames registered in DuckDB; models train on the driver. The fixed Online Retail sample
(cleaned once per run by ``online_retail_both``) for one cutoff on Spark, DuckDB and frames, and the whole file's
churn counts at that cutoff on DuckDB; ``python -m pipeline churn --engine spark`` end to end on generated orders.
Marked ``spark``: skipped with the reason when PySpark or Java is missing.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark


def test_online_retail_churn_set_same_on_spark_duckdb_and_frames(online_retail_both, spark_engine, duckdb_engine):
    from pipeline.churn import BTYD_FEATURES, churn_dataset
    from pipeline.clv import btyd_summary
    from pipeline.engines.history import EngineHistory
    from pipeline.features import FEATURE_COLUMNS
    from pipeline.ingest import fetch_transactions

    (s_con, _), (d_con, _) = online_retail_both
    cutoff = pd.Timestamp("2011-09-11")
    spark_history = EngineHistory(spark_engine, s_con)
    X_s, y_s, info_s = churn_dataset(spark_history, None, cutoff, 90)
    X_d, y_d, info_d = churn_dataset(EngineHistory(duckdb_engine, d_con), None, cutoff, 90)
    tx, returns = fetch_transactions(d_con, "tx"), fetch_transactions(d_con, "tx_returns")
    X_p, y_p, info_p = churn_dataset(tx, returns, cutoff, 90)             # the frames, registered in DuckDB

    # the sets by hand: customers buying before 09-11, churned = no purchase from 09-11 to 12-09
    before = set(tx.loc[tx["date"] < cutoff, "customer_id"])
    window = set(tx.loc[(tx["date"] >= cutoff) & (tx["date"] < cutoff + pd.Timedelta(days=90)), "customer_id"])
    assert (len(before), len(before - window)) == (331, 135)
    assert info_s["n_customers"] == len(before) and info_s["churn_rate"] == len(before - window) / len(before)
    assert info_s["label_window"] == ["2011-09-11", "2011-12-09"]
    assert spark_history.span() == (pd.Timestamp("2010-12-01"), pd.Timestamp("2011-12-10"))

    assert list(X_s.columns) == [*FEATURE_COLUMNS, *BTYD_FEATURES] and list(X_s.index) == sorted(before)
    assert info_s == info_d == info_p          # the BTYD summary is exact (DECIMAL sums) everywhere: the same fit
    pd.testing.assert_series_equal(y_s, y_d)
    pd.testing.assert_series_equal(y_s, y_p.sort_index())
    for other in (X_d, X_p.sort_index()):
        pd.testing.assert_frame_equal(X_s, other, check_exact=False, rtol=0, atol=1e-6)
    # the BTYD summary SQL, customer by customer (counts and days exact)
    summary, want = spark_history.btyd_summary(cutoff), EngineHistory(duckdb_engine, d_con).btyd_summary(cutoff)
    pd.testing.assert_frame_equal(summary, want, check_exact=True)
    pd.testing.assert_frame_equal(summary, btyd_summary(tx, cutoff), check_exact=True, check_names=False)
    assert summary.loc["12347", ["frequency", "recency"]].tolist() == [4.0, 238.0]   # 5 visit days, 12-07 .. 08-02


def test_online_retail_whole_file_churn_counts_on_duckdb(online_retail_duckdb, duckdb_engine):
    """The whole file at the same cutoff (the equality of the engines is proven on the sample above): 3,370
    customers bought before 2011-09-11, 1,449 of them not in the 90 days from it (the label window's buyers as the
    churn set asks for them); tests/test_churn.py builds the whole file's churn sets on frames."""
    from pipeline.engines.history import EngineHistory

    con, _ = online_retail_duckdb
    cutoff, end = pd.Timestamp("2011-09-11"), pd.Timestamp("2011-12-10")
    history = EngineHistory(duckdb_engine, con)
    before = con.execute("SELECT DISTINCT customer_id FROM tx WHERE date < ?", [cutoff]).df()["customer_id"]
    window = set(history.buyers(cutoff, end))
    assert (len(before), len(set(before) - window)) == (3370, 1449)
    assert history.span() == (pd.Timestamp("2010-12-01"), end)


def test_cli_churn_on_spark_same_as_one_machine(tmp_path, spark_engine, capsys, monkeypatch):
    from pipeline.cli import main
    from pipeline.ingest import generate_raw

    path = tmp_path / "orders.csv"
    generate_raw(300, seed=4, start="2023-01-01", end="2023-12-31").to_csv(path, index=False)
    monkeypatch.delenv("SEGMENTS_ENGINE", raising=False)
    args = [str(path), "--models", "logreg", "--horizon", "60"]
    assert main(["churn", "--engine", "spark", *args]) == 0
    on_spark = json.loads(capsys.readouterr().out)
    assert main(["churn", *args]) == 0
    one_machine = json.loads(capsys.readouterr().out)
    info = on_spark["info"]
    assert (info["train"]["cutoff"], info["test"]["cutoff"], info["live"]["as_of"]) == (
        "2023-09-03", "2023-11-02", "2024-01-01")
    assert info["train"]["n_customers"] > 200 and 0.2 < info["test"]["churn_rate"] < 0.9
    assert info == one_machine["info"]                   # the same SQL on both: the same sets and BTYD fits
    assert [r["key"] for r in on_spark["table"]] == ["majority", "logreg", "bgnbd"]
    for got, want in zip(on_spark["table"], one_machine["table"], strict=True):
        for metric in ("accuracy", "roc_auc", "pr_auc", "brier"):
            if want[metric] is not None:
                assert got[metric] == pytest.approx(want[metric], abs=1e-6), (got["key"], metric)
    assert np.isfinite(on_spark["table"][1]["roc_auc"])
