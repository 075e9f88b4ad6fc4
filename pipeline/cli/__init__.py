"""Command-line interface: ``python -m pipeline <command> FILE ...`` (:func:`main`). Bad input prints one line on
stderr and exits with code 2; results go to stdout as JSON. :func:`build_parser` asks each command module, in the
order of ``--help``, to add its subcommands (``add_commands(sub)``): :mod:`~pipeline.cli.data` (clean, rfm, btyd,
value), :mod:`~pipeline.cli.models` (churn, train), :mod:`~pipeline.cli.clusters` (cluster, explore, embed),
:mod:`~pipeline.cli.customers` (profile, campaign, campaign-results, coupons-check, coupon-learn, recommend-eval),
:mod:`~pipeline.cli.insights` (overview, cohorts, migration), :mod:`~pipeline.cli.engines` (score; ``--engine``),
:mod:`~pipeline.cli.health` (backtest, source, refresh, retrain, rollback, drift), :mod:`~pipeline.cli.privacy`
(forget, export-customer) and :mod:`~pipeline.cli.governance` (audit, purge); shared helpers live in
:mod:`~pipeline.cli.common`. Heavy libraries are imported inside the commands only. A front-end adds its own
commands by passing more modules to :func:`main` (``python -m service`` adds serve and api-key); the pipeline knows
none of them.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

import duckdb

from pipeline.cli import clusters, customers, data, engines, governance, health, insights, models, privacy
from pipeline.errors import DataError
from pipeline.log import logger

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: The command modules, in the order their subcommands are listed by ``python -m pipeline --help``.
COMMAND_MODULES = (data, models, clusters, customers, insights, engines, health, privacy, governance)

PROG = "python -m pipeline"


def build_parser(modules: Sequence[ModuleType] | None = None, prog: str = PROG) -> argparse.ArgumentParser:
    """The parser with the subcommands of each of ``modules`` (default :data:`COMMAND_MODULES`), in that order."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Command-line interface: ``{prog} <command> FILE ...``.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES if modules is None else modules:
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None, modules: Sequence[ModuleType] | None = None, prog: str = PROG) -> int:
    """Run one command of ``modules`` (default :data:`COMMAND_MODULES`); its exit code (2 with one line on stderr for
    any error)."""
    args = build_parser(modules, prog).parse_args(argv)
    if getattr(args, "sheet", None) and getattr(args, "file", None):    # --sheet: read as FILE#SHEET everywhere
        args.file = f"{args.file}#{args.sheet}"
    if "SEGMENTS_LOG_LEVEL" not in os.environ:   # keep stderr for the one-line error; opt in to step logs
        logger.setLevel("WARNING")
    try:
        return args.func(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, duckdb.Error) as e:
        print(f"error: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - any bytes: one line and exit 2, never a traceback
        detail = (str(e).splitlines() or [""])[0][:200]
        print(f"error: the input could not be processed ({type(e).__name__}: {detail}). Check that it is a CSV, "
              "Excel (.xlsx) or Parquet table; set SEGMENTS_LOG_LEVEL=DEBUG for details.", file=sys.stderr)
        logger.debug("unexpected error", exc_info=True)
        return 2
