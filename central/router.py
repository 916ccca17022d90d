"""The application router: starts workflows for applications the ingest worker
stored (`applications.route_pending`), in its own process.

Starting workflows (case rows, audit chains, status events; set-based, a dozen
statements per slice) still costs CPU, so `ur-central serve` runs it here, beside
the ingest worker, instead of in the worker's loop: ingest and acks keep their
own core, and each routing transaction is short (one slice) so it
never holds the claimed rows for long. `serve` starts one only on PostgreSQL
(rows claimed with FOR UPDATE SKIP LOCKED, any number of routers); on SQLite,
with its single writer, a second process would only fight the worker for the
lock, so the worker routes between its batches.

A router started by a worker reads "busy" notes from it on stdin: while uplink
floods in, routing takes one slice per `BUSY_EVERY_S` instead of running flat
out, so ingest, acks and the database server keep the CPU (on two cores the
router's flat-out pass took about 40% of one and halved ingest). It never
starves: a slice still runs every `BUSY_EVERY_S`, and the backlog is done as
soon as the flood stops. End of file on stdin means the worker is gone, and the
router exits.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import IO, Any, BinaryIO

from central import applications, db

log = logging.getLogger("ur.central.router")
# Set-based start costs ~12 statements per slice whatever its size: 50 keeps a
# slice's transaction in the tens of milliseconds while the fixed cost stays small.
SLICE = 50
# While the worker reports uplink: one slice per this interval.
BUSY_EVERY_S = 0.25
# A busy note counts for this long (the worker sends one at most every QUIET_S / 2).
BUSY_HOLD_S = 0.2


class WorkerNotes:
    """The worker's side of the pipe: a byte per busy note, never blocking."""

    def __init__(self, pipe: IO[bytes], every_s: float) -> None:
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.every_s = every_s
        self.next_at = 0.0
        self.pipe: IO[bytes] | None = pipe

    def busy(self, now: float) -> None:
        if self.pipe is None or now < self.next_at:
            return
        self.next_at = now + self.every_s
        try:
            os.write(self.fd, b"b")
        except BlockingIOError:
            pass  # the router is behind on reading: it already knows we are busy
        except OSError as e:  # the router is gone; serve's supervisor reports it
            log.warning("router pipe closed: %s", e)
            self.pipe = None


def _read_notes(fd: int) -> bool | None:
    """True if the worker sent a busy note since the last read, False if not,
    None at end of file (the worker is gone)."""
    got = False
    while True:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return got
        if not data:
            return None
        got = True


def run(db_url: str | None, notes: BinaryIO | None = None, idle_sleep: float = 0.2) -> None:
    """Route until stopped; between passes that found less than a slice, sleep
    `idle_sleep` (fewer, fuller slices: less CPU taken from ingest)."""
    engine = db.make_engine(db_url)
    db.load_models()
    sessions = db.sessions(engine)
    stopping = False
    fd = None
    if notes is not None:
        fd = notes.fileno()
        os.set_blocking(fd, False)
    busy_until = 0.0

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        if fd is not None:
            note = _read_notes(fd)
            if note is None:
                log.info("worker is gone; router exits")
                break
            if note:
                busy_until = time.monotonic() + BUSY_HOLD_S
        try:
            with sessions.begin() as s:
                n = applications.route_pending(s, SLICE)
        except Exception as e:  # noqa: BLE001 - a failed slice is retried
            log.warning("routing failed: %s", e)
            n = 0
        if time.monotonic() < busy_until:
            time.sleep(BUSY_EVERY_S)
        elif n < SLICE:
            time.sleep(idle_sleep)
    engine.dispose()
