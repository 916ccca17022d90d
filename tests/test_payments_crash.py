"""Kiosk SIGKILL at every payment-journal step, then restart and recovery: the real
`ur-kiosk pay` process dies (SIGKILL, like a power cut) right after a step is committed;
`ur-kiosk payments recover` finishes it by asking the terminal. Afterwards the fee is
charged exactly once on the terminal and the outbox holds exactly one collection record."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from kiosk.payments.service import PaymentRow
from kiosk.store import KioskStore
from kiosk.sync.outbox import OutboxRow
from tests.payment_fixtures import enrolled_store, terminal
from tests.support import run_cli

# step -> state right after recovery
STEPS = {"created": "FAILED", "pending": "FAILED", "answered": "PAID", "approved": "PAID", "paid": "PAID"}


@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_at_every_step_then_recover(tmp_path: Path, step: str) -> None:
    data = tmp_path / "k"
    store, _ident = enrolled_store(data)
    store.close()
    with terminal() as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        p = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0001", *term],
                    faults=["--crash-at", step])
        assert p.returncode == -signal.SIGKILL, p.stderr
        p = run_cli(["ur-kiosk", "--data", str(data), "--json", "payments", "recover", *term])
        assert p.returncode == 0, p.stdout + p.stderr
        store = KioskStore(data)
        with store.session() as s:
            rows = list(s.scalars(select(PaymentRow)))
        assert [r.state for r in rows] == [STEPS[step]]
        # A citizen who tries again: blocked if paid, a fresh single charge if not.
        p = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0001", *term])
        if STEPS[step] == "PAID":
            assert p.returncode == 2 and "already has payment" in p.stderr
        else:
            assert p.returncode == 0, p.stdout + p.stderr
        charged = [e for e in h.journal if e.kind == "payment" and e.receipt_no is not None and not e.reversed]
        assert len(charged) == 1
    with store.session() as s:
        assert [r.stream for r in s.scalars(select(OutboxRow))] == ["payments"]
        paid = list(s.scalars(select(PaymentRow).where(PaymentRow.state == "PAID")))
    assert len(paid) == 1 and paid[0].delivered and paid[0].receipt_code is not None
    store.close()


@pytest.mark.parametrize("step", ["reversal_due", "reversal_answered"])
def test_sigkill_during_a_reversal_then_recover(tmp_path: Path, step: str) -> None:
    """The terminal echoes another amount (must reverse); the kiosk dies before / after the
    reversal reached the terminal. Recovery reverses exactly once (B4 "already reversed"
    counts as done) and nothing is booked."""
    from kiosk.devices.zvt_emulator import Knobs

    data = tmp_path / "k"
    store, _ident = enrolled_store(data)
    store.close()
    with terminal(Knobs(card_delay_s=0, amount_mismatch=3)) as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        p = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0001", *term], faults=["--crash-at", step])
        assert p.returncode == -signal.SIGKILL, p.stderr
        p = run_cli(["ur-kiosk", "--data", str(data), "--json", "payments", "recover", *term])
        assert p.returncode == 0, p.stdout + p.stderr
        payments = [e for e in h.journal if e.kind == "payment" and e.receipt_no is not None]
        assert len(payments) == 1 and payments[0].reversed
        assert len([e for e in h.journal if e.kind == "reversal"]) == 1
    store = KioskStore(data)
    with store.session() as s:
        assert [r.state for r in s.scalars(select(PaymentRow))] == ["REVERSED"]
        assert len(list(s.scalars(select(OutboxRow)))) == 1  # central learns it was reversed
    store.close()


def test_cli_pay_prints_the_receipt_on_the_printer(tmp_path: Path) -> None:
    from tests import support

    data = tmp_path / "k"
    store, _ident = enrolled_store(data)
    store.close()
    with terminal() as (h, factory), support.printer_emulator(576) as (emu, p):
        r = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0004", "--terminal", factory.device,
                     "--baud", "115200", "--printer", p.device])
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Insert, tap or swipe your card" in r.stdout and "PAID" in r.stdout
        assert len(emu.receipt_texts) == 1 and "TOTAL 29,000 IQD" in "\n".join(emu.receipt_texts[0])


@pytest.mark.parametrize("step,refunds", [("refund_sent", 1), ("refund_answered", 1)])
def test_sigkill_around_a_supervisor_refund_then_recover(tmp_path: Path, step: str, refunds: int) -> None:
    """Killed after the refund was marked sent (before it reached the terminal) or after the
    terminal refunded (answer not booked): recovery settles it from the terminal's repeat
    receipt; in the end exactly one refund exists and the payment is REFUNDED."""
    from kiosk import identity
    from kiosk.payments.cashier import CashierStation

    data = tmp_path / "k"
    store, _ident = enrolled_store(data)
    st = CashierStation(store)
    st.add_user("sup", "S", "supervisor", "9999")
    st.add_user("ali", "A", "cashier", "1234", approved_by=("sup", "9999"))
    store.close()
    env = {"UR_CASHIER_PIN": "1234", "UR_SUPERVISOR_PIN": "9999"}
    with terminal() as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        base = ["ur-kiosk", "--data", str(data), "--json"]
        assert run_cli([*base, "cashier", "shift-open", "--user", "ali"], env=env).returncode == 0
        p = run_cli([*base, "cashier", "collect", "--user", "ali", "fine:F-0001", *term], env=env)
        assert p.returncode == 0, p.stderr
        pid = __import__("json").loads(p.stdout)["payment_id"]
        refund = [*base, "cashier", "refund", "--user", "ali", "--supervisor", "sup", "--reason", "r", pid, *term]
        p = run_cli(refund, env=env, faults=["--crash-at", step])
        assert p.returncode == -signal.SIGKILL, p.stderr
        p = run_cli(refund, env=env)  # a second refund is refused while the first is unsettled
        assert p.returncode == 2 and "outcome is unknown" in p.stderr
        p = run_cli([*base, "payments", "recover", *term])
        assert p.returncode == 0, p.stdout + p.stderr
        if step == "refund_sent":  # it never reached the terminal: now it may be sent
            assert run_cli(refund, env=env).returncode == 0
        assert len([e for e in h.journal if e.kind == "refund"]) == refunds
        assert run_cli(refund, env=env).returncode == 2  # never twice
    store = KioskStore(data)
    with store.session() as s:
        assert [r.state for r in s.scalars(select(PaymentRow))] == ["REFUNDED"]
    assert identity.load(store).kiosk_id
    store.close()


def test_ur_kiosk_run_settles_a_crashed_payment_before_its_sync_loop(tmp_path: Path) -> None:
    """`ur-kiosk run` (the kiosk's long-running process) settles what a killed `pay` left
    open from the terminal of DATA/devices.toml before it starts syncing."""
    from tests import support

    data = tmp_path / "k"
    store, _ident = enrolled_store(data)
    store.close()
    with terminal() as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        p = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0002", *term], faults=["--crash-at", "pending"])
        assert p.returncode == -signal.SIGKILL, p.stderr
        (data / "devices.toml").write_text(
            f'[devices.card_terminal]\nprofile = "zvt_terminal_generic"\nport = "{factory.device}"\n',  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
            encoding="utf-8")
        log = tmp_path / "run.log"
        proc = support.spawn_cli(["ur-kiosk", "--data", str(data), "run", "--broker", "mqtt://127.0.0.1:1"], log=log)
        try:
            support.wait_until(lambda: "payment settled at start-up" in log.read_text(errors="replace"),
                               timeout=60, what="the start-up settlement in ur-kiosk run's output")
        finally:
            support.kill_proc(proc)
        assert "FAILED - not charged" in log.read_text()
    store = KioskStore(data)
    with store.session() as s:
        assert [r.state for r in s.scalars(select(PaymentRow))] == ["FAILED"]
    store.close()
    assert h.journal == []
