"""The card's spend and next-order figures from the forecasts learnt on past cutoffs (:mod:`pipeline.predict`).

Belongs here: which forecast fills which card column (:func:`forecast_columns`), by the sources the card's facts
chose (:class:`pipeline.customer.facts.CardFacts` ``spend_source``, ``next_source``), for the whole table, one
rescored customer or a what-if; and fitting the chosen forecasts for use at the end of the data
(:func:`live_forecasts`). The forecasts themselves are :mod:`pipeline.predict`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pipeline.customer.facts import CardFacts

__all__ = ["FORECAST_NUMBERS", "FORECAST_DATES", "Forecasts", "forecast_columns", "live_forecasts", "assign_columns"]


#: Ranges and the rule's gap beside the card's predictions (:func:`forecast_columns`): numbers and dates, absent
#: (None on the card) when the card's facts keep BG/NBD's figure.
FORECAST_NUMBERS = ("spend_low", "spend_high", "usual_gap_days")
FORECAST_DATES = ("next_order_low", "next_order_high")


@dataclass(frozen=True)
class Forecasts:
    """The forecasts learnt on stacked past cutoffs that a transactions card uses, each fitted as of the end of the
    data and only when the card's facts chose it (:class:`pipeline.customer.facts.CardFacts` ``spend_source``,
    ``next_source``): spend in the next H days with its 80 % range, the next order's date with its 80 % range."""

    spend: object | None = None             # pipeline.predict.spend.SpendForecast
    next_order: object | None = None        # pipeline.predict.next_order.NextOrderForecast


def forecast_columns(facts: CardFacts | None, forecasts: Forecasts | None, X: pd.DataFrame,
                     transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The card's spend and next-order columns for the rows of ``X`` (churn features + BTYD columns as of
    ``as_of``), by the sources the facts chose; same index. ``usual_gap_days`` (the last gap between purchase
    days) always; ``expected_spend``/``spend_low``/``spend_high`` from the spend forecast; ``next_order_date``,
    ``next_order_low``/``next_order_high`` and ``days_to_next_order`` from the hazard (given an order within H) or
    from the rule "the last gap repeats" (its date, possibly past). Columns the facts leave to BG/NBD are absent."""
    from pipeline.predict.next_order import order_gaps

    gaps = order_gaps(transactions, X.index, as_of)
    out = pd.DataFrame({"usual_gap_days": gaps["last_gap_days"]}, index=X.index)
    if facts is None:
        return out
    forecasts = forecasts or Forecasts()
    if facts.spend_source == "forecast" and forecasts.spend is not None:
        out = out.join(forecasts.spend.predict(X))
    last = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=1)
    if facts.next_source == "hazard" and forecasts.next_order is not None:
        pred = forecasts.next_order.predict(X.join(gaps), as_of=as_of)
        out["days_to_next_order"] = pred["next_days"]
        out["next_order_date"] = pred["next_date"]
        out["next_order_low"], out["next_order_high"] = pred["next_date_low"], pred["next_date_high"]
    elif facts.next_source == "rule":
        out["days_to_next_order"] = gaps["gap_due_days"]
        out["next_order_date"] = last + pd.to_timedelta(gaps["gap_due_days"], unit="D")
    return out


def live_forecasts(facts: CardFacts, slices) -> Forecasts:
    """The forecasts the facts chose, fitted for use at the end of the data (shared with the grading's fits)."""
    spend = nxt = None
    if facts.spend_source == "forecast":
        from pipeline.predict.spend import fit_spend

        spend = slices.memo(("spend", slices.end), lambda: fit_spend(slices, slices.end))
    if facts.next_source == "hazard":
        from pipeline.predict.next_order import next_order_forecast

        nxt = next_order_forecast(slices, slices.end)
    return Forecasts(spend, nxt)


def assign_columns(table: pd.DataFrame, columns: pd.DataFrame) -> None:
    for col in columns.columns:
        table[col] = columns[col].reindex(table.index).to_numpy()
