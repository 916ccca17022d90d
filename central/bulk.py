"""Bulk row inserts: COPY on PostgreSQL, a plain DB-API executemany on SQLite.

Ingest and workflow start insert hundreds of rows per transaction (inbox
entries, applications, status events, cases, audit entries). On PostgreSQL,
psycopg's pipelined executemany still spends ~45 µs of Python per row (one
Bind/Execute each), three rows per application, which made central's ingest
half as fast there as on SQLite; COPY streams the same rows in one command. A
COPY runs on the session's own connection, inside its transaction and savepoints,
so it commits or rolls back with everything else; a constraint violation is
raised as SQLAlchemy's IntegrityError, like the executemany it replaces.

On SQLite, a Core executemany spent about a third of ingest's transaction in
SQLAlchemy's per-row parameter set-up. The rows go through the same bind
processors (looked up once per column, not once per value) straight to the
driver's executemany instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, exc, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

# Below this many rows an executemany costs no more than setting up a COPY.
COPY_FROM = 8


def _defaults(table: Table, given: dict[str, Any]) -> dict[str, Any] | None:
    """Values for the columns a row leaves out (their scalar Python defaults);
    None if one needs a callable default (then executemany does it). Columns
    with a server-side default or an autoincrement key are left to the server."""
    out: dict[str, Any] = {}
    for col in table.columns:
        if col.key in given:
            continue
        d = col.default
        if d is None:
            continue
        if not getattr(d, "is_scalar", False):
            return None
        out[col.key] = d.arg  # type: ignore[attr-defined]  # is_scalar checked above: a ScalarElementColumnDefault has .arg
    return out


def among(session: Session, column: Any, values: list[Any]) -> ColumnElement[bool]:
    """`column IN values` for a batch's worth of values. On PostgreSQL as
    `= ANY(array)`: one parameter, so the statement is compiled, converted and
    planned once, where an IN of 500 placeholders is a new statement text for
    every batch size (psycopg does not cache its conversion either)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by column, all with the same keys) into `table`."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect.name
    defaults = _defaults(table, rows[0]) if dialect in ("postgresql", "sqlite") else None
    if defaults is None or len(rows) < COPY_FROM:
        session.execute(insert(table), rows)
        return
    given = list(rows[0])
    fixed = list(defaults.values())
    values = []
    for r in rows:
        if len(r) != len(given):
            raise ValueError(f"{table.name}: rows must all have the same columns")
        values.append([r[k] for k in given] + fixed)
    keys = given + list(defaults)
    quote: Callable[[str], str] = conn.dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(table.c[k].name) for k in keys)})"
    if dialect == "sqlite":
        _executemany(conn, table, keys, target, values)
        return
    sql = f"COPY {target} FROM STDIN"
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]  # PostgreSQL only: the driver connection is psycopg's, which has cursor().copy
            for v in values:
                copy.write_row(v)
    except conn.dialect.dbapi.Error as e:  # type: ignore[union-attr]  # a DBAPI dialect always has dbapi
        raise exc.DBAPIError.instance(sql, None, e, conn.dialect.dbapi.Error) from e  # type: ignore[union-attr]  # a DBAPI dialect always has dbapi


def _executemany(conn: Any, table: Table, keys: list[str], target: str, values: list[list[Any]]) -> None:
    """The driver's executemany with SQLAlchemy's own bind processors (so values
    are stored exactly as a Core insert stores them); errors come wrapped by
    SQLAlchemy, a duplicate as IntegrityError."""
    procs = [table.c[k].type._cached_bind_processor(conn.dialect) for k in keys]
    params = [tuple([p(x) if p else x for p, x in zip(procs, v, strict=True)]) for v in values]
    conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join('?' * len(keys))})", params)
