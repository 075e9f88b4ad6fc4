"""Everything held about one customer, and where: the one search behind erasure and subject access.

:func:`find_customer` looks in two stores and returns :class:`Holdings`, a list of
:class:`~pipeline.privacy.places.Place` s. Each place carries what it holds (``records``: the rows, for a
subject-access export) and how to erase it (``erase``), so the export and the erasure read the same list and cannot
disagree.

* **Workspace files** (every workspace under ``--workspace``): :mod:`pipeline.privacy.places` - saved datasets and
  their uploads, selections, campaign lists, clusterings, fitted scorers and Model-lab comparisons; and the saved
  models trained on a dataset that held the customer (``models``: they hold no id, but saw the customer's data).
* **The SQL database** of the service and the prediction log: :mod:`pipeline.privacy.database` (every table, by
  reflection).

Then every file under the workspace folder is swept (:func:`pipeline.privacy.sweep.mentions`), and a file holding
the id that no place above covers becomes a place of kind ``file`` that erasure cannot edit: it is reported, never
silently kept.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import DataError
from pipeline.privacy.database import database_places
from pipeline.privacy.places import Place, models_of, workspace_places
from pipeline.privacy.sweep import DB_SUFFIXES, count_in_text, mentions, sqlite_files, token
from pipeline.store import Workspace

__all__ = ["Place", "Holdings", "find_customer", "workspaces_under", "resolve_database_url", "check_customer_id"]

#: Folders and files a workspace may hold (a folder with any of them is a workspace).
_WORKSPACE_MARKS = ("datasets", "segments", "campaigns", "clusterings", "models", "health", "lab_results",
                    "uploads", "settings.json")


@dataclass
class Holdings:
    """What :func:`find_customer` found: ``places``, the fitted ``models`` trained on a dataset that held the
    customer (``(workspace, dataset id, [model ids])``), what was searched and notes."""

    customer_id: str
    places: list[Place]
    models: list[tuple[Workspace, str, list[str]]]
    searched: dict[str, Any]
    notes: list[str]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.places)


def check_customer_id(customer_id: str) -> str:
    """The id as searched (surrounding spaces dropped); DataError when it is empty, too long or has control
    characters."""
    cid = str(customer_id or "").strip()
    if not cid or len(cid) > 200 or any(ord(ch) < 32 for ch in cid):
        raise DataError("customer id: give the id as it appears in the data (1-200 printable characters), e.g. "
                        "'12346'.")
    return cid


# ---- where to look -----------------------------------------------------------------------------------------------
def workspaces_under(root: Path) -> list[Path]:
    """``root`` when it is a workspace folder, else the workspace folders inside it (a root of workspaces)."""
    root = Path(root)
    if not root.is_dir():
        return []
    if any((root / m).exists() for m in _WORKSPACE_MARKS):
        return [root]
    return [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
            and any((p / m).exists() for m in _WORKSPACE_MARKS)]


def resolve_database_url(workspace: Path | None, database_url: str | None) -> str | None:
    """The database to search: ``database_url``, else ``SEGMENTS_DATABASE_URL``, else ``service.db`` in the
    workspace folder given or the folder above it (the service's and the prediction log's default: the workspace
    root), else in the app's workspace root; None when no such SQLite file exists (nothing is created)."""
    import os

    from pipeline.config import workspace_root

    url = database_url or os.environ.get("SEGMENTS_DATABASE_URL", "")
    if url:
        return url
    folders = [Path(workspace), Path(workspace).parent] if workspace is not None else [workspace_root()]
    found = [f / "service.db" for f in folders if (f / "service.db").is_file()]
    return f"sqlite:///{found[0].resolve()}" if found else None


# ---- the one search -------------------------------------------------------------------------------------------------
def find_customer(customer_id: str, workspace: str | Path | None = None,
                  database_url: str | None = None) -> Holdings:
    """Every place holding ``customer_id``: under ``workspace`` (a workspace folder or a folder of workspaces;
    default the app's workspace root) and in the database (``database_url``; default as
    :func:`resolve_database_url`). Nothing is changed."""
    from pipeline.config import workspace_root
    from sqlalchemy.engine import make_url

    cid = check_customer_id(customer_id)
    rx = token(cid)
    root = Path(workspace) if workspace is not None else workspace_root()
    places: list[Place] = []
    models: list[tuple[Workspace, str, list[str]]] = []
    notes: list[str] = []
    folders = workspaces_under(root)
    for folder in folders:
        ws = Workspace(folder.name, folder.parent)
        found, held, said = workspace_places(ws, root, cid, rx)
        places, notes, models = places + found, notes + said, models + models_of(ws, held)
    url = resolve_database_url(Path(workspace) if workspace is not None else None, database_url)
    if url is not None:
        places += database_places(url, cid, rx)
    else:
        notes.append("No service database found (no SEGMENTS_DATABASE_URL, no service.db): none was searched.")
    places += _stray_files(root, cid, rx, places, sqlite_files(url))
    searched = {"workspace": str(root), "workspaces": [str(f) for f in folders],
                "database": make_url(url).render_as_string(hide_password=True) if url else None}
    return Holdings(cid, places, models, searched, notes)


def _stray_files(root: Path, cid: str, rx: re.Pattern[str], places: list[Place], database: list[Path]) -> list[Place]:
    """Files under ``root`` that hold the id and no place covers. The searched SQLite database is read through
    SQL above (its leftover free pages are checked after an erasure, :func:`pipeline.privacy.erase.forget`); any
    other database file is read as bytes."""
    covered = [p for place in places for p in place.paths] + [p.resolve() for p in database]
    out = []
    if not root.is_dir():
        return out
    for f in sorted(root.rglob("*")):
        if not f.is_file() or any(f == c or f.resolve() == c or f.is_relative_to(c) for c in covered):
            continue
        try:
            n = count_in_text(f.read_bytes(), rx) if f.name.endswith(DB_SUFFIXES) else mentions(f, cid)
        except OSError:
            continue
        if n:
            out.append(Place("file", str(f.relative_to(root)), n, {"file": str(f.relative_to(root))},
                             "left: not a store this command edits; review by hand", paths=(f,)))
    return out
