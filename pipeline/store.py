"""The workspace on disk: datasets (with mapping and cleaning report), saved customer segments, model folders.

Layout: ``<root>/<workspace id>/datasets/<dataset id>/{meta.json, transactions.parquet, returns.parquet,
customers.parquet}``, ``.../uploads/<content hash>.<ext>``, ``.../segments/<slug>.json``, ``.../models/<model id>/``,
``.../settings.json`` (per-dataset page settings: snapshot date, k, ...) and ``.../lab_results/<dataset id>/`` (the
last Model-lab comparison, :mod:`pipeline.models.lab_store`). Every write goes to a temporary file or folder first and
is moved into place with an atomic rename, so a crash mid-save leaves the previous version readable. Nothing here is
ever unpickled.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from pipeline.config import workspace_root
from pipeline.errors import DataError

__all__ = ["Dataset", "Workspace", "atomic_write_bytes", "atomic_write_json", "content_hash", "find_saved_datasets",
           "is_workspace_id", "new_workspace_id"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


#: what :func:`new_workspace_id` makes: 32 lowercase hex digits, 128 random bits
_WORKSPACE_ID = re.compile(r"^[0-9a-f]{32}$")


def new_workspace_id() -> str:
    """A new workspace id: 128 bits from the operating system's CSPRNG as 32 hex digits. The id is the address of
    a workspace in the app (``?ws=``), so it is made unguessable rather than chosen by a person."""
    return secrets.token_hex(16)


def is_workspace_id(text: object) -> bool:
    """Whether ``text`` has the form of an id :func:`new_workspace_id` makes (typed names and the 12-digit ids of
    earlier versions do not). The app opens only such ids; the CLI's ``--workspace DIR`` takes any folder."""
    return isinstance(text, str) and bool(_WORKSPACE_ID.fullmatch(text))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode())


@dataclass
class Dataset:
    """A saved dataset. ``kind`` is ``"transactions"`` (transactions + returns) or ``"customers"``."""

    id: str
    name: str
    kind: str
    transactions: pd.DataFrame | None = None
    returns: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    mapping: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    created: str = ""
    extra: dict = field(default_factory=dict)


class Workspace:
    """One analyst's saved work. Different workspace ids never share files."""

    def __init__(self, workspace_id: str, root: Path | None = None):
        if not _ID.fullmatch(workspace_id or ""):
            raise DataError(f"Workspace id {workspace_id!r} is not valid: use letters, digits, '-' or '_'.")
        self.id = workspace_id
        self.path = Path(root or workspace_root()) / workspace_id
        self.path.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def exists(workspace_id: str | None, root: Path | None = None) -> bool:
        """Whether ``workspace_id`` is a valid id naming a workspace already on disk (nothing is created)."""
        return (isinstance(workspace_id, str) and bool(_ID.fullmatch(workspace_id))
                and (Path(root or workspace_root()) / workspace_id).is_dir())

    # ---- datasets -------------------------------------------------------------------------------------------
    def _ds_dir(self, dataset_id: str) -> Path:
        if not _ID.match(dataset_id or ""):
            raise DataError(f"Dataset id {dataset_id!r} is not valid.")
        return self.path / "datasets" / dataset_id

    def save_dataset(self, ds: Dataset) -> Dataset:
        """Save (or replace) a dataset atomically: build it in a temporary folder, then swap it in."""
        final = self._ds_dir(ds.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
        try:
            for name in ("transactions", "returns", "customers"):
                df = getattr(ds, name)
                if df is not None:
                    df.to_parquet(tmp / f"{name}.parquet", index=False)
            ds.created = ds.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
            meta = {"id": ds.id, "name": ds.name, "kind": ds.kind, "mapping": ds.mapping, "report": ds.report,
                    "created": ds.created, "extra": ds.extra, "content_hash": _tables_hash(tmp)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
            self._swap_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return ds

    @staticmethod
    def _swap_dir(tmp: Path, final: Path) -> None:
        """Replace ``final`` by ``tmp``; the old folder is moved aside first and removed only after the swap."""
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:6]}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    def list_datasets(self) -> list[dict]:
        """Metadata of every readable saved dataset, newest first."""
        self._recover()
        out = []
        for meta in (self.path / "datasets").glob("*/meta.json"):
            if meta.parent.name.startswith("."):     # half-written (.tmp-) or superseded (.old-) versions
                continue
            try:
                out.append(json.loads(meta.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return sorted(out, key=lambda m: m.get("created", ""), reverse=True)

    def _recover(self) -> None:
        """If a crash happened between the two renames of a swap, put the previous version back."""
        for old in (self.path / "datasets").glob(".old-*"):
            name = old.name[len(".old-"):].rsplit("-", 1)[0]
            final = old.parent / name
            if not final.exists() and (old / "meta.json").exists():
                os.replace(old, final)

    def load_dataset(self, dataset_id: str) -> Dataset:
        d = self._ds_dir(dataset_id)
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"Dataset {dataset_id!r} is not in this workspace (it may have been deleted).") from e
        frames = {n: pd.read_parquet(d / f"{n}.parquet") if (d / f"{n}.parquet").exists() else None
                  for n in ("transactions", "returns", "customers")}
        return Dataset(meta["id"], meta["name"], meta["kind"], mapping=meta.get("mapping", {}),
                       report=meta.get("report", {}), created=meta.get("created", ""),
                       extra=meta.get("extra", {}), **frames)

    def stage_upload(self, data: bytes, filename: str) -> Path:
        """Keep an uploaded file (named by its content hash) so its mapping can be corrected later."""
        suffix = "".join(c for c in Path(filename).suffix.lower() if c.isalnum() or c == ".")[:8]
        path = self.path / "uploads" / f"{content_hash(data)}{suffix}"
        if not path.exists():
            atomic_write_bytes(path, data)
        return path

    def upload_path(self, name: str | None) -> Path | None:
        """A staged upload by file name (as stored in a dataset's ``extra["upload"]``), if it is still there."""
        if not name or not _ID.match(Path(name).stem):
            return None
        p = self.path / "uploads" / Path(name).name
        return p if p.exists() else None

    def update_extra(self, dataset_id: str, changes: dict) -> None:
        """Merge ``changes`` into a saved dataset's ``extra`` (e.g. its currency) without rewriting its tables.

        Only ``meta.json`` is replaced (atomically); the dataset's version changes, so cached results refresh."""
        path = self._ds_dir(dataset_id) / "meta.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"Dataset {dataset_id!r} is not in this workspace (it may have been deleted).") from e
        meta["extra"] = {**meta.get("extra", {}), **changes}
        atomic_write_json(path, meta)

    # ---- per-dataset settings: what the pages were set to (snapshot date, k, analysis period, ...) -----------
    def dataset_settings(self, dataset_id: str) -> dict:
        """The settings saved for one dataset (``{}`` when none), so a reload finds the pages as they were."""
        doc = self.read_json("settings", {}) or {}
        return dict(doc.get(self._ds_dir(dataset_id).name, {}))

    def save_dataset_settings(self, dataset_id: str, changes: dict) -> None:
        """Merge JSON-ready ``changes`` into one dataset's settings (a value of None removes the key)."""
        doc = self.read_json("settings", {}) or {}
        cur = {**doc.get(self._ds_dir(dataset_id).name, {}), **changes}
        doc[dataset_id] = {k: v for k, v in cur.items() if v is not None}
        self.write_json("settings", doc)

    def delete_dataset(self, dataset_id: str) -> None:
        shutil.rmtree(self._ds_dir(dataset_id), ignore_errors=True)

    def dataset_content_hash(self, dataset_id: str) -> str:
        """SHA-256 of the dataset's saved tables and of what its meta.json says about them (kind, mapping, report,
        extra: e.g. the currency), independent of when it was saved: what fitted pieces are keyed by
        (:mod:`pipeline.customer.scorer_store`). Datasets saved before the hash was kept are hashed from their
        files."""
        d = self._ds_dir(dataset_id)
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"Dataset {dataset_id!r} is not in this workspace (it may have been deleted).") from e
        tables = meta.get("content_hash") or _tables_hash(d)
        about = {k: meta.get(k) for k in ("id", "name", "kind", "mapping", "report", "extra")}
        return hashlib.sha256(f"{tables}|{json.dumps(about, sort_keys=True, default=str)}".encode()).hexdigest()

    def scorer_dir(self, dataset_id: str) -> Path:
        """Where a dataset's fitted scorer pieces are kept (inside its folder: a re-saved dataset drops them)."""
        return self._ds_dir(dataset_id) / "scorer"

    def dataset_version(self, dataset_id: str) -> str:
        """Changes whenever the dataset is saved again: use it in cache keys."""
        meta = self._ds_dir(dataset_id) / "meta.json"
        return f"{self.id}/{dataset_id}/{meta.stat().st_mtime_ns}" if meta.exists() else ""

    # ---- small JSON documents: settings and saved segments ---------------------------------------------------
    def read_json(self, name: str, default=None):
        p = self.path / f"{name}.json"
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return default

    def write_json(self, name: str, obj) -> None:
        atomic_write_json(self.path / f"{name}.json", obj)

    def save_segment(self, name: str, dataset_id: str, customer_ids: list[str], source: str = "") -> str:
        """Save a named list of customers (e.g. a lasso selection) for the other pages to filter on."""
        name = name.strip()
        if not name:
            raise DataError("Give the segment a name.")
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:48] or "segment"
        atomic_write_json(self.path / "segments" / f"{slug}.json",
                          {"name": name, "dataset_id": dataset_id, "customer_ids": [str(c) for c in customer_ids],
                           "source": source, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return slug

    def list_segments(self, dataset_id: str | None = None) -> list[dict]:
        out = []
        for p in sorted((self.path / "segments").glob("*.json")):
            try:
                seg = json.loads(p.read_text()) | {"slug": p.stem}
            except (OSError, json.JSONDecodeError):
                continue
            if dataset_id is None or seg.get("dataset_id") == dataset_id:
                out.append(seg)
        return out

    def delete_segment(self, slug: str) -> None:
        (self.path / "segments" / f"{slug}.json").unlink(missing_ok=True)

    # ---- the clustering chosen on the Clusters page, per dataset (read by the lookup page) -------------------
    def save_clustering(self, dataset_id: str, assignments: pd.DataFrame, meta: dict) -> None:
        """Save one clustering: ``assignments`` has ``customer_id, cluster, cluster_name`` (+ map ``x, y``);
        ``meta`` holds what re-creates it (method, k, features, options, seed) and the cluster names."""
        d = self.path / "clusterings"
        d.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        assignments.to_parquet(buf, index=False)
        atomic_write_bytes(d / f"{self._ds_dir(dataset_id).name}.parquet", buf.getvalue())
        atomic_write_json(d / f"{dataset_id}.json", meta)

    def load_clustering(self, dataset_id: str) -> tuple[pd.DataFrame, dict] | None:
        """The saved clustering of a dataset, or None."""
        d = self.path / "clusterings"
        try:
            meta = json.loads((d / f"{self._ds_dir(dataset_id).name}.json").read_text())
            return pd.read_parquet(d / f"{dataset_id}.parquet"), meta
        except (OSError, json.JSONDecodeError):
            return None

    # ---- model folders (contents written by pipeline.models.persist) ----------------------------------------
    @property
    def models_dir(self) -> Path:
        p = self.path / "models"
        p.mkdir(exist_ok=True)
        return p


def _tables_hash(folder: Path) -> str:
    """SHA-256 of a dataset folder's table files (names and bytes)."""
    h = hashlib.sha256()
    for name in ("transactions", "returns", "customers"):
        path = folder / f"{name}.parquet"
        if path.exists():
            h.update(f"{name}:{path.stat().st_size}:".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def find_saved_datasets(name: str, root: Path) -> list[tuple["Workspace", str]]:
    """Every ``(workspace, dataset id)`` whose saved dataset has id or name ``name``. ``root`` is a workspace folder
    (holding ``datasets/``) or a folder of workspaces, all of which are searched; an absent folder matches nothing."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [root] if (root / "datasets").is_dir() else [p for p in sorted(root.iterdir())
                                                            if (p / "datasets").is_dir()]
    hits = []
    for folder in folders:
        ws = Workspace(folder.name, folder.parent)
        hits += [(ws, m["id"]) for m in ws.list_datasets() if name in (m.get("id"), m.get("name"))]
    return hits
