"""Saved campaigns in the workspace: ``<workspace>/campaigns/<campaign id>.json`` (name, dataset, audience, control
share, send date, currency, totals) beside ``<campaign id>.parquet`` (the list itself, so its results can be
measured later). The campaign id is the slug of its name, so the same name draws the same control group. Writes
are atomic (:func:`pipeline.store.atomic_write_bytes`); nothing is unpickled.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pandas as pd

from pipeline.errors import DataError
from pipeline.store import Workspace, atomic_write_bytes, atomic_write_json

__all__ = ["SavedCampaign", "campaign_id_for", "save_campaign", "list_campaigns", "load_campaign",
           "delete_campaign"]

_DIR = "campaigns"


def campaign_id_for(name: str) -> str:
    """The campaign id of a name: letters, digits, ``-`` and ``_`` (DataError for an empty name)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name).strip()).strip("-")[:48]
    if not slug:
        raise DataError("campaign: give the campaign a name (letters or digits), e.g. 'spring-winback'.")
    return slug


@dataclass(frozen=True)
class SavedCampaign:
    """What is kept of a campaign besides its list."""

    id: str
    name: str
    dataset_id: str
    audience: str                      # plain description, e.g. "Segment: At Risk"
    control_share: float
    send_date: str                     # YYYY-MM-DD
    currency: str = ""
    totals: dict = field(default_factory=dict)
    created: str = ""


def save_campaign(ws: Workspace, meta: SavedCampaign, campaign: pd.DataFrame) -> SavedCampaign:
    """Save (or replace) a campaign and its list; returns the metadata with its creation time."""
    if campaign_id_for(meta.id) != meta.id:
        raise DataError(f"campaign id {meta.id!r} is not valid: use campaign_id_for(name).")
    created = meta.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = SavedCampaign(**{**asdict(meta), "created": created})
    folder = ws.path / _DIR
    buf = io.BytesIO()
    campaign.to_parquet(buf, index=False)
    atomic_write_bytes(folder / f"{meta.id}.parquet", buf.getvalue())
    atomic_write_json(folder / f"{meta.id}.json", asdict(meta))
    return meta


def list_campaigns(ws: Workspace, dataset_id: str | None = None) -> list[SavedCampaign]:
    """The workspace's readable saved campaigns (of one dataset, if given), newest first."""
    out = []
    for p in (ws.path / _DIR).glob("*.json"):
        try:
            meta = SavedCampaign(**json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError, TypeError):
            continue
        if (dataset_id is None or meta.dataset_id == dataset_id) and p.with_suffix(".parquet").exists():
            out.append(meta)
    return sorted(out, key=lambda m: m.created, reverse=True)


def load_campaign(ws: Workspace, campaign_id: str) -> tuple[SavedCampaign, pd.DataFrame]:
    """A saved campaign and its list; DataError when it is not (or no longer) in the workspace."""
    folder = ws.path / _DIR
    try:
        meta = SavedCampaign(**json.loads((folder / f"{campaign_id_for(campaign_id)}.json").read_text()))
        return meta, pd.read_parquet(folder / f"{meta.id}.parquet")
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise DataError(f"campaign {campaign_id!r} is not saved in this workspace (it may have been deleted).") from e


def delete_campaign(ws: Workspace, campaign_id: str) -> None:
    """Remove a saved campaign and its list."""
    cid = campaign_id_for(campaign_id)
    for suffix in (".json", ".parquet"):
        (ws.path / _DIR / f"{cid}{suffix}").unlink(missing_ok=True)
