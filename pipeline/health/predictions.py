"""The prediction log: every churn score served or batch-scored, joined later with what really happened.

One row per prediction in the table ``health_predictions`` (SQLAlchemy; the service's database,
``SEGMENTS_DATABASE_URL``, default SQLite ``service.db`` in the workspace root): dataset, customer, what produced
the score (``churn_source``: ``model``, or the rule used while the model is withheld on the dataset, ``recency`` or
``btyd``; see :class:`pipeline.customer.facts.ChurnRisk`), the model version (only when the model produced the
score; ``""`` for a rule's), score, band, the day the score speaks about (``as_of``), when it was made, and by whom
(``service`` or ``batch``). Once the dataset holds H days of purchases after ``as_of``,
:meth:`PredictionLog.join_outcomes` writes the realised outcome (1 = no purchase in ``[as_of, as_of + H)``);
:meth:`PredictionLog.realised` then gives ROC AUC, precision in the riskiest share, Brier score and calibration per
month and per model version or rule, next to the base-rate baseline: a model is graded on its own scores only.

The table is declared once (``_table``); its schema is versioned (:data:`MIGRATIONS`, recorded in
``health_predictions_schema``, DDL derived from the declaration by :mod:`pipeline.dbschema`). The log lives in the
service's database: the service's migrations bring it up to date at start-up (:func:`migrate`, under the same
lock), and the app and ``refresh``, which may open it without the service, migrate it when they open it. Rows
logged before version 2 have no ``churn_source`` and are read as the model's, as they were.
"""
from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (Column, Connection, DateTime, Engine, Float, Index, Integer, MetaData, String, Table,
                        bindparam, select, update)
from sqlalchemy.exc import DBAPIError

from pipeline.config import HORIZON_DAYS, HealthConfig, workspace_root
from pipeline.dbschema import add_columns, apply, as_of, lock
from pipeline.errors import DataError
from pipeline.log import logger

__all__ = ["TABLE_NAME", "MIGRATIONS", "SOURCE_LABELS", "migrate", "database_url", "PredictionLog", "prediction_log",
           "card_row", "ServedLog", "served_log"]

TABLE_NAME = "health_predictions"
_md = MetaData()
_table = Table(
    TABLE_NAME, _md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("model_version", String(96), nullable=False),
    Column("score", Float, nullable=False),
    Column("band", String(16), nullable=False),
    Column("as_of", DateTime, nullable=False),
    Column("scored_at", DateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("outcome", Integer, nullable=True),
    Column("outcome_at", DateTime, nullable=True),
    Column("churn_source", String(16), nullable=True),      # model | recency | btyd; NULL: logged before v2 (model)
)
Index("ix_health_predictions_pending", _table.c.dataset, _table.c.outcome, _table.c.as_of)
_schema = Table("health_predictions_schema", _md,
                Column("version", Integer, primary_key=True, autoincrement=False),
                Column("applied_at", DateTime, nullable=False))
#: How a rule's rows are named where a model version would stand (Model health's realised table and chart); the keys
#: are the rules of :data:`pipeline.customer.facts.RULES` (a test keeps them equal).
SOURCE_LABELS = {"recency": "Recency rule (used while the model is withheld)",
                 "btyd": "BG/NBD score (used while the model is withheld)"}
_ready: weakref.WeakSet = weakref.WeakSet()
_engines: dict[str, Engine] = {}


def _v1_initial(conn: Connection) -> None:
    """health_predictions as first shipped (created only when missing: the log predates its versions)."""
    as_of(_table, MetaData(), later_columns=("churn_source",)).create(conn, checkfirst=True)


def _v2_churn_source(conn: Connection) -> None:
    """health_predictions.churn_source: what produced each score (model, recency or btyd)."""
    add_columns(conn, _table, ["churn_source"])


#: (version, function) of the prediction log's schema; append only, never change what a shipped one does.
MIGRATIONS = [(1, _v1_initial), (2, _v2_churn_source)]


def migrate(conn: Connection) -> int:
    """Bring the log's tables to the newest version inside ``conn``'s transaction, which holds the schema lock
    (:func:`pipeline.dbschema.lock`; :func:`service.migrations.upgrade` calls this within its own)."""
    return apply(conn, _schema, MIGRATIONS)


def _upgrade(engine: Engine, attempts: int = 5) -> int:
    """:func:`migrate` in a transaction of its own under the schema lock (PostgreSQL: concurrent openers and the
    service's start-up wait for each other). SQLite: the write lock serialises writers, and a writer that lost a
    race (the other one's DDL committed first) retries and finds the work done."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                lock(conn)
                return migrate(conn)
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def database_url() -> str:
    """``SEGMENTS_DATABASE_URL``, else SQLite ``service.db`` in the workspace root (the service's default)."""
    url = os.environ.get("SEGMENTS_DATABASE_URL", "")
    if url:
        return url
    root = workspace_root()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'service.db').resolve()}"


class PredictionLog:
    """Record predictions and their outcomes. ``engine``: an SQLAlchemy engine (a service passes its own) or a URL
    (default :func:`database_url`)."""

    def __init__(self, engine: Engine | str | None = None):
        if not isinstance(engine, Engine):
            from pipeline.health.sources import make_engine

            url = engine or database_url()
            engine = _engines.setdefault(url, make_engine(url))
        self.engine = engine
        if engine not in _ready:
            _upgrade(engine)
            _ready.add(engine)

    def record(self, dataset_id: str, rows: pd.DataFrame | Iterable[Mapping[str, Any]],
               source: str = "batch") -> int:
        """Append predictions: rows with ``customer_id, score, band, model_version, as_of`` and optionally
        ``churn_source`` (what produced the score, see :data:`pipeline.customer.facts.RULES`; default ``model``).
        A rule's row keeps no model version (the model did not produce it). Returns the count."""
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if frame.empty:
            return 0
        missing = [c for c in ("customer_id", "score", "band", "model_version", "as_of") if c not in frame]
        if missing:
            raise DataError(f"prediction log: rows lack {missing}.")
        made_by = frame["churn_source"].fillna("model").astype(str) if "churn_source" in frame else \
            pd.Series("model", index=frame.index)
        unknown = sorted(set(made_by) - {"model", *SOURCE_LABELS})
        if unknown:
            raise DataError(f"prediction log: churn_source {unknown} is not one of {['model', *SOURCE_LABELS]}.")
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        records = [{"dataset": dataset_id, "customer_id": str(r.customer_id)[:64], "churn_source": by,
                    "model_version": str(r.model_version)[:96] if by == "model" else "", "score": float(r.score),
                    "band": str(r.band)[:16], "as_of": pd.Timestamp(r.as_of).to_pydatetime(), "scored_at": now,
                    "source": source}
                   for r, by in zip(frame.itertuples(index=False), made_by)]
        with self.engine.begin() as conn:
            conn.execute(_table.insert(), records)
        return len(records)

    def record_card(self, dataset_id: str, card: Mapping[str, Any], source: str = "service",
                    model_version: str | None = None) -> bool:
        """Record the churn score of one customer card (``customer_id, churn_probability, risk_band, as_of``; the
        version is ``model_version`` or the card's); False (nothing written) when the card has no churn score."""
        row = card_row(card, model_version)
        if row is not None:
            self.record(dataset_id, [row], source)
        return row is not None

    def frame(self, dataset_id: str) -> pd.DataFrame:
        """Every logged prediction of a dataset (``churn_source`` ``model`` for rows logged before it was kept)."""
        with self.engine.connect() as conn:
            out = pd.read_sql(select(_table).where(_table.c.dataset == dataset_id), conn)
        return out.assign(churn_source=out["churn_source"].fillna("model").astype(str))

    def join_outcomes(self, dataset_id: str, transactions: pd.DataFrame,
                      horizon_days: int = HORIZON_DAYS) -> int:
        """Write the outcome of every pending prediction whose H-day window lies inside the data; returns how many."""
        from pipeline.churn import data_span

        with self.engine.connect() as conn:
            pending = pd.read_sql(select(_table.c.id, _table.c.customer_id, _table.c.as_of).where(
                (_table.c.dataset == dataset_id) & _table.c.outcome.is_(None)), conn)
        if pending.empty:
            return 0
        end = data_span(transactions)[1]
        h = pd.Timedelta(days=int(horizon_days))
        pending = pending.assign(as_of=pd.to_datetime(pending["as_of"]).dt.normalize())
        pending = pending[pending["as_of"] + h <= end]
        if pending.empty:
            return 0
        dates, ids = pd.to_datetime(transactions["date"]), transactions["customer_id"].astype(str)
        outcome = pd.Series(1, index=pending.index)
        for day, group in pending.groupby("as_of"):
            buyers = set(ids[(dates >= day) & (dates < day + h)])
            outcome[group.index] = (~group["customer_id"].astype(str).isin(buyers)).astype(int)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        params = [{"rid": int(i), "out": int(o), "at": now} for i, o in zip(pending["id"], outcome)]
        stmt = update(_table).where(_table.c.id == bindparam("rid")).values(outcome=bindparam("out"),
                                                                            outcome_at=bindparam("at"))
        with self.engine.begin() as conn:
            conn.execute(stmt, params)
        return len(params)

    def realised(self, dataset_id: str, config: HealthConfig = HealthConfig()) -> pd.DataFrame:
        """Realised quality per month of ``as_of`` (predictions with an outcome) and per producer: a model version
        (its own scores only) or a rule used while the model was withheld (``model_version`` "", ``predicted_by``
        names the rule, :data:`SOURCE_LABELS`), with a base-rate baseline row per month (everyone scored at the
        month's churn rate: ROC AUC 0.5)."""
        from pipeline.health.retrain import grade

        done = self.frame(dataset_id).dropna(subset=["outcome"])
        cols = ["month", "predicted_by", "churn_source", "model_version", "baseline", "n", "churn_rate",
                "mean_score", "roc_auc", "top_precision", "brier"]
        if done.empty:
            return pd.DataFrame(columns=cols)
        done = done.assign(month=pd.to_datetime(done["as_of"]).dt.strftime("%Y-%m"),
                           model_version=done["model_version"].where(done["churn_source"] == "model", ""))
        rows = []
        for (month, by, version), g in done.groupby(["month", "churn_source", "model_version"]):
            m = grade(g["outcome"].to_numpy(int), g["score"].to_numpy(float), True, config)
            rows.append({"month": month, "predicted_by": version if by == "model" else SOURCE_LABELS[by],
                         "churn_source": by, "model_version": version, "baseline": False, "n": m["n"],
                         "churn_rate": m["churn_rate"], "mean_score": float(g["score"].mean()),
                         "roc_auc": m["roc_auc"], "top_precision": m["top_precision"], "brier": m["brier"]})
        for month, g in done.groupby("month"):
            rate = float(g["outcome"].mean())
            rows.append({"month": month, "predicted_by": "base rate (baseline)", "churn_source": "",
                         "model_version": "base rate (baseline)", "baseline": True, "n": len(g),
                         "churn_rate": rate, "mean_score": rate, "roc_auc": 0.5, "top_precision": rate,
                         "brier": rate * (1 - rate)})
        return pd.DataFrame(rows, columns=cols).sort_values(["month", "baseline", "model_version"],
                                                            ignore_index=True)

    def calibration(self, dataset_id: str, model_version: str | None = None,
                    bins: int = HealthConfig.calibration_bins) -> pd.DataFrame:
        """Realised calibration: per score bin, the mean score and the share that really churned (``model_version``:
        that model's own scores only)."""
        done = self.frame(dataset_id).dropna(subset=["outcome"])
        if model_version is not None:
            done = done[(done["model_version"] == model_version) & (done["churn_source"] == "model")]
        if done.empty:
            return pd.DataFrame(columns=["model_version", "bin", "n", "mean_score", "churned"])
        edges = np.linspace(0, 1, bins + 1)
        done = done.assign(bin=np.clip(np.digitize(done["score"], edges[1:-1]), 0, bins - 1))
        out = done.groupby(["model_version", "bin"]).agg(n=("score", "size"), mean_score=("score", "mean"),
                                                          churned=("outcome", "mean"))
        return out.reset_index()


def prediction_log(engine: Engine | str | None = None) -> PredictionLog:
    """The prediction log on ``engine`` (or URL; default :func:`database_url`)."""
    return PredictionLog(engine)


def card_row(card: Mapping[str, Any], model_version: str | None = None) -> dict[str, Any] | None:
    """The log row of a customer card's churn score: the risk the card serves and what produced it (the card's
    ``churn_source``: the churn model, or the rule used while the model is withheld on the dataset; a card without
    it is the model's). The model version (``model_version`` or the card's) is kept only for the model's score.
    None when the card has no churn score (customer table)."""
    p = card.get("churn_probability")
    if p is None or card.get("as_of") is None:
        return None
    by = str(card.get("churn_source") or "model")
    version = (model_version or card.get("model_version") or "unknown") if by == "model" else ""
    return {"customer_id": card["customer_id"], "score": p, "band": card.get("risk_band", ""),
            "churn_source": by, "model_version": version, "as_of": card["as_of"]}


class ServedLog:
    """The prediction log of a request handler: :meth:`record_card` only queues the row (microseconds, no disk
    write on the request path); a background thread writes the queue every ``flush_seconds`` in one transaction,
    and at interpreter exit. A failed write keeps the rows queued (up to ``max_queue``) and logs a warning; after
    ``retries`` failures in a row they are dropped with a warning; a process killed hard loses at most the last
    ``flush_seconds`` of rows."""

    def __init__(self, log: PredictionLog, flush_seconds: float = HealthConfig.log_flush_seconds,
                 max_queue: int = 100_000, retries: int = 5):
        self.log, self.flush_seconds, self.max_queue, self.retries = log, flush_seconds, max_queue, retries
        self._rows: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()       # one write at a time: a flush returns after any write in flight
        self._thread: threading.Thread | None = None

    def record_card(self, dataset_id: str, card: Mapping[str, Any], source: str = "service",
                    model_version: str | None = None) -> bool:
        row = card_row(card, model_version)
        if row is None:
            return False
        with self._lock:
            if len(self._rows) < self.max_queue:
                self._rows.append((dataset_id, source, row))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
                self._thread.start()
        return True

    def flush(self) -> int:
        """Write every queued row now; returns how many were written. It waits for a write the background thread
        has in flight, so every row queued before the call is in the database when it returns."""
        with self._writing:
            with self._lock:
                rows, self._rows = self._rows, []
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for dataset_id, source, row in rows:
                groups.setdefault((dataset_id, source), []).append(row)
            try:
                return sum(self.log.record(ds, group, src) for (ds, src), group in groups.items())
            except Exception:
                with self._lock:                               # keep them for the next try
                    self._rows = (rows + self._rows)[: self.max_queue]
                raise

    def _run(self) -> None:
        """Flush every ``flush_seconds`` while rows are queued; after ``retries`` failed writes in a row the queued
        rows are dropped with a warning naming how many (the database is gone: nothing to wait for)."""
        failures = 0
        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - retried; each failure is logged
                failures += 1
                dropped = self._drop() if failures >= self.retries else 0
                logger.warning("prediction_log_flush_failed", extra={"fields": {
                    "error": type(exc).__name__, "attempt": failures, "rows_dropped": dropped}})
            with self._lock:
                if not self._rows:
                    self._thread = None
                    return

    def _drop(self) -> int:
        with self._lock:
            n, self._rows = len(self._rows), []
        return n


_served: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def served_log(engine: Engine) -> ServedLog:
    """The :class:`ServedLog` of ``engine`` (one per engine and process; what a service's routes call)."""
    log = _served.get(engine)
    if log is None:
        log = _served.setdefault(engine, ServedLog(PredictionLog(engine)))
    return log


@atexit.register
def _flush_all() -> None:
    for log in list(_served.values()):
        try:
            log.flush()
        except Exception:  # noqa: BLE001 - the database may already be gone at exit
            pass
