"""Erasure of one customer everywhere (``python -m pipeline forget CUSTOMER_ID``, ``DELETE /customers/{id}``).

:func:`forget` finds every place holding the customer (:func:`pipeline.privacy.holdings.find_customer`, the same
search the subject-access export reads), erases each (caches first, then selections, campaign lists, clusterings,
uploads, datasets, database rows), marks the saved models trained on a dataset that held the customer ("trained on
data that included an erased customer - retrain", :meth:`pipeline.health.registry.HealthStore.mark_erased`),
vacuums a SQLite database (deleted rows otherwise linger in its free pages), searches again and returns a receipt:
what was removed where, what was left and why, and what the second search still finds (nothing, when all went
well). Campaign budgets and counts stay: coupon decisions are kept anonymised and saved campaign lists keep their
totals with a count of erased members - never the id. One audit record is written, without the id.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.privacy.holdings import Holdings, find_customer, resolve_database_url
from pipeline.privacy.sweep import count_in_text, sqlite_files, token

__all__ = ["forget", "ORDER"]

#: The order places are erased in: caches inside a dataset's folder before the dataset is saved again.
ORDER = ("scorer", "lab_result", "selection", "campaign", "clustering", "upload", "dataset", "table")


def _vacuum(url: str | None, tables: list[str]) -> str | None:
    """Vacuum the database after rows of ``tables`` were deleted or changed (SQLite: rewrite the file and truncate
    its WAL, so no deleted row survives in free pages; PostgreSQL: ``VACUUM`` those tables). Returns a note when it
    could not be done."""
    if not url or not tables:
        return None
    from pipeline.health.sources import make_engine, scrub

    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif engine.dialect.name == "postgresql":
                for table in tables:
                    conn.exec_driver_sql(f'VACUUM "{table}"')
        return None
    except Exception as exc:  # noqa: BLE001 - a busy database: the rows are deleted, their bytes wait for a vacuum
        return (f"The database could not be vacuumed now ({type(exc).__name__}: "
                f"{scrub(str(exc).splitlines()[0][:120], url)}); deleted rows stay in its free pages until it is.")
    finally:
        engine.dispose()


def _residue(url: str | None, customer_id: str) -> list[dict[str, Any]]:
    """Bytes of the SQLite database's files that still hold the id (after the vacuum: none)."""
    out = []
    for f in sqlite_files(url):
        if f.is_file() and (n := count_in_text(f.read_bytes(), token(customer_id))):
            out.append({"kind": "file", "where": str(f), "count": n,
                        "action": "left: deleted rows in the database file's free pages; vacuum it"})
    return out


def forget(customer_id: str, workspace: str | Path | None = None, database_url: str | None = None,
           who: str | None = None) -> dict[str, Any]:
    """Erase ``customer_id`` from the workspace folder(s) and the database (arguments as
    :func:`~pipeline.privacy.holdings.find_customer`); returns the receipt (JSON-ready). ``who``: the API key's
    name for the audit record (default: the process's actor)."""
    held = find_customer(customer_id, workspace, database_url)
    cid = held.customer_id
    url = resolve_database_url(Path(workspace) if workspace is not None else None, database_url)
    removed, left = [], []
    for place in sorted(held.places, key=lambda p: ORDER.index(p.kind) if p.kind in ORDER else len(ORDER)):
        if place.erase is None:
            left.append(place.summary())
        else:
            removed.append(place.summary() | {"removed": int(place.erase())})
    marked = _mark_models(held)
    notes = list(held.notes)
    vacuum = _vacuum(url, sorted({r["where"].removeprefix("table ") for r in removed if r["kind"] == "table"}))
    notes += [vacuum] if vacuum else []
    after = find_customer(cid, workspace, database_url)
    remains = [p.summary() for p in after.places] + _residue(url, cid)
    notes.append("A scoring service that is running keeps the customer in memory until it restarts; erase through "
                  "its DELETE /customers/{id} to drop them there at once.")
    _audit(held, workspace, who, removed, remains)
    return {"customer_id": cid, "erased_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "searched": held.searched, "removed": removed,
            "removed_total": sum(r["removed"] for r in removed), "left": left,
            "models_marked": marked, "remains": remains, "remains_total": sum(r["count"] for r in remains),
            "notes": notes}


def _mark_models(held: Holdings) -> list[dict[str, Any]]:
    from pipeline.health.registry import HealthStore
    from pipeline.health.live import ERASED_NOTE

    out = []
    for ws, dataset_id, model_ids in held.models:
        HealthStore(ws, dataset_id).mark_erased(model_ids)
        out.append({"workspace": ws.id, "dataset": dataset_id, "models": model_ids, "note": ERASED_NOTE})
    return out


def _audit(held: Holdings, workspace, who: str | None, removed: list[dict], remains: list[dict]) -> None:
    """One audit record (no id, no customer data): which datasets, how many places and rows, what remains."""
    from pipeline.privacy.audit import record

    datasets = sorted({r["where"].rstrip("/").split("/")[-1] for r in removed if r["kind"] == "dataset"})
    record(workspace, "erase", "customer in " + (", ".join(datasets) or "no saved dataset"), who,
           places=len(removed), rows=sum(r["removed"] for r in removed), remains=sum(r["count"] for r in remains))
