"""The data commands of ``python -m pipeline``: ``clean`` (the cleaning report), ``rfm`` (one row per customer with
R, F, M, scores and segment), ``btyd`` (BG/NBD, Pareto/NBD and Gamma-Gamma parameters) and ``value`` (the card's
value figures graded out of time against naive baselines). Each reads a file by the shared path
(:mod:`pipeline.cli.common`; ``clean`` and ``rfm`` also on ``--engine``) and prints JSON; :func:`add_commands`
registers them.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.cli.common import connection_currency, file_cmd, json_flag, load_clean, print_json, transactions
from pipeline.cli.engines import add_engine_option
from pipeline.cli.governance import export_flags, shared_export

__all__ = ["add_commands", "cmd_clean", "cmd_rfm", "cmd_btyd", "cmd_value"]


def cmd_clean(args) -> int:
    """Print the cleaning report of ``args.file``."""
    _, report = load_clean(args.file, args.dayfirst, args.engine, lines=False)
    print_json(report.to_dict())
    return 0


def cmd_rfm(args) -> int:
    """RFM table of ``args.file`` (CSV to ``--out``) and the per-segment summary as JSON."""
    from pipeline.exports import to_csv_bytes
    from pipeline.rfm import default_snapshot, rfm_from_connection, segment_summary

    con, report = load_clean(args.file, args.dayfirst, args.engine, lines=False)
    rfm = rfm_from_connection(con, "tx_keys", snapshot=args.snapshot or default_snapshot(report.date_max),
                              totals="tx_customers")
    cols = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment"]
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(shared_export(args, rfm[cols], "rfm table")))
    summary = segment_summary(rfm)
    print_json({"snapshot": rfm.attrs["snapshot"], "customers": len(rfm), "revenue": report.revenue,
                "currency": connection_currency(con, report), "out": args.out,
                "segments": summary.round(4).to_dict(orient="records")})
    return 0


def cmd_btyd(args) -> int:
    """BTYD model parameters of ``args.file``."""
    from pipeline.clv import btyd_params

    tx, _ = transactions(args.file, args.dayfirst)
    print_json(btyd_params(tx, cutoff=args.cutoff, unit_days=args.unit_days, include_pareto=not args.no_pareto))
    return 0


def cmd_value(args) -> int:
    """The value grades of ``args.file`` over ``args.horizon`` days."""
    from pipeline.value import grade_values

    tx, returns = transactions(args.file, args.dayfirst)
    print_json({"file": args.file, **grade_values(tx, returns, args.horizon).to_json()})
    return 0


def add_commands(sub) -> None:
    """Add ``clean``, ``rfm``, ``btyd`` and ``value`` to the subparsers ``sub``."""
    add_engine_option(file_cmd(sub, "clean", "print the cleaning report as JSON", cmd_clean))
    p = file_cmd(sub, "rfm", "write one row per customer with R, F, M, scores and segment", cmd_rfm)
    add_engine_option(p)
    p.add_argument("--snapshot", help="date recency is measured to (YYYY-MM-DD); default the day after the last "
                                      "purchase")
    p.add_argument("--out", help="output CSV path")
    export_flags(p)
    p = file_cmd(sub, "btyd", "fit BG/NBD, Pareto/NBD and Gamma-Gamma; print the parameters as JSON", cmd_btyd)
    p.add_argument("--cutoff", help="fit on purchases before this date (YYYY-MM-DD); default all")
    p.add_argument("--unit-days", type=float, default=1.0, help="time unit in days (7 for weeks)")
    p.add_argument("--no-pareto", action="store_true", help="skip the slower Pareto/NBD fit")
    json_flag(p)
    p = file_cmd(sub, "value", "grade the card's spend, orders, next-order date and P(alive) out of time against "
                               "naive baselines (rows with role BASELINE); JSON", cmd_value)
    p.add_argument("--horizon", type=int, default=90, help="horizon H in days (default 90)")
    json_flag(p)
