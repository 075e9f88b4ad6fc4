"""Platform exports read on Spark (issue 22): the fill of order-level fields, the unpaid orders and the refunds are
the same SQL on Spark as on DuckDB and give the same dataset. The exports and their hand counts are
tests/test_platforms.py's. Kept apart from them, under the Spark files' name, so that it can run in the Spark files'
work unit on their SparkSession (conftest's SHARED_UNITS) instead of starting a JVM of its own."""
from __future__ import annotations

import pandas as pd
import pytest

from test_platforms import CASES, _write


@pytest.mark.spark
@pytest.mark.parametrize("key", ["shopify", "stripe", "paypal", "etsy_orders"])
def test_platform_rules_run_alike_on_spark(tmp_path, spark_engine, monkeypatch, key):
    """The fill, the unpaid orders, the refunds: the same SQL on Spark gives the same dataset."""
    from pipeline.ingest import build_dataset

    monkeypatch.setenv("SEGMENTS_STAGING_DIR", str(tmp_path / "stage"))
    path = _write(tmp_path, key, CASES[key][0])
    spark = build_dataset(path, path.name, engine="spark")
    duck = build_dataset(path, path.name, engine="duckdb")
    for a, b in ((spark.transactions, duck.transactions), (spark.returns, duck.returns)):
        pd.testing.assert_frame_equal(*(x.sort_values(list(x.columns)).reset_index(drop=True) for x in (a, b)))
    assert spark.report["revenue"] == duck.report["revenue"] == pytest.approx(CASES[key][4])
    assert spark.report["notes"][0] == duck.report["notes"][0]
