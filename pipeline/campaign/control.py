"""The control-group rule of every campaign: which customers are held out (get no coupon), deterministically.

One rule, used by the campaign lists (:mod:`pipeline.campaign.lists`), their measurement
(:mod:`pipeline.campaign.results`) and the scoring service (``service/coupons.py``): a customer's point in
[0, 1) is the first 64 bits of SHA-256(campaign id, customer id); they are in the control group when it is below
the share.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from pipeline.errors import DataError

__all__ = ["in_control_group", "control_mask", "check_share"]


def check_share(share: float) -> float:
    """``share`` as a float in [0, 1]; DataError otherwise."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise DataError(f"control group: share {share!r} must be between 0 and 1 (e.g. 0.1 for 10%).")
    return value


def _control_point(customer_id, campaign_id) -> float:
    digest = hashlib.sha256(f"{campaign_id}\x1f{customer_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_control_group(customer_id, campaign_id, share: float) -> bool:
    """Whether a customer is held out of a campaign (gets no coupon), deterministically.

    The customer's point in [0, 1) is the first 64 bits of SHA-256(campaign id, customer id); the customer is in
    the control group when that point is below ``share``. So the same customer and campaign always get the same
    answer (in the dashboard and the scoring service alike), about ``share`` of any audience is held out, and
    each campaign draws its own group. ``share`` must be in [0, 1].
    """
    return _control_point(str(customer_id), str(campaign_id)) < check_share(share)


def control_mask(customer_ids: Sequence, campaign_id, share: float) -> np.ndarray:
    """:func:`in_control_group` for many customers (a boolean array in the order of ``customer_ids``)."""
    share = check_share(share)
    campaign = str(campaign_id)
    return np.fromiter((_control_point(str(c), campaign) < share for c in customer_ids), dtype=bool,
                       count=len(customer_ids))
