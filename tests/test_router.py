"""The router process beside a worker: it routes everything, slows to a slice
per BUSY_EVERY_S while the worker reports uplink (never stopping), and exits when
the worker's end of the pipe closes. Real process, real database file."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from central import applications, db, router
from contract import tracking
from tests import support

N = 1000


def _routed(url: str) -> int:
    return support.sql_count(url, "SELECT count(*) FROM applications WHERE routed")


def test_router_yields_while_busy_catches_up_after_and_exits_with_its_worker(tmp_path: Path) -> None:
    url = support.sqlite_url(tmp_path / "central.db")
    assert support.run_cli(["ur-central", "--db", url, "init"]).returncode == 0
    engine = db.make_engine(url)
    token = applications.DEFER_ROUTING.set(True)
    try:
        with db.sessions(engine).begin() as s:
            applications.handle_many(s, "K1", [(f"m-{i}", {
                "tracking": tracking.make(7, i), "service_id": "non-conviction-certificate",
                "catalogue_version": 1, "fee_total": 10000, "fields": {"full_name": "x", "national_id": f"{i:012d}"},
                "submitted_at": datetime.now(UTC).isoformat()}) for i in range(1, N + 1)])
    finally:
        applications.DEFER_ROUTING.reset(token)
    engine.dispose()
    assert _routed(url) == 0
    p = subprocess.Popen([sys.executable, "-m", "central.cli", "--db", url, "route", "--from-worker"],
                         stdin=subprocess.PIPE, cwd=support.REPO)
    assert p.stdin is not None
    stdin = p.stdin
    quiet = threading.Event()

    def worker_notes() -> None:
        """The worker's busy notes, from their own thread: they go on while the test
        waits, as a real worker's do while it ingests."""
        while not quiet.is_set():
            stdin.write(b"b")
            stdin.flush()
            quiet.wait(0.02)

    notes = threading.Thread(target=worker_notes, daemon=True)
    try:
        # Busy: the worker's notes keep coming; the router must keep to about a slice
        # per BUSY_EVERY_S, but must not stop. Timed from its first slice: its start-up
        # (seconds on a loaded machine) is not time it could have routed in.
        notes.start()
        support.wait_until(lambda: _routed(url) > 0, timeout=60, what="a first slice while busy")
        start = time.monotonic()
        first = _routed(url)
        support.wait_until(lambda: _routed(url) > first, timeout=60, what="another slice while busy")
        quiet.wait(max(0.0, 1.5 - (time.monotonic() - start)))
        during = _routed(url) - first
        busy_for = time.monotonic() - start
        slices_allowed = busy_for / router.BUSY_EVERY_S + 2
        assert 0 < during <= router.SLICE * slices_allowed, (during, busy_for)
        assert first + during < N, "the router routed the whole backlog while the worker was busy"
        # Quiet: the backlog is done.
        quiet.set()
        notes.join(30)
        support.wait_until(lambda: _routed(url) == N, timeout=60, what="every application routed")
        # The worker goes: end of file on the pipe, and the router exits by itself.
        stdin.close()
        assert p.wait(60) == 0
    finally:
        quiet.set()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert support.sql_count(url, "SELECT count(*) FROM cases") == N
