"""The workspace's own coupon catalogue: saved as a JSON document, validated by :func:`pipeline.coupons.load_catalogue`
on every read and write; the default is ``assets/coupons.csv``."""
from __future__ import annotations

import pandas as pd

from pipeline.coupons import load_catalogue
from pipeline.errors import DataError

__all__ = ["CATALOGUE_DOC", "workspace_catalogue", "save_workspace_catalogue", "reset_workspace_catalogue"]

#: Workspace JSON document holding the edited coupon catalogue (absent or null: ``assets/coupons.csv``).
CATALOGUE_DOC = "coupon_catalogue"


def workspace_catalogue(ws) -> tuple[pd.DataFrame, str | None]:
    """The workspace's catalogue (validated) and a warning when a saved one could not be read (default used)."""
    saved = ws.read_json(CATALOGUE_DOC)
    if not saved:
        return load_catalogue(), None
    try:
        return load_catalogue(pd.DataFrame(saved)), None
    except DataError as exc:
        return load_catalogue(), f"The saved coupon catalogue is not valid any more ({exc}); using the default."


def save_workspace_catalogue(ws, catalogue) -> pd.DataFrame:
    """Validate ``catalogue`` (anything :func:`load_catalogue` reads) and save it; returns the validated table.

    Nothing is saved when it is invalid (DataError naming every bad cell)."""
    cat = load_catalogue(catalogue)
    ws.write_json(CATALOGUE_DOC, cat.to_dict(orient="records"))
    return cat


def reset_workspace_catalogue(ws) -> None:
    """Go back to the default catalogue in ``assets/coupons.csv``."""
    ws.write_json(CATALOGUE_DOC, None)
