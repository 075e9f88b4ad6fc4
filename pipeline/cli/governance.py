"""The data-governance commands of ``python -m pipeline``: ``audit`` (print the audit log of a workspace,
:mod:`pipeline.privacy.audit`) and ``purge`` (delete prediction-log rows and API purchases older than the retention
period, :mod:`pipeline.privacy.retention`). :func:`export_flags` and :func:`shared_export` give the exporting
commands (``rfm --out``, ``campaign``) their ``--pseudonymise`` flag and their audit record; :func:`rejoin` puts the
ids back into a campaign list that returns with hashes (``campaign-results``). :func:`add_commands` registers the
commands.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import print_json
from pipeline.errors import DataError

__all__ = ["add_commands", "cmd_audit", "cmd_purge", "export_flags", "shared_export", "rejoin"]


def _workspace(args) -> Path:
    from pipeline.config import workspace_root

    return Path(args.workspace) if getattr(args, "workspace", None) else workspace_root()


def cmd_audit(args) -> int:
    """Print the audit records of ``--workspace`` (a workspace, or the folder of all workspaces) as JSON."""
    from pipeline.privacy.audit import read_records

    try:
        print_json(read_records(_workspace(args), args.since, args.action))
    except ValueError as e:
        raise DataError(str(e)) from e
    return 0


def cmd_purge(args) -> int:
    """Delete what is older than ``--days`` (default ``SEGMENTS_RETENTION_DAYS``) from the service's database."""
    import os

    from pipeline.health.sources import make_engine
    from pipeline.privacy.audit import record
    from pipeline.privacy.retention import RETENTION_ENV, purge, retention_days

    days = retention_days(args.days) if args.days is not None else retention_days()
    if days is None:
        raise DataError(f"purge: give --days N or set {RETENTION_ENV} (unset keeps everything).")
    folder = _workspace(args)
    url = args.database_url or os.environ.get("SEGMENTS_DATABASE_URL", "")
    if not url:
        db = folder / "service.db"
        if not db.is_file():
            print_json({"database": None, "note": f"no service database at {db}; nothing to purge."})
            return 0
        url = f"sqlite:///{db.resolve()}"
    engine = make_engine(url)
    try:
        report = purge(engine, days)
    finally:
        engine.dispose()
    if report.deleted:
        record(folder, "purge", f"older than {days} days", "cli", **report.to_dict())
    print_json({**report.to_dict(), "note": "cards of customers who lost purchases were deleted; the service "
                                            "rebuilds them from the purchases left on start-up or the next read."})
    return 0


def export_flags(p: argparse.ArgumentParser) -> None:
    """``--pseudonymise`` (and ``--workspace``, whose key and audit log it uses) on an exporting command."""
    p.add_argument("--pseudonymise", action="store_true",
                   help="replace customer ids with keyed hashes (HMAC-SHA-256 with the workspace's key, kept "
                        "outside the workspace) for sharing with an agency")
    p.add_argument("--workspace", help="workspace folder whose pseudonym key and audit log are used (default "
                                       "SEGMENTS_WORKSPACE or workspace/)")


def shared_export(args, frame, what: str, **detail):
    """``frame`` as it may leave: ids replaced by keyed hashes under ``--pseudonymise``; the export is recorded in
    the workspace's audit log (``what``: the kind of list, never customer data)."""
    from pipeline.privacy.audit import record

    folder = _workspace(args)
    if args.pseudonymise:
        from pipeline.privacy.pseudonym import pseudonymise

        frame = pseudonymise(frame, folder)
    record(folder, "export", what, "cli", rows=len(frame), pseudonymised=bool(args.pseudonymise), **detail)
    return frame


def rejoin(args, frame, known_ids):
    """A campaign list that came back with keyed hashes for ids, with the dataset's ids (``known_ids``) put back
    (``--workspace``'s key); a list with plain ids is returned as it is."""
    from pipeline.privacy.pseudonym import reidentify

    return reidentify(frame, "customer_id", known_ids, _workspace(args))


def add_commands(sub) -> None:
    """Add ``audit`` and ``purge`` to the subparsers ``sub``."""
    from pipeline.privacy.audit import ACTIONS

    p = sub.add_parser("audit", help="print the audit log (exports, erasures, API key changes, models put live, "
                                     "purges) as JSON")
    p.add_argument("--workspace", help="workspace folder, or the folder of all workspaces (default "
                                       "SEGMENTS_WORKSPACE or workspace/)")
    p.add_argument("--since", help="only records from this date (YYYY-MM-DD, UTC) on")
    p.add_argument("--action", choices=sorted(ACTIONS), help="only this action")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("purge", help="delete prediction-log rows and API purchases older than the retention period "
                                     "(--days, default SEGMENTS_RETENTION_DAYS)")
    p.add_argument("--workspace", help="workspace folder holding service.db (default SEGMENTS_WORKSPACE or "
                                       "workspace/)")
    p.add_argument("--database-url", help="SQLAlchemy URL of the service's database (default "
                                          "SEGMENTS_DATABASE_URL, else SQLite service.db in the workspace)")
    p.add_argument("--days", type=int, help="keep this many days (default SEGMENTS_RETENTION_DAYS)")
    p.set_defaults(func=cmd_purge)
