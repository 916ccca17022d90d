"""SQLite settings both sides need for durability (see DESIGN.md, Kiosk store).

WAL so readers never block the writer; synchronous=FULL because NORMAL can
roll back committed transactions on power loss; a busy timeout so a second
process (CLI while the sync loop runs) waits instead of failing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

READ_ONLY = "ur_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine for read-only sessions (plain deferred BEGIN on SQLite)."""
    return engine.execution_options(**{READ_ONLY: True})


def install(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions
        # would otherwise defer it and break BEGIN IMMEDIATE below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (no deadlock between two writers
        # that both started reading first); readers (engine.execution_options(
        # ur_read_only=True)) never take it, so they cannot delay a writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
