"""The router process beside a worker: it routes everything, slows to a slice
per BUSY_EVERY_S while the worker reports uplink (never stopping), and exits when
the worker's end of the pipe closes. Real process, real database file."""

from __future__ import annotations

import subprocess
import sys
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
    try:
        # Busy: the worker's notes keep coming; the router must keep to about a slice
        # per BUSY_EVERY_S, but must not stop.
        start = time.monotonic()
        p.stdin.write(b"b")
        p.stdin.flush()
        support.wait_until(lambda: _routed(url) > 0, timeout=30, what="a first slice while busy")
        while time.monotonic() - start < 1.5:
            p.stdin.write(b"b")
            p.stdin.flush()
            time.sleep(0.02)
        busy_for = time.monotonic() - start
        during = _routed(url)
        slices_allowed = busy_for / router.BUSY_EVERY_S + 2
        assert 0 < during <= router.SLICE * slices_allowed < N, (during, busy_for)
        # Quiet: the backlog is done.
        support.wait_until(lambda: _routed(url) == N, timeout=60, what="every application routed")
        # The worker goes: end of file on the pipe, and the router exits by itself.
        p.stdin.close()
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert support.sql_count(url, "SELECT count(*) FROM cases") == N
