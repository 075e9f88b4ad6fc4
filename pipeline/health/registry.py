"""Versioned churn models of a dataset: the champion pointer, the decision history, roll back, and a watcher.

Every model retraining produces (champion or not) is saved as a version in the workspace's model folder
(``models/churn-<dataset id>-v<N>``, written by :mod:`pipeline.models.persist`: never pickle), so the Model lab lists
it and any version stays loadable. Per dataset, ``health/<dataset id>/`` holds:

* ``champion.json`` - the pointer: the version in use, a ``serial`` that grows on every change (what a service
  polls to pick up a promoted model without a restart, :class:`ChampionWatcher`) and the history of champions
  (what roll back walks back through);
* ``decisions.jsonl`` - one line per promotion, refusal or roll back, with both sets of metrics and the reason;
* ``refresh.jsonl`` - one line per refresh (what changed); ``backtest.json`` - the last backtest.

When the champion changes, it also becomes the workspace's model for customer lookup unless the analyst marked
another model there by hand. :func:`locate_dataset` finds a saved dataset by id or name for the CLI.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.errors import DataError
from pipeline.store import Workspace, atomic_write_json, find_saved_datasets

__all__ = ["HealthStore", "ChampionWatcher", "locate_dataset", "now_iso"]

_VERSION = re.compile(r"^v(\d+)$")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class HealthStore:
    """The model-health records of one dataset in one workspace."""

    def __init__(self, ws: Workspace, dataset_id: str):
        ws._ds_dir(dataset_id)                           # validates the id
        self.ws, self.dataset_id = ws, dataset_id
        self.path = ws.path / "health" / dataset_id

    # ---- versions ---------------------------------------------------------------------------------------------
    def model_id(self, version: str) -> str:
        """Folder name (Model lab id) of ``version`` (``v1``, ``v2``, ...)."""
        if not _VERSION.match(version or ""):
            raise DataError(f"Model version {version!r} is not valid; versions look like 'v3'.")
        return f"churn-{self.dataset_id}-{version}"

    def versions(self) -> list[str]:
        """Saved versions of this dataset, oldest first."""
        prefix = f"churn-{self.dataset_id}-v"
        nums = sorted(int(p.name[len(prefix):]) for p in self.ws.models_dir.glob(f"{prefix}*")
                      if p.is_dir() and p.name[len(prefix):].isdigit())
        return [f"v{n}" for n in nums]

    def next_version(self) -> str:
        known = self.versions()
        return f"v{int(known[-1][1:]) + 1 if known else 1}"

    def save_version(self, pipeline, meta) -> str:
        """Save a fitted pipeline and its metadata as the next version; returns the version."""
        from pipeline.models.persist import save_model

        version = self.next_version()
        name = str(meta.extra.get("name") or "Churn model")
        meta.extra = dict(meta.extra) | {"version": version, "name": f"{name} ({version})"}
        save_model(pipeline, meta, self.ws.models_dir / self.model_id(version))
        return version

    def load_version(self, version: str):
        """``(pipeline, metadata)`` of a saved version (DataError if missing or damaged)."""
        from pipeline.models.lab import load_lab_model

        return load_lab_model(self.ws, self.model_id(version))

    def version_metadata(self, version: str):
        from pipeline.models.persist import read_metadata

        return read_metadata(self.ws.models_dir / self.model_id(version))

    # ---- the champion pointer -----------------------------------------------------------------------------------
    def pointer(self) -> dict[str, Any]:
        """``champion.json`` (empty dict when no model has been promoted yet)."""
        try:
            doc = json.loads((self.path / "champion.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def champion(self) -> str | None:
        """The version in use, or None (none promoted yet, or its folder was deleted)."""
        version = self.pointer().get("version")
        return version if version and (self.ws.models_dir / self.model_id(version)).is_dir() else None

    def load_champion(self):
        """``(pipeline, metadata)`` of the champion, or None."""
        version = self.champion()
        return None if version is None else self.load_version(version)

    def set_champion(self, version: str, history: list[str] | None = None) -> dict[str, Any]:
        """Point at ``version`` (pushed on the history unless ``history`` is given); bumps the serial."""
        self.version_metadata(version)                     # refuse versions that are not readable
        doc = self.pointer()
        previous = doc.get("version")
        hist = list(history) if history is not None else [*doc.get("history", []), version]
        doc = {"dataset_id": self.dataset_id, "version": version, "model_id": self.model_id(version),
               "serial": int(doc.get("serial", 0)) + 1, "changed": now_iso(), "history": hist}
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / "champion.json", doc)
        self._sync_active(previous, version)
        return doc

    def _sync_active(self, previous: str | None, version: str) -> None:
        """Make the champion the lookup model unless the analyst picked another model by hand."""
        from pipeline.models.lab import ACTIVE_MODEL_DOC, set_active_model

        active = (self.ws.read_json(ACTIVE_MODEL_DOC) or {}).get("id")
        ours = active is None or active.startswith(f"churn-{self.dataset_id}-v")
        if ours or (previous is not None and active == self.model_id(previous)):
            set_active_model(self.ws, self.model_id(version))

    def rollback(self, to: str | None = None, reason: str = "") -> dict[str, Any]:
        """Put the previous champion (or version ``to``) back in use; the decision is recorded. DataError when
        there is nothing to roll back to."""
        doc = self.pointer()
        current, hist = doc.get("version"), list(doc.get("history", []))
        if to is None:
            earlier = [v for v in hist[:-1] if (self.ws.models_dir / self.model_id(v)).is_dir()]
            if not earlier:
                raise DataError(f"rollback: dataset {self.dataset_id!r} has no earlier champion to go back to "
                                f"(champions so far: {', '.join(hist) or 'none'}).")
            to, hist = earlier[-1], hist[:hist.index(earlier[-1]) + 1]
        else:
            hist = [*hist, to]
        if to == current:
            raise DataError(f"rollback: {to} is already the model in use.")
        self.set_champion(to, hist)
        entry = {"time": now_iso(), "action": "rollback", "from": current, "to": to, "in_use": to,
                 "reason": reason or f"Rolled back from {current} to {to} by hand."}
        self.record_decision(entry)
        return entry

    # ---- records --------------------------------------------------------------------------------------------------
    def record_decision(self, entry: dict[str, Any]) -> None:
        self._append("decisions.jsonl", entry)

    def decisions(self) -> list[dict[str, Any]]:
        """Every retrain decision and roll back, oldest first."""
        return self._read_lines("decisions.jsonl")

    def record_refresh(self, entry: dict[str, Any]) -> None:
        self._append("refresh.jsonl", entry)

    def refreshes(self) -> list[dict[str, Any]]:
        return self._read_lines("refresh.jsonl")

    def save_backtest(self, doc: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / "backtest.json", doc)

    def backtest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / "backtest.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _append(self, name: str, entry: dict[str, Any]) -> None:
        from pipeline.exports import to_jsonable

        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(to_jsonable(entry)) + "\n")

    def _read_lines(self, name: str) -> list[dict[str, Any]]:
        try:
            lines = (self.path / name).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:              # a line cut short by a crash is skipped, not fatal
                continue
        return out


class ChampionWatcher:
    """Polls a dataset's champion pointer; :meth:`poll` returns the new champion when it changed.

    A service keeps one per process and calls :meth:`poll` every few seconds (reading one small JSON file); when it
    returns ``(pipeline, metadata)``, swap the scorer's churn model (``pipeline.health.retrain.with_churn_model``).
    """

    def __init__(self, ws: Workspace, dataset_id: str):
        self.store = HealthStore(ws, dataset_id)
        self.serial = int(self.store.pointer().get("serial", 0))

    def poll(self):
        """``(pipeline, metadata)`` of the champion when the pointer changed since the last poll, else None.

        DataError when ``champion.json`` exists but cannot be read, or names a version that cannot be loaded (its
        folder deleted or damaged): the serial is then kept, so the next poll tries again (the caller keeps its
        model meanwhile). The pointer is read once, so the model returned is the one of the serial recorded."""
        path = self.store.path / "champion.json"
        doc = self.store.pointer()
        if not doc and path.exists():
            raise DataError(f"champion pointer of dataset {self.store.dataset_id!r} ({path.name}) is not readable "
                            "JSON; the model in use stays.")
        serial = int(doc.get("serial", 0))
        if serial == self.serial:
            return None
        version = doc.get("version")
        loaded = self.store.load_version(version) if version else None
        self.serial = serial
        return loaded


def locate_dataset(name: str, workspace: str | Path | None = None) -> tuple[Workspace, str]:
    """``(workspace, dataset id)`` of a saved dataset named ``name`` (id or name).

    ``workspace`` is a workspace folder (holding ``datasets/``) or a folder of workspaces (default: the app's
    ``workspace/`` root, ``SEGMENTS_WORKSPACE``); every workspace under a root is searched. DataError when nothing
    or more than one dataset matches.
    """
    from pipeline.config import workspace_root

    root = Path(workspace) if workspace else workspace_root()
    if not root.is_dir():
        raise DataError(f"dataset {name!r}: the workspace folder {str(root)!r} does not exist.")
    hits = find_saved_datasets(name, root)
    if not hits:
        raise DataError(f"dataset {name!r} is not saved under {str(root)!r}; see the sidebar of the app or create it "
                        "with 'python -m pipeline source'.")
    if len(hits) > 1:
        raise DataError(f"dataset {name!r} names {len(hits)} saved datasets under {str(root)!r}; pass the workspace "
                        "folder with --workspace or the dataset id.")
    return hits[0]
