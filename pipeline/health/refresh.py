"""Scheduled refresh of a dataset from its remembered source (suitable for cron).

:func:`refresh` re-reads the source (:mod:`pipeline.health.sources`), re-cleans it (:mod:`pipeline.ingest`),
re-segments (RFM segments before and after: who moved where), saves the new version of the dataset, runs the
champion/challenger retrain (:func:`pipeline.health.retrain.retrain`), re-scores every customer with the model in
use and logs those scores (:class:`pipeline.health.predictions.PredictionLog`), joins the outcomes of earlier
predictions whose H days have now passed, and appends what changed to the dataset's refresh log. If the source
cannot be read, nothing is saved or overwritten and the error says why.
"""
from __future__ import annotations

import time
from typing import Any

import pandas as pd

from pipeline.config import HORIZON_DAYS, CleaningOptions, HealthConfig
from pipeline.errors import DataError
from pipeline.health.registry import HealthStore, now_iso
from pipeline.health.sources import Source, read_source
from pipeline.log import step
from pipeline.store import Dataset, Workspace

__all__ = ["refresh", "segment_moves"]


def segment_moves(old: pd.DataFrame, new: pd.DataFrame, top: int = 10) -> dict[str, Any]:
    """New customers, customers gone, and segment moves between two transaction tables (each segmented as of its
    own end): counts and the most common ``from -> to`` moves."""
    from pipeline.rfm import rfm_table

    before = rfm_table(old).set_index("customer_id")["segment"].rename(lambda c: str(c))
    after = rfm_table(new).set_index("customer_id")["segment"].rename(lambda c: str(c))
    both = before.index.intersection(after.index)
    moved = before[both] != after[both]
    pairs = (before[both][moved] + " -> " + after[both][moved]).value_counts().head(top)
    return {"customers_before": int(len(before)), "customers_after": int(len(after)),
            "new_customers": int(len(after.index.difference(before.index))),
            "customers_gone": int(len(before.index.difference(after.index))),
            "segment_moves": int(moved.sum()), "top_moves": {str(k): int(v) for k, v in pairs.items()}}


def refresh(ws: Workspace, dataset_id: str, *, horizon_days: int = HORIZON_DAYS, config: HealthConfig = HealthConfig(),
            log=None, retrain_model: str | None = None) -> dict[str, Any]:
    """Refresh a saved dataset from its source; returns the refresh log entry (also appended to ``refresh.jsonl``).

    ``log``: a :class:`~pipeline.health.predictions.PredictionLog` (default: the one at ``SEGMENTS_DATABASE_URL``).
    DataError (nothing written) when the dataset has no source or the source cannot be read.
    """
    from pipeline.churn import out_of_time_split
    from pipeline.health.predictions import PredictionLog
    from pipeline.health.retrain import retrain, score_customers

    t0 = time.perf_counter()
    old = ws.load_dataset(dataset_id)
    source = Source.from_dict(old.extra.get("source"))
    if source is None:
        raise DataError(f"refresh: dataset '{old.name}' does not remember a source (it was uploaded in the browser); "
                        "create it from a file path or a database query to refresh it.")
    with step("refresh_read", kind=source.kind):
        new = _reread(old, source)
    changes = segment_moves(old.transactions, new.transactions)
    ws.save_dataset(new)
    split = None
    with step("refresh_retrain"):
        try:
            split = out_of_time_split(new.transactions, new.returns, horizon_days)
            decision = retrain(ws, new, model=retrain_model, horizon_days=horizon_days, config=config, split=split)
        except DataError as exc:
            decision = {"action": "retrain", "promoted": False, "reason": f"Retrain skipped: {exc}"}
    store = HealthStore(ws, dataset_id)
    log = log or PredictionLog()
    scores = score_customers(store, new, horizon_days, None if split is None else split.X_live)
    logged = log.record(dataset_id, scores, source="batch")
    joined = log.join_outcomes(dataset_id, new.transactions, horizon_days)
    entry = {"time": now_iso(), "dataset_id": dataset_id, "dataset": old.name, "source": source.describe(),
             "lines_before": int(len(old.transactions)), "lines_after": int(len(new.transactions)), **changes,
             "decision": {k: decision.get(k) for k in ("challenger", "champion", "promoted", "reason", "in_use")},
             "scored": logged, "bands": {str(k): int(v) for k, v in scores["band"].value_counts().items()},
             "outcomes_joined": joined, "seconds": round(time.perf_counter() - t0, 2)}
    if entry["lines_after"] < entry["lines_before"]:
        entry["note"] = "The source now has fewer purchase lines than the saved dataset had."
    store.record_refresh(entry)
    return entry


def _reread(old: Dataset, source: Source) -> Dataset:
    """The source read again into a new version of ``old`` (same id, name and source)."""
    options = CleaningOptions(**{k: v for k, v in (old.extra.get("options") or {}).items()
                                 if k in CleaningOptions.__dataclass_fields__})
    new = read_source(source, options)
    if new.transactions is None or new.transactions.empty:
        raise DataError(f"refresh: the source of '{old.name}' gives no purchases after cleaning; nothing was changed.")
    new.id, new.name = old.id, old.name
    new.extra = dict(old.extra) | {k: v for k, v in new.extra.items() if k != "source"} | {"refreshed": now_iso()}
    return new
