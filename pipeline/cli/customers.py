"""The customer commands of ``python -m pipeline``: ``profile`` (one customer's card), ``campaign`` (a campaign list
with coupon, expected value, reason, unique code and a control group, as CSV or Excel), ``campaign-results``
(treated vs control after the send date), ``coupons-check`` (a catalogue validated and normalised),
``coupon-learn`` (the coupon acceptance model cross-validated against a majority baseline) and ``recommend-eval``
(out-of-time hit-rate@K of the next-item recommender). They drive :mod:`pipeline.customer`, ``campaign``,
``coupons`` and ``recommend``, imported inside the commands; :func:`add_commands` registers them. ``profile`` and
``campaign`` take ``--engine`` (default ``SEGMENTS_ENGINE``): on Spark the file, folder or table is read and cleaned
by Spark and the cleaned lines are loaded for scoring.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import (columns, connection_currency, dataset, file_cmd, json_flag, load_clean,
                                 print_json, require_input, transactions)
from pipeline.cli.engines import add_engine_option
from pipeline.cli.governance import export_flags, rejoin, shared_export
from pipeline.errors import DataError

__all__ = ["add_commands", "cmd_profile", "cmd_campaign", "cmd_campaign_results", "cmd_coupons_check",
           "cmd_coupon_learn", "cmd_recommend_eval"]


def _responses(path: str):
    """A coupon-response history file as a table (CSV, Excel or Parquet; no id column needed)."""
    from pipeline.ingest import build_dataset

    require_input(path)
    return build_dataset(path, Path(path).name, kind="customers").customers.drop(columns=["customer_id"])


def _context(args):
    from pipeline.coupons import fit_learned_policy
    from pipeline.customer import CouponSetup, ScoringSettings, build_scorer

    learned = fit_learned_policy(_responses(args.responses), args.target) if args.responses else None
    ds = dataset(args.file, args.dayfirst, getattr(args, "engine", None))
    return build_scorer(ds, settings=ScoringSettings(horizon_days=args.horizon),
                        coupons=CouponSetup.load(args.catalogue, learned=learned))


def cmd_profile(args) -> int:
    """The card of customer ``args.customer`` in ``args.file``."""
    from pipeline.customer import customer_profile

    print_json(customer_profile(_context(args), args.customer).to_json())
    return 0


def cmd_campaign(args) -> int:
    """Write a campaign list for the chosen audience of ``args.file``; totals and summary as JSON."""
    from pipeline.campaign import campaign_audience, campaign_id_for, campaign_list, campaign_summary, campaign_totals
    from pipeline.exports import to_csv_bytes, to_excel_bytes, to_jsonable

    ctx = _context(args)
    ids = Path(args.ids).read_text().split() if args.ids else None
    coupons = _in_currency(ctx.coupons, args.currency)
    sent = args.sent or (str(ctx.history.as_of.date()) if ctx.history is not None else None)
    audience = campaign_audience(ctx, sent)               # customers as they were on the send date
    out = campaign_list(audience.table, coupons.catalogue, coupons.policy, segment=args.segment,
                        cluster=args.cluster, band=args.band, customer_ids=ids, learned=coupons.learned,
                        campaign_id=campaign_id_for(args.name), control_share=args.control, send_date=sent,
                        as_of=audience.as_of_text, facts=ctx.decisions.facts if ctx.decisions else None)
    shared = shared_export(args, out, "campaign list", campaign_id=campaign_id_for(args.name))
    excel = args.out.lower().endswith((".xlsx", ".xls"))
    data = to_excel_bytes(shared, "campaign") if excel else to_csv_bytes(shared)
    Path(args.out).write_bytes(data)
    totals = campaign_totals(out, coupons.policy.currency or "")
    print_json(to_jsonable({"file": args.file, "out": args.out, "campaign_id": campaign_id_for(args.name),
                            "send_date": sent, "control_share": args.control, **totals.to_dict(),
                            "summary": campaign_summary(out).to_dict(orient="records"),
                            "notes": [*ctx.notes, *audience.notes]}))
    return 0


def _in_currency(coupons, code: str | None):
    """The scorer's coupon setup (its policy in the dataset's unit) with the currency ``--currency`` names, when
    given: it corrects a guessed currency; a basket log's spend is items, which no currency turns into money."""
    if not code:
        return coupons
    if coupons.policy.currency is None:
        raise DataError(f"--currency {code}: this file's spend is counted in items (it has no amounts or prices), "
                        "so its figures have no currency; leave --currency out.")
    return coupons.in_unit(code)


def cmd_campaign_results(args) -> int:
    """Treated vs control of the campaign list ``args.list`` in the transactions after the send date."""
    from pipeline.campaign import campaign_results, read_campaign_list
    from pipeline.exports import to_jsonable
    from pipeline.ingest import fetch_transactions

    if not Path(args.list).is_file():
        raise DataError(f"File {args.list!r} does not exist.")
    con, report = load_clean(args.transactions, args.dayfirst)
    tx = fetch_transactions(con, "tx")
    money = args.currency or connection_currency(con, report) or ""     # none for item-counted basket logs
    listed = rejoin(args, read_campaign_list(args.list), tx["customer_id"])      # hashed ids joined back
    res = campaign_results(listed, tx, args.sent, args.days, currency=money,
                           catalogue=args.catalogue,
                           **({} if args.min_group is None else {"min_group": args.min_group}))
    print_json(to_jsonable({"list": args.list, "transactions": args.transactions, **res.to_dict()}))
    return 0


def cmd_coupons_check(args) -> int:
    """Validate the coupon catalogue ``args.catalogue``; print it normalised."""
    from pipeline.coupons import load_catalogue

    cat = load_catalogue(args.catalogue)
    print_json({"file": args.catalogue, "valid": True, "coupons": int((cat["kind"] != "none").sum()),
                "catalogue": cat.to_dict(orient="records")})
    return 0


def cmd_coupon_learn(args) -> int:
    """Cross-validate the coupon acceptance model on the response history ``args.responses``."""
    from pipeline.coupons import evaluate_acceptance_model, prepare_responses
    from pipeline.exports import to_jsonable

    table = _responses(args.responses)
    prep = prepare_responses(table, args.target, args.coupon_col)
    result = evaluate_acceptance_model(table, args.target, args.coupon_col, n_splits=args.folds, seed=args.seed,
                                       model=args.model)
    print_json(to_jsonable({"file": args.responses, "target": prep.target, "coupon_column": prep.coupon_column,
                            "rows": len(prep.y), "acceptance_rate": float(prep.y.mean()),
                            "coupon_types": sorted(prep.X[prep.coupon_column].unique()),
                            "table": result.to_dict(orient="records")}))
    return 0


def cmd_recommend_eval(args) -> int:
    """Out-of-time hit-rate@K of the recommender and its baselines on ``args.file``."""
    from pipeline.exports import to_jsonable
    from pipeline.recommend import hit_rate_at_k

    tx, _ = transactions(args.file, args.dayfirst)
    ks = [int(k) for k in (columns(args.k) or ["5", "10"])]
    table = hit_rate_at_k(tx, cutoff=args.cutoff, horizon_days=args.horizon, k=ks,
                          include_repeats=not args.new_only)
    print_json(to_jsonable({"file": args.file, "table": table.assign(cutoff=table["cutoff"].astype(str))
                            .to_dict(orient="records")}))
    return 0


def _context_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--horizon", type=int, default=90, help="horizon H in days for churn and expected value")
    p.add_argument("--catalogue", help="coupon catalogue CSV; default assets/coupons.csv")
    p.add_argument("--responses", help="coupon-response history to learn a coupon policy from (customer tables)")
    p.add_argument("--target", help="the accepted yes/no column of --responses; default: detected")
    add_engine_option(p)
    json_flag(p)


def _campaign_commands(sub) -> None:
    from pipeline.config import CampaignConfig

    p = file_cmd(sub, "campaign", "campaign list (coupon, expected value, reason, unique code) for a segment, "
                                  "cluster, churn band or id list; writes CSV or Excel", cmd_campaign)
    p.add_argument("--segment", help="RFM segment name, e.g. 'At Risk'")
    p.add_argument("--band", choices=["Low", "Medium", "High"], help="churn risk band")
    p.add_argument("--cluster", type=int, help="cluster id (default K-Means on log RFM with the recommended k)")
    p.add_argument("--ids", help="text file with customer ids (a saved selection), one per line")
    p.add_argument("--out", required=True, help="output .csv or .xlsx (formula-safe)")
    p.add_argument("--name", default="campaign", help="campaign name; its id draws the control group (default "
                                                      "'campaign')")
    p.add_argument("--control", type=float, default=CampaignConfig().control_share,
                   help="share of the audience held out as the control group, no coupon (default 0.1)")
    p.add_argument("--sent", help="send date YYYY-MM-DD (default the day after the last purchase); the audience is "
                                  "chosen from the purchases before it")
    p.add_argument("--currency", help="currency of the money figures, e.g. GBP, in the totals and the coupon reasons "
                                      "(default: the file's, guessed from its amounts and countries)")
    export_flags(p)
    _context_args(p)
    p = sub.add_parser("campaign-results", help="treated vs control after the send date: conversion and revenue "
                                                "per customer with 95%% intervals, cost; JSON")
    p.add_argument("list", help="campaign list (CSV or Excel) written by 'campaign' or the Campaigns page")
    p.add_argument("transactions", help="transactions covering the days after the send date (CSV, Excel, Parquet)")
    p.add_argument("--sent", help="send date YYYY-MM-DD; default the list's send_date column")
    p.add_argument("--days", type=int, default=CampaignConfig().results_window_days,
                   help="days after the send date that count (default 30)")
    p.add_argument("--currency", help="currency of the money figures, e.g. GBP")
    p.add_argument("--catalogue", help="coupon catalogue CSV giving the cost of a redeemed coupon (default "
                                       "assets/coupons.csv)")
    p.add_argument("--min-group", type=int, help="fewest customers per group for a result (default "
                                                 "pipeline.campaign.MIN_GROUP, 10)")
    p.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day-first")
    p.add_argument("--workspace", help="workspace whose pseudonym key joins a list with hashed ids back (default "
                                       "SEGMENTS_WORKSPACE or workspace/)")
    json_flag(p)
    p.set_defaults(func=cmd_campaign_results)


def _coupon_commands(sub) -> None:
    p = sub.add_parser("coupons-check", help="validate a coupon catalogue CSV; print it normalised as JSON")
    p.add_argument("catalogue", help="catalogue CSV (columns id,name,kind,value[,min_spend,cost,...])")
    p.set_defaults(func=cmd_coupons_check)
    p = sub.add_parser("coupon-learn", help="cross-validate the coupon acceptance model on a response history "
                                            "(with a majority baseline); JSON")
    p.add_argument("responses", help="response history: one row per coupon offered, with a yes/no column")
    p.add_argument("--target", help="the accepted yes/no column; default: detected")
    p.add_argument("--coupon-col", help="the coupon-type column; default: detected (coupon, offer, ...)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--model", help="a Model-lab model key (logreg, forest, xgboost); default one-hot + XGBoost")
    p.add_argument("--seed", type=int, default=42)
    json_flag(p)
    p.set_defaults(func=cmd_coupon_learn)


def add_commands(sub) -> None:
    """Add ``profile``, ``campaign``, ``campaign-results``, ``coupons-check``, ``coupon-learn`` and
    ``recommend-eval`` to the subparsers ``sub``."""
    p = file_cmd(sub, "profile", "one customer's card (segment, scores, cluster, churn, value, coupon) as JSON",
                 cmd_profile)
    p.add_argument("--customer", required=True, help="customer id")
    _context_args(p)
    _campaign_commands(sub)
    _coupon_commands(sub)
    p = file_cmd(sub, "recommend-eval", "out-of-time hit-rate@K of the next-item recommender vs top sellers and "
                                        "buy-again; JSON", cmd_recommend_eval)
    p.add_argument("--horizon", type=int, default=90, help="days after the cutoff that are graded (default 90)")
    p.add_argument("--cutoff", help="fit on purchases up to this date; default end - horizon")
    p.add_argument("--k", help="comma-separated K values (default 5,10)")
    p.add_argument("--new-only", action="store_true", help="only count items the customer never bought before")
    json_flag(p)
