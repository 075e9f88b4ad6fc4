"""Versioned churn models of a dataset: the champion pointer, the decision history, roll back, and a watcher.

Every model retraining produces (champion or not) is saved as a version in the workspace's model folder
(``models/churn-<dataset id>-v<N>``, written by :mod:`pipeline.models.persist`: never pickle), so the Model lab lists
it and any version stays loadable. Per dataset, ``health/<dataset id>/`` holds:

* ``champion.json`` - the pointer: THE live model of the dataset (the one model the Customer page, the Campaigns
  page and the scoring service use; ``model_id`` is a retrain version or any model saved in the Model lab and put
  live by hand, :mod:`pipeline.health.live`), a ``serial`` that grows on every change (what a service polls to pick
  up a new live model without a restart, :class:`ChampionWatcher`) and the history of live models (what roll back
  walks back through);
* ``decisions.jsonl`` - one line per promotion, refusal, putting live by hand or roll back, with the metrics and
  the reason;
* ``refresh.jsonl`` - one line per refresh (what changed); ``backtest.json`` - the last backtest;
* ``erasures.json`` - the saved models trained on data that included a customer erased since
  (:mod:`pipeline.privacy.erase`): the live model then says "retrain", and retraining sets it aside.

There is no other pointer: the workspace-wide ``active_model`` document of earlier versions is read only as a
fallback for a dataset without a pointer (and only for a model trained on that dataset).
:func:`locate_dataset` finds a saved dataset by id or name for the CLI.
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
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The workspace document that named the lookup model before the per-dataset pointer (read as a fallback only).
LEGACY_ACTIVE_DOC = "active_model"


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

    def folder_id(self, ref: str) -> str:
        """Model folder id of ``ref``: a version of this dataset (``v3``) or a saved model's id (Model lab)."""
        if _VERSION.match(ref or ""):
            return self.model_id(ref)
        if not _ID.match(ref or ""):
            raise DataError(f"Model {ref!r} is not a version (like 'v3') or a saved model's id.")
        return ref

    def version_of(self, model_id: str | None) -> str | None:
        """``v<N>`` when ``model_id`` is a retrain version of this dataset, else None."""
        prefix = f"churn-{self.dataset_id}-"
        rest = model_id[len(prefix):] if model_id and model_id.startswith(prefix) else ""
        return rest if _VERSION.match(rest) else None

    def ref(self, model_id: str | None) -> str | None:
        """How a model is named in this dataset's records: its version, else its saved id."""
        return self.version_of(model_id) or model_id

    def load_version(self, version: str):
        """``(pipeline, metadata)`` of a saved version or saved model id (DataError if missing or damaged)."""
        from pipeline.models.saved import load_lab_model

        return load_lab_model(self.ws, self.folder_id(version))

    def version_metadata(self, version: str):
        from pipeline.models.persist import read_metadata

        return read_metadata(self.ws.models_dir / self.folder_id(version))

    # ---- the live-model pointer ---------------------------------------------------------------------------------
    def pointer(self) -> dict[str, Any]:
        """``champion.json`` (empty dict when no model has been put live yet)."""
        return self._document("champion.json")

    def _document(self, name: str) -> dict[str, Any]:
        """A JSON document of this dataset's records (empty dict when missing or not a readable JSON object)."""
        try:
            doc = json.loads((self.path / name).read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _exists(self, model_id: str | None) -> bool:
        return bool(model_id) and bool(_ID.match(model_id)) and (self.ws.models_dir / model_id).is_dir()

    def champion_id(self) -> str | None:
        """Folder id of the live model, or None (the default model: none put live yet, or its folder was deleted)."""
        doc = self.pointer()
        if doc:
            mid = doc.get("model_id") or (self.model_id(doc["version"]) if doc.get("version") else None)
            return mid if self._exists(mid) else None
        return self._legacy_active()

    def _legacy_active(self) -> str | None:
        """The old workspace-wide lookup model, when it was trained on this dataset (a workspace from before the
        per-dataset pointer)."""
        from pipeline.models.persist import read_metadata

        mid = (self.ws.read_json(LEGACY_ACTIVE_DOC) or {}).get("id")
        if not self._exists(mid):
            return None
        try:
            meta = read_metadata(self.ws.models_dir / mid)
        except DataError:
            return None
        return mid if (meta.extra.get("dataset") or {}).get("id") == self.dataset_id else None

    def champion(self) -> str | None:
        """The live model as this dataset's records name it (``v3``, or a saved model's id), or None."""
        return self.ref(self.champion_id())

    def load_champion(self):
        """``(pipeline, metadata)`` of the live model, or None."""
        mid = self.champion_id()
        return None if mid is None else self.load_version(mid)

    def set_champion(self, version: str, history: list[str] | None = None) -> dict[str, Any]:
        """Point at ``version`` (a version or a saved model id; pushed on the history unless ``history`` is given);
        bumps the serial."""
        mid = self.folder_id(version)
        self.version_metadata(mid)                         # refuse models that are not readable
        doc = self.pointer()
        hist = list(history) if history is not None else [*self.history(), mid]
        doc = {"dataset_id": self.dataset_id, "version": self.version_of(mid), "model_id": mid,
               "serial": int(doc.get("serial", 0)) + 1, "changed": now_iso(), "history": hist}
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / "champion.json", doc)
        from pipeline.privacy.audit import record                     # who put which model live, never customer data
        record(self.ws, "model_live", f"model {doc['version'] or mid}", dataset=self.dataset_id)
        return doc

    def history(self) -> list[str]:
        """Model ids that were live, oldest first (versions of old pointers read as their ids)."""
        return [self.folder_id(h) for h in self.pointer().get("history", []) if h]

    def put_live(self, model_id: str, reason: str, **record: Any) -> dict[str, Any]:
        """Make saved model ``model_id`` the live model by hand; the decision is recorded with ``reason``.
        Checks (kind, columns, baselines) belong to :func:`pipeline.health.live.put_live`."""
        current = self.champion()
        if self.champion_id() == model_id:
            raise DataError(f"{self.ref(model_id)} is already the live model.")
        self.set_champion(model_id)
        entry = {"time": now_iso(), "action": "put live", "from": current, "to": self.ref(model_id),
                 "in_use": self.ref(model_id), "reason": reason, **record}
        self.record_decision(entry)
        return entry

    def rollback(self, to: str | None = None, reason: str = "") -> dict[str, Any]:
        """Put the previous live model (or version / model id ``to``) back in use; the decision is recorded.
        DataError when there is nothing to roll back to."""
        current, hist = self.champion_id(), self.history()
        if to is None:
            earlier = [m for m in hist[:-1] if self._exists(m)]
            if not earlier:
                raise DataError(f"rollback: dataset {self.dataset_id!r} has no earlier champion to go back to "
                                f"(champions so far: {', '.join(map(self.ref, hist)) or 'none'}).")
            to_id = earlier[-1]
            hist = hist[:hist.index(to_id) + 1]
        else:
            to_id = self.folder_id(to)
            hist = [*hist, to_id]
        if to_id == current:
            raise DataError(f"rollback: {self.ref(to_id)} is already the model in use.")
        self.set_champion(to_id, hist)
        entry = {"time": now_iso(), "action": "rollback", "from": self.ref(current), "to": self.ref(to_id),
                 "in_use": self.ref(to_id),
                 "reason": reason or f"Rolled back from {self.ref(current) or 'the default model'} to "
                                     f"{self.ref(to_id)} by hand."}
        self.record_decision(entry)
        return entry

    # ---- erasures: models trained on data that included a customer erased since ----------------------------------
    def mark_erased(self, model_ids: list[str]) -> dict[str, Any]:
        """Record that saved models ``model_ids`` were trained on data that included a customer erased since
        (``erasures.json``: model ids, how many erasures, when the last one was; never who)."""
        doc = self.erasures()
        doc = {"models": sorted(set(doc.get("models", [])) | set(model_ids)),
               "erasures": int(doc.get("erasures", 0)) + 1, "last": now_iso()}
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / "erasures.json", doc)
        return doc

    def erasures(self) -> dict[str, Any]:
        """``erasures.json`` (empty dict when no erasure touched this dataset's models)."""
        return self._document("erasures.json")

    def trained_on_erased(self, model_id: str | None) -> bool:
        """Whether saved model ``model_id`` was trained on data that included an erased customer (retrain)."""
        return bool(model_id) and model_id in self.erasures().get("models", [])

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
    """Polls a dataset's live-model pointer (the same one the app's pages read); :meth:`poll` returns the new live
    model when it changed - a promoted champion or a model put live by hand in the Model lab.

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
        mid = doc.get("model_id") or (self.store.model_id(doc["version"]) if doc.get("version") else None)
        loaded = self.store.load_version(mid) if mid else None
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
