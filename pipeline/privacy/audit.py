"""The audit log: one append-only JSON line per export of customer data, erasure, API key change, model put live
and retention purge, in ``audit.jsonl`` of the workspace folder (the app's workspace; the CLI's ``--workspace`` or
``SEGMENTS_WORKSPACE``; the service's ``SEGMENTS_WORKSPACE``: one file per workspace).

A record says who (the API key's name, ``app`` or ``cli``: :func:`set_actor` names the front-end once per process),
what (an action of :data:`ACTIONS` and its object: a dataset id, a model version, a key name) and when (UTC, ISO
8601), with a few counts or flags as details. It never holds customer data: callers pass names of things, and
:func:`record` keeps only short texts, numbers and flags. The file is opened in append mode (created ``0600``),
each record is one ``write`` followed by ``fsync``, and nothing here rewrites, truncates or deletes it; a line cut
short by a crash is skipped by :func:`read_records`.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["ACTIONS", "FILE_NAME", "set_actor", "actor", "audit_file", "record", "read_records"]

#: Every action the log records, with what it means (``python -m pipeline audit --action``).
ACTIONS = {
    "export": "customer data downloaded or written to a file (campaign list, RFM table, subject-access export)",
    "erase": "a customer erased on request",
    "api_key_create": "an API key of the scoring service created",
    "api_key_revoke": "an API key of the scoring service revoked",
    "model_live": "a model put live for a dataset (by hand, by retraining or by a rollback)",
    "purge": "prediction-log rows and API purchases older than the retention period deleted",
}
FILE_NAME = "audit.jsonl"
_MAX_TEXT = 200
_actor = {"name": "app"}


def set_actor(name: str) -> None:
    """Name the front-end of this process in later records (``cli``; the default is ``app``)."""
    _actor["name"] = str(name)[:64]


def actor() -> str:
    return _actor["name"]


def audit_file(workspace: Any = None) -> Path:
    """``audit.jsonl`` of ``workspace`` (a :class:`pipeline.store.Workspace`, a folder, or None: the workspace root,
    ``SEGMENTS_WORKSPACE``)."""
    if workspace is None:
        from pipeline.config import workspace_root

        return workspace_root() / FILE_NAME
    return Path(getattr(workspace, "path", workspace)) / FILE_NAME


def _plain(value: Any) -> Any:
    """A detail value as kept: flags and numbers as they are, anything else as text cut to 200 characters."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:_MAX_TEXT]


def record(workspace: Any, action: str, obj: str, who: str | None = None, **detail: Any) -> dict[str, Any]:
    """Append one record to the workspace's audit log and return it.

    ``obj`` names what was acted on (a dataset id, a model version, a key name; never a customer's id or data);
    ``who`` the API key's name (default :func:`actor`); ``detail`` a few counts or flags. ValueError for an unknown
    action."""
    if action not in ACTIONS:
        raise ValueError(f"audit: action {action!r} is not one of {sorted(ACTIONS)}.")
    entry = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "who": str(who or actor())[:64],
             "action": action, "object": str(obj)[:_MAX_TEXT],
             **{str(k)[:64]: _plain(v) for k, v in detail.items()}}
    path = audit_file(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, data)
        while written < len(data):                 # a short write (rare): append the rest
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:                # a line cut short by a crash
            continue
    return out


def read_records(workspace: Any = None, since: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
    """The records of ``workspace``, oldest first; a folder of workspaces gives its own records and those of every
    workspace in it (each tagged with ``workspace``). ``since``: a date or ISO time (UTC), kept from then on;
    ``action``: one of :data:`ACTIONS`. ValueError for a bad ``since`` or ``action``."""
    if action is not None and action not in ACTIONS:
        raise ValueError(f"audit: action {action!r} is not one of {sorted(ACTIONS)}.")
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise ValueError(f"audit: --since {since!r} is not a date; use YYYY-MM-DD or an ISO time.") from None
        start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    own = audit_file(workspace)
    rows = _lines(own)
    folder = own.parent
    if folder.is_dir():
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and (p / FILE_NAME).is_file()):
            rows += [{**r, "workspace": child.name} for r in _lines(child / FILE_NAME)]
    if start is not None:
        rows = [r for r in rows if datetime.fromisoformat(str(r.get("when"))) >= start]
    if action is not None:
        rows = [r for r in rows if r.get("action") == action]
    return sorted(rows, key=lambda r: str(r.get("when")))
