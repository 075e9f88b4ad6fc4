"""Data-protection commands: ``forget`` (erase one customer everywhere; prints the receipt) and ``export-customer``
(everything held about one customer, as one JSON file). Both search the workspace folder(s) under ``--workspace``
(default the app's workspace root, ``SEGMENTS_WORKSPACE``) and the service database (``--database-url``, else
``SEGMENTS_DATABASE_URL``, else ``service.db`` in that folder): :mod:`pipeline.privacy`.
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli.common import print_json

__all__ = ["add_commands"]


def cmd_forget(args) -> int:
    from pipeline.privacy.erase import forget

    receipt = forget(args.customer_id, args.workspace, args.database_url)
    print_json(receipt)
    return 0 if receipt["remains_total"] == 0 else 1


def cmd_export_customer(args) -> int:
    from pipeline.store import atomic_write_bytes
    from pipeline.privacy.subject import export_customer

    doc = export_customer(args.customer_id, args.workspace, args.database_url, card=not args.no_card)
    data = json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode()
    if args.out:
        atomic_write_bytes(Path(args.out), data)
        print_json({"out": args.out, "places": len(doc["held"]), "rows": doc["held_total"]})
    else:
        print(data.decode())
    return 0


def add_commands(sub) -> None:
    for name, help, func in (
            ("forget", "erase a customer from every saved dataset, selection, campaign list, cache, the service "
                       "database and the prediction log; prints a receipt (exit 1 if anything remains)", cmd_forget),
            ("export-customer", "subject access: everything held about a customer as one JSON file",
             cmd_export_customer)):
        p = sub.add_parser(name, help=help)
        p.add_argument("customer_id", help="the customer's id as it appears in the data")
        p.add_argument("--workspace", help="a workspace folder or the folder of all workspaces (default the app's "
                                           "workspace root)")
        p.add_argument("--database-url", help="SQLAlchemy URL of the service database (default "
                                              "SEGMENTS_DATABASE_URL, else service.db in the workspace folder)")
        if name == "export-customer":
            p.add_argument("--out", help="write the JSON here (default stdout)")
            p.add_argument("--no-card", action="store_true",
                           help="skip the card built today (scores and reasons; fits the scorer when none is saved)")
        p.set_defaults(func=func)
