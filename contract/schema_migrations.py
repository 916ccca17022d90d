"""Alembic, run in-process, for both databases (the kiosk store and central).

Why in code and not `alembic upgrade` by hand: kiosks upgrade in place when a
new version starts, and every central command and worker may be the first to
open a database after an upgrade. `bring_to_head` is what each one calls.

A normal start costs one query: `HEAD` (a constant in each `migrations`
package, checked against the scripts by a test) is compared with the
database's `alembic_version`, and Alembic is imported only when they differ
(inside the functions below: alembic.config alone costs 0.23-0.44 s on top of
SQLAlchemy here, measured with `python -X importtime`).

New database: `alembic upgrade head` from nothing; the baseline revision
creates every table with explicit `op.create_table` calls (never create_all),
so a fresh database and an upgraded one go through the same scripts.

A database made before migrations existed (tables, no `alembic_version`) is
adopted, not stamped blindly: such a database was made by `create_all` of an
older release, which may lack tables or columns added since. The baseline
builds its tables with `create_table` / `create_index` below, which create what
is missing and leave what exists alone, adding the columns an old table lacks
(nullable ones, or ones with a server default; a missing NOT NULL column
without a default cannot be filled in and is refused with its name). Then the
later revisions run as for any other database. Nothing is dropped or rewritten,
so no accepted data is lost. What an adopted database still differs in from the
models (say, a column type that changed) is returned for the caller to log.

Concurrency: the whole upgrade is one transaction. On SQLite the writer lock
(BEGIN IMMEDIATE) serialises two processes opening the same new file; on
PostgreSQL a transaction-scoped advisory lock does, so two workers starting at
once on an empty database do not both create the tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from contract.errors import UrError

# pg_advisory_xact_lock key for "someone is migrating this database" (any constant).
PG_LOCK_KEY = 0x5552_4D49_4752  # "URMIGR"


def current_revision(conn: Connection) -> str | None:
    """The database's `alembic_version`, or None when it has none."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def config(script_location: Path, conn: Connection | None = None) -> Any:
    """An Alembic Config for `script_location` that runs on `conn` (see env.py)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def bring_to_head(conn: Connection, script_location: Path, head: str, metadata: sa.MetaData,
                  stamped_before_schema: tuple[str, ...] = ()) -> list[str]:
    """Upgrade the database on `conn` (in its transaction) to `head`.

    `stamped_before_schema`: revisions an older release stamped on databases
    that create_all made (the kiosk's empty 0001_baseline); those are adopted
    like unstamped ones. Returns, for an adopted database only, how it still
    differs from `metadata` (empty otherwise): the caller logs it."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
    current = current_revision(conn)
    if current == head:
        return []
    adopting = (current is None or current in stamped_before_schema) and any(
        sa.inspect(conn).has_table(t) for t in metadata.tables)
    from alembic import command

    cfg = config(script_location, conn)
    cfg.attributes["adopting"] = adopting  # False: the baseline need not look before it creates
    command.upgrade(cfg, "head")
    return drift(conn, metadata) if adopting else []


# A PostgreSQL partition of a partitioned table is named `<table>__p<YYYYMM[DD]>` or
# `<table>__default` (central/time_partitions.py); the models describe only the parent.
PARTITION_NAME = re.compile(r"__(p\d{6}|p\d{8}|default)$")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Schema comparison skips partitions (and their indexes): they follow their parent."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.search(name))


def drift(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """How the schema on `conn` differs from `metadata` (Alembic's autogenerate
    comparison, as `alembic check` does), one line per difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
    return [repr(d) for d in compare_metadata(ctx, metadata)]


def run_env(metadata: sa.MetaData, connect: Any = None, render_as_batch: bool = False) -> None:
    """The body of a migrations/env.py: run on the connection the caller put in
    `config.attributes["connection"]`, or (the `alembic` command line, e.g.
    `revision --autogenerate`) on one from `connect()`."""
    from alembic import context

    conn = context.config.attributes.get("connection")
    if conn is None:
        if connect is None:
            raise UrError("these migrations run on a connection handed in by the program")
        with connect() as conn:
            _run(context, conn, metadata, render_as_batch)
            conn.commit()
        return
    _run(context, conn, metadata, render_as_batch)


def _run(context: Any, conn: Connection, metadata: sa.MetaData, render_as_batch: bool) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=render_as_batch,
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


# --- used by baseline revisions ---------------------------------------------------


def create_table(name: str, *elements: Any, **kw: Any) -> None:
    """`op.create_table`, or for a table a pre-migration `create_all` already
    made, add the columns it lacks (see the module docstring)."""
    from alembic import op

    if not _may_exist() or not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *elements, **kw)
        return
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name)}
    for col in elements:
        if not isinstance(col, sa.Column) or col.name in have:
            continue
        if not col.nullable and col.server_default is None:
            raise UrError(f"cannot adopt this database: table {name} lacks column {col.name}, which must "
                          "have a value and has no default; it was made by a release too old to upgrade in place")
        op.add_column(name, col)


def create_index(name: str, table: str, columns: list[str], **kw: Any) -> None:
    """`op.create_index`, unless an adopted database already has an index of that name."""
    from alembic import op

    if _may_exist():
        have = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}
        if name in have:
            return
    op.create_index(name, table, columns, **kw)


def _may_exist() -> bool:
    """Whether the baseline may find its tables already there (an adopted
    database, or a run from the alembic command line that did not say)."""
    from alembic import op

    ctx = op.get_context()
    said = ctx.config.attributes.get("adopting") if ctx.config is not None else None
    return not ctx.as_sql and said is not False
