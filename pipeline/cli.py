"""Command-line interface: ``python -m pipeline <command> FILE ...``.

Bad input prints one line on stderr and exits with code 2; results go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import os
import json
import sys
from pathlib import Path

import duckdb

from pipeline import cli_engines, cli_insights
from pipeline.health import cli as health_cli
from pipeline.errors import DataError
from pipeline.log import logger

__all__ = ["main", "build_parser"]


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _load_clean(path: str, dayfirst: bool | None = None, engine: str | None = None):
    """Read and clean a transactions file inside DuckDB (or on ``--engine``/``SEGMENTS_ENGINE``); returns
    (connection, report)."""
    from pipeline.config import CleaningOptions
    from pipeline.ingest import clean_in_duckdb

    if engine or os.environ.get("SEGMENTS_ENGINE"):
        return cli_engines.load_clean(path, dayfirst, engine)
    if not Path(path).is_file():
        raise DataError(f"File {path!r} does not exist.")
    return clean_in_duckdb(path, CleaningOptions(dayfirst=dayfirst))


def _transactions(path: str, dayfirst: bool | None = None):
    """Cleaned (transactions, returns) DataFrames of a file."""
    from pipeline.ingest import fetch_transactions

    con, _ = _load_clean(path, dayfirst)
    return fetch_transactions(con, "tx"), fetch_transactions(con, "tx_returns")


def cmd_clean(args) -> int:
    _, report = _load_clean(args.file, args.dayfirst, args.engine)
    _print_json(report.to_dict())
    return 0


def cmd_rfm(args) -> int:
    from pipeline.exports import to_csv_bytes
    from pipeline.rfm import default_snapshot, rfm_from_connection, segment_summary

    con, report = _load_clean(args.file, args.dayfirst, args.engine)
    rfm = rfm_from_connection(con, "tx", snapshot=args.snapshot or default_snapshot(report.date_max))
    cols = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment"]
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(rfm[cols]))
    summary = segment_summary(rfm)
    _print_json({"snapshot": rfm.attrs["snapshot"], "customers": len(rfm), "revenue": report.revenue,
                 "currency": _connection_currency(con, report), "out": args.out,
                 "segments": summary.round(4).to_dict(orient="records")})
    return 0


def _connection_currency(con, report) -> str | None:
    """The currency of cleaned transactions in DuckDB (``tx``), guessed from the country column; None when spend
    is counted in items (a basket log)."""
    from pipeline.currency import guess_currency

    if getattr(report, "monetary_unit", "currency") == "items":
        return None
    counts = con.execute("SELECT country, count(*) AS n FROM tx WHERE country IS NOT NULL GROUP BY 1").df()
    return guess_currency(country_counts=counts.set_index("country")["n"]).code


def _dataset_currency(ds) -> str | None:
    """The currency a Dataset's money figures are in (None for item-counted basket logs and customer tables)."""
    from pipeline.currency import dataset_currency

    countries = ds.transactions["country"] if ds.transactions is not None else None
    return dataset_currency(ds.kind, ds.report, ds.extra, countries)


def cmd_btyd(args) -> int:
    from pipeline.clv import btyd_params

    tx, _ = _transactions(args.file, args.dayfirst)
    _print_json(btyd_params(tx, cutoff=args.cutoff, unit_days=args.unit_days, include_pareto=not args.no_pareto))
    return 0


def cmd_value(args) -> int:
    from pipeline.value import grade_values

    tx, returns = _transactions(args.file, args.dayfirst)
    _print_json({"file": args.file, **grade_values(tx, returns, args.horizon).to_json()})
    return 0


def _model_list(value: str | None) -> list[str]:
    """``--models``: comma-separated registry keys, ``all``, or (default) the fast ones."""
    from pipeline.models import REGISTRY

    trainable = [k for k, spec in REGISTRY.items() if not spec.baseline]
    if not value:
        return [k for k in trainable if REGISTRY[k].fast]
    return trainable if value.strip() == "all" else [v.strip() for v in value.split(",") if v.strip()]


def _columns(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _lab_json(result) -> dict:
    from pipeline.exports import to_jsonable
    from pipeline.models.lab import metric_records

    importance = None if result.importance is None else result.importance.head(10).to_dict(orient="records")
    return to_jsonable({"kind": result.kind, "target": result.target, "settings": result.settings,
                        "best": result.best, "seconds": round(result.seconds, 2), "notes": result.notes,
                        "info": result.info, "table": metric_records(result.table), "importance": importance})


def cmd_churn(args) -> int:
    from pipeline.models.lab import run_churn_comparison

    tx, returns = _transactions(args.file, args.dayfirst)
    result = run_churn_comparison(tx, returns, args.horizon, args.cutoff, _model_list(args.models), args.imbalance,
                                  args.cv)
    _print_json(_lab_json(result))
    return 0


def cmd_train(args) -> int:
    from pipeline.ingest import build_dataset
    from pipeline.models.lab import run_table_comparison

    if not Path(args.file).is_file():
        raise DataError(f"File {args.file!r} does not exist.")
    ds = build_dataset(args.file, Path(args.file).name, kind="customers")
    result = run_table_comparison(ds.customers, args.target, _columns(args.features), _model_list(args.models),
                                  args.imbalance, args.cv, numeric=_columns(args.numeric) or (),
                                  categorical=_columns(args.categorical) or ())
    _print_json(_lab_json(result))
    return 0


def cmd_cluster(args) -> int:
    from pipeline.cluster import cluster_customers, clustering_input, log_columns, run_summary
    from pipeline.config import CleaningOptions
    from pipeline.ingest import build_dataset
    from pipeline.exports import to_csv_bytes

    if not Path(args.file).is_file():
        raise DataError(f"File {args.file!r} does not exist.")
    ds = build_dataset(args.file, Path(args.file).name, options=CleaningOptions(dayfirst=args.dayfirst))
    inp = clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers)
    features = _columns(args.features) or inp.default_features
    run = cluster_customers(inp.table, features, args.method, args.k, scale=not args.no_scale,
                            log_cols=log_columns(inp.table, features, args.log or inp.default_log),
                            revenue_col=inp.revenue_col, segment_col=inp.segment_col, random_state=args.seed)
    Path(args.out).write_bytes(to_csv_bytes(run.assignments()[["customer_id", "cluster", "x", "y"]]))
    _print_json({"file": args.file, "kind": ds.kind, "features": list(run.transformer.features_),
                 "currency": _dataset_currency(ds), "out": args.out, **run_summary(run)})
    return 0


def _customer_table(args):
    """(table, default features, default log mode) of a file: a customer table as it is, transactions as the
    per-customer features of the Clusters page."""
    from pipeline.cluster import clustering_input

    ds = _dataset(args.file, args.dayfirst)
    inp = clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers)
    return inp.table, _columns(args.features) or inp.default_features, args.log or (
        "none" if ds.kind == "customers" else inp.default_log)


def cmd_explore(args) -> int:
    from pipeline.cluster.explore import explore_table
    from pipeline.exports import to_jsonable

    table, features, log = _customer_table(args)
    ex = explore_table(table, features, log)
    _print_json(to_jsonable({"file": args.file, "customers": len(table), "features": ex.features, "log": log,
                             "warnings": ex.warnings, "columns": ex.stats.round(4).to_dict(orient="records"),
                             "pca": ex.pca.round(4).to_dict(orient="records"),
                             "k_table": ex.k_table.round(4).to_dict(orient="records"),
                             "elbow_k": ex.sweep.elbow_k, "recommended_k": ex.sweep.recommended_k,
                             "reason": ex.sweep.reason, "details": ex.sweep.details}))
    return 0


def cmd_embed(args) -> int:
    from pipeline.cluster.table_embeddings import compare_table_embeddings
    from pipeline.exports import to_csv_bytes, to_jsonable

    table, features, log = _customer_table(args)
    methods = None if args.method is None else [m for m in _columns(args.method) or [] if m != "none"]
    seeds = [int(s) for s in _columns(args.seeds)] if args.seeds else None
    cmp = compare_table_embeddings(table, methods, args.k, seeds, features, log)
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(cmp.labels))
    profiles = cmp.profiles[["method", "cluster", "name", "size", "share"]]
    _print_json(to_jsonable({"file": args.file, **cmp.settings, "out": args.out,
                             "table": cmp.table.round(4).to_dict(orient="records"), "verdict": cmp.verdict,
                             "clusters": profiles.round(4).to_dict(orient="records"),
                             "seconds": round(cmp.seconds["total"], 2)}))
    return 0


# ---- customer lookup, campaigns, coupons (pipeline.customer / campaign / coupons / recommend) ---------------------

def _dataset(path: str, dayfirst: bool | None = None):
    """A file as a Dataset (transactions or customer table, detected as on the Upload page)."""
    from pipeline.config import CleaningOptions
    from pipeline.ingest import build_dataset

    if not Path(path).is_file():
        raise DataError(f"File {path!r} does not exist.")
    return build_dataset(path, Path(path).name, options=CleaningOptions(dayfirst=dayfirst))


def _responses(path: str):
    """A coupon-response history file as a table (CSV, Excel or Parquet; no id column needed)."""
    from pipeline.ingest import build_dataset

    if not Path(path).is_file():
        raise DataError(f"File {path!r} does not exist.")
    return build_dataset(path, Path(path).name, kind="customers").customers.drop(columns=["customer_id"])


def _context(args):
    from pipeline.coupons import fit_learned_policy
    from pipeline.customer import CouponSetup, ScoringSettings, build_scorer

    learned = fit_learned_policy(_responses(args.responses), args.target) if args.responses else None
    return build_scorer(_dataset(args.file, args.dayfirst), settings=ScoringSettings(horizon_days=args.horizon),
                        coupons=CouponSetup.load(args.catalogue, learned=learned))


def cmd_profile(args) -> int:
    from pipeline.customer import customer_profile

    _print_json(customer_profile(_context(args), args.customer).to_json())
    return 0


def cmd_campaign(args) -> int:
    from pipeline.campaign import campaign_id_for, campaign_list, campaign_summary, campaign_totals
    from pipeline.exports import to_csv_bytes, to_excel_bytes, to_jsonable

    ctx = _context(args)
    ids = Path(args.ids).read_text().split() if args.ids else None
    coupons = ctx.coupons
    sent = args.sent or (str(ctx.history.as_of.date()) if ctx.history is not None else None)
    out = campaign_list(ctx.table, coupons.catalogue, coupons.policy, segment=args.segment, cluster=args.cluster,
                        band=args.band, customer_ids=ids, learned=coupons.learned, campaign_id=campaign_id_for(args.name),
                        control_share=args.control, send_date=sent)
    data = to_excel_bytes(out, "campaign") if args.out.lower().endswith((".xlsx", ".xls")) else to_csv_bytes(out)
    Path(args.out).write_bytes(data)
    totals = campaign_totals(out, args.currency or "")
    _print_json(to_jsonable({"file": args.file, "out": args.out, "campaign_id": campaign_id_for(args.name),
                             "send_date": sent, "control_share": args.control, **totals.to_dict(),
                             "summary": campaign_summary(out).to_dict(orient="records"), "notes": ctx.notes}))
    return 0


def cmd_campaign_results(args) -> int:
    from pipeline.campaign import campaign_results, read_campaign_list
    from pipeline.exports import to_jsonable
    from pipeline.ingest import fetch_transactions

    if not Path(args.list).is_file():
        raise DataError(f"File {args.list!r} does not exist.")
    con, report = _load_clean(args.transactions, args.dayfirst)
    tx = fetch_transactions(con, "tx")
    money = args.currency or _connection_currency(con, report) or ""     # none for item-counted basket logs
    res = campaign_results(read_campaign_list(args.list), tx, args.sent, args.days, currency=money)
    _print_json(to_jsonable({"list": args.list, "transactions": args.transactions, **res.to_dict()}))
    return 0


def cmd_coupons_check(args) -> int:
    from pipeline.coupons import load_catalogue

    cat = load_catalogue(args.catalogue)
    _print_json({"file": args.catalogue, "valid": True, "coupons": int((cat["kind"] != "none").sum()),
                 "catalogue": cat.to_dict(orient="records")})
    return 0


def cmd_coupon_learn(args) -> int:
    from pipeline.coupons import evaluate_acceptance_model, prepare_responses
    from pipeline.exports import to_jsonable

    table = _responses(args.responses)
    prep = prepare_responses(table, args.target, args.coupon_col)
    result = evaluate_acceptance_model(table, args.target, args.coupon_col, n_splits=args.folds, seed=args.seed,
                                       model=args.model)
    _print_json(to_jsonable({"file": args.responses, "target": prep.target, "coupon_column": prep.coupon_column,
                             "rows": len(prep.y), "acceptance_rate": float(prep.y.mean()),
                             "coupon_types": sorted(prep.X[prep.coupon_column].unique()),
                             "table": result.to_dict(orient="records")}))
    return 0


def cmd_recommend_eval(args) -> int:
    from pipeline.exports import to_jsonable
    from pipeline.recommend import hit_rate_at_k

    tx, _ = _transactions(args.file, args.dayfirst)
    ks = [int(k) for k in (_columns(args.k) or ["5", "10"])]
    table = hit_rate_at_k(tx, cutoff=args.cutoff, horizon_days=args.horizon, k=ks,
                          include_repeats=not args.new_only)
    _print_json(to_jsonable({"file": args.file, "table": table.assign(cutoff=table["cutoff"].astype(str))
                             .to_dict(orient="records")}))
    return 0


# ---- the scoring service (service/; FastAPI and uvicorn are imported only inside these commands) -----------------

def _service_env(args) -> None:
    """Pass the flags to the service as its environment variables (``service.core.config.Settings``)."""
    for flag, var in (("dataset", "SEGMENTS_DATASET"), ("workspace", "SEGMENTS_WORKSPACE"),
                      ("database_url", "SEGMENTS_DATABASE_URL")):
        if getattr(args, flag, None):
            os.environ[var] = str(getattr(args, flag))


def cmd_serve(args) -> int:
    _service_env(args)
    from service.main import serve

    serve(args.host, args.port, args.workers)
    return 0


def cmd_api_key(args) -> int:
    from service.core.config import Settings
    from service.core.db import make_engine, session_factory
    from service.keys import create_key, list_keys, parse_scopes, revoke_key
    from service.migrations import upgrade

    _service_env(args)
    engine = make_engine(Settings().resolved_database_url())
    upgrade(engine)
    try:
        with session_factory(engine)() as session:
            if args.action == "list":
                _print_json(list_keys(session))
            elif args.action == "revoke":
                if not revoke_key(session, args.name or ""):
                    raise DataError(f"api-key: no active key named {args.name!r}; see 'api-key list'.")
                _print_json({"revoked": args.name})
            else:
                if not args.name:
                    raise DataError("api-key create: give --name.")
                scopes = parse_scopes(args.scopes)
                key = create_key(session, args.name, scopes, args.rate)
                _print_json({"name": args.name, "scopes": scopes, "key": key,
                             "note": "Shown once: only its SHA-256 is stored. Send it as "
                                     "'Authorization: Bearer <key>'."})
    except ValueError as e:
        raise DataError(f"api-key: {e}") from e
    finally:
        engine.dispose()
    return 0


def _service_commands(sub) -> None:
    def common(p) -> None:
        p.add_argument("--workspace", help="workspace folder (or the folder of all workspaces); default "
                                           "SEGMENTS_WORKSPACE or workspace/")
        p.add_argument("--database-url", help="SQLAlchemy URL (default SQLite service.db in the workspace)")
    p = sub.add_parser("serve", help="serve the scoring API (FastAPI) for a saved dataset, a file or a sample")
    p.add_argument("--dataset", required=True, help="saved dataset id or name, a file, or 'synthetic' / 'cdnow'")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads the dataset)")
    common(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("api-key", help="create, list or revoke API keys of the scoring service")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("--name", help="key name (create, revoke)")
    p.add_argument("--scopes", default="read", help="comma-separated: read,score,issue,admin (default read)")
    p.add_argument("--rate", type=float, help="requests per second for this key (default "
                                              "SEGMENTS_RATE_LIMIT_PER_SECOND)")
    common(p)
    p.set_defaults(func=cmd_api_key)


def _lab_args(p) -> None:
    p.add_argument("--models", help="comma-separated models (logreg,tree,forest,xgboost,svm,keras,stacked) or "
                                    "'all'; default the fast ones. Baselines always run.")
    p.add_argument("--imbalance", default="none", choices=["none", "class_weight", "downsample"])
    p.add_argument("--cv", type=int, default=None, help="also report k-fold CV on the training set")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")


def _context_args(p) -> None:
    p.add_argument("--horizon", type=int, default=90, help="horizon H in days for churn and expected value")
    p.add_argument("--catalogue", help="coupon catalogue CSV; default assets/coupons.csv")
    p.add_argument("--responses", help="coupon-response history to learn a coupon policy from (customer tables)")
    p.add_argument("--target", help="the accepted yes/no column of --responses; default: detected")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")


def _table_args(p) -> None:
    p.add_argument("--features", help="comma-separated columns; default the numeric columns that vary")
    p.add_argument("--log", choices=["all", "auto", "none"], help="log1p before standardising; default none for "
                                                                  "customer tables (median fill + standardise)")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")


def _file_cmd(sub, name: str, help: str, func):
    p = sub.add_parser(name, help=help)
    p.add_argument("file", help="CSV, Excel or Parquet file")
    p.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day-first")
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    from pipeline.config import CampaignConfig

    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cli_engines.add_engine_option(_file_cmd(sub, "clean", "print the cleaning report as JSON", cmd_clean))
    p = _file_cmd(sub, "rfm", "write one row per customer with R, F, M, scores and segment", cmd_rfm)
    cli_engines.add_engine_option(p)
    p.add_argument("--snapshot", help="date recency is measured to (YYYY-MM-DD); default the day after the last purchase")
    p.add_argument("--out", help="output CSV path")
    p = _file_cmd(sub, "btyd", "fit BG/NBD, Pareto/NBD and Gamma-Gamma; print the parameters as JSON", cmd_btyd)
    p.add_argument("--cutoff", help="fit on purchases before this date (YYYY-MM-DD); default all")
    p.add_argument("--unit-days", type=float, default=1.0, help="time unit in days (7 for weeks)")
    p.add_argument("--no-pareto", action="store_true", help="skip the slower Pareto/NBD fit")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    p = _file_cmd(sub, "value", "grade the card's spend, orders, next-order date and P(alive) out of time against "
                                "naive baselines (rows with role BASELINE); JSON", cmd_value)
    p.add_argument("--horizon", type=int, default=90, help="horizon H in days (default 90)")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    p = _file_cmd(sub, "churn", "out-of-time churn model comparison; print the metric table as JSON", cmd_churn)
    p.add_argument("--horizon", type=int, default=90, help="churn horizon H in days (default 90)")
    p.add_argument("--cutoff", help="test cutoff (YYYY-MM-DD); default end - H; training uses cutoff - H")
    _lab_args(p)
    p = _file_cmd(sub, "train", "compare models predicting a column of a customer table; JSON metric table", cmd_train)
    p.add_argument("--target", required=True, help="column to predict")
    p.add_argument("--features", help="comma-separated feature columns; default all others except ids")
    p.add_argument("--numeric", help="comma-separated columns to force numeric")
    p.add_argument("--categorical", help="comma-separated number-code columns to treat as categories")
    _lab_args(p)
    p = _file_cmd(sub, "cluster", "cluster customers; write customer_id, cluster, x, y and print the metrics as JSON",
                  cmd_cluster)
    p.add_argument("--k", type=int, help="number of clusters; default: the k the sweep k=2..10 recommends")
    p.add_argument("--features", help="comma-separated feature columns; default R,F,M for transactions, the numeric "
                                      "columns of a customer table")
    p.add_argument("--method", default="kmeans", choices=["kmeans", "gmm", "agglomerative", "hdbscan"])
    p.add_argument("--log", choices=["all", "auto", "none"], help="log1p transform; default 'all' for transactions "
                                                                  "(log RFM), 'auto' (skewed columns) for tables")
    p.add_argument("--no-scale", action="store_true", help="do not standardise numeric features")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", required=True, help="output CSV path (customer_id, cluster, x, y)")
    p = _file_cmd(sub, "explore", "explore a customer table: column stats (skew, missing, fill), PCA variance, "
                                  "K-Means sweep on the table and on PCA; JSON", cmd_explore)
    _table_args(p)
    p = _file_cmd(sub, "embed", "K-Means on a customer table, on PCA and on GRU/LSTM/dense-autoencoder embeddings "
                                "side by side (own and common-space metrics, stability); JSON", cmd_embed)
    _table_args(p)
    p.add_argument("--method", help="comma-separated embeddings: gru, lstm, dense (default gru,dense); 'none' = "
                                    "only the K-Means rows (no TensorFlow)")
    p.add_argument("--k", type=int, help="number of clusters (default 4)")
    p.add_argument("--seeds", help="comma-separated seeds for the stability check (default 0,1,2)")
    p.add_argument("--out", help="CSV of the cluster labels: customer_id and one column per method")
    p = _file_cmd(sub, "profile", "one customer's card (segment, scores, cluster, churn, value, coupon) as JSON",
                  cmd_profile)
    p.add_argument("--customer", required=True, help="customer id")
    _context_args(p)
    p = _file_cmd(sub, "campaign", "campaign list (coupon, expected value, reason, unique code) for a segment, "
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
    p.add_argument("--sent", help="send date YYYY-MM-DD written in the list (default the day after the last purchase)")
    p.add_argument("--currency", help="currency of the money figures, e.g. GBP (shown with the totals)")
    _context_args(p)
    p = sub.add_parser("campaign-results", help="treated vs control after the send date: conversion and revenue "
                                                "per customer with 95% intervals, cost; JSON")
    p.add_argument("list", help="campaign list (CSV or Excel) written by 'campaign' or the Campaigns page")
    p.add_argument("transactions", help="transactions covering the days after the send date (CSV, Excel, Parquet)")
    p.add_argument("--sent", help="send date YYYY-MM-DD; default the list's send_date column")
    p.add_argument("--days", type=int, default=CampaignConfig().results_window_days,
                   help="days after the send date that count (default 30)")
    p.add_argument("--currency", help="currency of the money figures, e.g. GBP")
    p.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day-first")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    p.set_defaults(func=cmd_campaign_results)
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
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    p.set_defaults(func=cmd_coupon_learn)
    p = _file_cmd(sub, "recommend-eval", "out-of-time hit-rate@K of the next-item recommender vs top sellers and "
                                         "buy-again; JSON", cmd_recommend_eval)
    p.add_argument("--horizon", type=int, default=90, help="days after the cutoff that are graded (default 90)")
    p.add_argument("--cutoff", help="fit on purchases up to this date; default end - horizon")
    p.add_argument("--k", help="comma-separated K values (default 5,10)")
    p.add_argument("--new-only", action="store_true", help="only count items the customer never bought before")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    _service_commands(sub)
    cli_insights.add_commands(sub, _file_cmd)     # overview, cohorts, migration
    cli_engines.register(sub, _file_cmd)          # score (batch scoring on DuckDB or Spark)
    health_cli.register(sub)                      # backtest, source, refresh, retrain, rollback, drift
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
