"""Spark fixtures shared by the ``spark`` test files: one local SparkSession for the whole run, the DuckDB engine
beside it, and a fixed sample of Online Retail cleaned once on each (loaded by conftest as a pytest plugin).

The engines are compared on :func:`online_retail_sample` (real lines, every kind of odd row the whole file has),
not on the whole file: equality on a fixed real sample proves the same thing, and the whole file's published
figures are checked on DuckDB (tests/test_ingest_rfm.py, tests/test_churn.py, ``online_retail_duckdb`` here).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import dataset, require_module, unavailable

#: Debian's PostgreSQL JDBC driver (package libpostgresql-jdbc-java, installed by .ci/run)
JDBC_JAR = "/usr/share/java/postgresql.jar"


def sample_online_retail(src: Path, out: Path) -> Path:
    """Write to ``out`` the lines of Online Retail ``src`` (header kept, lines copied byte for byte, in the file's
    order) of every customer whose id ends in 7 (437 customers, 12347 among them: all their orders, cancellations,
    duplicates and zero prices), of one invoice in 20 among the lines without a customer id (invoice number
    ≡ 7 mod 20) and the three "Adjust bad debt" lines (``A…`` invoices): about 43,500 of 541,909 lines, dated
    2010-12-01 to 2011-12-09 like the whole file."""
    digits = re.compile(rb"\D")
    with open(src, "rb") as f, open(out, "wb") as w:
        w.write(f.readline())
        for line in f:
            invoice = line.split(b",", 1)[0]
            customer = line.rsplit(b",", 2)[1]         # CustomerID, Country (no commas in either)
            if customer:
                keep = int(customer) % 10 == 7
            else:
                keep = invoice.startswith(b"A") or int(digits.sub(b"", invoice)) % 20 == 7
            if keep:
                w.write(line)
    return out


@pytest.fixture(scope="session")
def spark_engine():
    """One local[2] SparkSession for the whole run (small shuffle, no UI, the JVM's quick compiler only)."""
    require_module("pyspark", "PySpark is not installed (pip install -r requirements-spark.txt)")
    require_module("sqlglot", "SQLGlot is not installed (pip install -r requirements-spark.txt)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        unavailable("Spark needs Java 17 (no java on PATH, no JAVA_HOME)")
    from pipeline.engines.spark import SparkEngine, SparkSettings

    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")   # engines built later in the run (get_engine) alike
    # the tests run many small queries once each: the JVM's quick compiler alone (no C2) halves their CPU time;
    # it changes how fast the driver's own code runs, never what a query computes
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell")
    jdbc = Path(JDBC_JAR)
    engine = SparkEngine(SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g",
                                       jars=str(jdbc) if jdbc.is_file() else None))
    assert engine.spark is not None  # start it once
    yield engine
    engine.spark.stop()


@pytest.fixture(scope="session")
def duckdb_engine():
    from pipeline.engines.duckdb import DuckDBEngine

    return DuckDBEngine()


@pytest.fixture(scope="session")
def online_retail_sample(tmp_path_factory) -> Path:
    """The fixed Online Retail sample (:func:`sample_online_retail`), written once per run."""
    return sample_online_retail(dataset("online_retail.csv"), tmp_path_factory.mktemp("spark") / "online_retail.csv")


@pytest.fixture(scope="session")
def online_retail_both(spark_engine, duckdb_engine, online_retail_sample):
    """The sample cleaned on Spark and on DuckDB: ((connection, report), (connection, report))."""
    path = str(online_retail_sample)
    return spark_engine.clean(path), duckdb_engine.clean(path)


@pytest.fixture(scope="session")
def online_retail_duckdb(duckdb_engine):
    """The whole Online Retail file cleaned on DuckDB (connection, report): for whole-file figures only."""
    return duckdb_engine.clean(str(dataset("online_retail.csv")))
