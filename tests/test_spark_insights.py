"""Cohorts and segment movement written once, run on DuckDB and on Spark: the same cohort table (every cell) and
the same movement (every customer's segments and RFM at both dates, the counts matrix, the per-segment counts).

Data: the six-customer table checked by hand in tests/test_insights.py (as ``tx`` on each engine, and as a CSV
export cleaned by the CLI on Spark), a small generated export spanning eleven months (cleaned once, the same lines
on both engines), the fixed Online Retail sample cleaned on each engine (the shared ``online_retail_both``
fixture), and the whole Online Retail file's cohort figures on DuckDB.
Marked ``spark``: skipped with the reason when PySpark or Java is missing.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from test_insights import ROWS, write_csv

pytestmark = pytest.mark.spark


def _on_spark(spark_engine, transactions: pd.DataFrame):
    """A Spark connection (its own session) holding ``transactions`` as view ``tx`` (small test data only)."""
    from pipeline.engines.spark import SparkConnection

    con = SparkConnection(spark_engine.session())
    con.register("tx", transactions[["customer_id", "invoice_id", "date", "amount"]])
    return con


def _on_duckdb(transactions: pd.DataFrame):
    from pipeline.ingest.db import connect

    con = connect()
    con.register("tx", transactions[["customer_id", "invoice_id", "date", "amount"]])
    return con


def _same_cohorts(spark_con, duck_con, period=None) -> pd.DataFrame:
    from pipeline.cohorts import cohort_table_from_connection

    on_spark = cohort_table_from_connection(spark_con, period)
    on_duck = cohort_table_from_connection(duck_con, period)
    pd.testing.assert_frame_equal(on_spark, on_duck, check_exact=False, rtol=1e-9)
    return on_duck


def _same_movement(spark_con, duck_con, *args, **kwargs):
    from pipeline.movement import segment_movement_from_connection

    on_spark = segment_movement_from_connection(spark_con, *args, **kwargs)
    on_duck = segment_movement_from_connection(duck_con, *args, **kwargs)
    assert (on_spark.date_from, on_spark.date_to) == (on_duck.date_from, on_duck.date_to)
    for part in ("customers", "counts", "row_share", "segments"):
        pd.testing.assert_frame_equal(getattr(on_spark, part), getattr(on_duck, part), check_exact=False,
                                      rtol=1e-9, obj=part)
    return on_duck


def test_six_customers_same_on_both_engines(spark_engine):
    from pipeline.movement import NOT_YET
    from pipeline.period import AnalysisPeriod

    six = pd.DataFrame(ROWS, columns=["customer_id", "invoice_id", "date", "amount"])
    six = six.assign(date=pd.to_datetime(six["date"])).astype({"customer_id": "string", "invoice_id": "string"})
    spark_con, duck_con = _on_spark(spark_engine, six), _on_duckdb(six)
    # from 02-01 to 03-15: D (first purchase 02-03) and E (03-10); F's 03-28 purchase is after the end, and A, B,
    # C bought first in January
    t = _same_cohorts(spark_con, duck_con, AnalysisPeriod("2023-02-01", "2023-03-15"))
    cells = {(f"{r.cohort:%Y-%m}", r.months_since): r for r in t.itertuples()}
    assert list(cells) == [("2023-02", 0), ("2023-02", 1), ("2023-03", 0)]
    assert [(r.cohort_size, r.customers, r.revenue, r.complete) for r in cells.values()] == [
        (1, 1, 300.0, True), (1, 0, 0.0, False), (1, 1, 20.0, False)]
    # segments on 02-15 and 03-28 (worked by hand in test_insights.test_movement_by_hand)
    mv = _same_movement(spark_con, duck_con, "2023-02-15", "2023-03-28")
    seg = mv.customers.set_index("customer_id")[["segment_from", "segment_to"]].apply(tuple, axis=1).to_dict()
    assert seg["B"] == ("At Risk", "Loyal") and seg["F"] == (NOT_YET, "Potential Loyalists")
    assert mv.counts.loc[NOT_YET, "Potential Loyalists"] == 2 and mv.counts.to_numpy().sum() == 6
    d = mv.customers.set_index("customer_id").loc["D"]          # D: 1 order of 200 on 02-15, 2 (300) on 03-28
    assert (d["recency_days_from"], d["frequency_from"], d["monetary_from"]) == (13, 1, 200.0)
    assert (d["recency_days_to"], d["frequency_to"], d["monetary_to"]) == (37, 2, 300.0)


def test_generated_months_same_on_both_engines(tmp_path, spark_engine, duckdb_engine):
    from pipeline.ingest import fetch_transactions
    from pipeline.ingest.samples import generate_raw
    from pipeline.period import AnalysisPeriod

    raw = generate_raw(n_customers=60, seed=3, start="2023-01-01", end="2023-11-30")
    path = tmp_path / "generated.csv"
    raw.to_csv(path, index=False)
    duck_con, _ = duckdb_engine.clean(str(path))       # cleaned once; the same lines given to Spark
    spark_con = _on_spark(spark_engine, fetch_transactions(duck_con, "tx"))
    period = AnalysisPeriod("2023-01-15", "2023-10-20")      # both ends mid-month
    t = _same_cohorts(spark_con, duck_con, period)
    assert t["cohort"].nunique() >= 6 and t["months_since"].max() == 9
    # every customer whose first purchase is in the period is in exactly one cohort
    new = duck_con.execute("SELECT count(*) FROM (SELECT customer_id FROM tx GROUP BY customer_id HAVING "
                           "min(date) >= '2023-01-15' AND min(date) < '2023-10-21')").fetchone()[0]
    assert t.drop_duplicates("cohort")["cohort_size"].sum() == new > 20
    assert (t.loc[t["months_since"] == 0, "share"] == 1.0).all()   # everyone buys in their first month
    assert not t.loc[t["month"] == "2023-10-01", "complete"].any() and t.loc[t["month"] < "2023-10-01",
                                                                             "complete"].all()
    mv = _same_movement(spark_con, duck_con, "2023-06-30", None, period)
    customers = duck_con.execute("SELECT count(DISTINCT customer_id) FROM tx WHERE date >= '2023-01-15' AND "
                                 "date < '2023-10-21'").fetchone()[0]
    assert mv.counts.to_numpy().sum() == len(mv.customers) == customers


def _online_retail_cohorts(t: pd.DataFrame, duck_con, dec_2010: int) -> None:
    """The cohort table of Online Retail (the sample or the whole file), checked against its cleaned lines."""
    first = t.iloc[0]
    # December 2010: the customers whose first purchase (after cleaning) is in Dec-2010, counted in pandas
    tx = duck_con.execute("SELECT customer_id, date FROM tx").df()
    firsts = tx.groupby("customer_id")["date"].min()
    assert (f"{first.cohort:%Y-%m}", first.months_since) == ("2010-12", 0)
    assert first.cohort_size == (firsts < "2011-01-01").sum() == dec_2010
    assert t["cohort"].nunique() == 13 and len(t) == 13 * 14 // 2    # Dec-2010 .. Dec-2011, a triangle
    # December 2011 (9 days) is the only partial month
    assert sorted(set(t.loc[~t["complete"], "month"].dt.strftime("%Y-%m"))) == ["2011-12"]


def test_online_retail_cohorts_same_on_both_engines(online_retail_both):
    (spark_con, _), (duck_con, _) = online_retail_both
    _online_retail_cohorts(_same_cohorts(spark_con, duck_con), duck_con, 87)


def test_online_retail_whole_file_cohorts_on_duckdb(online_retail_duckdb):
    """The whole file's cohorts (the engines' equality is proven on the sample above)."""
    from pipeline.cohorts import cohort_table_from_connection

    duck_con, _ = online_retail_duckdb
    _online_retail_cohorts(cohort_table_from_connection(duck_con, None), duck_con, 885)


def test_cli_cohorts_on_spark(tmp_path, spark_engine, capsys):
    from pipeline.cli import main

    f = write_csv(tmp_path / "six.csv")
    outputs = {}
    for engine in ("spark", "duckdb"):
        assert main(["cohorts", "--engine", engine, f, "--start", "2023-01-10"]) == 0
        outputs[engine] = json.loads(capsys.readouterr().out)
    assert outputs["spark"] == outputs["duckdb"]
    # from 01-10: A's first purchase (01-05) is before the start, so the January cohort is B and C (B 40, C 30
    # in January; B 60 in March)
    out = outputs["spark"]
    assert out["period"] == {"start": "2023-01-10", "end": "2023-03-28"} and out["customers"] == 5
    jan = [(c["months_since"], c["cohort_size"], c["customers"], c["revenue"]) for c in out["table"]
           if c["cohort"] == "2023-01"]
    assert jan == [(0, 2, 2, 70.0), (1, 2, 0, 0.0), (2, 2, 1, 60.0)]
