"""One definition, two engines: cleaning report, RFM, feature table and batch scores are the same on DuckDB and Spark.

The hand-checked 7-row fixture (tests/fixtures.py) in several file formats, as a hive-partitioned Parquet folder
and as a glob; a fixed sample of Online Retail (``spark_support.online_retail_sample``: 43,480 real lines with
cancellations, lines without a customer id, zero prices and duplicates) whose figures are counted here by the
README's rules in pandas (the whole file's published figures are checked on DuckDB in tests/test_ingest_rfm.py).
Marked ``spark``: skipped with the reason when PySpark or Java is missing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import require_module, unavailable

from fixtures import EXPECTED_RFM, as_bytes, frame

pytestmark = pytest.mark.spark

#: report fields that are counts and figures (mapping reasons describe each engine's own sample)
_FIGURES = ("rows_in", "rows_out", "dropped", "customers", "invoices", "revenue", "return_lines", "date_format",
            "date_min", "date_max", "monetary_unit")


def _write(tmp_path, variant: str):
    name, data = as_bytes(variant)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _figures(report) -> dict:
    return {k: getattr(report, k) for k in _FIGURES}


def _rfm(con) -> pd.DataFrame:
    from pipeline.rfm import rfm_from_connection

    return rfm_from_connection(con, "tx").set_index("customer_id").sort_index()


def _features(engine, con) -> pd.DataFrame:
    from pipeline.engines.features import features

    return engine.to_pandas(features(engine, con)).set_index("customer_id").sort_index()


@pytest.fixture(scope="module")
def hand_both(tmp_path_factory, spark_engine, duckdb_engine):
    """The hand-checked fixture as a UTF-8 CSV, cleaned once on each engine for the tests that only read it:
    (path, (Spark connection, report), (DuckDB connection, report))."""
    path = _write(tmp_path_factory.mktemp("hand"), "csv_utf8")
    return path, spark_engine.clean(str(path)), duckdb_engine.clean(str(path))


@pytest.fixture(scope="module")
def hand_spark_features(hand_both, spark_engine) -> pd.DataFrame:
    """The fixture's feature table computed on Spark (once)."""
    return _features(spark_engine, hand_both[1][0])


def test_duckdb_sql_transpiles_to_spark():
    require_module("sqlglot", "SQLGlot is not installed (pip install -r requirements-spark.txt)")
    from pipeline.engines.sql import strftime_to_java, to_spark

    assert strftime_to_java("%m/%d/%Y %H:%M") == "M/d/yyyy H:m"
    assert strftime_to_java("%Y%m%d") == "yyyyMMdd"
    assert strftime_to_java("%d %b %Y") == "d MMM yyyy"
    sql = to_spark("SELECT hash(a, b), regexp_full_match(x, '(?i)C(?:[0-9]+)'), "
                   "try_strptime(d, ['%d/%m/%Y', '%Y%m%d']) FROM t WHERE d < ?::TIMESTAMP",
                   [pd.Timestamp("2011-12-10")])
    assert "XXHASH64(COALESCE(CAST(a AS STRING), " in sql and "RLIKE '^(?:(?i)C(?:[0-9]+))$'" in sql
    assert "COALESCE(TRY_TO_TIMESTAMP(d, 'd/M/yyyy'), TRY_TO_TIMESTAMP(d, 'yyyyMMdd'))" in sql
    assert "'2011-12-10 00:00:00.000000'" in sql and "?" not in sql.replace("(?i)", "").replace("(?:", "")


@pytest.mark.parametrize("variant", ["csv_latin1_semicolon_dayfirst_comma", "csv_us_dates_pipe", "parquet"])
def test_hand_checked_fixture_same_on_both_engines(tmp_path, spark_engine, duckdb_engine, variant):
    path = _write(tmp_path, variant)
    s_con, s_rep = spark_engine.clean(str(path))
    d_con, d_rep = duckdb_engine.clean(str(path))
    assert _figures(s_rep) == _figures(d_rep)
    assert (s_rep.rows_in, s_rep.rows_out, s_rep.customers, s_rep.dropped["missing_customer_id"]) == (7, 5, 3, 1)
    rfm = _rfm(s_con)
    got = {c: (int(r.recency_days), int(r.frequency), float(r.monetary)) for c, r in rfm.iterrows()}
    assert got == EXPECTED_RFM
    pd.testing.assert_frame_equal(rfm, _rfm(d_con), check_dtype=False)


#: the fixture's features as of 2011-01-22, by hand (see tests/fixtures.py): 0042 ordered 2 x 5.00 on 01-01 and 20.00
#: on 01-20; 0007 3 x 2.00 on 01-15 and returned one (C1003, 2.00); 0100 100.00 + 2 x 1.00 on 01-21; no categories
HAND_FEATURES = {
    "0042": {"recency_days": 2, "frequency": 2, "monetary": 30, "avg_order_value": 15, "tenure_days": 21,
             "mean_days_between": 19, "std_days_between": 0, "median_days_between": 19, "orders_30d": 2,
             "spend_30d": 30, "orders_90d": 2, "orders_trend_90d": 1, "spend_trend_90d": 1, "avg_basket_lines": 1,
             "avg_basket_quantity": 1.5, "n_products": 2, "n_categories": 0, "return_count": 0, "return_rate": 0},
    "0007": {"recency_days": 7, "frequency": 1, "monetary": 6, "avg_order_value": 6, "tenure_days": 7,
             "mean_days_between": 7, "std_days_between": 0, "median_days_between": 7, "spend_60d": 6,
             "avg_basket_lines": 1, "avg_basket_quantity": 3, "n_products": 1, "return_count": 1,
             "return_rate": 2 / (6 + 2)},
    "0100": {"recency_days": 1, "frequency": 1, "monetary": 102, "tenure_days": 1, "mean_days_between": 1,
             "spend_90d": 102, "spend_trend_90d": 1, "avg_basket_lines": 2, "avg_basket_quantity": 3,
             "n_products": 2, "return_count": 0, "return_rate": 0},
}


def test_features_same_on_both_engines_and_by_hand(hand_both, hand_spark_features, duckdb_engine):
    from pipeline.features import FEATURE_COLUMNS, customer_features
    from pipeline.ingest import fetch_transactions

    _, (s_con, s_rep), (d_con, d_rep) = hand_both
    assert _figures(s_rep) == _figures(d_rep) and s_rep.rows_out == 5
    spark_f, duck_f = hand_spark_features, _features(duckdb_engine, d_con)
    frames_f = customer_features(fetch_transactions(d_con, "tx"), fetch_transactions(d_con, "tx_returns"))
    assert list(spark_f.columns) == list(FEATURE_COLUMNS) and list(spark_f.index) == ["0007", "0042", "0100"]
    for cid, want in HAND_FEATURES.items():
        assert spark_f.loc[cid, list(want)].to_dict() == want, cid
    assert (spark_f["country"] == "United Kingdom").all()
    pd.testing.assert_frame_equal(spark_f, duck_f, check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(spark_f, frames_f, check_dtype=False, check_exact=True, check_names=False)


def test_partitioned_parquet_folder_and_glob(tmp_path, spark_engine, duckdb_engine):
    df = frame().assign(InvoiceDate=lambda d: pd.to_datetime(d["InvoiceDate"]))
    folder = tmp_path / "lake"
    for i, (key, part) in enumerate(df.groupby(df["InvoiceNo"].str[-1])):
        (folder / f"part={key}").mkdir(parents=True)
        part.to_parquet(folder / f"part={key}" / f"f{i}.parquet", index=False)
    reports = []
    for engine, source in ((spark_engine, folder), (spark_engine, folder / "*" / "*.parquet"),
                           (duckdb_engine, folder)):
        con, rep = engine.clean(str(source))
        reports.append(_figures(rep))
        assert {c: float(m) for c, m in _rfm(con)["monetary"].items()} == {c: v[2] for c, v in EXPECTED_RFM.items()}
    assert all(r == reports[0] for r in reports) and reports[0]["rows_in"] == 7


def test_parquet_folder_output(tmp_path, hand_both, spark_engine, duckdb_engine):
    _, (s_con, _), (d_con, _) = hand_both
    for engine, con in ((spark_engine, s_con), (duckdb_engine, d_con)):
        out = engine.write_parquet(con, "tx", tmp_path / engine.name)
        back = pd.read_parquet(out)
        assert out.is_dir() and len(back) == 5 and back["amount"].sum() == pytest.approx(138.0)


def _by_the_readme(path) -> tuple[int, int, int, float]:
    """(lines, customers, invoices, revenue) of an Online Retail export by the README's rules, in pandas: drop
    lines without CustomerID, cancellations (C…), Quantity <= 0, UnitPrice <= 0, then exact duplicates."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    qty, price = raw["Quantity"].astype(float), raw["UnitPrice"].astype(float)
    kept = raw[(raw["CustomerID"] != "") & ~raw["InvoiceNo"].str.startswith("C") & (qty > 0) & (price > 0)]
    kept = kept.drop_duplicates()
    revenue = (kept["Quantity"].astype(float) * kept["UnitPrice"].astype(float)).sum()
    return len(kept), kept["CustomerID"].nunique(), kept["InvoiceNo"].nunique(), round(float(revenue), 2)


def test_online_retail_report_and_rfm_same_on_both_engines(online_retail_both, online_retail_sample):
    (s_con, s_rep), (d_con, d_rep) = online_retail_both
    assert _figures(s_rep) == _figures(d_rep)
    lines, customers, invoices, revenue = _by_the_readme(online_retail_sample)
    assert (s_rep.rows_out, s_rep.customers, s_rep.invoices) == (lines, customers, invoices) == (34_619, 433, 1_724)
    assert s_rep.revenue == pytest.approx(revenue, abs=0.005) and revenue == 659_495.89
    # the sample holds every kind of line the cleaning drops from the whole file
    assert s_rep.rows_in == 43_480 and (s_rep.date_min, s_rep.date_max) == ("2010-12-01 08:34:00",
                                                                              "2011-12-09 12:25:00")
    assert {k for k, n in s_rep.dropped.items() if n} == {"missing_customer_id", "cancellation_or_return",
                                                          "nonpositive_price", "duplicate_row"}
    s, d = _rfm(s_con), _rfm(d_con)
    assert list(s.index) == list(d.index) and len(s) == customers
    for col in ("recency_days", "frequency", "tenure_days", "r_score", "f_score", "m_score"):
        assert (s[col].to_numpy() == d[col].to_numpy()).all(), col
    assert np.abs(s["monetary"] - d["monetary"]).max() <= 1e-6
    assert (s["segment"] == d["segment"]).all()
    assert s["monetary"].sum() == pytest.approx(revenue, abs=1e-6)


def test_online_retail_features_and_batch_scores(tmp_path, online_retail_both, spark_engine, duckdb_engine):
    from pipeline.engines.features import score
    from pipeline.models.persist import build_metadata, save_model
    from pipeline.models.zoo import build_pipeline, feature_types

    (s_con, _), (d_con, _) = online_retail_both
    s_f, d_f = _features(spark_engine, s_con), _features(duckdb_engine, d_con)
    assert len(s_f) == 433 and (s_f["country"] == d_f["country"]).all()
    pd.testing.assert_frame_equal(s_f, d_f, check_exact=False, rtol=0, atol=1e-6)
    counts = [c for c in s_f.columns if c.startswith(("frequency", "orders_", "n_", "return_count"))]
    assert (s_f[counts] == d_f[counts]).all().all()
    # a model trained on one machine (labels: more than two orders), saved, then scored by both engines
    y = (d_f["frequency"] > 2).astype(int)
    X = d_f.drop(columns=["frequency"])
    types = feature_types(X)
    model = build_pipeline("logreg", types).fit(X, y)
    meta = build_metadata("logreg", "Logistic regression", "repeat", X, y, types, [0, 1], {})
    folder = save_model(model, meta, tmp_path / "model")
    on_spark = spark_engine.to_pandas(score(spark_engine, s_con, folder)).set_index("customer_id").sort_index()
    on_duck = score(duckdb_engine, d_con, folder).set_index("customer_id").sort_index()
    one_machine = model.predict_proba(X)[:, 1]
    assert list(on_spark.index) == list(X.index)
    assert np.abs(on_spark["score"].to_numpy() - one_machine).max() <= 1e-9
    assert np.abs(on_duck["score"].to_numpy() - one_machine).max() <= 1e-9


def test_cli_rfm_and_score_on_spark(tmp_path, hand_both, hand_spark_features, capsys):
    import json

    from pipeline.cli import main
    from pipeline.models.persist import build_metadata, save_model
    from pipeline.models.zoo import build_pipeline, feature_types

    path = hand_both[0]
    assert main(["rfm", "--engine", "spark", str(path), "--out", str(tmp_path / "rfm.csv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["customers"], printed["revenue"]) == (3, 138.0)
    assert set(pd.read_csv(tmp_path / "rfm.csv")["monetary"]) == {30.0, 6.0, 102.0}
    X = hand_spark_features
    y = pd.Series([0, 1, 1], index=X.index)
    model = build_pipeline("logreg", feature_types(X)).fit(X, y)
    folder = save_model(model, build_metadata("logreg", "LR", "y", X, y, feature_types(X), [0, 1], {}),
                        tmp_path / "m")
    out = tmp_path / "scores"
    assert main(["score", "--engine", "spark", "--model", str(folder), str(path), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    scores = pd.read_parquet(out).set_index("customer_id").sort_index()
    assert printed["engine"] == "spark" and len(scores) == 3
    assert np.abs(scores["score"].to_numpy() - model.predict_proba(X)[:, 1]).max() <= 1e-9
    assert main(["score", "--engine", "spark", "--model", str(tmp_path), str(path), "--out", str(out)]) == 2


def test_catalog_table_source_same_as_the_file(hand_both, spark_engine):
    """``table:NAME`` reads a table of the Spark catalog (here a global temporary view, which every session sees)."""
    df = frame().assign(InvoiceDate=lambda d: pd.to_datetime(d["InvoiceDate"]))
    spark_engine.spark.createDataFrame(df).createOrReplaceGlobalTempView("fixture_orders")
    _, from_table = spark_engine.clean("table:global_temp.fixture_orders")
    from_file = hand_both[2][1]
    assert _figures(from_table) == _figures(from_file) and from_table.rows_in == 7


def test_jdbc_source_reads_a_postgresql_table(tmp_path, spark_engine, duckdb_engine, monkeypatch):
    """``jdbc:URL#TABLE`` on the test PostgreSQL server, with Debian's JDBC driver on Spark's classpath."""
    import uuid

    from spark_support import JDBC_JAR
    from sqlalchemy import create_engine, text

    if JDBC_JAR not in (spark_engine.settings.jars or ""):
        unavailable(f"no PostgreSQL JDBC driver at {JDBC_JAR} (apt-get install libpostgresql-jdbc-java)")
    db = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        with db.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - no server here
        unavailable(f"PostgreSQL at 127.0.0.1:5432 unreachable: {str(exc).splitlines()[0]}")
    name = f"spark_orders_{uuid.uuid4().hex[:8]}"
    frame().assign(InvoiceDate=lambda d: pd.to_datetime(d["InvoiceDate"])).to_sql(name, db, index=False)
    monkeypatch.setenv("SEGMENTS_JDBC_USER", "postgres")
    try:
        con, report = spark_engine.clean(f"jdbc:postgresql://127.0.0.1:5432/test#public.{name}")
        _, from_file = duckdb_engine.clean(str(_write(tmp_path, "csv_utf8")))
        assert _figures(report) == _figures(from_file) and report.rows_out == 5
        assert {c: float(m) for c, m in _rfm(con)["monetary"].items()} == {c: v[2] for c, v in EXPECTED_RFM.items()}
    finally:
        with db.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        db.dispose()


def test_utf16_text_is_refused_on_spark_with_the_fix(tmp_path, spark_engine):
    """Spark's CSV reader mis-splits UTF-16 lines: a clear error naming the fix, never garbled values."""
    from pipeline.errors import DataError

    path = _write(tmp_path, "csv_utf16")
    with pytest.raises(DataError, match="Convert it to UTF-8"):
        spark_engine.clean(str(path))
