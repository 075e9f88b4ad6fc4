"""Rescoring one customer after new purchases or returns, without refitting anything.

:func:`rescore` gives a copy of a :class:`~pipeline.customer.scoring.ModelScorer` in which one customer's row is
recomputed; :func:`rescore_one` a copy that holds only that customer (their row, lines and returns), whose cost
grows with the customer's lines, not with the dataset (what a service runs per request). The row is computed as
the batch computes it: RFM, the behavioural features (return count and rate by :func:`pipeline.features.
customer_features` from the returns), BTYD values, churn risk and band (the dataset's decision,
``ModelScorer.decisions``), cluster, next item; the 1-5 R/F/M scores and the segment by rfm's rule against the
population at build time. Belongs here: which lines a rescored customer has and the day they are scored as of; the
rules themselves belong to features, rfm, clv and churn.
"""
from __future__ import annotations

import dataclasses
import threading
import numpy as np
import pandas as pd

from pipeline.customer.forecasts import forecast_columns
from pipeline.customer.index import next_item
from pipeline.customer.parts import PurchaseHistory, positions
from pipeline.customer.scoring import ModelScorer, attach_churn, customer_rows
from pipeline.errors import DataError

__all__ = ["rescore", "rescore_one", "scored_row", "scored_as_of"]

_LOCAL = threading.local()      # one DuckDB connection per thread for one customer's RFM (a new one costs ~10 ms)


def rescore(scorer: ModelScorer, customer_id: object, lines: pd.DataFrame | None,
            returns: pd.DataFrame | None = None) -> ModelScorer:
    """A copy in which one customer's row is recomputed after new purchase ``lines`` and return ``returns``
    (canonical transactions; returns with positive magnitudes, as :mod:`pipeline.ingest` cleans them).

    The row uses all their lines as of :func:`scored_as_of`; other rows are unchanged and nothing is refitted.
    A new id adds a row (it needs a purchase). ``lines`` may be None or empty when only returns arrive.
    """
    h, cid, new, ret = _new_lines(scorer, customer_id, lines, returns)
    tx = pd.concat([h.transactions, new], ignore_index=True)
    mine = np.concatenate([h.rows.get(cid, np.array([], dtype=int)), np.arange(len(h.transactions), len(tx))])
    history = dataclasses.replace(h, transactions=tx, rows=h.rows | {cid: mine})
    if ret is not None:
        all_returns = ret if h.returns is None else pd.concat([h.returns, ret], ignore_index=True)
        history = dataclasses.replace(history, returns=all_returns, return_rows=positions(all_returns))
    row = scored_row(scorer, cid, history)
    table = scorer.table.copy()
    table.loc[cid] = row.reindex(table.columns)
    index = scorer.index.without(cid) if scorer.index is not None else None
    return dataclasses.replace(scorer, table=table, history=history, index=index)


def rescore_one(scorer: ModelScorer, customer_id: object, lines: pd.DataFrame | None,
                returns: pd.DataFrame | None = None) -> ModelScorer:
    """Like :func:`rescore`, but the copy holds only this customer (their row, lines and returns): enough for their
    card. The copy's ``history.as_of`` is the day the customer is scored as of (:func:`scored_as_of`)."""
    h, cid, new, ret = _new_lines(scorer, customer_id, lines, returns)
    tx = pd.concat([h.lines(cid), new], ignore_index=True) if len(new) else h.lines(cid).reset_index(drop=True)
    mine = h.returned(cid)
    if ret is not None:
        mine = ret if mine is None else pd.concat([mine, ret], ignore_index=True)
    history = dataclasses.replace(h, transactions=tx, rows={cid: np.arange(len(tx))}, returns=mine,
                                  return_rows=None if mine is None else {cid: np.arange(len(mine))})
    row = scored_row(scorer, cid, history)
    history = dataclasses.replace(history, as_of=scored_as_of(cid, history))
    table = row.reindex(scorer.table.columns).to_frame().T.astype(scorer.table.dtypes.to_dict())
    table.index.name = scorer.table.index.name
    index = scorer.index.without(cid) if scorer.index is not None else None     # next items stay valid
    return dataclasses.replace(scorer, table=table, history=history, index=index)


def _new_lines(scorer: ModelScorer, customer_id: object, lines: pd.DataFrame | None, returns: pd.DataFrame | None
               ) -> tuple[PurchaseHistory, str, pd.DataFrame, pd.DataFrame | None]:
    """The history, the id as stored, the new purchase lines and the new return lines (None: no returns)."""
    from pipeline.features import require_transactions

    h = scorer._history("rescore")
    cid = str(customer_id).strip()
    has_returns = returns is not None and not returns.empty
    if lines is None or (lines.empty and has_returns):
        lines = h.transactions.iloc[:0]
    else:
        require_transactions(lines, "rescore")
    if has_returns:
        require_transactions(returns, "rescore (returns)")
    if lines.empty and cid not in h.rows:
        raise DataError(f"rescore: customer {cid!r} is new and has only returns; a new customer needs a purchase.")
    return h, cid, lines.assign(customer_id=cid), returns.assign(customer_id=cid) if has_returns else None


def scored_as_of(cid: str, history: PurchaseHistory) -> pd.Timestamp:
    """The day a rescored customer is scored as of: the later of the data's day and the day after their latest
    purchase or return."""
    from pipeline.features import resolve_as_of

    ret = history.returned(cid)
    days = [history.as_of, resolve_as_of(history.lines(cid))]
    return max(days + ([resolve_as_of(ret)] if ret is not None and not ret.empty else []))


def scored_row(scorer: ModelScorer, cid: str, history: PurchaseHistory) -> pd.Series:
    """One customer's table row from their lines and returns, as the batch computes it (see :func:`rescore`)."""
    from pipeline.churn import btyd_columns
    from pipeline.clv import btyd_summary
    from pipeline.features import customer_features

    lines = history.lines(cid)
    as_of = scored_as_of(cid, history)
    rfm = _rfm(lines, as_of).set_index("customer_id")
    rfm.index = rfm.index.astype(str)
    pred = history.btyd.predict_table(btyd_summary(lines, as_of))
    X = customer_features(lines, history.returned(cid), as_of).join(btyd_columns(pred))
    row = customer_rows(rfm, X, pred)
    pop = history.population
    scores = pop.scores(*(float(row[c].iloc[0]) for c in ("recency_days", "frequency", "monetary")))
    row = row.assign(**scores, segment=pop.segment(scores["r_score"], scores["f_score"]))
    d = scorer.decisions
    attach_churn(row, d.risk, X, scorer.coupons.policy)          # the dataset's decision: model or rule
    row["p_alive"] = d.facts.chance_again(row)                   # the chance of buying again, by its graded source
    for col, values in forecast_columns(d.facts, d.forecasts, X.reindex(row.index), lines, as_of).items():
        row[col] = values.to_numpy()                             # spend and next order by their graded sources
    cluster = scorer.clusters.assign(row.iloc[0]) if scorer.clusters is not None else None
    row["cluster"] = pd.array([cluster], dtype="Int64")
    row["cluster_name"] = scorer.clusters.name(cluster, row.iloc[0]) if scorer.clusters is not None else ""
    known = cid in scorer.table.index and "next_item" in scorer.table     # the recommender is not refitted
    row["next_item"] = scorer.table.at[cid, "next_item"] if known else next_item(scorer.recommender, cid)
    return row.iloc[0]


def _rfm(lines: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """:func:`pipeline.rfm.rfm_table` of a few lines, on this thread's DuckDB connection."""
    from pipeline.ingest.db import connect
    from pipeline.rfm import rfm_from_connection

    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = connect()
    con.register("tx", lines[["customer_id", "invoice_id", "date", "amount"]])
    try:
        return rfm_from_connection(con, "tx", as_of)
    finally:
        con.unregister("tx")
