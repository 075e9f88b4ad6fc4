"""The analysis period: the start and end dates (both inclusive) the Overview, RFM, Cohorts and Movement pages look
at, the one function that cuts transactions to it, the previous period of the same length it is compared with,
and where it is kept per dataset in the workspace (the dataset's settings, ``Workspace.dataset_settings``, under
``"analysis_period"``: ``{start, end}``).
An open side (``None``) means "from the first" / "to the last" transaction, so a saved period still fits a dataset
re-uploaded with more data.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from pipeline.errors import DataError
from pipeline.store import Workspace

__all__ = ["AnalysisPeriod", "filter_period", "data_bounds", "resolve_period", "period_from_connection", "load_period", "save_period",
           "PERIOD_SETTING"]

PERIOD_SETTING = "analysis_period"      # key in a dataset's settings: {"start": iso | None, "end": iso | None}


@dataclass(frozen=True)
class AnalysisPeriod:
    """Start and end dates, both inclusive; ``None`` leaves a side open (first / last transaction)."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        for side in ("start", "end"):          # dates, datetimes, Timestamps and ISO strings become dates
            value = getattr(self, side)
            if value is not None:
                try:
                    object.__setattr__(self, side, pd.Timestamp(value).date())
                except (ValueError, TypeError) as e:
                    raise DataError(f"Analysis period {side} {value!r} is not a date (use YYYY-MM-DD).") from e
        if self.start and self.end and self.start > self.end:
            raise DataError(f"The analysis period starts ({self.start}) after it ends ({self.end}); "
                            "pick a start date on or before the end date.")

    @property
    def days(self) -> int:
        """Length in days (both ends counted); only for a closed period."""
        if self.start is None or self.end is None:
            raise DataError("An open analysis period has no length; resolve it against the data first.")
        return (self.end - self.start).days + 1

    def previous(self) -> AnalysisPeriod:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return AnalysisPeriod(end - timedelta(days=self.days - 1), end)

    def to_json(self) -> dict:
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None}

    @classmethod
    def from_json(cls, obj: dict | None) -> AnalysisPeriod:
        obj = obj or {}
        return cls(obj.get("start") or None, obj.get("end") or None)


def filter_period(transactions: pd.DataFrame, period: AnalysisPeriod | None) -> pd.DataFrame:
    """The transactions dated within ``period`` (start day 00:00 to the end of the end day). The one place the
    analysis period cuts data: every page and pipeline function that respects the period goes through here."""
    if period is None or (period.start is None and period.end is None):
        return transactions
    keep = pd.Series(True, index=transactions.index)
    if period.start is not None:
        keep &= transactions["date"] >= pd.Timestamp(period.start)
    if period.end is not None:
        keep &= transactions["date"] < pd.Timestamp(period.end) + pd.Timedelta(days=1)
    return transactions[keep]


def data_bounds(transactions: pd.DataFrame) -> tuple[date, date]:
    """(first, last) purchase day of a transactions table."""
    if transactions.empty:
        raise DataError("There are no transactions, so there is no period to analyse; load a dataset first.")
    dates = transactions["date"]
    return dates.min().date(), dates.max().date()


def resolve_period(period: AnalysisPeriod | None, transactions: pd.DataFrame) -> AnalysisPeriod:
    """``period`` with open sides filled from the data and clamped to it (a saved period may be wider than data
    re-uploaded later); a period with no purchases at all raises ``DataError``."""
    first, last = data_bounds(transactions)
    period = period or AnalysisPeriod()
    start = max(period.start or first, first)
    end = min(period.end or last, last)
    if start > end:
        raise DataError(f"No purchases between {period.start} and {period.end}: the data runs from {first} to "
                        f"{last}. Pick dates inside that range.")
    return AnalysisPeriod(start, end)


def period_from_connection(con, period: AnalysisPeriod | None = None, table: str = "tx") -> AnalysisPeriod:
    """``period`` resolved against the first and last purchase of ``table`` on a connection (DuckDB or
    :class:`pipeline.engines.spark.SparkConnection`), by the rules of :func:`resolve_period`:
    open sides filled from the data, both clamped to it; no purchase in the period raises ``DataError``."""
    first, last = con.execute(f"SELECT min(date), max(date) FROM {table}").fetchone()
    bounds = pd.DataFrame({"date": pd.to_datetime([d for d in (first, last) if d is not None])})
    return resolve_period(period, bounds)


def load_period(ws: Workspace, dataset_id: str) -> AnalysisPeriod:
    """The period saved for a dataset (open on both sides when none is saved or it is unreadable)."""
    try:
        return AnalysisPeriod.from_json(ws.dataset_settings(dataset_id).get(PERIOD_SETTING))
    except (DataError, ValueError, TypeError):
        return AnalysisPeriod()


def save_period(ws: Workspace, dataset_id: str, period: AnalysisPeriod) -> None:
    """Keep ``period`` in ``dataset_id``'s settings in the workspace (an open period removes the setting)."""
    open_ = period.start is None and period.end is None
    ws.save_dataset_settings(dataset_id, {PERIOD_SETTING: None if open_ else period.to_json()})
