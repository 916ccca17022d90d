"""Issue 19 on the real screens and the real kiosk services, with the ZVT emulator on a
real pty: the card wait counts down and Cancel aborts at the terminal; a payment the
kiosk cannot confirm tells the citizen not to pay again, with the tracking number; the
screens' start-up settles what a crash left open (a swapped terminal: flagged), the
cashier sees a red banner while anything is unsettled, and no new charge starts."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

from kiosk import i18n
from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments.cashier import CashierStation
from kiosk.payments.service import PaymentRow, entry_of
from tests import support
from tests.payment_fixtures import enrolled_store, terminal
from tests.ui_harness import Harness

FINES = [{"id": "F-1", "plate": "12B0001", "amount": 30000, "offence": "speeding", "issued": "2026-11-01"},
         {"id": "F-2", "plate": "12B0001", "amount": 15000, "offence": "parking", "issued": "2026-11-02"}]


def device_map(store_dir: Path, port: str, timeout_s: float = 20, card_wait_s: float = 60) -> None:
    """A terminal profile of our own (short waits) and the device map naming it."""
    prof = store_dir / "terminal_profile.toml"
    prof.write_text(f'model = "test terminal"\nkind = "terminal"\n[terminal]\nport = "{port}"\n'
                    f"timeout_s = {timeout_s}\ncard_wait_s = {card_wait_s}\n", encoding="utf-8")
    (store_dir / "devices.toml").write_text(
        f'[devices.card_terminal]\nprofile = "{prof}"\nport = "{port}"\n', encoding="utf-8")


def pay_fine(h, fine: str) -> None:
    h.tap("home.fines")
    h.type("12B0001")
    h.tap("fines.go")
    h.tap(f"fine.{fine}.pay")
    assert h.screen == "pay"


def rows(store) -> list[PaymentRow]:
    with store.session() as s:
        return list(s.query(PaymentRow).order_by(PaymentRow.payment_id))


def test_card_wait_counts_down_and_cancel_aborts_at_the_terminal(tmp_path: Path) -> None:
    from kiosk.services.kiosk_services import KioskServices

    store, _ident = enrolled_store(tmp_path / "kiosk", fine_list=FINES)
    with terminal(Knobs(card_delay_s=30)) as (h_term, factory):
        device_map(store.dir, factory.device, card_wait_s=45)  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        h = Harness(KioskServices(store), lang="en")
        try:
            pay_fine(h, "F-1")
            h.wait(lambda: "pay.countdown" in h.ids(), timeout=30, what="the card-wait countdown")
            left = int(h.text("pay.countdown").split()[0])
            assert 0 < left <= 45
            h.tap("pay.cancel")
            h.wait(lambda: h.app.current_screen().stage in ("approved", "declined", "unknown", "error"),
                   timeout=30, what="the terminal's answer to the abort")
            assert h.app.current_screen().stage == "declined"
            assert "abort" in h_term.emulator.received
        finally:
            h.close()
    assert [r.state for r in rows(store)] == ["FAILED"] and h_term.journal == []  # nothing charged


def test_unconfirmed_payment_tells_the_citizen_not_to_pay_again_with_the_tracking_number(tmp_path: Path) -> None:
    from kiosk.services.kiosk_services import KioskServices

    store, _ident = enrolled_store(tmp_path / "kiosk", fine_list=FINES)
    with terminal(Knobs(card_delay_s=0, approve_then_silence=1)) as (h_term, factory):
        device_map(store.dir, factory.device, timeout_s=2)  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        h = Harness(KioskServices(store), lang="en")
        try:
            pay_fine(h, "F-1")
            # The terminal charged, then the line went dead: no answer, no enquiry possible.
            support.wait_until(lambda: h_term.journal, timeout=30, what="the charge at the terminal")
            h_term.emulator.knobs.drop_ack = True
            h.wait(lambda: h.app.current_screen().stage in ("approved", "declined", "unknown", "error"),
                   timeout=30, what="the payment's outcome")
            assert h.app.current_screen().stage == "unknown"
            assert h.text("pay.stage") == i18n.tr("pay.stage.unknown", "en")
            assert "do not pay again" in h.text("pay.stage")
            (row,) = rows(store)
            assert row.payment_id in h.text("pay.tracking") and row.state == "UNKNOWN"
            assert "pay.retry" not in h.ids()  # never invited to pay again
            # The line is back: the next start-up settles it from the terminal (paid, once).
            h_term.emulator.knobs.drop_ack = False
            h.app.settle_payments()
            support.wait_until(lambda: rows(store)[0].state == "PAID", timeout=30, what="settled at start-up")
        finally:
            h.close()
    assert len([e for e in h_term.journal if e.kind == "payment"]) == 1


def test_start_up_flags_a_crash_on_a_swapped_terminal_and_the_cashier_sees_a_red_banner(tmp_path: Path) -> None:
    from kiosk.services.kiosk_services import KioskServices

    store, _ident = enrolled_store(tmp_path / "kiosk", fine_list=FINES)
    st = CashierStation(store)
    st.add_user("sup", "Supervisor", "supervisor", "9999")
    st.add_user("ali", "Ali", "cashier", "1234", approved_by=("sup", "9999"))
    with terminal(Knobs(card_delay_s=600)) as (t1, f1):
        # `ur-kiosk pay` dies (SIGKILL) while the citizen's card is being read.
        env = dict(os.environ, PYTHONPATH=str(support.REPO))
        p = subprocess.Popen(support.launch("kiosk.cli", ["--data", str(store.dir), "pay", "fine:F-1",
                             "--terminal", f1.device]), env=env, stdout=subprocess.PIPE)  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        out, deadline = b"", time.monotonic() + 60
        # Killed only once the kiosk has acknowledged "insert card": killed earlier, the
        # terminal's "insert card" goes unanswered and it drops the transaction (nothing
        # charged), which is a different case (the crash matrix covers it).
        while not t1.emulator.in_card_wait and p.poll() is None and time.monotonic() < deadline:
            if select.select([p.stdout], [], [], 0.05)[0]:
                out += os.read(p.stdout.fileno(), 4096)  # type: ignore[union-attr]  # Popen with stdout=PIPE has a stdout
        assert t1.emulator.in_card_wait, f"the terminal never waited for the card: {out!r}"
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        p.stdout.close()  # type: ignore[union-attr]  # Popen with stdout=PIPE has a stdout
        t1.emulator.present_card()  # the citizen's card goes in after the kiosk died
        support.wait_until(lambda: t1.journal, timeout=30, what="the charge on the first terminal")
    assert [r.state for r in rows(store)] == ["PENDING"]
    # A technician swaps in another terminal with the same terminal id (fresh counters).
    with terminal(Knobs(card_delay_s=0)) as (t2, f2):
        device_map(store.dir, f2.device)  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        h = Harness(KioskServices(store), lang="en")
        try:
            h.app.settle_payments()  # what the app's on_start does
            support.wait_until(lambda: rows(store)[0].state == "UNKNOWN" and entry_of(rows(store)[0]).flagged,
                               timeout=60, what="the crashed payment flagged at start-up")
            (row,) = rows(store)
            assert "terminal swapped" in (entry_of(row).flagged or "")  # never "nothing was charged"
            h.staff_entrance("cashier")
            h.type("1234")
            h.tap("pin.ok", to="cashier")
            banner = h.find("cashier.unsettled")
            assert row.payment_id in banner.text and i18n.money(30000, "en") in banner.text
            assert tuple(banner.color) == tuple(h.app.palette.danger)
            h.tap("staff.logout")
            pay_fine(h, "F-2")  # no new charge while the first one is unsettled
            h.wait(lambda: h.app.current_screen().stage in ("approved", "declined", "unknown", "error"),
                   timeout=30, what="the refusal")
            assert h.app.current_screen().stage == "error"
        finally:
            h.close()
    assert t2.journal == [] and "authorization" not in t2.emulator.received
    assert [r.fee_ref for r in rows(store)] == ["fine:F-1"]
