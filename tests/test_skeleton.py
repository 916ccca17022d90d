"""Walking skeleton, end to end with real parts: kiosk offline, then delivered exactly once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kiosk import identity
from kiosk.applications import applications
from kiosk.store import KioskStore
from tests import support


def _submit_many(kiosk_dir: Path, n: int) -> list[str]:
    store = KioskStore(kiosk_dir)
    ident = identity.load(store)
    out = [
        applications.submit(store, ident, "non-conviction-certificate", {
            "full_name": f"مواطن رقم {i}", "national_id": f"{100000000000 + i}", "mobile": "07701234567",
        }).tracking
        for i in range(n)
    ]
    store.close()
    return out


def test_fifty_offline_then_exactly_once_even_after_full_resend(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    broker = support.Broker(tmp_path / "broker")  # not started: the network is "down"
    dep.init_central(processes=True)
    kdir = dep.enroll("K1", broker.url, processes=True)  # set-up as a technician runs it

    # One application through the real CLI, offline: the tracking number comes at once.
    r = dep.kiosk("K1", "apply", "--service", "non-conviction-certificate",
                  "--field", "full_name=زينب علي", "--field", "national_id=199001234567",
                  "--field", "mobile=07801234567")
    first = r.stdout.strip()
    numbers = [first, *_submit_many(kdir, 49)]
    assert len(set(numbers)) == 50
    q = json.loads(dep.kiosk("K1", "--json", "queue").stdout)
    assert q["pending"] == 50 and q["delivered"] == 0

    try:
        broker.start()
        dep.serve(broker.url)
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        assert dep.stats()["applications"] == 50
        q = json.loads(dep.kiosk("K1", "--json", "queue").stdout)
        assert q["pending"] == 0 and q["delivered"] == 50

        # The status central reported comes back to the kiosk.
        st = json.loads(dep.kiosk("K1", "--json", "status", first).stdout)
        assert st["status"] == "received"

        # Restart central and resend everything: still exactly 50.
        dep.stop_all()
        with sqlite3.connect(kdir / "kiosk.db") as c:
            c.execute("UPDATE outbox SET state='pending', next_attempt=0, last_sent=NULL")
        dep.serve(broker.url)
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        stats = dep.stats()
        assert stats["applications"] == 50
        assert stats["inbox"] == 50
        q = json.loads(dep.kiosk("K1", "--json", "queue").stdout)
        assert q["pending"] == 0
    finally:
        dep.stop_all()
        broker.stop()


def test_cli_rejects_bad_input_with_one_line(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", "mqtt://127.0.0.1:1")
    cases = [
        (["apply", "--service", "no-such-service"], "unknown service"),
        (["apply", "--service", "non-conviction-certificate", "--field", "oops"], "NAME=VALUE"),
        (["apply", "--service", "non-conviction-certificate", "--field", "national_id=12"], "12-digit"),
        (["apply", "--service", "vehicle-fines-info"], "informational"),
        (["status", "1234-000001-0"], "check digit"),
        (["sync", "--broker", "http://x"], "mqtt://"),
        (["sync", "--resend-cap", "-1"], "--resend-cap >= 0"),
        (["no-such-command"], "invalid choice"),
        # Names that read differently on another screen, and dates no one has (issue 13).
        (["apply", "--service", "non-conviction-certificate", "--field", "full_name=Ali\u202etxt.exe",
          "--field", "national_id=199012345678", "--field", "mobile=07701234567"], "text-direction"),
        (["apply", "--service", "non-conviction-certificate", "--field", "full_name=Ali\x9bHassan",
          "--field", "national_id=199012345678", "--field", "mobile=07701234567"], "control characters (U+009B)"),
        (["apply", "--service", "non-conviction-certificate", "--field", "full_name=Ali\u200bHassan",
          "--field", "national_id=199012345678", "--field", "mobile=07701234567"], "invisible"),
        (["apply", "--service", "ordinary-passport", "--field", "full_name=Ali Hassan", "--field",
          "national_id=199012345678", "--field", "mobile=07701234567", "--field", "passport_type=new",
          "--field", "birth_date=9999-12-31"], "birth_date' must not be in the future"),
        (["apply", "--service", "ordinary-passport", "--field", "full_name=Ali Hassan", "--field",
          "national_id=199012345678", "--field", "mobile=07701234567", "--field", "passport_type=new",
          "--field", "birth_date=0001-01-01"], "on or after 1900-01-01"),
    ]
    for args, needle in cases:
        r = dep.kiosk("K1", *args, check=False)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = dep.central("kiosks", "enroll", "K1", "--code-out", str(tmp_path / "code"), check=False)
    assert r.returncode == 2 and "already enrolled" in r.stderr
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "nowhere"), "apply", "--service", "x"])
    assert r.returncode == 2 and "not enrolled" in r.stderr
