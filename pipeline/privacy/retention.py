"""Retention: how long the prediction log and the purchases received by the scoring API are kept.

``SEGMENTS_RETENTION_DAYS`` (whole days, at least 1) bounds both; unset (the default) keeps them until a customer
is erased. :func:`purge` deletes, in the service's database, prediction-log rows (``health_predictions``) made
more than N days ago (``scored_at``) and API purchase lines (``transactions``) received more than N days ago
(``received_at``; every row of that table came through the API, the saved datasets are files). The stored card of
each customer who lost lines is deleted in the same transaction, so no card still shows purchases that are gone:
the service rebuilds it from the lines left (at start-up, :func:`service.main.repair_cards`, or on the next read,
which finds the card missing while lines remain), and a customer with no line left is served the dataset's card.
The pipeline never imports the service; the table and column names are checked against the service's models by a
test. ``python -m pipeline purge`` runs it by hand (or daily from cron); the service runs
:func:`enforce_retention` at start-up. A purge that deleted anything is written to the audit log (counts only).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, inspect, text

from pipeline.errors import DataError

__all__ = ["RETENTION_ENV", "API_TABLES", "PurgeReport", "retention_days", "purge", "enforce_retention"]

RETENTION_ENV = "SEGMENTS_RETENTION_DAYS"
#: The service's tables this module purges, by name (``service.models``: Transaction, CustomerCard).
API_TABLES = {"lines": "transactions", "cards": "customer_cards"}


@dataclass(frozen=True)
class PurgeReport:
    """What one purge deleted (counts only): prediction-log rows, API purchase lines and the cards they fed."""

    days: int
    cutoff: str
    predictions: int
    api_lines: int
    cards_to_rebuild: int

    @property
    def deleted(self) -> int:
        return self.predictions + self.api_lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retention_days(value: str | int | None = None) -> int | None:
    """Days to keep (``value``, else ``SEGMENTS_RETENTION_DAYS``); None when unset (keep). DataError unless a whole
    number of days >= 1."""
    raw = os.environ.get(RETENTION_ENV, "") if value is None else value
    if isinstance(raw, str) and not raw.strip():
        return None
    try:
        days = int(str(raw).strip())
    except ValueError:
        days = 0
    if days < 1:
        raise DataError(f"{RETENTION_ENV}={raw!r}: give a whole number of days, at least 1 (unset keeps the prediction "
                        "log and the API purchases until a customer is erased).")
    return days


def purge(engine: Engine, days: int, now: datetime | None = None) -> PurgeReport:
    """Delete prediction-log rows and API purchase lines older than ``days`` days (before ``now`` - days, UTC) from
    ``engine``'s database, and the cards of the customers who lost lines; tables that do not exist are skipped."""
    from pipeline.health.predictions import TABLE_NAME

    days = retention_days(days)
    now = now or datetime.now(timezone.utc)
    cutoff = (now.astimezone(timezone.utc) - timedelta(days=days)).replace(tzinfo=None)
    tables = set(inspect(engine).get_table_names())
    predictions = lines = cards = 0
    with engine.begin() as conn:
        if TABLE_NAME in tables:
            predictions = conn.execute(text(f"DELETE FROM {TABLE_NAME} WHERE scored_at < :c"), {"c": cutoff}).rowcount
        if {API_TABLES["lines"], API_TABLES["cards"]} <= tables:
            t, c = API_TABLES["lines"], API_TABLES["cards"]
            cards = conn.execute(text(
                f"DELETE FROM {c} WHERE EXISTS (SELECT 1 FROM {t} WHERE {t}.dataset = {c}.dataset AND "
                f"{t}.customer_id = {c}.customer_id AND {t}.received_at < :c)"), {"c": cutoff}).rowcount
            lines = conn.execute(text(f"DELETE FROM {t} WHERE received_at < :c"), {"c": cutoff}).rowcount
    return PurgeReport(days, cutoff.isoformat(timespec="seconds"), int(predictions or 0), int(lines or 0),
                       int(cards or 0))


def enforce_retention(engine: Engine, workspace: Any = None, who: str | None = None) -> PurgeReport | None:
    """:func:`purge` with ``SEGMENTS_RETENTION_DAYS`` (None, nothing done, when it is unset); a purge that deleted
    anything is recorded in ``workspace``'s audit log."""
    days = retention_days()
    if days is None:
        return None
    report = purge(engine, days)
    if report.deleted:
        from pipeline.privacy.audit import record

        record(workspace, "purge", f"older than {days} days", who, **report.to_dict())
    return report
