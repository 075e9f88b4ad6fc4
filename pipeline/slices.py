"""Multi-slice training data: one row per customer x past cutoff, each slice with its own BTYD fit.

A model that learns from one cutoff sees one period's customers once; stacking several past cutoffs ("multi-
slicing", Gattermann-Itschert & Thonemann, EJOR 2021) gives it every customer at several ages and seasons, and
each slice's own BG/NBD fit is a feature ("BTYD as a feature", Chou et al., EJOR 2022). The rules of time:

* a slice at cutoff ``c`` holds the churn features and BTYD columns of :func:`pipeline.churn.feature_table`
  (rows before ``c``) and, when ``c + H`` is within the data, its targets from the H days ``[c, c + H)``:
  ``churned`` (no purchase), ``spend``, ``orders`` (purchase days) and ``next_days`` (days from the last observed
  day ``c - 1`` to the first purchase in the window; NaN when none);
* a model graded or used at cutoff ``t`` learns only from slices whose label window ends by ``t``:
  :meth:`SliceSet.training_cutoffs` gives ``t - H``, ``t - H - step``, ... (newest first is the *validation* slice:
  later than every training slice, for early stopping and calibration).

Belongs here: which cutoffs a model may learn from, the per-slice tables and targets, stacking them (seeded
sampling above ``max_rows``). The models themselves are in :mod:`pipeline.models.sliced` (churn),
:mod:`pipeline.predict` (spend, next order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, SEED, ChurnDataConfig, SliceConfig
from pipeline.errors import DataError

__all__ = ["TARGETS", "Slice", "SliceSet"]

#: Targets of a labelled slice (columns of :attr:`Slice.y`).
TARGETS = ("churned", "spend", "orders", "next_days")


@dataclass(frozen=True)
class Slice:
    """One cutoff: ``X`` (features + BTYD columns, index customer_id), ``y`` (:data:`TARGETS`, same index; None
    when the label window runs past the data) and the BTYD model fitted before the cutoff."""

    cutoff: pd.Timestamp
    X: pd.DataFrame
    y: pd.DataFrame | None
    btyd: object


class SliceSet:
    """Slices of one transactions table, computed once each (see the module docstring).

    ``transactions``/``returns``: canonical frames; ``horizon_days``: H; ``step_days``: days between slices;
    ``rules``: the churn dataset's minimum history before a cutoff.
    """

    def __init__(self, transactions: pd.DataFrame, returns: pd.DataFrame | None = None,
                 horizon_days: int = HORIZON_DAYS, config: SliceConfig = SliceConfig(),
                 rules: ChurnDataConfig | None = None):
        from pipeline.churn import as_history

        self.transactions, self.returns = transactions, returns
        self.horizon_days, self.config = int(horizon_days), config
        self.rules = rules or ChurnDataConfig()
        self.history = as_history(transactions, returns)
        self.start, self.end = self.history.span()
        self._slices: dict[pd.Timestamp, Slice] = {}
        self._visits: pd.DataFrame | None = None
        self._memo: dict[object, object] = {}

    def memo(self, key: object, make):
        """``make()`` computed once per ``key`` for these slices (a model fitted for a cutoff is shared by the
        grading and the card)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def H(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)

    def labelled(self, cutoff) -> bool:
        """Whether the whole label window of ``cutoff`` is in the data."""
        return pd.Timestamp(cutoff) + self.H <= self.end

    def training_cutoffs(self, cutoff) -> list[pd.Timestamp]:
        """The slices a model used at ``cutoff`` may learn from, newest first: ``cutoff - H``, then every
        ``step_days`` back while ``rules.min_history_days`` of history remain, at most ``max_slices``."""
        first = pd.Timestamp(cutoff).normalize() - self.H
        step, out = pd.Timedelta(days=self.config.step_days), []
        c = first
        while c - self.start >= pd.Timedelta(days=self.rules.min_history_days) and len(out) < self.config.max_slices:
            out.append(c)
            c -= step
        return out

    def at(self, cutoff) -> Slice:
        """The slice at ``cutoff`` (computed once)."""
        from pipeline.churn import feature_table

        c = pd.Timestamp(cutoff).normalize()
        if c not in self._slices:
            X, btyd = feature_table(self.history, None, c, self.horizon_days)
            y = self._targets(X.index, c) if self.labelled(c) else None
            self._slices[c] = Slice(c, X, y, btyd)
        return self._slices[c]

    def stack(self, cutoffs, max_rows: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Labelled slices one under the other: ``(X, y)`` with a ``slice`` column in ``y`` (the cutoff) and
        index customer_id (repeated across slices). Above ``max_rows`` (default ``config.max_rows``) each slice
        keeps the same random share of its rows (seed ``SEED``)."""
        parts = [self.at(c) for c in cutoffs]
        parts = [p for p in parts if p.y is not None]
        if not parts:
            raise DataError("slices: no labelled slice before this cutoff; the data are too short.")
        limit = self.config.max_rows if max_rows is None else max_rows
        total = sum(len(p.X) for p in parts)
        share = min(1.0, limit / total) if limit else 1.0
        Xs, ys = [], []
        for p in parts:
            X, y = p.X, p.y
            if share < 1.0:
                keep = np.random.default_rng(SEED).random(len(X)) < share
                X, y = X.loc[keep], y.loc[keep]
            Xs.append(X)
            ys.append(y.assign(slice=p.cutoff))
        return pd.concat(Xs), pd.concat(ys)

    # ---- targets
    def _days(self) -> pd.DataFrame:
        """Per (customer_id, day) spend, once."""
        if self._visits is None:
            tx = self.transactions
            day = pd.to_datetime(tx["date"]).dt.normalize()
            self._visits = (pd.DataFrame({"customer_id": tx["customer_id"].astype(str).to_numpy(), "day": day,
                                          "amount": tx["amount"].to_numpy(float)})
                            .groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index())
        return self._visits

    def _targets(self, customers: pd.Index, cutoff: pd.Timestamp) -> pd.DataFrame:
        v = self._days()
        w = v[(v["day"] >= cutoff) & (v["day"] < cutoff + self.H)]
        g = w.groupby("customer_id", sort=False)
        first = g["day"].min()
        out = pd.DataFrame({"spend": g["amount"].sum(), "orders": g.size().astype(float),
                            "next_days": (first - (cutoff - pd.Timedelta(days=1))).dt.days.astype(float)})
        out = out.reindex(customers)
        out["spend"] = out["spend"].fillna(0.0)
        out["orders"] = out["orders"].fillna(0.0)
        out.insert(0, "churned", (out["orders"] == 0).astype(int))
        return out[list(TARGETS)]
