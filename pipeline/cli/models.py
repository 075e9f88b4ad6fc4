"""The Model-lab commands of ``python -m pipeline``: ``churn`` (out-of-time churn model comparison on a
transactions file) and ``train`` (models predicting a column of a customer table). Both print the metric table with
its baseline rows as JSON, take ``--models``/``--imbalance``/``--cv`` alike, and run :mod:`pipeline.models.lab`,
imported inside the commands so the parser never loads a model library; :func:`add_commands` registers them.
``churn --engine spark`` (or ``SEGMENTS_ENGINE``) builds the feature table and labels on that engine
(:class:`pipeline.engines.history.EngineHistory`); the models are fitted on the driver over the one-row-per-customer
sets, sampled above ``ChurnDataConfig.max_customers``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import columns, file_cmd, json_flag, model_list, print_json, require_input, transactions
from pipeline.cli.engines import add_engine_option

__all__ = ["add_commands", "cmd_churn", "cmd_train"]


def _lab_json(result) -> dict:
    from pipeline.exports import to_jsonable
    from pipeline.models.lab import metric_records

    importance = None if result.importance is None else result.importance.head(10).to_dict(orient="records")
    return to_jsonable({"kind": result.kind, "target": result.target, "settings": result.settings,
                        "best": result.best, "seconds": round(result.seconds, 2), "notes": result.notes,
                        "info": result.info, "table": metric_records(result.table), "importance": importance})


def _churn_history(args):
    """(transactions, returns) of ``args.file``: pandas frames, or with ``--engine``/``SEGMENTS_ENGINE`` an
    ``EngineHistory`` (the feature table and labels built on the engine) and None."""
    if args.engine or os.environ.get("SEGMENTS_ENGINE"):
        from pipeline.cli.common import clean_on_engine
        from pipeline.engines.history import EngineHistory

        engine, con, _ = clean_on_engine(args.file, args.dayfirst, args.engine)
        return EngineHistory(engine, con), None
    return transactions(args.file, args.dayfirst)


def cmd_churn(args) -> int:
    """Churn model comparison on ``args.file`` (features and labels on ``--engine``; models fit on the driver)."""
    from pipeline.models.lab import run_churn_comparison

    tx, returns = _churn_history(args)
    result = run_churn_comparison(tx, returns, args.horizon, args.cutoff, model_list(args.models), args.imbalance,
                                  args.cv)
    print_json(_lab_json(result))
    return 0


def cmd_train(args) -> int:
    """Model comparison predicting ``args.target`` of the customer table ``args.file``."""
    from pipeline.ingest import build_dataset
    from pipeline.models.lab import run_table_comparison

    require_input(args.file)
    ds = build_dataset(args.file, Path(args.file).name, kind="customers")
    result = run_table_comparison(ds.customers, args.target, columns(args.features), model_list(args.models),
                                  args.imbalance, args.cv, numeric=columns(args.numeric) or (),
                                  categorical=columns(args.categorical) or ())
    print_json(_lab_json(result))
    return 0


def _lab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", help="comma-separated models (logreg,tree,forest,xgboost,svm,keras,stacked) or "
                                    "'all'; default the fast ones. Baselines always run.")
    p.add_argument("--imbalance", default="none", choices=["none", "class_weight", "downsample"])
    p.add_argument("--cv", type=int, default=None, help="also report k-fold CV on the training set")
    json_flag(p)


def add_commands(sub) -> None:
    """Add ``churn`` and ``train`` to the subparsers ``sub``."""
    p = file_cmd(sub, "churn", "out-of-time churn model comparison; print the metric table as JSON", cmd_churn)
    p.add_argument("--horizon", type=int, default=90, help="churn horizon H in days (default 90)")
    p.add_argument("--cutoff", help="test cutoff (YYYY-MM-DD); default end - H; training uses cutoff - H")
    _lab_args(p)
    add_engine_option(p)
    p = file_cmd(sub, "train", "compare models predicting a column of a customer table; JSON metric table", cmd_train)
    p.add_argument("--target", required=True, help="column to predict")
    p.add_argument("--features", help="comma-separated feature columns; default all others except ids")
    p.add_argument("--numeric", help="comma-separated columns to force numeric")
    p.add_argument("--categorical", help="comma-separated number-code columns to treat as categories")
    _lab_args(p)
