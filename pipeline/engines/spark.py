"""The Spark engine: a SparkSession, inputs at scale read as text, and a connection that runs the project's DuckDB SQL.

:class:`SparkConnection` answers the small part of DuckDB's connection API that cleaning and RFM use
(``execute(sql, params)`` with ``fetchone``/``fetchall``/``df``, ``register``), translating each statement with
:func:`pipeline.engines.sql.to_spark`. ``CREATE [TEMP] TABLE|VIEW name AS SELECT`` becomes a temp view, persisted
(memory, spilling to disk) for tables and the canonical ``tx`` view so that later queries do not re-read the input.
Only results the caller asks for cross to the driver: counts, one row per customer; order lines never do.

Spark is ``local[*]`` unless ``SPARK_MASTER`` names a cluster master or ``SPARK_REMOTE`` a Spark Connect server.
The session runs in UTC with naive (``TIMESTAMP_NTZ``) timestamps, as DuckDB does. PySpark is imported lazily: the
DuckDB path never loads it.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.engines.base import Engine, Source
from pipeline.engines.sql import to_spark
from pipeline.errors import DataError
from pipeline.ingest.read import PREVIEW_ROWS, SPREAD_ROWS, RawTable

__all__ = ["SparkSettings", "SparkConnection", "SparkEngine", "spark_session"]

_CREATE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?(TABLE|VIEW)\s+(\w+)\s+AS\s+(.*)$",
                     re.IGNORECASE | re.DOTALL)
_DESCRIBE = re.compile(r"^\s*DESCRIBE\s+(\w+)\s*$", re.IGNORECASE)
_DROP = re.compile(r"^\s*DROP\s+(?:VIEW|TABLE)\s+(?:IF\s+EXISTS\s+)?(\w+)\s*$", re.IGNORECASE)
#: Python codec names the sniffer reports -> Java charset names
_JAVA_CHARSETS = {"cp1252": "windows-1252", "latin-1": "ISO-8859-1", "latin1": "ISO-8859-1", "utf-8-sig": "UTF-8"}
#: JDBC driver class per URL scheme (jdbc:<scheme>:…); its jar must be on Spark's classpath (SPARK_JARS);
#: ``SEGMENTS_JDBC_DRIVER`` names another
_JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "com.mysql.cj.jdbc.Driver",
                 "mariadb": "org.mariadb.jdbc.Driver", "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
                 "oracle": "oracle.jdbc.OracleDriver", "snowflake": "net.snowflake.client.jdbc.SnowflakeDriver"}
#: views persisted like tables: the canonical transactions every later step reads
_PERSISTED_VIEWS = frozenset({"tx"})
#: SQL settings of every session (each connection has its own session; see SparkEngine.session)
_SESSION_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_NTZ",
                 "spark.sql.legacy.timeParserPolicy": "CORRECTED", "spark.sql.legacy.javaCharsets": "true",
                 "spark.sql.execution.arrow.pyspark.enabled": "true"}


@dataclass(frozen=True)
class SparkSettings:
    """How the SparkSession is built (environment: ``SPARK_MASTER``, ``SPARK_REMOTE``, ``SPARK_DRIVER_MEMORY``,
    ``SPARK_SHUFFLE_PARTITIONS``, ``SPARK_JARS``)."""

    master: str | None = field(default_factory=lambda: os.environ.get("SPARK_MASTER") or None)  # None: local[*],
    # or the --master of spark-submit
    remote: str | None = field(default_factory=lambda: os.environ.get("SPARK_REMOTE") or None)
    driver_memory: str = field(default_factory=lambda: os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    shuffle_partitions: int = field(default_factory=lambda: int(os.environ.get("SPARK_SHUFFLE_PARTITIONS", "8")))
    jars: str | None = field(default_factory=lambda: os.environ.get("SPARK_JARS") or None)  # comma-separated
    # jar paths put on Spark's classpath, e.g. a JDBC driver (/usr/share/java/postgresql.jar)
    ui: bool = False
    app_name: str = "customer-segments"


def spark_session(settings: SparkSettings | None = None) -> Any:
    """The process's SparkSession (created on first use). Raises DataError when PySpark or Java is missing."""
    s = settings or SparkSettings()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError("The Spark engine needs PySpark: pip install -r requirements-spark.txt (and Java 17).") \
            from exc
    if not s.remote and (s.master or "local").startswith("local"):
        # local workers run this interpreter (a venv's), not whatever `python3` is first on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(s.app_name)
    if s.remote:
        builder = builder.remote(s.remote)
    elif s.master:
        builder = builder.master(s.master)
    conf = {**_SESSION_CONF, "spark.sql.shuffle.partitions": str(s.shuffle_partitions)}
    if not s.remote:            # a Spark Connect server has its own driver, UI and classpath
        conf |= {"spark.ui.enabled": str(s.ui).lower(), "spark.driver.memory": s.driver_memory,
                 "spark.ui.showConsoleProgress": "false"} | ({"spark.jars": s.jars} if s.jars else {})
    for k, v in conf.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable: one clear message
        where = s.remote or s.master or "local[*]"
        raise DataError(f"Could not start Spark ({where}): {str(exc).splitlines()[0]}. Spark needs Java 17 "
                        "(JAVA_HOME) and PySpark.") from exc
    if not s.remote:            # a Spark Connect client has no SparkContext; the server keeps its own log level
        spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "ERROR"))
    for k in (*_SESSION_CONF, "spark.sql.shuffle.partitions"):   # the session may have existed already
        spark.conf.set(k, conf[k])
    return spark


class SparkResult:
    """The rows of one query, fetched like a DuckDB result (only as many as asked for)."""

    def __init__(self, frame: Any):
        self.frame = frame

    def fetchone(self) -> tuple | None:
        rows = self.frame.take(1) if self.frame is not None else []
        return tuple(rows[0]) if rows else None

    def fetchall(self) -> list[tuple]:
        return [tuple(r) for r in self.frame.collect()] if self.frame is not None else []

    def df(self) -> pd.DataFrame:
        out = self.frame.toPandas()
        for c in out.columns:   # Spark's INT results are DuckDB's BIGINT
            if str(out[c].dtype) in ("int32", "int16", "int8"):
                out[c] = out[c].astype("int64")
        return out


class SparkConnection:
    """A DuckDB-like connection over a SparkSession: the project's DuckDB SQL, run by Spark."""

    def __init__(self, spark: Any):
        self.spark = spark
        self._persisted: dict[str, Any] = {}

    def execute(self, sql: str, params: list | tuple | None = None) -> SparkResult:
        """Run one DuckDB statement (``?`` parameters inlined) on Spark."""
        if m := _DESCRIBE.match(sql):
            rows = [(name, kind) for name, kind in self.spark.table(m.group(1)).dtypes]
            return SparkResult(self.spark.createDataFrame(rows, "column_name string, column_type string"))
        if m := _DROP.match(sql):
            self._forget(m.group(1))
            self.spark.catalog.dropTempView(m.group(1))
            return SparkResult(None)
        if m := _CREATE.match(sql):
            kind, name, body = m.groups()
            self.create_view(name, self.spark.sql(to_spark(body, params)),
                             persist=kind.upper() == "TABLE" or name in _PERSISTED_VIEWS)
            return SparkResult(None)
        return SparkResult(self.spark.sql(to_spark(sql, params)))

    def create_view(self, name: str, frame: Any, persist: bool = False) -> None:
        """Name a Spark DataFrame as a temp view, persisted (memory, then disk) when ``persist``."""
        self._forget(name)
        if persist:
            frame = frame.persist()
            self._persisted[name] = frame
        frame.createOrReplaceTempView(name)

    def table(self, name: str) -> Any:
        """The Spark DataFrame behind a view."""
        return self.spark.table(name)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """A small pandas frame as a temp view (as ``duckdb.register``)."""
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)

    def close(self) -> None:
        """Release persisted views."""
        for name in list(self._persisted):
            self._forget(name)

    def _forget(self, name: str) -> None:
        old = self._persisted.pop(name, None)
        if old is not None:
            old.unpersist()


class SparkEngine(Engine):
    """Cleaning, RFM, features and scoring on Apache Spark (local or a cluster)."""

    name = "spark"

    def __init__(self, settings: SparkSettings | None = None, spark: Any = None):
        self.settings = settings or SparkSettings()
        self._spark = spark

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = spark_session(self.settings)
        return self._spark

    def open_source(self, source: Source) -> RawTable:
        con = SparkConnection(self.session())
        frame = _text_columns(self._read(source, con.spark))
        con.create_view("raw", frame)
        head = frame.limit(PREVIEW_ROWS).toPandas()
        if head.empty:
            raise DataError(f"{source.location!r} has no data rows.")
        n = frame.count()
        if n <= SPREAD_ROWS:        # as on DuckDB: a small input is its own sample
            spread = frame.toPandas()
        else:
            spread = pd.concat([head.head(200), frame.sample(False, min(1.0, 2 * SPREAD_ROWS / n), seed=0)
                                .limit(SPREAD_ROWS).toPandas()], ignore_index=True)
        return RawTable(con, list(frame.columns), head, table="raw", spread=spread)

    def session(self) -> Any:
        """A new session over the shared SparkContext for one connection: its own temp views (``raw``, ``tx``…),
        so two datasets cleaned in one process never see each other's tables. Spark Connect shares one."""
        try:
            session = self.spark.newSession()
        except Exception:  # Spark Connect: no newSession
            return self.spark
        for k, v in _SESSION_CONF.items():
            session.conf.set(k, v)
        session.conf.set("spark.sql.shuffle.partitions", str(self.settings.shuffle_partitions))
        return session

    def _read(self, source: Source, spark: Any) -> Any:
        reader = spark.read
        if source.kind == "table":
            return spark.table(source.location)
        if source.kind == "jdbc":
            url, _, table = source.location.partition("#")
            driver = os.environ.get("SEGMENTS_JDBC_DRIVER") or _JDBC_DRIVERS.get(url.split(":")[1] if ":" in url
                                                                                else "")
            props = {k: v for k, v in (("user", os.environ.get("SEGMENTS_JDBC_USER")),
                                        ("password", os.environ.get("SEGMENTS_JDBC_PASSWORD")),
                                        ("driver", driver)) if v}
            return reader.jdbc(url, table, properties=props)
        files = source.files()
        location = source.location if source.remote else str(Path(source.location).absolute())  # a Connect
        if source.format(files) == "parquet":                                   # server has its own working folder
            return reader.option("mergeSchema", "true").parquet(location)
        info = source.csv_info(files)
        if info.encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
            raise DataError(f"{source.location!r} is {info.encoding} text, which Spark's CSV reader splits into "
                            "lines wrongly (the last column keeps a stray character). Convert it to UTF-8 (e.g. "
                            "iconv -f UTF-16 -t UTF-8) or Parquet, or read a single file on the default engine.")
        encoding = _JAVA_CHARSETS.get(info.encoding.lower(), info.encoding)
        return reader.csv(location, header=info.header, sep=info.delimiter, encoding=encoding,
                          quote='"', escape='"', inferSchema=False, mode="PERMISSIVE", multiLine=False)

    def write_parquet(self, con: SparkConnection, table: str, out: str | Path) -> Path:
        con.table(table).write.mode("overwrite").parquet(str(out))
        return Path(out)

    def map_batches(self, con: SparkConnection, table: str, fn, schema: str) -> Any:
        """``fn`` (pandas frame -> pandas frame) over the rows of ``table`` in parallel (``mapInPandas``)."""
        return con.table(table).mapInPandas(lambda batches: (fn(b) for b in batches), schema)

    def write_frame(self, frame: Any, out: str | Path) -> Path:
        frame.write.mode("overwrite").parquet(str(out))
        return Path(out)

    def to_pandas(self, frame: Any) -> pd.DataFrame:
        return SparkResult(frame).df()


def _text_columns(frame: Any) -> Any:
    """Every column as text (typing is cleaning's job, as on DuckDB)."""
    from pyspark.sql import functions as F

    return frame.select([F.col(f"`{c}`").cast("string").alias(c) for c in frame.columns])

