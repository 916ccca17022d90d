"""The application router: starts workflows for applications the ingest worker
stored (`applications.route_pending`), in its own process.

Starting workflows (case rows, audit chains, status events; set-based, a dozen
statements per slice) still costs CPU, so `ur-central serve` runs it here, beside
the ingest worker, instead of in the worker's loop: ingest and acks keep their
own core, and each routing transaction is short (one slice) so it
never holds the claimed rows for long. `serve` starts one only on PostgreSQL
(rows claimed with FOR UPDATE SKIP LOCKED, any number of routers); on SQLite,
with its single writer, a second process would only fight the worker for the
lock, so the worker routes between its batches. A router started by a worker
exits when that worker is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from central import applications, db

log = logging.getLogger("ur.central.router")
# Set-based start costs ~12 statements per slice whatever its size: 50 keeps a
# slice's transaction in the tens of milliseconds while the fixed cost stays small.
SLICE = 50


def run(db_url: str | None, parent_pid: int | None = None, idle_sleep: float = 0.2) -> None:
    """Route until stopped; between passes that found less than a slice, sleep
    `idle_sleep` (fewer, fuller slices: less CPU taken from ingest)."""
    engine = db.make_engine(db_url)
    db.load_models()
    sessions = db.sessions(engine)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        if parent_pid is not None and os.getppid() != parent_pid:
            log.info("worker %s is gone; router exits", parent_pid)
            break
        try:
            with sessions.begin() as s:
                n = applications.route_pending(s, SLICE)
        except Exception as e:  # noqa: BLE001 - a failed slice is retried
            log.warning("routing failed: %s", e)
            n = 0
        if n < SLICE:
            time.sleep(idle_sleep)
    engine.dispose()
