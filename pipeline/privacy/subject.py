"""Subject access: everything held about one customer as one JSON document (``python -m pipeline export-customer``).

The document lists every place :func:`pipeline.privacy.holdings.find_customer` finds - the same search erasure
reads, so everything an erasure removes is in the export - with the rows held there: purchase lines and returns,
customer-table rows, saved selections, campaign lists, cluster assignments, fitted scorers' per-customer rows, the
service's API purchases, its card (scores and the models' reasons), coupons issued and redeemed, and prediction-log
rows. With ``card=True`` it adds the customer's card as the app shows it today, per saved dataset that holds them
(scores, segment and the drivers behind the churn risk), and it names the saved models trained on their data.
One audit record is written (no id, no data).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.privacy.holdings import Holdings, find_customer

__all__ = ["export_customer"]


def _cards(held: Holdings) -> list[dict[str, Any]]:
    """The card of the customer in each saved dataset that holds them, built as the scoring service builds it (the
    live model, the saved clustering); a dataset whose card cannot be built says why."""
    from pipeline.customer.card import customer_profile
    from pipeline.customer.scorer_store import ensure_scorer
    from pipeline.health.registry import HealthStore

    out = []
    for place in held.places:
        if place.kind != "dataset":
            continue
        ws, ds_id = place.ws, place.records["dataset"]
        try:
            scorer = ensure_scorer(ws, ds_id, active=HealthStore(ws, ds_id).load_champion(),
                                   clustering=ws.load_clustering(ds_id))
            card = customer_profile(scorer, held.customer_id, timeline=False).to_json()
            out.append({"dataset": ds_id, "card": card})
        except Exception as exc:  # noqa: BLE001 - the rows are exported either way; say why the card is not
            out.append({"dataset": ds_id, "card": None, "why": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return out


def export_customer(customer_id: str, workspace: str | Path | None = None, database_url: str | None = None, *,
                    card: bool = True, who: str | None = None) -> dict[str, Any]:
    """Everything held about ``customer_id`` (arguments as :func:`~pipeline.privacy.holdings.find_customer`) as a
    JSON-ready document; ``card``: add the card of each saved dataset holding them (fits the scorer when none is
    saved)."""
    from pipeline.exports import to_jsonable
    from pipeline.privacy.audit import record

    held = find_customer(customer_id, workspace, database_url)
    doc = {"customer_id": held.customer_id,
           "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "searched": held.searched,
           "held": [p.summary() | {"records": _records(p.records)} for p in held.places],
           "held_total": held.total,
           "models_trained_on_their_data": [{"workspace": ws.id, "dataset": d, "models": ids}
                                            for ws, d, ids in held.models],
           "cards": _cards(held) if card else [],
           "notes": held.notes}
    record(workspace, "export", "subject-access export of one customer", who, places=len(held.places),
           rows=held.total)
    return to_jsonable(doc)


def _records(records: dict[str, Any]) -> dict[str, Any]:
    """Tables as lists of rows (index kept when it is the customer id), anything else as it is."""
    import pandas as pd

    out = {}
    for key, value in records.items():
        if isinstance(value, pd.DataFrame):
            frame = value if isinstance(value.index, pd.RangeIndex) else value.reset_index()
            out[key] = frame.to_dict(orient="records")
        else:
            out[key] = value
    return out
