"""Churn dataset: no feature after the cutoff, no label after cutoff + H, clear errors, Online Retail baseline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import unavailable
from sklearn.metrics import roc_auc_score

from pipeline.churn import (BTYD_FEATURES, LABEL, baseline_churn_score, churn_dataset, churn_labels,
                            out_of_time_split)
from pipeline.config import ChurnDataConfig
from pipeline.errors import DataError
from pipeline.features import FEATURE_COLUMNS

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
H = 60


def synthetic(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Customers buy as Poisson processes during 2023 and drop out after an exponential lifetime."""
    rng = np.random.default_rng(seed)
    start, rows, inv = pd.Timestamp("2023-01-01"), [], 0
    for i in range(n):
        first = rng.uniform(0, 220)
        rate, life = rng.gamma(1.5, 1 / 40), rng.exponential(200)
        t, days = first, [first]
        while True:
            t += rng.exponential(1 / rate)
            if t > min(first + life, 364.9):
                break
            days.append(t)
        for d in days:
            inv += 1
            for _ in range(rng.integers(1, 4)):
                rows.append((f"c{i:03d}", f"i{inv}", start + pd.Timedelta(days=d), 1.0,
                             round(rng.lognormal(3, 0.5), 2), f"p{rng.integers(20)}", ["UK", "FR"][i % 2]))
    tx = pd.DataFrame(rows, columns=["customer_id", "invoice_id", "date", "quantity", "amount", "product_id",
                                     "country"])
    return tx.assign(unit_price=tx["amount"], product_name=tx["product_id"], category="all")


@pytest.fixture(scope="module")
def data():
    tx = synthetic()
    returns = tx.iloc[::25].assign(invoice_id=lambda d: "R" + d["invoice_id"],
                                   date=lambda d: d["date"] + pd.Timedelta(days=3))
    return tx, returns


def _buy(tx, customer, when, amount=25.0):
    row = tx.iloc[[0]].assign(customer_id=customer, invoice_id=f"planted-{when}", date=pd.Timestamp(when),
                              amount=amount)
    return pd.concat([tx, row], ignore_index=True)


def test_labels_window_edges():
    tx = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "date": pd.to_datetime(
        ["2023-06-01 00:00", "2023-07-30 23:59", "2023-07-31 00:00", "2023-05-31 23:59"])})
    y = churn_labels(tx, pd.Index(["a", "b", "c", "d"]), "2023-06-01", 60)     # window 06-01 .. 07-30
    assert y.to_dict() == {"a": 0, "b": 0, "c": 1, "d": 1} and y.name == LABEL


def test_split_shapes_and_cutoffs(data):
    tx, returns = data
    split = out_of_time_split(tx, returns, H)
    end = tx["date"].max().normalize() + pd.Timedelta(days=1)
    assert split.info["test"]["cutoff"] == str((end - pd.Timedelta(days=H)).date())
    assert split.info["train"]["cutoff"] == str((end - pd.Timedelta(days=2 * H)).date())
    assert split.info["live"]["as_of"] == str(end.date())
    for X, y in ((split.X_train, split.y_train), (split.X_test, split.y_test)):
        assert list(X.columns) == [*FEATURE_COLUMNS, *BTYD_FEATURES]
        assert X.index.equals(y.index) and set(y.unique()) == {0, 1}
        assert not X.drop(columns="country").isna().any().any()
    first = tx.groupby("customer_id")["date"].min()
    train_cut = pd.Timestamp(split.info["train"]["cutoff"])
    assert set(split.X_train.index) == set(first[first < train_cut].index)
    assert len(split.X_live) == tx["customer_id"].nunique()
    assert split.btyd_live is not None and split.info["train"]["btyd_fit_note"]


def test_planted_future_events(data):
    tx, returns = data
    cutoff = pd.Timestamp("2023-09-01")
    X, y, _ = churn_dataset(tx, returns, cutoff, H)
    who = y[y == 1].index[0]
    label_end = cutoff + pd.Timedelta(days=H)                      # first day after the label window

    # purchases from cutoff + H on, and returns after the cutoff, change nothing
    later = _buy(_buy(tx, who, label_end), who, label_end + pd.Timedelta(days=20), amount=5000)
    later_returns = pd.concat([returns, later.tail(1).assign(date=cutoff + pd.Timedelta(hours=1))])
    X2, y2, _ = churn_dataset(later, later_returns, cutoff, H)
    pd.testing.assert_frame_equal(X2, X)
    pd.testing.assert_series_equal(y2, y)

    # a purchase inside the window flips that label only, features unchanged
    inside = _buy(tx, who, label_end - pd.Timedelta(minutes=1))
    X3, y3, _ = churn_dataset(inside, returns, cutoff, H)
    pd.testing.assert_frame_equal(X3, X)
    assert y3[who] == 0 and (y3.drop(who) == y.drop(who)).all()

    # the same purchase just before the cutoff is seen by the features (so the checks above can fail)
    before = _buy(tx, who, cutoff - pd.Timedelta(minutes=1))
    X4, _, _ = churn_dataset(before, returns, cutoff, H)
    assert X4.loc[who, "frequency"] == X.loc[who, "frequency"] + 1
    assert X4.loc[who, "recency_days"] == 1


def test_bad_input(data):
    tx, returns = data
    with pytest.raises(DataError, match="horizon of at most"):
        out_of_time_split(tx, returns, 200)
    with pytest.raises(DataError, match="shorter horizon"):
        churn_dataset(tx, returns, "2023-12-01", 90)
    for bad in (0, -5, 2.5, "abc"):
        with pytest.raises(DataError, match="horizon"):
            out_of_time_split(tx, returns, bad)
    with pytest.raises(DataError, match="fewer than"):
        churn_dataset(tx, returns, "2023-09-01", H, rules=ChurnDataConfig(min_customers=10_000))
    # one class: nobody from before the cutoff buys again (a newcomer keeps the data long enough)
    cutoff = pd.Timestamp("2023-09-01")
    quiet = _buy(tx[tx["date"] < cutoff], "newcomer", cutoff + pd.Timedelta(days=H - 1))
    with pytest.raises(DataError, match="two classes"):
        churn_dataset(quiet, None, cutoff, H)


def test_baseline_score(data):
    tx, returns = data
    split = out_of_time_split(tx, returns, H)
    score = baseline_churn_score(split.X_test)
    assert ((score > 0) & (score <= 1)).all()
    assert np.array_equal(np.argsort(score, kind="stable"),
                          np.argsort(-split.X_test["btyd_expected_purchases"].to_numpy(), kind="stable"))
    assert roc_auc_score(split.y_test, score) > 0.6                   # planted dropout is detectable
    with pytest.raises(DataError, match="btyd_expected_purchases"):
        baseline_churn_score(split.X_test.drop(columns="btyd_expected_purchases"))


def test_online_retail_out_of_time():
    path = DATASETS / "online_retail.csv"
    if not path.exists():
        unavailable(f"{path} not found (shared datasets folder missing)")
    from pipeline.ingest import clean_file
    cleaned = clean_file(path)
    split = out_of_time_split(cleaned.transactions, cleaned.returns, 90)
    assert (split.info["train"]["cutoff"], split.info["test"]["cutoff"]) == ("2011-06-13", "2011-09-11")
    assert (len(split.X_train), len(split.X_test), len(split.X_live)) == (2821, 3370, 4338)
    assert split.info["test"]["churn_rate"] == pytest.approx(1449 / 3370, abs=0.002)
    auc = roc_auc_score(split.y_test, baseline_churn_score(split.X_test))
    assert 0.71 < auc < 0.75                                          # ~0.73 expected (PITFALLS)
    assert "boundary" in split.info["test"]["btyd_fit_note"]


# --- histories: frames or an engine connection; sampling of large sets -------------------------------------------

def test_frames_history_is_the_frames_path(data):
    from pipeline.churn import as_history, data_span

    tx, returns = data
    history = as_history(tx, returns)           # the frames registered in DuckDB
    last = tx["date"].max()
    assert data_span(history) == data_span(tx) == (tx["date"].min().normalize(), last.normalize() +
                                                   pd.Timedelta(days=1))
    assert last.day == 30 and data_span(tx)[1] == pd.Timestamp("2023-12-31")
    X, y, info = churn_dataset(history, None, "2023-09-01", H)
    X2, y2, info2 = churn_dataset(tx, returns, "2023-09-01", H)
    pd.testing.assert_frame_equal(X, X2)
    pd.testing.assert_series_equal(y, y2)
    assert info == info2 and "customers_before_sampling" not in info
    with pytest.raises(DataError, match="returns=None"):
        churn_dataset(history, returns, "2023-09-01", H)
    with pytest.raises(DataError, match="transactions table is empty"):
        out_of_time_split(as_history(tx.iloc[:0]), None, H)


def test_large_sets_are_a_seeded_sample_whatever_the_row_order(data):
    tx, returns = data
    X, y, info = churn_dataset(tx, returns, "2023-09-01", H)
    rules = ChurnDataConfig(max_customers=40)
    Xs, ys, infos = churn_dataset(tx, returns, "2023-09-01", H, rules=rules)
    assert len(X) > 40 and len(Xs) == len(ys) == infos["n_customers"] == 40
    assert infos["customers_before_sampling"] == len(X) and "random sample of 40" in infos["sample_note"]
    assert infos["churn_rate"] == ys.mean()
    pd.testing.assert_frame_equal(Xs, X.loc[Xs.index])                 # sampled rows, not recomputed ones
    shuffled = tx.sample(frac=1.0, random_state=7)
    Xr, yr, _ = churn_dataset(shuffled, returns, "2023-09-01", H, rules=rules)
    assert sorted(Xr.index) == sorted(Xs.index)                        # same customers from any row order
    assert churn_dataset(tx, returns, "2023-09-01", H, rules=ChurnDataConfig(max_customers=len(X)))[2] == info


def test_lab_says_when_it_trained_on_a_sample(data, monkeypatch):
    from pipeline.models.lab import run_churn_comparison

    tx, returns = data
    monkeypatch.setattr("pipeline.churn.ChurnDataConfig", lambda: ChurnDataConfig(max_customers=40))
    result = run_churn_comparison(tx, returns, H, models=["logreg"])
    assert result.info["train"]["n_customers"] == result.info["test"]["n_customers"] == 40
    assert result.info["live"]["n_customers"] == tx["customer_id"].nunique()
    sampled = [n for n in result.notes if "random sample of 40" in n]
    assert len(sampled) == 2 and sampled[0].startswith("The training set") and sampled[1].startswith("The test set")


def assert_same_info(got: dict, want: dict) -> None:
    """Equal churn info (nested per set); BTYD parameters, fitted on sums taken in another order, to 1e-6."""
    assert got.keys() == want.keys()
    for key, value in got.items():
        if isinstance(value, dict):
            assert_same_info(value, want[key])
        elif key == "btyd_params":
            assert value.keys() == want[key].keys()
            assert all(value[k] == pytest.approx(want[key][k], rel=1e-6) for k in value), (value, want[key])
        else:
            assert value == want[key], key


def _duck_history(tmp_path, raw: pd.DataFrame):
    from pipeline.engines.duckdb import DuckDBEngine
    from pipeline.engines.history import EngineHistory
    from pipeline.ingest import fetch_transactions

    path = tmp_path / "orders.csv"
    raw.to_csv(path, index=False)
    engine = DuckDBEngine()
    con, _ = engine.clean(str(path))
    return EngineHistory(engine, con), fetch_transactions(con, "tx"), fetch_transactions(con, "tx_returns")


def test_engine_history_hand_checked_summary_and_buyers(tmp_path):
    from fixtures import frame

    history, tx, _ = _duck_history(tmp_path, frame())
    assert history.span() == (pd.Timestamp("2011-01-01"), pd.Timestamp("2011-01-22"))
    summary = history.btyd_summary(pd.Timestamp("2011-01-22"))
    # 0042: days 01-01 (10.00) and 01-20 (20.00); 0007: 01-15 (C1003 dropped); 0100: 01-21; T to 01-21
    assert summary.to_dict("index") == {
        "0007": {"frequency": 0.0, "recency": 0.0, "T": 6.0, "monetary_value": 0.0},
        "0042": {"frequency": 1.0, "recency": 19.0, "T": 20.0, "monetary_value": 20.0},
        "0100": {"frequency": 0.0, "recency": 0.0, "T": 0.0, "monetary_value": 0.0}}
    assert summary.attrs["cutoff"] == pd.Timestamp("2011-01-22")
    from pipeline.clv import btyd_summary
    pd.testing.assert_frame_equal(summary, btyd_summary(tx, "2011-01-22"), check_names=False)
    assert sorted(history.buyers(pd.Timestamp("2011-01-16"), pd.Timestamp("2011-01-21"))) == ["0042"]
    assert sorted(history.buyers(pd.Timestamp("2011-01-15"), pd.Timestamp("2011-01-22"))) == ["0007", "0042",
                                                                                              "0100"]
    assert list(history.features(pd.Timestamp("2011-01-16")).index) == ["0007", "0042"]


def test_engine_history_on_duckdb_equals_frames(tmp_path):
    from pipeline.ingest import generate_raw

    history, tx, returns = _duck_history(tmp_path, generate_raw(300, seed=4, start="2023-01-01", end="2023-12-31"))
    on_engine = out_of_time_split(history, None, H)
    on_frames = out_of_time_split(tx, returns, H)
    assert_same_info(on_engine.info, on_frames.info)
    assert on_engine.info["test"]["n_customers"] > 200
    for part in ("X_train", "X_test", "X_live"):
        got, want = getattr(on_engine, part), getattr(on_frames, part).sort_index()
        # features are rounded to 9 decimals (pipeline.churn.steady): sums that differ in the 12th digit may round
        # one unit apart
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1.5e-9)
    for part in ("y_train", "y_test"):
        pd.testing.assert_series_equal(getattr(on_engine, part), getattr(on_frames, part).sort_index())
