"""Spark fixtures shared by the ``spark`` test files: one local SparkSession for the whole run, the DuckDB engine
beside it, and Online Retail cleaned once on each (loaded by conftest as a pytest plugin)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import dataset, require_module, unavailable

#: Debian's PostgreSQL JDBC driver (package libpostgresql-jdbc-java, installed by .ci/run)
JDBC_JAR = "/usr/share/java/postgresql.jar"


@pytest.fixture(scope="session")
def spark_engine():
    """One local[2] SparkSession for the whole run (small shuffle, no UI)."""
    require_module("pyspark", "PySpark is not installed (pip install -r requirements-spark.txt)")
    require_module("sqlglot", "SQLGlot is not installed (pip install -r requirements-spark.txt)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        unavailable("Spark needs Java 17 (no java on PATH, no JAVA_HOME)")
    from pipeline.engines.spark import SparkEngine, SparkSettings

    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")   # engines built later in the run (get_engine) alike
    jdbc = Path(JDBC_JAR)
    engine = SparkEngine(SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g",
                                       jars=str(jdbc) if jdbc.is_file() else None))
    engine.spark  # start it once
    yield engine
    engine.spark.stop()


@pytest.fixture(scope="session")
def duckdb_engine():
    from pipeline.engines.duckdb import DuckDBEngine

    return DuckDBEngine()


@pytest.fixture(scope="session")
def online_retail_both(spark_engine, duckdb_engine):
    path = str(dataset("online_retail.csv"))
    return spark_engine.clean(path), duckdb_engine.clean(path)
