"""KioskServices (what the screens call) over a real enrolled kiosk: card payments through
the payment journal with the ZVT terminal emulator and the ESC/POS printer emulator on
real pseudo-terminals, found through the kiosk's device map (DATA/devices.toml); fines
from central's published fines list; cashier PIN, shift and a supervisor-approved void.
No Kivy: this is the layer under the screens."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from central import db, fines
from contract import receipt_claims, ur1
from contract.errors import UrError
from kiosk.devices.zvt_emulator import EmulatorHandle, Knobs, run_in_thread
from kiosk.payments.cashier import AuditEntry, AuthError, CashierStation, verify_audit
from kiosk.payments.service import PaymentBlocked, PaymentRow
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore
from kiosk.ui_services import FINAL_STAGES, AlreadyPaid, NotAvailable, PayEvent
from tests import support

PLATE = "12B34567"
SUP_PIN, CASH_PIN = "4321", "1357"


@pytest.fixture(scope="module")
def synced_kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One enrolled kiosk that synced central's fines list (six fines on one plate)."""
    root = tmp_path_factory.mktemp("uiwire")
    with support.broker(root / "broker") as b:
        dep = support.Deployment(root)
        dep.init_central()
        engine = db.make_engine(dep.db_url)  # central's own fines module, in-process (fast)
        with db.sessions(engine).begin() as s:
            for i in range(1, 7):
                fines.add(s, PLATE, 20000 + i * 1000, "speeding", f"FN-{i}")
            fines.add(s, "99A11111", 5000, "", "FN-OTHER")
        with db.sessions(engine).begin() as s:
            fines.publish(s)
        engine.dispose()
        dep.enroll("K1", b.url)
        try:
            dep.serve(b.url)
            dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        finally:
            dep.stop_all()
        yield dep.kiosk_dir("K1")


@pytest.fixture
def kiosk_dir(synced_kiosk: Path, tmp_path: Path) -> Path:
    """A copy of the synced kiosk per test: each test's emulator is a new terminal whose
    trace numbers start again, which one station's journal must never see."""
    return Path(shutil.copytree(synced_kiosk, tmp_path / "kiosk"))


@contextmanager
def devices(data: Path, knobs: Knobs, printer: bool = True) -> Iterator[tuple[EmulatorHandle, object, Path]]:
    """Terminal and printer emulators on ptys, written into DATA/devices.toml. The
    terminal is reached through a link (`term`), so a test can unplug it."""
    term_pty = support.PtyPair()
    link = data / "term"
    if link.is_symlink():
        link.unlink()
    os.symlink(term_pty.device, link)
    # The shipped generic profile waits 180 s for a final answer; tests wait 3 s.
    (data / "terminal_test.toml").write_text(
        'model = "ZVT emulator"\nkind = "terminal"\n[terminal]\nport = "/dev/null"\n'
        'baudrate = 115200\ntimeout_s = 3\n', encoding="utf-8")
    try:
        with run_in_thread(term_pty.fd, knobs) as h, support.printer_emulator(576) as (emu, pp):
            dm = f'kiosk = "K1"\n[devices.card_terminal]\nprofile = "terminal_test.toml"\nport = "{link}"\n'
            if printer:
                dm += f'[devices.receipt_printer]\nprofile = "epson_tm_t20ii_80mm"\nport = "{pp.device}"\n'
            (data / "devices.toml").write_text(dm, encoding="utf-8")
            yield h, emu, link
    finally:
        (data / "devices.toml").unlink(missing_ok=True)
        term_pty.close()


def run(events: Iterator[PayEvent], on: dict | None = None) -> list[PayEvent]:
    out = []
    for ev in events:
        out.append(ev)
        if on and ev.stage in on:
            on[ev.stage]()
        if ev.stage in FINAL_STAGES:
            break
    return out


def charged(h: EmulatorHandle) -> list[int]:
    return [e.amount for e in h.journal if e.kind == "payment" and e.receipt_no is not None and not e.reversed]


def test_fines_by_plate_from_the_synced_list(kiosk_dir: Path) -> None:
    svc = KioskServices(KioskStore(kiosk_dir))
    found = svc.fines_by_plate("12b 34567")
    assert sorted(f.id for f in found) == [f"FN-{i}" for i in range(1, 7)]
    assert {f.id: f.amount for f in found}["FN-3"] == 23000 and found[0].plate == PLATE
    assert svc.fines_by_plate("77C00000") == []


def test_without_a_device_map_devices_and_payments_are_not_available(kiosk_dir: Path) -> None:
    svc = KioskServices(KioskStore(kiosk_dir))
    assert {d.state for d in svc.device_states()} == {"absent"}
    with pytest.raises(NotAvailable, match="no device map"):
        run(svc.pay("FN-1", 21000))
    with pytest.raises(NotAvailable, match="no device map"):
        svc.test_print()
    assert svc.poll_scan() is None and svc.device_profiles() == []


def test_pay_approved_prints_a_receipt_with_a_ur1_code(kiosk_dir: Path) -> None:
    with devices(kiosk_dir, Knobs(card_delay_s=0)) as (h, emu, _link):
        svc = KioskServices(KioskStore(kiosk_dir))  # finds DATA/devices.toml itself
        with pytest.raises(UrError, match="costs 21000 IQD, not 100"):
            run(svc.pay("FN-1", 100))  # the amount is the data's, never the screen's
        evs = run(svc.pay("FN-1", 21000))
        assert [e.stage for e in evs] == ["insert_card", "processing", "approved"]
        r = evs[-1].receipt
        assert r is not None and r.amount == 21000 and r.reference == "fine:FN-1" and r.printed
        claims = ur1.decode(r.qr_text).claims
        assert claims.doc_type == "receipt" and dict(claims.fields) == {"a": "21000"}  # compact code
        with svc.payments.store.session() as s:
            pid = s.scalars(select(PaymentRow.payment_id)).one()
        assert receipt_claims.matches(claims.doc_id, claims.fields, claims.body_sha256, pid, 21000, "fine:FN-1")
        assert r.shown_number == claims.doc_id == receipt_claims.short_id(pid)
        assert len(emu.receipt_texts) == 1 and "TOTAL 21,000 IQD" in "\n".join(emu.receipt_texts[0])
        assert charged(h) == [21000]
        # Paid here: shown as paid (not offered again), and paying again says it is paid.
        assert {f.id: f.paid for f in svc.fines_by_plate(PLATE)} == {f"FN-{i}": i == 1 for i in range(1, 7)}
        with pytest.raises(AlreadyPaid, match="already paid"):
            run(svc.pay("fine:FN-1", 21000))
        assert charged(h) == [21000]
        again = svc.reprint_receipt(r.number.replace("-", ""))
        assert again.qr_text == r.qr_text
        assert len(emu.receipt_texts) == 2 and "REPRINT" in "\n".join(emu.receipt_texts[1])
        states = {d.device: d.state for d in svc.device_states()}
        assert states == {"printer": "ok", "terminal": "ok", "scanner": "absent", "card_reader": "absent"}
        assert "ready" in svc.terminal_registration_test()
        assert "printer" in svc.test_print() and len(emu.receipt_texts) == 3
        assert "epson_tm_t20ii_80mm" in svc.device_profiles()
        assert "initialise" in svc.apply_device_profile("epson_tm_t20ii_80mm")
        with pytest.raises(NotAvailable, match="no scanner"):
            svc.apply_device_profile("honeywell_1400g_serial")
        # An application submitted on the screen is paid by its tracking number (app:<tracking>)
        # for the fee locked at submission.
        done = svc.submit_application("non-conviction-certificate", {
            "full_name": "Ali Hassan", "national_id": "199001234567", "mobile": "07701234567"})
        assert done.fee_total > 0
        evs = run(svc.pay(done.tracking, done.fee_total))
        assert evs[-1].stage == "approved" and evs[-1].receipt.reference == f"app:{done.tracking}"  # type: ignore[union-attr]  # an approved PayEvent carries its receipt
        assert charged(h) == [21000, done.fee_total]
        with pytest.raises(UrError, match="neither an application"):
            run(svc.pay("NO-SUCH-THING", 1))
        svc.devices.close()
    # The terminal gone (no device map): a paid fine still says "already paid", an unpaid
    # one that the device is not available.
    later = KioskServices(KioskStore(kiosk_dir))
    with pytest.raises(AlreadyPaid):
        run(later.pay("FN-1", 21000))
    with pytest.raises(NotAvailable):
        run(later.pay("FN-2", {f.id: f.amount for f in later.fines_by_plate(PLATE)}["FN-2"]))


def test_declined_then_paper_out_reverses(kiosk_dir: Path) -> None:
    with devices(kiosk_dir, Knobs(card_delay_s=0, decline=0x05)) as (h, emu, _link):
        svc = KioskServices(KioskStore(kiosk_dir))
        evs = run(svc.pay("FN-2", 22000))
        assert evs[-1].stage == "declined" and evs[-1].receipt is None and charged(h) == []
        # Not charged: the citizen may try again (now approved, but the printer is out of paper).
        h.emulator.knobs.decline = None
        emu.set_fault("paper_end")
        evs = run(svc.pay("FN-2", 22000))
        assert evs[-1].stage == "error" and "receipt not printed" in evs[-1].detail
        assert charged(h) == []  # the approved charge was reversed at the terminal
        assert svc.status_strip().paper == "out"
        assert {d.device: d.state for d in svc.device_states()}["printer"] == "error"
        assert any("REVERSED" in e for e in svc.recent_errors())


def test_unknown_outcome_says_do_not_pay_again_and_blocks_the_fee(kiosk_dir: Path) -> None:
    with devices(kiosk_dir, Knobs(card_delay_s=0, approve_then_silence=1), printer=False) as (h, _emu, link):
        svc = KioskServices(KioskStore(kiosk_dir))
        target = os.readlink(link)
        # The terminal approves, then goes silent; it is unplugged while the card is in,
        # so the enquiry that would settle it cannot reach it either.
        # (insert_card comes again with each second of the card-wait countdown)
        evs = run(svc.pay("FN-3", 23000), on={"insert_card": lambda: link.is_symlink() and link.unlink()})
        assert evs[-1].stage == "unknown" and "do NOT pay again" in evs[-1].detail
        assert "tracking:" in evs[-1].detail  # the collection id the citizen keeps
        assert charged(h) == [23000]
        with pytest.raises(PaymentBlocked, match="not settled"):
            run(svc.pay("FN-3", 23000))
        # Plugged back: the next attempt first settles the unknown one from the terminal
        # (it was paid), and the fee stays refused - one charge, never two.
        os.symlink(target, link)
        with pytest.raises(PaymentBlocked):
            run(svc.pay("FN-3", 23000))
        with svc.store.session() as s:
            rows = list(s.scalars(select(PaymentRow).where(PaymentRow.fee_ref == "fine:FN-3")))
        assert [r.state for r in rows] == ["PAID"] and rows[0].receipt_code.startswith(ur1.PREFIX)
        assert charged(h) == [23000]


def test_cashier_pin_shift_collect_and_void_with_supervisor(kiosk_dir: Path) -> None:
    store = KioskStore(kiosk_dir)
    st = CashierStation(store)
    st.add_user("sup1", "Supervisor", "supervisor", SUP_PIN)
    st.add_user("cash1", "Cashier", "cashier", CASH_PIN, approved_by=("sup1", SUP_PIN))
    with devices(kiosk_dir, Knobs(card_delay_s=0)) as (h, _emu, _link):
        svc = KioskServices(store)
        assert svc.check_pin("cashier", "0000") is False
        with pytest.raises(UrError, match="sign in"):
            svc.shift()
        assert svc.check_pin("cashier", CASH_PIN) is True
        assert svc.shift().open is False
        opened = svc.open_shift("cashier")
        assert opened.open and opened.cashier == "cash1" and opened.count == 0
        found = svc.find_collectable("FN-4")
        assert (found.reference, found.amount) == ("fine:FN-4", 24000)
        evs = run(svc.pay(found.reference, found.amount))
        assert evs[-1].stage == "approved"
        number = evs[-1].receipt.number  # type: ignore[union-attr]  # an approved PayEvent carries its receipt
        assert (svc.shift().count, svc.shift().collected) == (1, 24000)
        with store.session() as s:
            assert s.get(PaymentRow, number).operator == "cash1"
        with pytest.raises(UrError, match="wrong supervisor PIN"):
            svc.void_payment(number, CASH_PIN)  # a cashier's PIN does not approve a void
        assert svc.void_payment(number, SUP_PIN) == number
        assert charged(h) == []
        with store.session() as s:
            assert s.get(PaymentRow, number).state == "REVERSED"
            actions = [a.action for a in s.scalars(select(AuditEntry))]
            assert verify_audit(s) == len(actions)
        assert "void" in actions and "collect" in actions and actions.count("login_failed") == 2
        closed = svc.close_shift()
        assert closed.open is False and closed.count == 0  # the one collection was voided
        # A second collection stands; the day's terminal totals match the journal.
        assert svc.check_pin("cashier", CASH_PIN) and svc.open_shift("cash1").open
        evs = run(svc.pay("FN-5", 25000))
        assert evs[-1].stage == "approved" and charged(h) == [25000]
        day = svc.end_of_day()
        assert day.matched and (day.count, day.ledger_total, day.terminal_total) == (1, 25000, 25000)
        with pytest.raises(UrError, match="already closed"):
            svc.end_of_day()
        # The technician signs in with a supervisor's PIN; a cashier's PIN is not enough.
        assert svc.check_pin("technician", CASH_PIN) is False
        assert svc.check_pin("technician", SUP_PIN) is True
        with pytest.raises(UrError, match="sign in"):
            svc.shift()  # the cashier is no longer the operator
        # A refund of the standing collection, approved by the supervisor's PIN.
        paid = evs[-1].receipt.number  # type: ignore[union-attr]  # an approved PayEvent carries its receipt
        assert svc.check_pin("cashier", CASH_PIN)
        assert svc.refund_payment(paid, SUP_PIN) == paid
        with store.session() as s:
            assert s.get(PaymentRow, paid).state == "REFUNDED"
        assert [e.kind for e in h.journal if e.kind == "refund"] == ["refund"]


def test_scanner_from_the_device_map_feeds_poll_scan(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "kiosk")
    with support.scanner_emulator(tmp_path) as emu:
        (store.dir / "devices.toml").write_text(
            f'[devices.qr_scanner]\nprofile = "honeywell_1400g_serial"\nport = "{emu.link}"\n', encoding="utf-8")
        svc = KioskServices(store)
        try:
            assert {d.device: d.state for d in svc.device_states()} == {
                "printer": "absent", "terminal": "absent", "scanner": "ok", "card_reader": "absent"}
            with pytest.raises(NotAvailable, match="no terminal"):
                svc.terminal_registration_test()
            assert svc.poll_scan() is None  # starts the reader; nothing scanned yet

            def scanned() -> str | None:
                emu.scan("UR1:HELLO")  # until the reader has opened the port (opening flushes)
                return svc.poll_scan()
            assert support.wait_until(scanned, timeout=30, what="a code through poll_scan") == "UR1:HELLO"
        finally:
            svc.devices.close()


def test_five_wrong_pins_lock_the_pin_screen(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "kiosk")
    svc = KioskServices(store)
    with pytest.raises(NotAvailable, match="no staff users"):
        svc.check_pin("cashier", CASH_PIN)
    CashierStation(store).add_user("sup1", "Supervisor", "supervisor", SUP_PIN)
    assert svc.check_pin("cashier", "1111") is False
    assert svc.check_pin("technician", SUP_PIN) is True  # a good login restarts the count
    for _ in range(5):
        assert svc.check_pin("cashier", "1111") is False
    with pytest.raises(AuthError, match="locked until"):
        svc.check_pin("technician", SUP_PIN)  # even the right PIN, until the lockout ends
    with store.session() as s:
        assert verify_audit(s) == len(list(s.scalars(select(AuditEntry))))
