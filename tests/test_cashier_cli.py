"""The cashier station headless, as real `ur-kiosk` processes against the ZVT emulator on a
pty: PINs from the environment (never argv), shift, collect, void with a supervisor,
close-day with its Z-report, lockout, audit chain."""

from __future__ import annotations

import json
from pathlib import Path

from tests.payment_fixtures import enrolled_store, terminal
from tests.support import run_cli


def test_cashier_day_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "c"
    store, _ident = enrolled_store(data, kiosk_id="cashier-1")
    store.close()
    base = ["ur-kiosk", "--data", str(data), "--json", "cashier"]

    def cli(*args: str, pin: str = "1234", sup: str = "9999", new: str = "") -> tuple[int, dict, str]:
        env = {"UR_CASHIER_PIN": pin, "UR_SUPERVISOR_PIN": sup, "UR_NEW_PIN": new}
        p = run_cli([*base, *args], env=env)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else {}
        except ValueError:
            out = {}
        return p.returncode, out, p.stderr

    assert cli("user-add", "--user", "x", "--new-user", "sup", "--role", "supervisor", new="9999")[0] == 0
    rc, _o, err = cli("user-add", "--user", "x", "--new-user", "ali", "--supervisor", "sup", sup="0000", new="1234")
    assert rc == 2 and "wrong user or PIN" in err
    assert cli("user-add", "--user", "x", "--new-user", "ali", "--supervisor", "sup", new="1234")[0] == 0
    with terminal() as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        rc, _o, err = cli("collect", "--user", "ali", "fine:F-0001", *term)
        assert rc == 2 and "no open shift" in err
        assert cli("shift-open", "--user", "ali")[0] == 0
        rc, paid, err = cli("collect", "--user", "ali", "fine:F-0001", *term)
        assert rc == 0 and paid["state"] == "PAID", err
        rc, _o, _e = cli("collect", "--user", "ali", "item:international-driving-licence", *term)
        assert rc == 2  # this station has no catalogue: named error, no charge
        assert cli("collect", "--user", "ali", "fine:F-0002", *term)[1]["state"] == "PAID"
        rc, v, err = cli("void", "--user", "ali", "--supervisor", "sup", "--reason", "typo", paid["payment_id"], *term)
        assert rc == 0 and v["state"] == "REVERSED", err
        rc, z, err = cli("close-day", "--user", "ali", *term)
        assert rc == 0 and z["status"] == "MATCHED", err
        assert z["terminal"] == z["journal"] == {"count": 1, "amount": 27000}
        assert sum(1 for e in h.journal if e.kind == "payment" and e.receipt_no and not e.reversed) == 1
    for _ in range(5):
        assert cli("login", "--user", "ali", pin="0000")[0] == 2
    rc, _o, err = cli("login", "--user", "ali")
    assert rc == 2 and "locked" in err
    rc, audit, _e = cli("audit")
    assert rc == 0 and audit["chain"] == "ok" and audit["entries"] > 10
