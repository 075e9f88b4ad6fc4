"""The engine side of the CLI: ``--engine duckdb|spark`` and the ``score`` command (batch scoring to Parquet).

``clean`` and ``rfm`` take ``--engine`` (default ``SEGMENTS_ENGINE``, else ``duckdb``) and read a file, folder,
glob, ``table:NAME`` (Spark catalog) or ``jdbc:URL#TABLE`` on the chosen engine (cleaning itself is
:func:`pipeline.cli.common.clean_on_engine`); ``score`` cleans, builds the feature table and scores every customer
with a saved model (``mapInPandas`` on Spark), writing a Parquet folder. Registered on the main parser by
:func:`add_commands`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.cli.common import clean_on_engine, file_cmd, print_json
from pipeline.errors import DataError

__all__ = ["add_commands", "add_engine_option", "cmd_score"]


def add_engine_option(p: argparse.ArgumentParser) -> None:
    """``--engine`` on a command that reads transactions."""
    p.add_argument("--engine", choices=["duckdb", "spark"], default=None,
                   help="where the data work runs: duckdb (one machine, default) or spark (local[*] or SPARK_MASTER/"
                        "SPARK_REMOTE); default SEGMENTS_ENGINE. Spark also reads folders, globs, table:NAME and "
                        "jdbc:URL#TABLE")


def cmd_score(args) -> int:
    """Score every customer of ``args.file`` with the saved model ``args.model``; Parquet folder ``args.out``."""
    from pipeline.engines.features import score
    from pipeline.models.persist import read_metadata

    if not (Path(args.model) / "meta.json").is_file():
        raise DataError(f"--model {args.model!r} is not a saved model folder (with meta.json); give the folder a "
                        "model was saved to, e.g. workspace/<id>/models/<model id>.")
    meta = read_metadata(args.model)
    start = time.perf_counter()
    engine, con, report = clean_on_engine(args.file, args.dayfirst, args.engine)
    out = engine.write_frame(score(engine, con, args.model, args.as_of), args.out)
    print_json({"engine": engine.name, "model": meta.model_label, "target": meta.target,
                 "customers_in": report.customers, "lines": report.rows_out, "out": str(out),
                 "seconds": round(time.perf_counter() - start, 2)})
    return 0


def add_commands(sub) -> None:
    """Add ``score`` to the CLI's subcommands."""
    p = file_cmd(sub, "score", "score every customer with a saved model; writes a Parquet folder (customer_id, "
                               "score)", cmd_score)
    p.add_argument("--model", required=True, help="saved model folder (meta.json + model files), trained on the "
                                                  "pipeline.features columns")
    p.add_argument("--out", required=True, help="output Parquet folder (replaced)")
    p.add_argument("--as-of", help="feature cutoff day YYYY-MM-DD; default the day after the last purchase")
    add_engine_option(p)
