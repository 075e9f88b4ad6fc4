"""The pieces a :class:`~pipeline.customer.scoring.ModelScorer` is made of, each immutable and named by what reads it.

``ScoringSettings`` (horizon and seed), ``CouponSetup`` (the coupon rules a card applies), ``ScorePopulation`` (the
customers hypothetical R/F/M values are scored against), ``PurchaseHistory`` (a transactions dataset's lines and
BG/NBD fit: the card's timeline and top items, rescoring, campaigns as of a date) and ``Decisions`` (what the card
may state and where churn risk comes from, decided once per dataset). Belongs here: the data classes only; they are
fitted in :mod:`pipeline.customer.scoring` and read by the card, the what-if, the index and rescoring, which import
them from here (nothing here imports those modules).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, SEED
from pipeline.coupons import CouponPolicyConfig, LearnedCouponPolicy, PreparedCatalogue, prepare_catalogue
from pipeline.rfm import assign_segments, population_score

if TYPE_CHECKING:
    from pipeline.clv import BTYDModel
    from pipeline.customer.classifier import FittedClassifier
    from pipeline.customer.facts import CardFacts, ChurnRisk
    from pipeline.customer.forecasts import Forecasts
    from pipeline.value import ValueGrades

__all__ = ["ScoringSettings", "CouponSetup", "ScorePopulation", "PurchaseHistory", "Decisions", "positions",
           "read_only"]


@dataclass(frozen=True)
class ScoringSettings:
    """What a scorer is fitted with: the horizon H (churn label, expected orders/spend) and the seed."""

    horizon_days: int = HORIZON_DAYS
    seed: int = SEED


@dataclass(frozen=True)
class CouponSetup:
    """The coupon rules a card applies: catalogue (validated), expected-value policy, optional learned policy.
    ``prepared`` is the catalogue validated once for the policy (built from ``catalogue`` when not given)."""

    catalogue: pd.DataFrame
    policy: CouponPolicyConfig = CouponPolicyConfig()
    learned: LearnedCouponPolicy | None = None
    prepared: PreparedCatalogue | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.prepared is None:
            object.__setattr__(self, "prepared", prepare_catalogue(self.catalogue))

    def in_unit(self, currency: str | None) -> CouponSetup:
        """This setup with the policy's figures in ``currency`` (see ``CouponPolicyConfig.currency``); itself when
        they already are (so a card index computed with it stays valid)."""
        if self.policy.currency == currency:
            return self
        return dataclasses.replace(self, policy=dataclasses.replace(self.policy, currency=currency))

    @classmethod
    def load(cls, catalogue: object = None, policy: CouponPolicyConfig = CouponPolicyConfig(),
             learned: LearnedCouponPolicy | None = None) -> CouponSetup:
        """Validate ``catalogue`` (anything :func:`pipeline.coupons.load_catalogue` reads; None = the default)."""
        prepared = prepare_catalogue(catalogue)
        return cls(prepared.table, policy, learned, prepared)


@dataclass(frozen=True)
class ScorePopulation:
    """The customers hypothetical R/F/M values are scored against (rfm's quantile rule) and the segment rules.

    ``r``, ``f``, ``m``: sorted "higher is better" values (``r`` is minus the recency); ``segments``: the segment
    of every (R score, F score) pair.
    """

    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    segments: dict[tuple[int, int], str]

    @classmethod
    def of(cls, rfm: pd.DataFrame, rules: pd.DataFrame | None = None) -> ScorePopulation:
        """From an RFM table (``pipeline.rfm.rfm_table``) and its segment rules."""
        r, f = np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5)
        names = assign_segments(pd.Series(r), pd.Series(f), rules).to_numpy()
        return cls(np.sort(-rfm["recency_days"].to_numpy(float)), np.sort(rfm["frequency"].to_numpy(float)),
                   np.sort(rfm["monetary"].to_numpy(float)),
                   {(int(a), int(b)): str(n) for a, b, n in zip(r, f, names)})

    def scores(self, recency_days: float, frequency: float, monetary: float) -> dict[str, int]:
        """``r_score, f_score, m_score`` of one customer, as ``pipeline.rfm.quantile_scores`` would give them."""
        return {"r_score": population_score(self.r, -recency_days), "f_score": population_score(self.f, frequency),
                "m_score": population_score(self.m, monetary)}

    def segment(self, r_score: int, f_score: int) -> str:
        """The segment of a pair of scores ("Unassigned" when no rule holds it)."""
        return self.segments.get((int(r_score), int(f_score)), "Unassigned")


@dataclass(frozen=True)
class PurchaseHistory:
    """The purchases behind a transactions dataset's cards, and the BTYD model fitted on them (a rescored copy is a
    new one, :func:`pipeline.customer.rescoring.rescore`)."""

    transactions: pd.DataFrame
    returns: pd.DataFrame | None
    rows: dict[str, np.ndarray]           # customer id -> positions of their lines in ``transactions``
    as_of: pd.Timestamp                   # the day after the last purchase: every number is as of this day
    btyd: BTYDModel
    population: ScorePopulation
    return_rows: dict[str, np.ndarray] | None = None   # customer id -> positions in ``returns`` (None: not indexed)

    def lines(self, customer_id: str) -> pd.DataFrame:
        """The purchase lines of one customer."""
        return self.transactions.iloc[self.rows.get(customer_id, [])]

    def returned(self, customer_id: str) -> pd.DataFrame | None:
        """The return lines of one customer (None when the dataset has no returns)."""
        if self.returns is None:
            return None
        if self.return_rows is None:
            return self.returns[self.returns["customer_id"].astype(str) == customer_id]
        return self.returns.iloc[self.return_rows.get(customer_id, [])]


@dataclass(frozen=True)
class Decisions:
    """What a transactions dataset's card may state and where its numbers come from, decided once per dataset.

    ``risk`` is where churn risk comes from (the churn model, or the simple rule that beat it out of time): what
    the card, the what-if, campaigns and the service read. ``facts`` says which predictions are shown, with a
    caveat, or withheld, and their sources; ``forecasts`` are the spend and next-order models the facts chose.
    ``grades`` (the out-of-time grades) and ``churn`` (the trained churn model, withheld or not) are what the
    decision was made from: read when it is made again (a new churn model), saved, or named (health, versions),
    never to give a customer a risk.
    """

    risk: ChurnRisk
    facts: CardFacts
    forecasts: Forecasts
    grades: ValueGrades | None = None
    churn: FittedClassifier | None = field(default=None, repr=False)


def positions(lines: pd.DataFrame | None) -> dict[str, np.ndarray] | None:
    """Customer id -> positions of their rows (None for no table)."""
    return None if lines is None else lines.groupby(lines["customer_id"].astype(str), sort=False).indices


def read_only(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its numpy-backed columns made not writeable (in place; returned): writing into one of its
    cells then raises instead of changing what others share. Copies (``frame.copy()``, ``assign``) are writeable."""
    for values in getattr(frame._mgr, "arrays", ()):       # pandas keeps no public handle on its blocks
        if isinstance(values, np.ndarray):
            values.flags.writeable = False
    return frame
