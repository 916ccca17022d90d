"""SQLite settings both sides need for durability (kiosk store and small central).

WAL so readers never block the writer; synchronous=FULL because NORMAL can
roll back committed transactions on power loss; a busy timeout so a second
process (CLI while the sync loop runs) waits instead of failing.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

READ_ONLY = "ur_read_only"
BUSY_TIMEOUT_S = 30.0


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
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (no deadlock between two writers
        # that both started reading first); readers (engine.execution_options(
        # ur_read_only=True)) never take it, so they cannot delay a writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            begin_immediate(conn.connection.dbapi_connection)


def begin_immediate(dbapi_conn: Any, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Take the write lock, polling every fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, so a
    writer that commits every few milliseconds (the kiosk taking applications at
    a steady rate) can keep another (the sync loop marking acks) waiting for
    hundreds of milliseconds: that was the ack-latency tail. Polling finds the gap
    between two commits. Other statements keep the busy timeout."""
    deadline = time.monotonic() + timeout
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        delay = 0.0002
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if not is_busy(e) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.002)
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock), read from
    the error code (primary code in the low byte of an extended one), not the text."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
