"""The service's command line: ``python -m service <command>`` (:func:`main`) is ``python -m pipeline`` with the
service's own commands added: ``serve`` (the FastAPI scoring API for a saved dataset, a file or a sample) and
``api-key`` (create, list or revoke its API keys). The service registers them on the pipeline's parser
(:func:`add_commands`), so the dependency points one way: the pipeline does not know the service exists. The flags
reach the service as its environment variables (``service.core.config.Settings``); FastAPI, uvicorn and SQLAlchemy
are imported inside the commands only, so the pipeline's commands stay as light here as there.
"""
from __future__ import annotations

import argparse
import os
import sys

from pipeline import cli as pipeline_cli
from pipeline.cli.common import print_json
from pipeline.errors import DataError

__all__ = ["main", "add_commands", "cmd_serve", "cmd_api_key"]

PROG = "python -m service"


def main(argv: list[str] | None = None) -> int:
    """Run one command of ``python -m service``: every ``python -m pipeline`` command, ``serve`` and ``api-key``;
    its exit code (2 with one line on stderr for any error)."""
    return pipeline_cli.main(argv, modules=(*pipeline_cli.COMMAND_MODULES, sys.modules[__name__]), prog=PROG)


def _service_env(args) -> None:
    """Pass the flags to the service as its environment variables (``service.core.config.Settings``)."""
    for flag, var in (("dataset", "SEGMENTS_DATASET"), ("workspace", "SEGMENTS_WORKSPACE"),
                      ("database_url", "SEGMENTS_DATABASE_URL")):
        if getattr(args, flag, None):
            os.environ[var] = str(getattr(args, flag))


def cmd_serve(args) -> int:
    """Serve the scoring API (blocks until stopped)."""
    _service_env(args)
    os.environ["SEGMENTS_WORKERS"] = str(args.workers)      # rate limits are split across workers without Redis
    from service.main import serve

    serve(args.host, args.port, args.workers)
    return 0


def _key_action(session, args) -> None:
    from service.keys import create_key, list_keys, parse_scopes, revoke_key

    if args.action == "list":
        print_json(list_keys(session))
    elif args.action == "revoke":
        if not revoke_key(session, args.name or ""):
            raise DataError(f"api-key: no active key named {args.name!r}; see 'api-key list'.")
        print_json({"revoked": args.name})
    else:
        if not args.name:
            raise DataError("api-key create: give --name.")
        scopes = parse_scopes(args.scopes)
        key = create_key(session, args.name, scopes, args.rate, args.burst)
        print_json({"name": args.name, "scopes": scopes, "key": key,
                    "note": "Shown once: only its SHA-256 is stored. Send it as 'Authorization: Bearer <key>'."})


def cmd_api_key(args) -> int:
    """Create, list or revoke API keys in the service's database (migrated first)."""
    from service.core.config import Settings
    from service.core.db import make_engine, session_factory
    from service.migrations import upgrade

    _service_env(args)
    engine = make_engine(Settings().resolved_database_url())
    upgrade(engine)
    try:
        with session_factory(engine)() as session:
            _key_action(session, args)
    except ValueError as e:
        raise DataError(f"api-key: {e}") from e
    finally:
        engine.dispose()
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", help="workspace folder (or the folder of all workspaces); default "
                                       "SEGMENTS_WORKSPACE or workspace/")
    p.add_argument("--database-url", help="SQLAlchemy URL (default SQLite service.db in the workspace)")


def add_commands(sub) -> None:
    """Add ``serve`` and ``api-key`` to the subparsers ``sub``."""
    p = sub.add_parser("serve", help="serve the scoring API (FastAPI) for a saved dataset, a file or a sample")
    p.add_argument("--dataset", required=True, help="saved dataset id or name, a file, or 'synthetic' / 'cdnow'")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads the dataset)")
    _common(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("api-key", help="create, list or revoke API keys of the scoring service")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("--name", help="key name (create, revoke)")
    p.add_argument("--scopes", default="read", help="comma-separated: read,score,issue,admin (default read)")
    p.add_argument("--rate", type=float, help="requests per second for this key (default "
                                              "SEGMENTS_RATE_LIMIT_PER_SECOND)")
    p.add_argument("--burst", type=float, help="requests this key may send at once (default: one second at its "
                                               "--rate; without --rate SEGMENTS_RATE_LIMIT_BURST)")
    _common(p)
    p.set_defaults(func=cmd_api_key)
