"""customer_features: a hand-checked fixture, no look-ahead past as_of, and Online Retail totals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import unavailable

from pipeline.errors import DataError
from pipeline.features import FEATURE_COLUMNS, NUMERIC_FEATURES, customer_features, numeric_feature_columns

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
AS_OF = "2024-04-01"


def _tx(rows):
    cols = ["customer_id", "invoice_id", "date", "quantity", "amount", "product_id", "category", "country"]
    df = pd.DataFrame(rows, columns=cols)
    df["date"] = pd.to_datetime(df["date"], format="ISO8601")
    df["unit_price"] = df["amount"] / df["quantity"].fillna(1)
    df["product_name"] = df["product_id"]
    return df


def tiny():
    """A: 4 invoices on 3 days (two on 2024-01-01), B: one invoice the day before as_of, C: only after as_of."""
    tx = _tx([
        ("A", "I1", "2024-01-01 10:00", 2, 10.0, "P1", "X", "UK"),
        ("A", "I1", "2024-01-01 10:00", 1, 5.0, "P2", "Y", "UK"),
        ("A", "I2", "2024-01-01 15:00", 1, 5.0, "P1", "X", "UK"),
        ("A", "I3", "2024-02-10 09:00", 3, 30.0, "P3", "Y", "France"),
        ("A", "I4", "2024-03-20 12:00", 1, 10.0, "P1", "X", "UK"),
        ("B", "I5", "2024-03-31 23:59", np.nan, 20.0, "P2", "Y", "France"),
        ("C", "I6", "2024-04-05 08:00", 1, 99.0, "P9", "Z", "Spain"),
    ])
    returns = _tx([
        ("A", "R1", "2024-02-15", 1, 6.0, "P3", "Y", "UK"),
        ("A", "R2", "2024-04-03", 1, 10.0, "P1", "X", "UK"),     # after as_of: ignored
    ])
    return tx, returns


def test_hand_checked_features():
    tx, returns = tiny()
    f = customer_features(tx, returns, as_of=AS_OF)
    assert list(f.index) == ["A", "B"] and list(f.columns) == list(FEATURE_COLUMNS)
    a, b = f.loc["A"], f.loc["B"]
    expected_a = {
        "recency_days": 12, "frequency": 4, "monetary": 60, "avg_order_value": 15, "tenure_days": 91,
        "mean_days_between": 39.5, "std_days_between": np.sqrt(0.5), "median_days_between": 39.5,
        "orders_30d": 1, "spend_30d": 10, "orders_60d": 2, "spend_60d": 40, "orders_90d": 2, "spend_90d": 40,
        "orders_trend_90d": 0.0, "spend_trend_90d": (40 - 20) / 60,
        "avg_basket_lines": 5 / 4, "avg_basket_quantity": 8 / 4, "n_products": 3, "n_categories": 2,
        "return_count": 1, "return_rate": 6 / 66,
    }
    expected_b = {
        "recency_days": 1, "frequency": 1, "monetary": 20, "avg_order_value": 20, "tenure_days": 1,
        "mean_days_between": 1, "std_days_between": 0, "median_days_between": 1,
        "orders_30d": 1, "spend_30d": 20, "orders_90d": 1, "orders_trend_90d": 1.0, "spend_trend_90d": 1.0,
        "avg_basket_lines": 1, "avg_basket_quantity": 1, "n_products": 1, "n_categories": 1,
        "return_count": 0, "return_rate": 0,
    }
    for col, val in expected_a.items():
        assert a[col] == pytest.approx(val), col
    for col, val in expected_b.items():
        assert b[col] == pytest.approx(val), col
    assert a["country"] == "UK" and b["country"] == "France"
    assert not f[list(NUMERIC_FEATURES)].isna().any().any()


def test_future_rows_do_not_change_features():
    tx, returns = tiny()
    base = customer_features(tx, returns, as_of=AS_OF)
    planted_tx = pd.concat([tx, _tx([
        ("A", "F1", "2024-04-01 00:00", 50, 500.0, "P7", "W", "Spain"),     # on as_of: already the future
        ("B", "F2", "2024-06-01", 5, 50.0, "P8", "V", "Spain"),
    ])], ignore_index=True)
    planted_ret = pd.concat([returns, _tx([("B", "F3", "2024-04-02", 1, 20.0, "P2", "Y", "UK")])],
                            ignore_index=True)
    pd.testing.assert_frame_equal(customer_features(planted_tx, planted_ret, as_of=AS_OF), base)
    # the same planted purchase one day earlier is seen: the check above can fail
    earlier = planted_tx.assign(date=planted_tx["date"].where(planted_tx["invoice_id"] != "F1",
                                                              pd.Timestamp("2024-03-31")))
    assert customer_features(earlier, planted_ret, as_of=AS_OF).loc["A", "frequency"] == 5


def test_default_as_of_and_errors():
    tx, returns = tiny()
    f = customer_features(tx, returns)                    # as_of = 2024-04-06, C included, R2 included
    assert list(f.index) == ["A", "B", "C"]
    assert f.loc["C", "recency_days"] == 1 and f.loc["A", "return_count"] == 2
    with pytest.raises(DataError, match="no purchases before"):
        customer_features(tx, as_of="2023-01-01")
    with pytest.raises(DataError, match="lack column"):
        customer_features(tx.drop(columns="invoice_id"))
    with pytest.raises(DataError, match="not a date"):
        customer_features(tx, as_of="yesterday-ish")
    assert numeric_feature_columns(f) == list(NUMERIC_FEATURES)


def test_optional_columns_missing():
    tx, _ = tiny()
    bare = tx.assign(product_id=pd.NA, category=pd.NA, country=pd.NA, quantity=np.nan)
    f = customer_features(bare, None, as_of=AS_OF)
    assert (f["n_products"] == 0).all() and (f["n_categories"] == 0).all()
    assert (f["country"] == "Unknown").all() and (f["avg_basket_quantity"] == f["avg_basket_lines"]).all()


@pytest.fixture(scope="module")
def online_retail():
    path = DATASETS / "online_retail.csv"
    if not path.exists():
        unavailable(f"{path} not found (shared datasets folder missing)")
    from pipeline.ingest import clean_file
    result = clean_file(path)
    return result.transactions, result.returns


def test_online_retail_totals(online_retail):
    tx, returns = online_retail
    f = customer_features(tx, returns)
    assert len(f) == 4338
    assert f["frequency"].sum() == 18532
    assert f["monetary"].sum() == pytest.approx(8_887_208.89, abs=0.01)
    assert (f["recency_days"] >= 1).all() and f["return_rate"].between(0, 1).all()
    assert f.loc["12346", "return_count"] == 1          # the famous 74,215-unit order that was cancelled


def test_features_do_not_depend_on_row_order(online_retail):
    """The same lines in another order give bit-for-bit the same features (a float sum would differ in the last
    digits, so a card rescored from a different line order would show another average order value)."""
    tx, returns = online_retail
    order = np.random.default_rng(7).permutation(len(tx))
    ret_order = np.random.default_rng(8).permutation(len(returns))
    a = customer_features(tx, returns)
    b = customer_features(tx.iloc[order].reset_index(drop=True), returns.iloc[ret_order].reset_index(drop=True))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# ------------------------------------------------------------------------------------ one owner of the rules
@pytest.fixture(scope="module")
def sample_features():
    from pipeline.ingest import generate_transactions

    tx, ret = generate_transactions()
    feats = customer_features(tx, ret)
    days = pd.to_datetime(tx["date"]).dt.normalize()
    visits = days.groupby(tx["customer_id"].astype(str)).nunique().reindex(feats.index)
    return feats, visits


def test_deriving_from_own_rfm_reproduces_every_customers_feature_row(sample_features):
    """For every customer of the synthetic sample, derive_features on their own recency, frequency, monetary,
    tenure (and purchase days) reproduces their customer_features row in every cell it determines.

    Determined (compared): R/F/M/tenure and avg_order_value always; mean_days_between always ((tenure - recency) /
    (visits - 1), tenure for one purchase day); median_days_between and std_days_between with at most two purchase
    days (a single gap); a window's orders/spend when it holds none of the orders (recency > w) or all of them
    (tenure <= w); the H-day trends when the last order is older than H (-1, or 0 beyond 2H) or every order is within
    H (1). Not determined (NaN, not compared): median/std with three or more purchase days (they depend on each gap),
    windows and trends that cut through the history, and what totals cannot tell: basket sizes, products,
    categories, returns and country."""
    from pipeline.features import DERIVATION_INPUTS, WINDOWS, derive_features

    feats, visits = sample_features
    derived = pd.DataFrame(derive_features(feats.assign(visits=visits)), index=feats.index)
    assert set(derived.columns) <= set(NUMERIC_FEATURES)
    for col in derived.columns:
        known = derived[col].notna()
        np.testing.assert_allclose(derived.loc[known, col], feats.loc[known, col], rtol=1e-12, atol=0, err_msg=col)
    determined = derived.notna()
    for col in (*DERIVATION_INPUTS, "avg_order_value", "mean_days_between"):
        assert determined[col].all(), col
    one_gap = visits <= 2                                    # strength: the rules cover many cells, not a few
    assert determined.loc[one_gap, ["median_days_between", "std_days_between"]].all(axis=None) and one_gap.mean() > 0.3
    assert determined[[f"orders_{w}d" for w in WINDOWS]].to_numpy().mean() > 0.7
    assert determined["orders_trend_90d"].mean() > 0.6
    assert (visits < feats["frequency"]).sum() > 100         # the sample has days with several orders: visits matter


def test_what_if_default_is_one_order_per_visit(sample_features):
    """Without ``visits`` the derivation assumes one order per purchase day (the what-if's assumption), and with
    base values the open cells are filled consistently (windows between one order and all orders)."""
    from pipeline.features import WINDOWS, derive_features

    feats, visits = sample_features
    same = feats[visits == feats["frequency"]]
    a = pd.DataFrame(derive_features(same), index=same.index)
    b = pd.DataFrame(derive_features(same.assign(visits=same["frequency"])), index=same.index)
    pd.testing.assert_frame_equal(a, b)
    filled = pd.DataFrame(derive_features(feats, base=feats), index=feats.index)
    assert filled.notna().all(axis=None)
    for w in WINDOWS:
        inside = feats["recency_days"] <= w
        assert (filled.loc[inside, f"orders_{w}d"] >= 1).all() and (filled[f"orders_{w}d"] <= feats["frequency"]).all()
        assert (filled[f"spend_{w}d"] <= feats["monetary"] + 1e-9).all()
    hand = derive_features({"recency_days": 10, "frequency": 3, "monetary": 90, "tenure_days": 70})
    assert hand["avg_order_value"] == 30 and hand["mean_days_between"] == 30 and np.isnan(hand["median_days_between"])
    assert hand["orders_90d"] == 3 and hand["spend_90d"] == 90 and hand["orders_trend_90d"] == 1
    assert np.isnan(hand["orders_30d"]) and np.isnan(hand["std_days_between"])


def test_frames_are_read_by_canonical_type():
    """customer_features runs the SQL over the frames registered in DuckDB, cast to the canonical types: ISO dates
    as text and quantities as text (one not a number: a missing quantity, counted as one unit) read as typed ones."""
    tx, returns = tiny()
    as_text = tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                        quantity=tx["quantity"].map(lambda q: "n/a" if np.isnan(q) else str(q)))
    want = customer_features(tx, returns, as_of=AS_OF)
    pd.testing.assert_frame_equal(customer_features(as_text, returns, as_of=AS_OF), want)
    assert want.loc["B", "avg_basket_quantity"] == 1 and want.index.name == "customer_id"
