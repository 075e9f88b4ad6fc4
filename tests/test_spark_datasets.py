"""Datasets built on Spark (``build_dataset(engine="spark")``, ``SEGMENTS_ENGINE=spark``, ``campaign --engine``) are
the DuckDB datasets: Spark reads and cleans, writes the cleaned lines to Parquet, and they are read back here.

The hand-checked 7-row fixture (tests/fixtures.py): 5 lines kept in 4 invoices of 3 customers, £138.00, one
line without a customer id and one cancellation (C1003) dropped, dates 2011-01-01 09:00 to 2011-01-21 13:00.
Marked ``spark``: skipped with the reason when PySpark or Java is missing.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from fixtures import as_bytes, frame

pytestmark = pytest.mark.spark

_FIGURES = ("rows_in", "rows_out", "dropped", "customers", "invoices", "revenue", "return_lines", "date_format",
            "date_min", "date_max", "monetary_unit")
#: the fixture's figures, counted by hand (see the module docstring)
_HAND = {"rows_in": 7, "rows_out": 5, "customers": 3, "invoices": 4, "revenue": 138.0, "return_lines": 1,
         "date_min": "2011-01-01 09:00:00", "date_max": "2011-01-21 13:00:00"}


def _write(tmp_path, variant: str):
    name, data = as_bytes(variant)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _same_lines(a, b) -> None:
    pd.testing.assert_frame_equal(_sorted(a.transactions), _sorted(b.transactions))
    pd.testing.assert_frame_equal(_sorted(a.returns), _sorted(b.returns))
    assert {k: a.report[k] for k in _FIGURES} == {k: b.report[k] for k in _FIGURES}
    assert a.mapping == b.mapping and a.kind == b.kind == "transactions"


def test_build_dataset_on_spark_equals_duckdb(tmp_path, spark_engine, monkeypatch):
    from pipeline.ingest import build_dataset

    stage = tmp_path / "stage"
    monkeypatch.setenv("SEGMENTS_STAGING_DIR", str(stage))
    path = _write(tmp_path, "csv_latin1_semicolon_dayfirst_comma")     # cp1252, ';', day-first, decimal comma
    spark = build_dataset(path, path.name, engine="spark")
    duck = build_dataset(path, path.name, engine="duckdb")
    _same_lines(spark, duck)
    assert {k: spark.report[k] for k in _HAND} == _HAND
    dropped = spark.report["dropped"]
    assert dropped["missing_customer_id"] == dropped["cancellation_or_return"] == 1 and sum(dropped.values()) == 2
    assert spark.transactions["product_name"].iloc[0] == "Café mug £"             # read as cp1252 on Spark
    assert spark.returns["invoice_id"].tolist() == ["C1003"] and spark.returns["quantity"].tolist() == [1.0]
    assert spark.id == duck.id                                                     # the file's content hash
    assert (spark.extra["engine"], duck.extra["engine"], spark.report["engine"]) == ("spark", "duckdb", "spark")
    assert spark.extra["currency"] == duck.extra["currency"] == "GBP"
    assert any("Apache Spark" in n for n in spark.report["notes"]) and stage.is_dir() and not any(stage.iterdir())
    # Excel stays on DuckDB, and says so
    xlsx = _write(tmp_path, "excel")
    on_duck = build_dataset(xlsx, xlsx.name, engine="spark")
    assert on_duck.extra["engine"] == "duckdb" and "Excel files are read on DuckDB" in on_duck.extra["engine_note"]
    assert on_duck.extra["engine_note"] in on_duck.report["notes"] and on_duck.report["rows_out"] == 5


def test_engine_from_environment_reads_a_partitioned_folder_source(tmp_path, spark_engine, monkeypatch):
    """SEGMENTS_ENGINE=spark through the default path: a health source naming a hive-partitioned Parquet folder
    (what a refresh re-reads) gives the single file's dataset; so does the service's dataset on DuckDB."""
    from pipeline.health.sources import Source, read_source
    from pipeline.ingest import build_dataset

    df = frame().assign(InvoiceDate=lambda d: pd.to_datetime(d["InvoiceDate"]))
    lake = tmp_path / "lake"
    for i, (key, part) in enumerate(df.groupby(df["InvoiceNo"].str[-1])):
        (lake / f"part={key}").mkdir(parents=True)
        part.to_parquet(lake / f"part={key}" / f"f{i}.parquet", index=False)
    single = _write(tmp_path, "parquet")
    duck = build_dataset(single, single.name)                   # no engine set: DuckDB, the one-file read path
    assert duck.extra["engine"] == "duckdb" and "engine_note" not in duck.extra
    from service.scoring import resolve_dataset

    ws, on_duck = resolve_dataset(str(lake), None)          # the service, default engine: the folder on DuckDB
    assert ws is None and on_duck.extra["engine"] == "duckdb"
    _same_lines(on_duck, duck)
    monkeypatch.setenv("SEGMENTS_ENGINE", "spark")
    ds = read_source(Source("file", path=str(lake)))
    _same_lines(ds, duck)
    assert {k: ds.report[k] for k in _HAND} == _HAND
    assert ds.extra["engine"] == "spark" and ds.extra["location"] == str(lake) and ds.extra["files"] == 5
    assert ds.extra["format"] == "parquet" and "part" not in ds.mapping.values()
    with pytest.raises(Exception, match="no longer exists"):
        read_source(Source("file", path=str(tmp_path / "gone")))


def test_cli_campaign_engine_spark_gives_the_same_list(tmp_path, spark_engine, capsys):
    from pipeline.cli import main
    from pipeline.ingest import generate_raw

    path = tmp_path / "shop.csv"
    generate_raw(n_customers=100, seed=5).to_csv(path, index=False)
    lists, summaries = {}, {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"{engine}.csv"
        code = main(["campaign", str(path), "--out", str(out), "--engine", engine])
        summaries[engine] = json.loads(capsys.readouterr().out)
        assert code == 0
        lists[engine] = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    assert len(lists["spark"]) == summaries["spark"]["customers"] == 100        # every customer: no audience filter
    pd.testing.assert_frame_equal(lists["spark"], lists["duckdb"])
    assert summaries["spark"] == summaries["duckdb"] | {"out": summaries["spark"]["out"]}
