"""Versioned schema: an ordered list of migrations and a ``schema_version`` table recording which have run.

Why not Alembic: the service has a few small tables and must create them itself at start-up on SQLite and
PostgreSQL, from several uvicorn workers starting at once. :func:`upgrade` is the one path that creates or changes a
table of the service's database: it takes a database-wide lock (:func:`pipeline.dbschema.lock`,
``pg_advisory_xact_lock`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), applies the missing versions of
:data:`MIGRATIONS` in order and records each one, then brings the prediction log's tables (which live in this
database; :func:`pipeline.health.predictions.migrate`) to their version, all in one transaction, so concurrent
starts apply each migration exactly once and no request creates a table.

Every table is declared once, in :mod:`service.models`. A migration derives its DDL from those declarations: the
first creates the tables as they were then (:func:`pipeline.dbschema.as_of`: the models without what a later
migration adds, listed in :data:`ADDED`), a later one adds its columns, indexes and tables from the models. A schema
change is therefore the change in the models, its entry in :data:`ADDED` and a new function appended to the list;
``tests/test_service_storage.py`` checks the migrated schema equals the models, also for databases written by
earlier releases.
"""
from __future__ import annotations

from sqlalchemy import Connection, Engine, MetaData, bindparam, inspect, select, text, update

from pipeline.dbschema import Migrations, add_columns, apply, as_of, lock
from pipeline.health.predictions import migrate as migrate_prediction_log
from pipeline.ingest.lines import day_invoice
from service.core.db import is_sqlite
from service.models import Base, CustomerCard, SchemaVersion, Transaction

__all__ = ["ADDED", "MIGRATIONS", "upgrade", "current_version"]

#: What each migration after the first adds to the tables of :mod:`service.models` ("table" or "table.column" or
#: an index name); a migration creates what it makes as declared minus what later ones add.
ADDED: dict[int, dict[str, tuple[str, ...]]] = {
    2: {"tables": ("idempotency_keys",), "columns": ("transactions.line_no", "customer_cards.line_count",
                                                     "api_keys.burst"),
        "indexes": ("uq_transactions_invoice_line",)},
}


def _after(version: int, kind: str) -> set[str]:
    return {name for v, added in ADDED.items() if v > version for name in added.get(kind, ())}


def _create_as_of(conn: Connection, version: int, tables: list[str]) -> None:
    """Create ``tables`` of the models as migration ``version`` made them."""
    md, columns, indexes = MetaData(), _after(version, "columns"), _after(version, "indexes")
    for name in tables:
        table = Base.metadata.tables[name]
        as_of(table, md, {c.split(".")[1] for c in columns if c.split(".")[0] == name}, indexes)
    md.create_all(conn, checkfirst=False)


def _v1_initial(conn: Connection) -> None:
    """API keys, received transactions, cached cards, campaigns and coupon decisions."""
    own = {SchemaVersion.__tablename__} | _after(1, "tables")
    _create_as_of(conn, 1, [t.name for t in Base.metadata.sorted_tables if t.name not in own])


def _v2_traffic(conn: Connection) -> None:
    """Line numbers unique per invoice, cards counting their lines, idempotency keys, per-key burst."""
    for column in ADDED[2]["columns"]:
        table, name = column.split(".")
        add_columns(conn, Base.metadata.tables[table], [name])
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            if index.name in ADDED[2]["indexes"]:
                index.create(conn)
    _create_as_of(conn, 2, list(ADDED[2]["tables"]))


def _v3_day_invoices(conn: Connection) -> None:
    """Lines sent without an invoice join the customer's order of that day as the pipeline names it."""
    tx, cards = Transaction.__table__, CustomerCard.__table__
    rows = conn.execute(select(tx.c.id, tx.c.dataset, tx.c.customer_id, tx.c.date, tx.c.invoice_id)
                        .where(tx.c.line_no.is_(None), tx.c.invoice_id.like("API-%"))).all()
    moved = [r for r in rows if r.invoice_id == f"API-{r.date:%Y%m%d}"]      # the day invoice until version 3
    if not moved:
        return
    conn.execute(update(tx).where(tx.c.id == bindparam("rid")).values(invoice_id=bindparam("inv")),
                 [{"rid": r.id, "inv": day_invoice(r.customer_id, r.date)} for r in moved])
    stale = update(cards).where(cards.c.dataset == bindparam("ds"), cards.c.customer_id == bindparam("cid"))
    conn.execute(stale.values(line_count=None),                         # rebuilt at start-up (service.main)
                 [{"ds": ds, "cid": cid} for ds, cid in sorted({(r.dataset, r.customer_id) for r in moved})])


MIGRATIONS: Migrations = [
    (1, _v1_initial),
    (2, _v2_traffic),
    (3, _v3_day_invoices),
]


def current_version(engine: Engine) -> int:
    """Highest applied migration (0 for an empty database)."""
    versions = SchemaVersion.__table__
    with engine.connect() as conn:
        if not inspect(conn).has_table(versions.name):
            return 0
        return int(conn.execute(select(text("max(version)")).select_from(versions)).scalar() or 0)


def upgrade(engine: Engine) -> int:
    """Apply every missing migration, the prediction log's included, in one locked transaction; returns the
    version reached."""
    opts = {"segments_sqlite_immediate": True} if is_sqlite(engine) else {}
    with engine.connect().execution_options(**opts) as conn, conn.begin():
        lock(conn)
        version = apply(conn, SchemaVersion.__table__, MIGRATIONS)
        migrate_prediction_log(conn)
        return version
