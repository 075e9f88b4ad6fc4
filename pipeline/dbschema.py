"""Versioned database schemas (SQLAlchemy): the service's tables (:mod:`service.migrations`) and the prediction log
(:mod:`pipeline.health.predictions`), which share one database.

Each table is declared once, as it is now. A migration is a function of a connection, and one that creates or
extends a table derives its DDL from that declaration: :func:`as_of` gives a table without the columns and indexes
that later migrations add, :func:`add_columns` adds declared columns. :func:`apply` runs the migrations missing
from a version table inside the caller's transaction, which first takes :func:`lock`: on PostgreSQL
``pg_advisory_xact_lock`` with one key for every schema of the database, so the service's workers and the app never
migrate at the same time; on SQLite the caller's transaction serialises writers (``BEGIN IMMEDIATE``, or a retry
after losing a race).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone

from sqlalchemy import (Connection, ForeignKeyConstraint, Index, MetaData, Table, UniqueConstraint, inspect, select,
                        text)

__all__ = ["LOCK_KEY", "Migrations", "add_columns", "apply", "as_of", "lock"]

#: The advisory lock every schema upgrade of a PostgreSQL database takes (any constant, the same for all schemas).
LOCK_KEY = 0x5E6_3E17
#: (version, function); append only: a shipped migration's effect never changes.
Migrations = Sequence[tuple[int, Callable[[Connection], None]]]


def lock(conn: Connection) -> None:
    """Take the schema lock until ``conn``'s transaction ends (PostgreSQL; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})


def apply(conn: Connection, versions: Table, migrations: Migrations) -> int:
    """Run the ``migrations`` not recorded in ``versions`` (created when missing) in order and record each (with
    the function's docstring as its description when ``versions`` has that column); returns the version reached.
    Call it after :func:`lock`, inside one transaction."""
    versions.create(conn, checkfirst=True)
    done = {int(v) for v in conn.execute(select(versions.c.version)).scalars()}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for version, migrate in migrations:
        if version in done:
            continue
        migrate(conn)
        row = {"version": version, "applied_at": now}
        if "description" in versions.c:
            row["description"] = (migrate.__doc__ or "").strip()[:200]
        conn.execute(versions.insert().values(**row))
    return max([v for v, _ in migrations] + list(done))


def as_of(table: Table, metadata: MetaData, later_columns: Collection[str] = (),
          later_indexes: Collection[str] = ()) -> Table:
    """``table`` in ``metadata`` as an earlier migration created it: without the columns and indexes that later
    migrations add (``later_columns``, ``later_indexes``: names). Keys, types, defaults, foreign keys and named
    unique constraints are the declaration's."""
    t = Table(table.name, metadata, *(c._copy() for c in table.columns if c.name not in later_columns))
    made = {ix.name for ix in t.indexes}                # from columns declared with index=True
    for ix in table.indexes:
        if ix.name not in later_indexes and ix.name not in made:
            Index(ix.name, *(t.c[c.name] for c in ix.columns), unique=ix.unique)
    for con in table.constraints:
        if set(con.columns.keys()) & set(later_columns):
            continue
        if isinstance(con, UniqueConstraint) and con.name:
            t.append_constraint(UniqueConstraint(*con.columns.keys(), name=con.name))
        elif isinstance(con, ForeignKeyConstraint):
            t.append_constraint(ForeignKeyConstraint(con.column_keys, [e.target_fullname for e in con.elements],
                                                     name=con.name, ondelete=con.ondelete, onupdate=con.onupdate))
    return t


def add_columns(conn: Connection, table: Table, names: Sequence[str]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each declared column of ``table`` in ``names`` that the database lacks
    (a column added to a table with rows must be nullable)."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    prep = conn.dialect.identifier_preparer
    for name in names:
        col = table.c[name]
        if not col.nullable:
            raise ValueError(f"column {table.name}.{name}: a column added by a migration must be nullable")
        if name not in have:
            conn.execute(text(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {prep.format_column(col)} "
                              f"{col.type.compile(conn.dialect)}"))
