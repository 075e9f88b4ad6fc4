"""The workspace places holding one customer (layout of :mod:`pipeline.store`), each with its rows and its erasure.

A :class:`Place` is one place: saved datasets (transactions lines, returns, customer-table rows; erasure saves the
dataset again without them, its cleaning report's counts updated and a note that an erasure happened, not whose),
the staged upload a dataset was read from (deleted), saved selections and campaign lists (the id removed; an
anonymous count of erased members kept, a campaign's totals unchanged), saved clusterings (the row removed), and
caches with per-customer tables: fitted scorers (:mod:`pipeline.customer.scorer_store`) and Model-lab comparisons
(deleted: fitted again on next use). :func:`workspace_places` lists them; :func:`models_of` names the saved models
trained on a dataset that held the customer.
"""
from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import DataError
from pipeline.privacy.sweep import count_in_bytes
from pipeline.store import Workspace, atomic_write_bytes, atomic_write_json

__all__ = ["Place", "workspace_places", "models_of"]


@dataclass
class Place:
    """One place holding the customer: ``kind`` (dataset, upload, selection, campaign, clustering, scorer,
    lab_result, table, file), ``where`` (a path under the workspace folder or ``table <name>``), ``count`` (rows or
    mentions), ``records`` (what is held, for the export), ``action`` (what erasure does) and ``erase`` (does it,
    returns how many rows or files it removed; None: erasure cannot change this place)."""

    kind: str
    where: str
    count: int
    records: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    erase: Callable[[], int] | None = field(default=None, repr=False)
    paths: tuple[Path, ...] = field(default=(), repr=False)     # files and folders it covers (for the sweep)
    ws: Workspace | None = field(default=None, repr=False)      # the workspace it is in (None: the database)

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "count": self.count, "action": self.action}


def _rows(path: Path, cid: str, column: str = "customer_id") -> pd.DataFrame:
    """The rows of a Parquet table whose ``column`` (or index) is ``cid``."""
    df = pd.read_parquet(path)
    if column in df.columns:
        return df[df[column].astype(str) == cid]
    return df[df.index.astype(str) == cid]


def _rel(ws: Workspace, root: Path, p: Path) -> str:
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def _dataset_places(ws: Workspace, root: Path, cid: str) -> tuple[list[Place], list[str], list[str]]:
    """One place per saved dataset holding the customer (+ its staged upload); the ids of those datasets; notes."""
    places, held, notes = [], [], []
    for meta in ws.list_datasets():
        folder = ws.path / "datasets" / meta["id"]
        frames = {n: _rows(folder / f"{n}.parquet", cid) for n in ("transactions", "returns", "customers")
                  if (folder / f"{n}.parquet").exists()}
        frames = {n: f for n, f in frames.items() if len(f)}
        if not frames:
            continue
        held.append(meta["id"])
        if (meta.get("extra") or {}).get("source"):
            notes.append(f"Dataset {meta['id']!r} is refreshed from a source: erase the customer there too, or a "
                         "refresh brings their data back.")
        counts = {n: len(f) for n, f in frames.items()}
        places.append(Place("dataset", _rel(ws, root, folder), sum(counts.values()),
                            {"dataset": meta["id"], "name": meta.get("name"), **{n: f for n, f in frames.items()}},
                            "rows removed ({}); the cleaning report's counts updated".format(
                                ", ".join(f"{v} {k}" for k, v in counts.items())),
                            lambda d=meta["id"]: _erase_dataset(ws, d, cid), (folder,), ws))
        upload = ws.upload_path((meta.get("extra") or {}).get("upload"))
        if upload is not None:
            places.append(Place("upload", _rel(ws, root, upload), 1,
                                {"dataset": meta["id"], "file": upload.name,
                                 "note": "the uploaded file this dataset was read from (its rows are listed above)"},
                                "file deleted (the dataset can no longer be re-mapped from it)",
                                lambda p=upload: _unlink(p), (upload,)))
    return places, held, notes


def _erase_dataset(ws: Workspace, dataset_id: str, cid: str) -> int:
    """Re-save a dataset without the customer's rows (its fitted scorer, kept inside its folder, goes with the old
    version); the report's counts updated and a note added that says an erasure happened (not whose)."""
    ds = ws.load_dataset(dataset_id)
    removed: dict[str, pd.DataFrame] = {}
    for name in ("transactions", "returns", "customers"):
        df = getattr(ds, name)
        if df is not None and "customer_id" in df:
            mask = df["customer_id"].astype(str) == cid
            removed[name] = df[mask]
            setattr(ds, name, df[~mask].reset_index(drop=True))
    gone = {k: len(v) for k, v in removed.items() if len(v)}
    if not gone:
        return 0
    ds.report = _report_after(dict(ds.report), removed, ds)
    ds.extra = {k: v for k, v in ds.extra.items() if k != "upload"}
    ws.save_dataset(ds)
    return sum(gone.values())


def _report_after(report: dict, removed: dict[str, pd.DataFrame], ds) -> dict:
    """The cleaning report with the erased customer's lines, returns, revenue and invoices taken out."""
    lines, rets = removed.get("transactions"), removed.get("returns")
    n_lines, n_rets = (0 if lines is None else len(lines)), (0 if rets is None else len(rets))
    if n_lines:
        for key, minus in (("rows_out", n_lines), ("customers", 1)):
            if isinstance(report.get(key), (int, float)):
                report[key] = max(int(report[key]) - minus, 0)
        if isinstance(report.get("revenue"), (int, float)):
            report["revenue"] = round(float(report["revenue"]) - float(lines["amount"].sum()), 2)
        if isinstance(report.get("invoices"), (int, float)) and "invoice_id" in lines:
            kept = set(ds.transactions["invoice_id"].astype(str))
            report["invoices"] = int(report["invoices"]) - len(set(lines["invoice_id"].astype(str)) - kept)
    elif removed.get("customers") is not None and len(removed["customers"]):
        for key in ("customers", "rows_out"):
            if isinstance(report.get(key), (int, float)):
                report[key] = max(int(report[key]) - len(removed["customers"]), 0)
    if n_rets and isinstance(report.get("return_lines"), (int, float)):
        report["return_lines"] = max(int(report["return_lines"]) - n_rets, 0)
    if isinstance(report.get("rows_in"), (int, float)):
        report["rows_in"] = max(int(report["rows_in"]) - n_lines - n_rets, 0)
    report["erasures"] = int(report.get("erasures", 0)) + 1
    day = datetime.now(timezone.utc).date().isoformat()
    report["notes"] = [*report.get("notes", []),
                       f"{day}: one customer was erased on request ({n_lines} lines, {n_rets} returns removed); the "
                       "counts above are after the erasure."]
    return report


def _unlink(path: Path) -> int:
    existed = path.exists()
    path.unlink(missing_ok=True)
    return int(existed)


def _rmtree(path: Path) -> int:
    existed = path.exists()
    shutil.rmtree(path, ignore_errors=True)
    return int(existed)


def _selection_places(ws: Workspace, root: Path, cid: str) -> list[Place]:
    out = []
    for seg in ws.list_segments():
        n = sum(str(c) == cid for c in seg.get("customer_ids", []))
        if n:
            path = ws.path / "segments" / f"{seg['slug']}.json"
            out.append(Place("selection", _rel(ws, root, path), n, {"selection": seg.get("name")},
                             "id removed from the saved selection (an anonymous count of erased members kept)",
                             lambda p=path: _erase_from_selection(p, cid), (path,)))
    return out


def _erase_from_selection(path: Path, cid: str) -> int:
    doc = json.loads(path.read_text())
    ids = [str(c) for c in doc.get("customer_ids", [])]
    kept = [c for c in ids if c != cid]
    doc["customer_ids"], doc["erased"] = kept, int(doc.get("erased", 0)) + len(ids) - len(kept)
    atomic_write_json(path, doc)
    return len(ids) - len(kept)


def _table_places(ws: Workspace, root: Path, cid: str, folder: str, kind: str, action: str) -> list[Place]:
    """Saved campaign lists (``campaigns/``) or clusterings (``clusterings/``): Parquet tables with a
    ``customer_id`` column; erasure rewrites them without the customer (the JSON beside a campaign list keeps its
    totals and counts the erased members)."""
    out = []
    for path in sorted((ws.path / folder).glob("*.parquet")):
        rows = _rows(path, cid)
        if len(rows):
            out.append(Place(kind, _rel(ws, root, path), len(rows), {kind: path.stem, "rows": rows}, action,
                             lambda p=path: _erase_rows(p, cid), (path,)))
    return out


def _erase_rows(path: Path, cid: str) -> int:
    df = pd.read_parquet(path)
    mask = df["customer_id"].astype(str) == cid
    buf = io.BytesIO()
    df[~mask].reset_index(drop=True).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    meta = path.with_suffix(".json")
    if mask.any() and path.parent.name == "campaigns" and meta.exists():
        doc = json.loads(meta.read_text())
        doc["erased_customers"] = int(doc.get("erased_customers", 0)) + int(mask.sum())
        atomic_write_json(meta, doc)
    return int(mask.sum())


def _folder_places(ws: Workspace, root: Path, cid: str, rx: re.Pattern[str]) -> list[Place]:
    """Caches holding per-customer tables: fitted scorers and Model-lab comparisons. Erasure deletes the folder
    (the scorer is fitted again on the next use; the Model lab asks to train again)."""
    out = []
    candidates = [(p, "scorer") for p in ws.path.glob("datasets/*/scorer/*") if p.is_dir()]
    candidates += [(p, "lab_result") for p in (ws.path / "lab_results").glob("*") if p.is_dir()]
    for folder, kind in candidates:
        records, n = {}, 0
        for f in sorted(folder.rglob("*.parquet")):
            rows = _rows(f, cid)
            if len(rows):
                records[str(f.relative_to(folder))] = rows
                n += len(rows)
        n += sum(count_in_bytes(f.name, f.read_bytes(), rx) for f in folder.rglob("*")
                 if f.is_file() and f.suffix != ".parquet")
        if n:
            out.append(Place(kind, _rel(ws, root, folder), n, records,
                             "cache deleted (" + ("the scorer is fitted again without the customer on next use)"
                                                  if kind == "scorer" else "the Model lab asks to train again)"),
                             lambda p=folder: _rmtree(p), (folder,)))
    return out


def models_of(ws: Workspace, dataset_ids: list[str]) -> list[tuple[Workspace, str, list[str]]]:
    """Saved models (Model lab, retrain versions) trained on each dataset that held the customer."""
    from pipeline.models.persist import read_metadata

    by: dict[str, list[str]] = {d: [] for d in dataset_ids}
    for folder in sorted((ws.path / "models").glob("*")) if (ws.path / "models").is_dir() else []:
        try:
            meta = read_metadata(folder)
        except (DataError, OSError, ValueError):
            continue
        ds_id = (meta.extra.get("dataset") or {}).get("id")
        if ds_id in by:
            by[ds_id].append(folder.name)
    return [(ws, d, ids) for d, ids in by.items() if ids]


def workspace_places(ws: Workspace, root: Path, cid: str, rx: re.Pattern[str]) -> tuple[list[Place], list[str],
                                                                                      list[str]]:
    """Every place of one workspace holding ``cid``; the ids of its datasets that held them; notes."""
    found, held, notes = _dataset_places(ws, root, cid)
    found += _selection_places(ws, root, cid)
    found += _table_places(ws, root, cid, "campaigns", "campaign",
                           "customer removed from the saved list (totals kept; erased members counted)")
    found += _table_places(ws, root, cid, "clusterings", "clustering", "customer's assignment removed")
    return found + _folder_places(ws, root, cid, rx), held, notes
