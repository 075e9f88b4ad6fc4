"""Human labels: every column the pages show has a label, values are written for people, unknown columns get a
readable fallback."""
from __future__ import annotations

import pandas as pd

from pipeline.config import RFM_COLUMNS
from pipeline.labels import FORMATS, format_value, hover_labels, label, readable, value_format


def test_known_columns_and_formats():
    assert label("revenue_share") == "Share of revenue" and value_format("revenue_share") == "share"
    assert label("r_score") == "Recency score (5 = most recent)"
    assert label("btyd_expected_spend") == "Expected spend (BG/NBD x Gamma-Gamma)"   # beside the spend forecast
    assert all(label(c) != c for c in RFM_COLUMNS)                  # no raw name on the RFM page
    assert {value_format(c) for c in RFM_COLUMNS} <= set(FORMATS)


def test_fallbacks_are_readable():
    assert label("p_churned") == "Probability: churned" and value_format("p_churned") == "share"
    assert label("spend_trend") == "Spend trend" and label("avg_basket") == "Average basket"
    assert value_format("Annual Income (k$)") == "decimal" and label("Annual Income (k$)") == "Annual Income (k$)"


def test_values_written_for_people():
    assert format_value("mean_monetary", 7110.96428807947, "GBP") == "£7,111"
    assert format_value("btyd_expected_spend", 172.22237215752125, "EUR") == "€172.22"
    assert format_value("monetary", 89.0, None) == "89 items"         # basket log: items, never a currency
    assert format_value("revenue_share", 0.4013) == "40%"
    assert format_value("recency_days", 205) == "205 days"
    assert format_value("customers", 4338) == "4,338"
    assert format_value("last_purchase", pd.Timestamp("2011-12-09 12:50")) == "2011-12-09"
    assert format_value("segment", "Need Attention") == "Need Attention"
    assert format_value("revenue", None) == format_value("revenue", float("nan")) == "–"


def test_tables_and_plots():
    df = pd.DataFrame({"segment": ["A"], "mean_monetary": [1.0]})
    assert list(readable(df).columns) == ["Segment", "Avg spend"]
    assert hover_labels(["frequency"]) == {"frequency": "Orders"}
