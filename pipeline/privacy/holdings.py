"""Everything held about one customer, and where: the one search behind erasure and subject access.

:func:`find_customer` looks in two stores and returns :class:`Holdings`, a list of :class:`Place` s. Each place
carries what it holds (``records``: the rows, for a subject-access export) and how to erase it (``erase``), so the
export and the erasure read the same list and cannot disagree.

* **Workspace files** (every workspace under ``--workspace``; layout of :mod:`pipeline.store`): saved datasets
  (transactions lines, returns, customer-table rows), the staged upload each dataset was read from, saved
  selections (``segments/``), saved campaigns' lists (``campaigns/``), saved clusterings (``clusterings/``), fitted
  scorers (``datasets/<id>/scorer/``, :mod:`pipeline.customer.scorer_store`) and Model-lab comparisons
  (``lab_results/``). Fitted models trained on a dataset that held the customer are listed (``models``): they hold
  no id, but were trained on the customer's data.
* **The SQL database** of the service and the prediction log (SQLAlchemy reflection: every table): rows whose
  ``customer_id`` is the id (API purchases, cards, coupon decisions, prediction-log rows) and rows of other tables
  whose text mentions it (an ``Idempotency-Key``'s stored answer).

Then every file under the workspace folder is swept (:func:`mentions`: Parquet and JSON parsed, zip members such
as ``.skops`` or ``.xlsx`` opened, ``.npz`` arrays read without pickles, compressed files inflated, anything else
as text), and a file holding the id that no place above covers becomes a place of kind ``file`` that erasure
cannot edit: it is reported, never silently kept. An id matches as a whole token (``C-17`` is not found in
``C-170``).
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import DataError
from pipeline.store import Workspace, atomic_write_bytes, atomic_write_json

__all__ = ["Place", "Holdings", "find_customer", "workspaces_under", "mentions", "resolve_database_url",
           "check_customer_id", "sqlite_files", "ERASED_PREFIX"]

#: What an anonymised coupon decision's ``customer_id`` starts with (then a random token, never the id).
ERASED_PREFIX = "erased-"
#: Folders and files a workspace may hold (a folder with any of them is a workspace).
_WORKSPACE_MARKS = ("datasets", "segments", "campaigns", "clusterings", "models", "health", "lab_results",
                    "uploads", "settings.json")
#: Tables whose rows only mention the id in a text column, and are deleted (a stored answer to a retried POST).
_DELETE_MENTIONS = {"idempotency_keys"}
#: Tables whose rows are kept anonymised (the id replaced by a random token), so campaign counts and budgets stay.
_ANONYMISE = {"coupon_decisions": {"code": None, "reason": "Customer erased on request."}}
_DB_SUFFIXES = (".db", ".db-wal", ".db-shm", ".sqlite", ".sqlite3")


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


def _token(cid: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(cid) + r"(?![A-Za-z0-9])")


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


# ---- the sweep: does a file hold the id? ---------------------------------------------------------------------------
def _in_json(obj: Any, rx: re.Pattern[str]) -> int:
    if isinstance(obj, str):
        return len(rx.findall(obj))
    if isinstance(obj, dict):
        return sum(_in_json(k, rx) + _in_json(v, rx) for k, v in obj.items())
    if isinstance(obj, list):
        return sum(_in_json(v, rx) for v in obj)
    return 0


def _in_parquet(data: bytes, rx: re.Pattern[str]) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    n = _in_json(table.schema.metadata and {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                                            for k, v in table.schema.metadata.items() if k != b"pandas"}, rx)
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            n += int(pc.sum(pc.count_substring_regex(col, rx.pattern)).as_py() or 0)
    return n


def _in_npz(data: bytes, rx: re.Pattern[str]) -> int:
    import numpy as np

    n = 0
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        for name in z.files:
            arr = z[name]
            if arr.dtype.kind in "US":
                n += sum(len(rx.findall(str(v))) for v in arr.ravel())
    return n


def _in_text(data: bytes, rx: re.Pattern[str]) -> int:
    texts = [data.decode("latin-1")]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[1:2] == b"\x00":
        texts.append(data.decode("utf-16", errors="ignore"))
    return sum(len(rx.findall(t)) for t in texts)


def _in_bytes(name: str, data: bytes, rx: re.Pattern[str], depth: int = 0) -> int:
    """Mentions of the id in one file's bytes, read by what the file is."""
    low = name.lower()
    try:
        if low.endswith(".parquet") or data[:4] == b"PAR1":
            return _in_parquet(data, rx)
        if low.endswith(".npz"):
            return _in_npz(data, rx)
        if low.endswith((".json", ".jsonl")):
            try:
                return _in_json(json.loads(data), rx)
            except json.JSONDecodeError:
                return _in_text(data, rx)
        if depth < 2 and zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return sum(_in_bytes(m, z.read(m), rx, depth + 1) for m in z.namelist() if not m.endswith("/"))
        for magic, opener in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                              (b"\xfd7zXZ", lzma.decompress)):
            if data.startswith(magic) and depth < 2:
                return _in_bytes(low.rsplit(".", 1)[0], opener(data), rx, depth + 1)
        if data.startswith(b"\x28\xb5\x2f\xfd") and depth < 2:
            import zstandard

            return _in_bytes(low.rsplit(".", 1)[0], zstandard.ZstdDecompressor().decompressobj().decompress(data),
                             rx, depth + 1)
    except Exception:  # noqa: BLE001 - a file that does not parse as its kind is read as text below
        pass
    return _in_text(data, rx)


def mentions(path: Path, customer_id: str) -> int:
    """How many times ``customer_id`` (a whole token) is held in the file ``path``."""
    return _in_bytes(Path(path).name, Path(path).read_bytes(), _token(customer_id))


# ---- workspace places -----------------------------------------------------------------------------------------------
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
        n += sum(_in_bytes(f.name, f.read_bytes(), rx) for f in folder.rglob("*")
                 if f.is_file() and f.suffix != ".parquet")
        if n:
            out.append(Place(kind, _rel(ws, root, folder), n, records,
                             "cache deleted (" + ("the scorer is fitted again without the customer on next use)"
                                                  if kind == "scorer" else "the Model lab asks to train again)"),
                             lambda p=folder: _rmtree(p), (folder,)))
    return out


def _models_of(ws: Workspace, dataset_ids: list[str]) -> list[tuple[Workspace, str, list[str]]]:
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


# ---- database places ------------------------------------------------------------------------------------------------
def _db_places(url: str, cid: str, rx: re.Pattern[str]) -> list[Place]:
    from sqlalchemy import MetaData, String, Text, or_, select

    from pipeline.health.sources import make_engine

    engine = make_engine(url)
    md = MetaData()
    md.reflect(engine)
    like = "%" + cid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    out = []
    with engine.connect() as conn:
        for table in md.sorted_tables:
            texts = [c for c in table.columns if isinstance(c.type, (String, Text)) and c.name != "customer_id"]
            if "customer_id" in table.c:
                where = table.c.customer_id == cid
                rows = [dict(r._mapping) for r in conn.execute(select(table).where(where))]
                if rows:
                    anon = _ANONYMISE.get(table.name)
                    action = ("kept anonymised: the id replaced by a random token, its code and reason cleared "
                              "(campaign counts and budgets unchanged)") if anon else "rows deleted"
                    out.append(Place("table", f"table {table.name}", len(rows), {"rows": rows}, action,
                                     lambda t=table, w=where, a=anon: _db_erase(engine, t, w, a)))
            if not texts:
                continue
            cond = or_(*[c.like(like, escape="\\") for c in texts])
            if "customer_id" in table.c:
                cond = cond & (table.c.customer_id != cid)
            hits = [dict(r._mapping) for r in conn.execute(select(table).where(cond))
                    if any(rx.search(str(r._mapping[c.name] or "")) for c in texts)]
            if not hits:
                continue
            pk = list(table.primary_key.columns)
            keys = [tuple(h[c.name] for c in pk) for h in hits]
            if table.name in _DELETE_MENTIONS and pk:
                out.append(Place("table", f"table {table.name}", len(hits), {"rows": hits},
                                 "rows deleted (stored answers that mention the customer)",
                                 lambda t=table, p=pk, k=keys: _db_delete_keys(engine, t, p, k)))
            else:
                out.append(Place("table", f"table {table.name}", len(hits), {"rows": hits},
                                 "left: a text column mentions the id; review by hand"))
    return out


def _db_erase(engine, table, where, anonymise: dict | None) -> int:
    from sqlalchemy import delete, select, update

    with engine.begin() as conn:
        if anonymise is None:
            return conn.execute(delete(table).where(where)).rowcount or 0
        pk = list(table.primary_key.columns)
        done = 0
        for row in conn.execute(select(*pk).where(where)).all():
            key = [c == v for c, v in zip(pk, row, strict=True)]
            done += conn.execute(update(table).where(*key).values(
                customer_id=ERASED_PREFIX + uuid.uuid4().hex[:16], **anonymise)).rowcount or 0
        return done


def _db_delete_keys(engine, table, pk, keys) -> int:
    from sqlalchemy import and_, delete

    with engine.begin() as conn:
        return sum(conn.execute(delete(table).where(and_(*[c == v for c, v in zip(pk, key, strict=True)]))).rowcount or 0
                   for key in keys)


# ---- the one search -------------------------------------------------------------------------------------------------
def find_customer(customer_id: str, workspace: str | Path | None = None,
                  database_url: str | None = None) -> Holdings:
    """Every place holding ``customer_id``: under ``workspace`` (a workspace folder or a folder of workspaces;
    default the app's workspace root) and in the database (``database_url``; default as
    :func:`resolve_database_url`). Nothing is changed."""
    from pipeline.config import workspace_root
    from pipeline.health.sources import scrub

    cid = check_customer_id(customer_id)
    rx = _token(cid)
    root = Path(workspace) if workspace is not None else workspace_root()
    places: list[Place] = []
    models: list[tuple[Workspace, str, list[str]]] = []
    notes: list[str] = []
    folders = workspaces_under(root)
    for folder in folders:
        ws = Workspace(folder.name, folder.parent)
        found, held, said = _dataset_places(ws, root, cid)
        notes += said
        places += found + _selection_places(ws, root, cid)
        places += _table_places(ws, root, cid, "campaigns", "campaign",
                                "customer removed from the saved list (totals kept; erased members counted)")
        places += _table_places(ws, root, cid, "clusterings", "clustering", "customer's assignment removed")
        places += _folder_places(ws, root, cid, rx)
        models += _models_of(ws, held)
    url = resolve_database_url(Path(workspace) if workspace is not None else None, database_url)
    if url is not None:
        places += _db_places(url, cid, rx)
    else:
        notes.append("No service database found (no SEGMENTS_DATABASE_URL, no service.db): none was searched.")
    places += _stray_files(root, cid, rx, places, sqlite_files(url))
    searched = {"workspace": str(root), "workspaces": [str(f) for f in folders],
                "database": scrub(url, url) if url else None}
    return Holdings(cid, places, models, searched, notes)


def sqlite_files(url: str | None) -> list[Path]:
    """The files of a SQLite database URL (the database, its WAL and shared-memory files); [] for another."""
    if not url or not url.startswith("sqlite:///"):
        return []
    db = Path(url[len("sqlite:///"):].split("?")[0])
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


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
            n = _in_text(f.read_bytes(), rx) if f.name.endswith(_DB_SUFFIXES) else mentions(f, cid)
        except OSError:
            continue
        if n:
            out.append(Place("file", str(f.relative_to(root)), n, {"file": str(f.relative_to(root))},
                             "left: not a store this command edits; review by hand", paths=(f,)))
    return out
