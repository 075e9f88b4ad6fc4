"""The marketer's commands of the CLI: ``overview``, ``cohorts`` and ``migration`` (segment movement between two
dates), each printing JSON. Registered on the main parser by :func:`add_commands`; files are read and cleaned by
the same path as every other command (:mod:`pipeline.cli.common`). ``--start``/``--end`` set the analysis period as
on the dashboard's sidebar. ``cohorts`` and ``migration`` run their aggregation on the connection the data was
cleaned on: DuckDB by default, or ``--engine spark`` / ``SEGMENTS_ENGINE`` (folders, globs and ``table:NAME``
sources too), where only the cohort cells and one row per customer reach the driver.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from pipeline.cli.common import file_cmd, json_flag, load_clean, print_json, transactions
from pipeline.cli.engines import add_engine_option
from pipeline.cli.governance import export_flags, shared_export

__all__ = ["add_commands", "cmd_overview", "cmd_cohorts", "cmd_migration"]


def _period(args):
    from pipeline.period import AnalysisPeriod

    return AnalysisPeriod(args.start, args.end)


def _months(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return df.assign(**{c: df[c].dt.strftime("%Y-%m") for c in cols})


def _emit(obj: dict) -> int:
    from pipeline.exports import to_jsonable

    print_json(to_jsonable(obj))
    return 0


def cmd_overview(args) -> int:
    from pipeline.overview import overview

    tx, _ = transactions(args.file, args.dayfirst)
    ov = overview(tx, _period(args), args.horizon)
    return _emit({"file": args.file, "period": ov.period.to_json(), "previous": ov.previous.to_json(),
                  "horizon_days": ov.horizon_days, "kpis": ov.kpis.to_dict(orient="records"),
                  "monthly": _months(ov.monthly, ["month"]).to_dict(orient="records"), "notes": ov.notes})


def cmd_cohorts(args) -> int:
    from pipeline.cohorts import cohort_table_from_connection, retention_curve

    con, _ = load_clean(args.file, args.dayfirst, args.engine)
    try:
        table = cohort_table_from_connection(con, _period(args))
    finally:
        con.close()
    period = table.attrs["period"]
    partial = sorted(set(table.loc[~table["complete"], "month"].dt.strftime("%Y-%m")))
    return _emit({"file": args.file, "period": period.to_json(), "cohorts": int(table["cohort"].nunique()),
                  "customers": int(table.drop_duplicates("cohort")["cohort_size"].sum()),
                  "partial_months": partial,
                  "table": _months(table, ["cohort", "month"]).round(4).to_dict(orient="records"),
                  "retention_curve": retention_curve(table).round(4).to_dict(orient="records")})


def cmd_migration(args) -> int:
    from pipeline.exports import to_csv_bytes
    from pipeline.movement import segment_movement_from_connection

    con, _ = load_clean(args.file, args.dayfirst, args.engine)
    try:
        mv = segment_movement_from_connection(con, args.date_from, args.date_to, _period(args),
                                              horizon_days=args.horizon)
    finally:
        con.close()
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(shared_export(args, mv.customers, "segment movement customers")))
    return _emit({"file": args.file, "from": mv.date_from.isoformat(), "to": mv.date_to.isoformat(),
                  "customers": len(mv.customers), "rows": list(mv.counts.index),
                  "columns": list(mv.counts.columns),
                  "matrix": {r: mv.counts.loc[r].to_dict() for r in mv.counts.index},
                  "row_share": {r: mv.row_share.loc[r].round(4).to_dict() for r in mv.row_share.index},
                  "segments": mv.segments.to_dict(orient="records"), "out": args.out})


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", help="first day of the analysis period (YYYY-MM-DD); default the first purchase")
    p.add_argument("--end", help="last day of the analysis period (YYYY-MM-DD); default the last purchase")
    json_flag(p)


def add_commands(sub) -> None:
    """Add ``overview``, ``cohorts`` and ``migration`` to the subparsers ``sub``."""
    from pipeline.config import HORIZON_DAYS

    p = file_cmd(sub, "overview", "key figures against the previous period of the same length, and per month "
                                  "revenue, orders, active, new and returning customers; JSON", cmd_overview)
    p.add_argument("--horizon", type=int, default=HORIZON_DAYS,
                   help=f"'active' = bought in this many days up to a date (default {HORIZON_DAYS})")
    _period_args(p)
    p = file_cmd(sub, "cohorts", "monthly first-purchase cohorts x months since: share still buying, revenue per "
                                 "customer; JSON", cmd_cohorts)
    add_engine_option(p)
    _period_args(p)
    p = file_cmd(sub, "migration", "RFM segments at two dates (each from data up to it) and the transition matrix; "
                                   "JSON", cmd_migration)
    p.add_argument("--from", dest="date_from", help=f"first date (YYYY-MM-DD); default the end - {HORIZON_DAYS} days")
    p.add_argument("--to", dest="date_to", help="second date (YYYY-MM-DD); default the end of the period")
    p.add_argument("--horizon", type=int, default=HORIZON_DAYS, help="days between the default dates")
    p.add_argument("--out", help="CSV of every customer's segment at both dates (formula-safe)")
    export_flags(p)
    add_engine_option(p)
    _period_args(p)
