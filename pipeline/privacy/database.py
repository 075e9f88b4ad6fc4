"""The database places holding one customer: every table of the service's database and the prediction log, found by
SQLAlchemy reflection (the pipeline never imports the service). Rows whose ``customer_id`` is the id are deleted
(API purchases, cards, prediction-log rows), except coupon decisions, kept anonymised (the id replaced by a random
token, the code and reason cleared) so a campaign's counts and budget stay; rows of other tables whose text
mentions the id are deleted when they are stored answers (``idempotency_keys``), else reported for review.
"""
from __future__ import annotations

import re
import uuid

from pipeline.privacy.places import Place

__all__ = ["database_places", "ERASED_PREFIX"]

#: What an anonymised coupon decision's ``customer_id`` starts with (then a random token, never the id).
ERASED_PREFIX = "erased-"
#: Tables whose rows only mention the id in a text column, and are deleted (a stored answer to a retried POST).
_DELETE_MENTIONS = {"idempotency_keys"}
#: Tables whose rows are kept anonymised (the id replaced by a random token), so campaign counts and budgets stay.
_ANONYMISE = {"coupon_decisions": {"code": None, "reason": "Customer erased on request."}}


def database_places(url: str, cid: str, rx: re.Pattern[str]) -> list[Place]:
    from sqlalchemy import MetaData, String, Text, or_, select

    from pipeline.health.sources import make_engine

    engine = make_engine(url)
    md = MetaData()
    md.reflect(engine)
    like = "%" + cid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    out = []
    with engine.connect() as conn:
        for table in md.sorted_tables:
            texts = [c for c in table.columns if isinstance(c.type, (String, Text)) and c.name != "customer_id"]
            if "customer_id" in table.c:
                where = table.c.customer_id == cid
                rows = [dict(r._mapping) for r in conn.execute(select(table).where(where))]
                if rows:
                    anon = _ANONYMISE.get(table.name)
                    action = ("kept anonymised: the id replaced by a random token, its code and reason cleared "
                              "(campaign counts and budgets unchanged)") if anon else "rows deleted"
                    out.append(Place("table", f"table {table.name}", len(rows), {"rows": rows}, action,
                                     lambda t=table, w=where, a=anon: _db_erase(engine, t, w, a)))
            if not texts:
                continue
            cond = or_(*[c.like(like, escape="\\") for c in texts])
            if "customer_id" in table.c:
                cond = cond & (table.c.customer_id != cid)
            hits = [dict(r._mapping) for r in conn.execute(select(table).where(cond))
                    if any(rx.search(str(r._mapping[c.name] or "")) for c in texts)]
            if not hits:
                continue
            pk = list(table.primary_key.columns)
            keys = [tuple(h[c.name] for c in pk) for h in hits]
            if table.name in _DELETE_MENTIONS and pk:
                out.append(Place("table", f"table {table.name}", len(hits), {"rows": hits},
                                 "rows deleted (stored answers that mention the customer)",
                                 lambda t=table, p=pk, k=keys: _db_delete_keys(engine, t, p, k)))
            else:
                out.append(Place("table", f"table {table.name}", len(hits), {"rows": hits},
                                 "left: a text column mentions the id; review by hand"))
    return out


def _db_erase(engine, table, where, anonymise: dict | None) -> int:
    from sqlalchemy import delete, select, update

    with engine.begin() as conn:
        if anonymise is None:
            return conn.execute(delete(table).where(where)).rowcount or 0
        pk = list(table.primary_key.columns)
        done = 0
        for row in conn.execute(select(*pk).where(where)).all():
            key = [c == v for c, v in zip(pk, row, strict=True)]
            done += conn.execute(update(table).where(*key).values(
                customer_id=ERASED_PREFIX + uuid.uuid4().hex[:16], **anonymise)).rowcount or 0
        return done


def _db_delete_keys(engine, table, pk, keys) -> int:
    from sqlalchemy import and_, delete

    with engine.begin() as conn:
        return sum(conn.execute(delete(table).where(and_(*[c == v for c, v in zip(pk, key, strict=True)])))
                   .rowcount or 0 for key in keys)
