"""Spend sequences (hand-checked), churn labels, the GRU autoencoder and its comparison with K-Means on RFM."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.cluster.embeddings import SequenceAutoencoder
from pipeline.cluster.compare import stability as _stability
from pipeline.cluster.sequences import churn_labels, compare_with_rfm, customer_sequences

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tx_frame(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "invoice_id", "date", "amount"])
    df["date"] = pd.to_datetime(df["date"], format="ISO8601")
    return df


HAND = tx_frame([
    ("c1", "a", "2024-01-31 10:00", 10.0),
    ("c1", "b", "2024-01-31 15:00", 5.0),     # second invoice the same day: 2 orders
    ("c1", "b", "2024-01-31 15:00", 1.0),     # second line of invoice b
    ("c2", "c", "2024-01-25", 20.0),          # first day of the last week
    ("c2", "d", "2024-01-24", 3.0),           # last day of the week before
    ("c3", "e", "2023-10-01", 7.0),           # outside a 4-week window
])


def test_weekly_sequences_by_hand():
    seq = customer_sequences(HAND, "W", 4)
    assert seq.customer_ids.tolist() == ["c1", "c2", "c3"]
    assert seq.values.shape == (3, 4, 2)
    assert list(seq.period_starts.strftime("%Y-%m-%d")) == ["2024-01-04", "2024-01-11", "2024-01-18", "2024-01-25"]
    s_max, o_max = np.log1p(20), np.log1p(2)
    assert seq.channel_max == pytest.approx((s_max, o_max))
    np.testing.assert_allclose(seq.values[0, 3], [np.log1p(16) / s_max, 1.0])
    np.testing.assert_allclose(seq.values[1, 3], [1.0, np.log1p(1) / o_max])
    np.testing.assert_allclose(seq.values[1, 2], [np.log1p(3) / s_max, np.log1p(1) / o_max])
    assert seq.values[0, :3].sum() == 0 and seq.values[1, :2].sum() == 0
    assert seq.values[2].sum() == 0               # bought only before the window: all zeros


def test_monthly_sequences_and_explicit_end():
    seq = customer_sequences(HAND, "M", 5, end="2024-02-01")
    assert seq.freq == "M" and seq.values.shape == (3, 5, 2)
    assert seq.period_starts[-1] == pd.Timestamp("2024-01-02")
    # 2023-10-01 is 123 days before the end: offset (123 - 1) // 30 = 4 -> the first of 5 periods
    assert seq.values[2, 0, 0] == pytest.approx(np.log1p(7) / np.log1p(23))
    assert seq.values[1, 4, 0] == pytest.approx(1.0)           # c2: 20 + 3 in the last 30 days


@pytest.mark.parametrize("kwargs, frame, match", [
    ({}, HAND.drop(columns="invoice_id"), r"lack column\(s\) \['invoice_id'\]"),
    ({}, HAND.iloc[:0], "empty"),
    ({"freq": "D"}, HAND, "frequency 'D' unknown"),
    ({"freq": "W", "n_periods": 2}, HAND, "at least 4"),
])
def test_bad_sequence_inputs(kwargs, frame, match):
    with pytest.raises(DataError, match=match):
        customer_sequences(frame, **kwargs)


def test_churn_labels_default_and_custom():
    rfm = pd.DataFrame({"recency_days": [5.0, 90, 200]}, index=["a", "b", "c"])
    assert churn_labels(rfm, 90).tolist() == [0, 1, 1]
    assert churn_labels(rfm, churn=pd.Series({"c": 0, "a": 1, "b": 0})).tolist() == [1, 0, 0]
    with pytest.raises(DataError, match="0/1 for every customer"):
        churn_labels(rfm, churn=pd.Series({"a": 1, "b": 0}))


def test_stability_is_mean_pairwise_adjusted_rand():
    a = np.array([0, 0, 1, 1])
    assert _stability([a, a, 1 - a]) == pytest.approx(1.0)     # relabelled copies agree perfectly
    assert _stability([a, np.array([0, 1, 0, 1]), a]) == pytest.approx((-0.5 - 0.5 + 1) / 3)


def two_behaviours(n_per_group=30, seed=0):
    """Steady monthly buyers and customers who stopped after the first quarter, over one year."""
    rng = np.random.default_rng(seed)
    rows, inv = [], 0
    for g in range(2):
        for c in range(n_per_group):
            months = range(12) if g == 0 else range(3)
            for m in months:
                inv += 1
                day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=30 * m + int(rng.integers(0, 25)))
                rows.append((f"g{g}c{c}", f"i{inv}", day, float(rng.lognormal(4 - g, 0.3))))
    return tx_frame(rows)


@pytest.mark.slow
def test_autoencoder_embeddings_progress_and_comparison():
    tx = two_behaviours()
    seq = customer_sequences(tx, "M", 12)
    calls = []
    ae = SequenceAutoencoder(units=8, latent_dim=3, epochs=2, batch_size=16, random_state=0)
    ae.fit(seq.values, progress=lambda f, msg: calls.append((f, msg)))
    assert [f for f, _ in calls] == [0.5, 1.0] and calls[0][1].startswith("epoch 1/2 · loss ")
    emb = ae.transform(seq.values)
    assert emb.shape == (60, 3) and np.isfinite(emb).all()
    assert len(ae.loss_history_) == 2 and ae.reconstruction_error(seq.values).shape == (60,)

    fractions = []
    cmp = compare_with_rfm(tx, k=2, seeds=(0, 1), epochs=2, churn_days=90,
                           progress=lambda f, msg: fractions.append(f))
    t = cmp.table.set_index("method")
    assert list(t.index) == ["GRU autoencoder + K-Means", "K-Means on RFM"]
    for col in ("silhouette", "davies_bouldin", "calinski_harabasz", "silhouette_rfm", "davies_bouldin_rfm",
                "calinski_harabasz_rfm", "stability_ari", "churn_rate_range", "revenue_per_customer_range"):
        assert np.isfinite(t[col]).all(), col
    # the RFM space is the same for both rows; for K-Means on RFM it is also its own space
    assert t.loc["K-Means on RFM", "silhouette"] == t.loc["K-Means on RFM", "silhouette_rfm"]
    # K-Means on RFM separates the steady buyers from the lapsed ones: churn 0% vs 100%
    assert t.loc["K-Means on RFM", "churn_rate_range"] == pytest.approx(1.0)
    assert t.loc["K-Means on RFM", "stability_ari"] == pytest.approx(1.0)
    assert cmp.labels.shape == (60, 5) and cmp.labels["churned"].sum() == 30
    assert cmp.per_cluster.groupby("method")["customers"].sum().tolist() == [60, 60]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 2 * 2 + 1


def test_compare_rejects_too_few_customers():
    with pytest.raises(DataError, match="too few"):
        compare_with_rfm(HAND, k=2, seeds=(0,), epochs=1)
