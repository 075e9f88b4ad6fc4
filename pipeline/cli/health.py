"""The model-health commands of ``python -m pipeline``: backtest, source, refresh, retrain, rollback, drift.

:func:`add_commands` adds them to the main parser (:mod:`pipeline.cli`); every handler prints JSON on stdout and lets
:class:`pipeline.errors.DataError` reach the main loop (one line on stderr, exit code 2). Saved datasets are found by
id or name under ``--workspace`` (a workspace folder or the folder of all workspaces; default ``SEGMENTS_WORKSPACE``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.cli.common import json_flag, model_list, transactions
from pipeline.config import HORIZON_DAYS, HealthConfig

__all__ = ["add_commands", "cmd_backtest", "cmd_source", "cmd_refresh", "cmd_retrain", "cmd_rollback", "cmd_drift"]

#: Workspace the ``source`` command saves into when ``--workspace`` is not given (under the workspace root).
CLI_WORKSPACE = "cli"


def _print(obj) -> None:
    from pipeline.exports import to_jsonable

    print(json.dumps(to_jsonable(obj), indent=2))


def cmd_backtest(args) -> int:
    from pipeline.health.backtest import run_backtest

    tx, returns = transactions(args.file, args.dayfirst)
    res = run_backtest(tx, returns, args.horizon, args.every, model_list(args.models))
    _print({"file": args.file, **res.settings, "seconds": round(res.seconds, 2), "notes": res.notes,
            "table": res.records()})
    return 0


def _located(args):
    from pipeline.health.registry import locate_dataset

    ws, ds_id = locate_dataset(args.dataset, args.workspace)
    return ws, ws.load_dataset(ds_id)


def _location(text: str) -> str:
    """A local path made absolute (a source outlives the working folder); ``table:``, ``jdbc:`` and URIs as given."""
    from pipeline.engines import Source as EngineSource

    src = EngineSource.parse(text)
    return text if src.kind != "path" or src.remote else str(Path(text).resolve())


def cmd_source(args) -> int:
    from pipeline.config import workspace_root
    from pipeline.health.sources import Source, source_dataset
    from pipeline.store import Workspace

    source = Source("file", path=_location(args.file)) if args.file else \
        Source("query", query=args.query, url_secret=args.url_from)
    folder = Path(args.workspace) if args.workspace else workspace_root() / CLI_WORKSPACE
    ws = Workspace(folder.name, folder.parent)
    ds = ws.save_dataset(source_dataset(source, args.name))
    _print({"workspace": str(ws.path), "dataset_id": ds.id, "name": ds.name, "source": source.describe(),
            "lines": len(ds.transactions), "customers": int(ds.transactions["customer_id"].nunique())})
    return 0


def cmd_refresh(args) -> int:
    from pipeline.health.refresh import refresh
    from pipeline.health.registry import locate_dataset

    ws, ds_id = locate_dataset(args.dataset, args.workspace)
    _print(refresh(ws, ds_id, horizon_days=args.horizon, retrain_model=args.model))
    return 0


def cmd_retrain(args) -> int:
    from pipeline.health.retrain import retrain

    ws, ds = _located(args)
    _print(retrain(ws, ds, model=args.model, horizon_days=args.horizon))
    return 0


def cmd_rollback(args) -> int:
    from pipeline.health.registry import HealthStore, locate_dataset

    ws, ds_id = locate_dataset(args.dataset, args.workspace)
    _print(HealthStore(ws, ds_id).rollback(args.to))
    return 0


def cmd_drift(args) -> int:
    from pipeline.errors import DataError
    from pipeline.health.drift import current_population, drift_table
    from pipeline.health.registry import HealthStore

    ws, ds = _located(args)
    store = HealthStore(ws, ds.id)
    version = store.champion()
    if version is None:
        raise DataError(f"drift: dataset '{ds.name}' has no champion model yet; run 'retrain' first.")
    meta = store.version_metadata(version)
    profile = (meta.extra.get("health") or {}).get("population")
    if not profile:
        raise DataError(f"drift: the live model of '{ds.name}' ({version}) was put live from the Model lab and has "
                        "no training population recorded; retrain to get one.")
    X, seg = current_population(ds.transactions, ds.returns, meta.extra["settings"]["horizon"])
    table = drift_table(profile, X, seg)
    _print({"dataset": ds.name, "model": version, "drifted": int(table["drifted"].sum()),
            "table": table.to_dict(orient="records")})
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the model-health subcommands to ``python -m pipeline``."""
    def saved(name: str, help: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--dataset", required=True, help="saved dataset id or name")
        p.add_argument("--workspace", help="workspace folder, or the folder of all workspaces (default "
                                           "SEGMENTS_WORKSPACE or workspace/)")
        json_flag(p)
        p.set_defaults(func=func)
        return p

    p = sub.add_parser("backtest", help="rolling-origin churn backtest: ROC AUC, precision in the riskiest 10%% "
                                        "and Brier per cutoff x model, baselines marked; JSON")
    p.add_argument("file", help="transactions file (CSV, Excel or Parquet)")
    p.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day-first")
    p.add_argument("--horizon", type=int, default=HORIZON_DAYS, help="churn horizon H in days (default 90)")
    p.add_argument("--every", type=int, default=HealthConfig.backtest_every_days, help="days between cutoffs")
    p.add_argument("--models", help="comma-separated zoo models or 'all'; default the fast ones")
    json_flag(p)
    p.set_defaults(func=cmd_backtest)
    p = sub.add_parser("source", help="create a dataset that remembers its source (a file path or a database "
                                      "query) so 'refresh' can re-read it")
    p.add_argument("name", help="dataset name")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", help="transactions file path")
    what.add_argument("--query", help="SQL query returning transaction lines")
    p.add_argument("--url-from", help="NAME of the environment variable or .streamlit/secrets.toml entry holding the "
                                      "SQLAlchemy URL (the URL itself is never stored)")
    p.add_argument("--workspace", help=f"workspace folder (default <workspace root>/{CLI_WORKSPACE})")
    p.set_defaults(func=cmd_source)
    for name, help, func in (("refresh", "re-read a dataset's source, re-clean, re-segment, retrain, re-score; "
                                         "log what changed (for cron)", cmd_refresh),
                             ("retrain", "champion/challenger retraining on the latest out-of-time window",
                              cmd_retrain)):
        p = saved(name, help, func)
        p.add_argument("--horizon", type=int, default=HORIZON_DAYS, help="churn horizon H in days (default 90)")
        p.add_argument("--model", help=f"challenger zoo model (default {HealthConfig.challenger_model})")
    p = saved("rollback", "put the previous champion churn model (or --to VERSION) back in use", cmd_rollback)
    p.add_argument("--to", help="version to use, e.g. v2 (default the previous champion)")
    saved("drift", "PSI of today's customers against the champion's training population; JSON", cmd_drift)
