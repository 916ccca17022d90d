"""The ZVT driver against the terminal emulator over a real pseudo-terminal.

Every fault knob of the emulator is exercised here through the driver, with the
emulator's own journal as the truth about what the terminal did.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import UrError
from kiosk.devices.zvt_driver import (
    OutcomeUnknown,
    TerminalBusy,
    TerminalError,
    TerminalUnavailable,
    ZvtDriver,
    mask_pan,
)
from kiosk.devices.zvt_emulator import EmulatorHandle, Knobs, run_in_thread
from tests.support import PtyPair

FULL_PAN = re.compile(r"\d{13,19}")


@contextmanager
def terminal(pty: PtyPair, timeout: float = 3.0, ack_timeout: float = 0.3, **knobs: object) -> Iterator[tuple[ZvtDriver, EmulatorHandle]]:
    k = Knobs(**knobs)  # type: ignore[arg-type]  # knobs are passed through untyped from each test
    with run_in_thread(pty.fd, k) as emu, ZvtDriver(pty.device, timeout=timeout, ack_timeout=ack_timeout) as drv:
        yield drv, emu


def no_full_pan(*texts: object) -> None:
    for t in texts:
        digits = re.sub(r"[ \-]", "", str(t))
        assert not FULL_PAN.search(digits), f"full card number leaked: {t!r}"


def test_register_then_approved_payment_with_both_receipt_copies(pty: PtyPair) -> None:
    with terminal(pty) as (drv, emu):
        reg = drv.register()
        assert reg.approved and reg.terminal_id == "52500123" and reg.currency == 368
        r = drv.authorize(25000)
    assert r.approved and r.result_code == 0
    e = emu.journal[-1]
    assert (r.receipt_no, r.trace, r.amount, r.currency) == (e.receipt_no, e.trace, 25000, 368)
    assert r.masked_pan == "411111******1111"
    assert r.terminal_id == "52500123" and r.time == e.time.strftime("%H%M%S")
    assert "MERCHANT COPY" in r.receipt_lines_merchant
    assert "CARDHOLDER COPY" in r.receipt_lines_customer
    assert not r.amount_mismatch
    no_full_pan(r.as_dict())


def test_text_block_receipts_are_sorted_by_copy(pty: PtyPair) -> None:
    with terminal(pty, receipts="blocks") as (drv, _):
        r = drv.authorize(1000)
    assert "MERCHANT COPY" in r.receipt_lines_merchant
    assert "CARDHOLDER COPY" in r.receipt_lines_customer


def test_drop_ack_gives_terminal_unavailable_after_three_tries(pty: PtyPair) -> None:
    with terminal(pty, drop_ack=True, ack_timeout=0.2) as (drv, emu):
        # Three ACK timeouts, not the 3 s command timeout: the message says so.
        with pytest.raises(TerminalUnavailable, match="after 3 transmissions"):
            drv.authorize(25000)
    assert emu.journal == []


def test_corrupt_crc_is_naked_and_repeated_then_succeeds(pty: PtyPair) -> None:
    with terminal(pty, corrupt_crc=True) as (drv, emu):
        r = drv.authorize(7000)
    assert r.approved and r.receipt_no == emu.journal[-1].receipt_no
    assert emu.emulator.link.transmissions > 2 * 10  # every frame went twice


def test_crc_always_bad_after_delivery_is_an_unknown_outcome(pty: PtyPair) -> None:
    with terminal(pty, corrupt_crc_always=True, timeout=1.5) as (drv, _):
        with pytest.raises(OutcomeUnknown):
            drv.authorize(7000)


def test_busy_terminal_gets_no_second_06_01_until_status_says_ready(pty: PtyPair) -> None:
    with terminal(pty, busy=2) as (drv, emu):
        with pytest.raises(TerminalBusy) as ei:
            drv.authorize(5000)
        assert ei.value.code == 0xA0
        # Asking again without waiting sends nothing to the terminal.
        with pytest.raises(TerminalBusy, match="not sent"):
            drv.authorize(5000)
        assert emu.emulator.received == ["authorization"]
        r = drv.authorize(5000, wait_if_busy=3.0)
    assert r.approved
    # busy, busy, ready - and only then the one retry
    assert emu.emulator.received == [
        "authorization", "status enquiry", "status enquiry", "status enquiry", "authorization",
    ]
    assert len([e for e in emu.journal if e.kind == "payment"]) == 1


def test_busy_terminal_reported_by_status(pty: PtyPair) -> None:
    with terminal(pty, busy=1) as (drv, _):
        st = drv.status()
        assert not st.ready and st.status_code == 0x9C
        assert drv.status().ready


def test_approve_then_silence_is_unknown_and_resolved_by_asking_the_terminal(pty: PtyPair) -> None:
    with terminal(pty, approve_then_silence=1, timeout=1.0) as (drv, emu):
        with pytest.raises(OutcomeUnknown) as ei:
            drv.authorize(12000)
        assert ei.value.command == "authorization"
        charged = emu.journal[-1]
        assert charged.amount == 12000 and charged.result_code == 0  # the money moved
        assert drv.status().ready
        last = drv.repeat_receipt()
        tot = drv.totals()
    assert (last.amount, last.trace, last.receipt_no) == (12000, charged.trace, charged.receipt_no)
    assert last.time == charged.time.strftime("%H%M%S")
    assert tot.count == 1 and tot.amount == 12000
    assert [e.kind for e in emu.journal].count("payment") == 1  # nothing charged twice


@pytest.mark.parametrize("code", [0x05, 0x6C, 0xA3, 0x9B])
def test_decline_codes(pty: PtyPair, code: int) -> None:
    with terminal(pty, decline=code) as (drv, emu):
        r = drv.authorize(3000)
    assert not r.approved and r.result_code == code
    assert emu.journal[-1].result_code == code and emu.journal[-1].receipt_no is None
    no_full_pan(r.as_dict())


def _abort_at_card_wait(drv: ZvtDriver, emu: EmulatorHandle) -> threading.Thread:
    """Abort once the terminal shows "insert card" (an event, not a guessed delay: an
    abort landing after the charge would test nothing)."""
    def run() -> None:
        if emu.emulator.waiting_for_card.wait(60):
            drv.abort()
    t = threading.Thread(target=run)
    t.start()
    return t


def test_abort_accepted_cancels(pty: PtyPair) -> None:
    with terminal(pty, card_delay_s=60) as (drv, emu):
        t = _abort_at_card_wait(drv, emu)
        r = drv.authorize(3000)
        t.join()
    assert not r.approved and r.result_code == 0x6C
    assert emu.journal == []
    assert "abort" in emu.emulator.received


def test_refused_abort_is_not_a_cancellation(pty: PtyPair) -> None:
    with terminal(pty, card_delay_s=60, refuse_abort=True) as (drv, emu):
        t = _abort_at_card_wait(drv, emu)
        r = drv.authorize(3000)
        t.join()
    assert "abort" in emu.emulator.received
    assert r.abort_refused
    assert r.approved and r.receipt_no == emu.journal[-1].receipt_no  # the terminal charged


def test_reversal_and_double_reversal(pty: PtyPair) -> None:
    with terminal(pty) as (drv, emu):
        a = drv.authorize(1000)
        rv = drv.reverse(a.receipt_no)
        again = drv.reverse(a.receipt_no)
    assert rv.approved and emu.journal[0].reversed
    assert not again.approved and again.result_code == 0xB4


def test_reverse_last_only_refuses_older_payment(pty: PtyPair) -> None:
    with terminal(pty, reverse_last_only=True) as (drv, emu):
        first = drv.authorize(1000)
        drv.authorize(2000)
        r = drv.reverse(first.receipt_no)
    assert not r.approved and r.result_code == 0xB5
    assert not emu.journal[0].reversed


def test_refund(pty: PtyPair) -> None:
    with terminal(pty) as (drv, emu):
        r = drv.refund(500)
    assert r.approved and emu.journal[-1].kind == "refund" and r.amount == 500


def test_end_of_day_totals_match_journal_then_batch_closes(pty: PtyPair) -> None:
    with terminal(pty) as (drv, emu):
        drv.authorize(1000)
        b = drv.authorize(2000)
        drv.authorize(4000)
        drv.reverse(b.receipt_no)
        eod = drv.end_of_day()
        after = drv.totals()
    assert eod.ok and eod.count == 2 and eod.amount == 5000 and eod.groups["visa"].count == 2
    assert eod.receipt_lines and eod.receipt_lines[0] == "END OF DAY"
    assert after.count == 0 and emu.emulator.batch == 2


def test_end_of_day_mismatch_is_reported_not_hidden(pty: PtyPair) -> None:
    with terminal(pty, eod_mismatch=True) as (drv, emu):
        drv.authorize(1000)
        eod = drv.end_of_day()
    journal_total = sum(e.amount for e in emu.journal if e.kind == "payment" and not e.reversed)
    assert eod.amount != journal_total and eod.count == 2


def test_end_of_day_failure_code(pty: PtyPair) -> None:
    with terminal(pty, eod_fail=0x77) as (drv, _):
        eod = drv.end_of_day()
    assert not eod.ok and eod.result_code == 0x77


def test_auto_end_of_day_is_flagged(pty: PtyPair) -> None:
    with terminal(pty, auto_eod=True) as (drv, emu):
        drv.authorize(1000)
        r = drv.authorize(2000)
    assert not r.auto_end_of_day  # only the first one ran it
    assert emu.emulator.batch == 2


def test_auto_end_of_day_first_payment(pty: PtyPair) -> None:
    with terminal(pty, auto_eod=True) as (drv, _):
        r = drv.authorize(1000)
    assert r.approved and r.auto_end_of_day and 0x0F in r.intermediate


def test_full_pan_from_terminal_is_masked_by_the_driver(pty: PtyPair) -> None:
    with terminal(pty, full_pan=True) as (drv, _):
        r = drv.authorize(1000)
    assert r.masked_pan == "411111******1111"
    assert any("4111 11** **** 1111" in x for x in r.receipt_lines_customer)
    no_full_pan(r.as_dict())


def test_amount_mismatch_is_flagged(pty: PtyPair) -> None:
    with terminal(pty, amount_mismatch=1) as (drv, _):
        r = drv.authorize(1000)
    assert r.approved and r.amount == 1001 and r.amount_mismatch


def test_wrong_password_is_refused(pty: PtyPair) -> None:
    with terminal(pty, password="123456") as (drv, _):
        with pytest.raises(TerminalError, match="refused registration"):
            drv.register()


def test_one_request_at_a_time(pty: PtyPair) -> None:
    with terminal(pty, card_delay_s=60) as (drv, emu):
        results: list[object] = []
        t = threading.Thread(target=lambda: results.append(drv.authorize(1000)))
        t.start()
        assert emu.emulator.waiting_for_card.wait(60)
        with pytest.raises(TerminalBusy, match="another terminal request"):
            drv.authorize(1000)
        emu.emulator.present_card()
        t.join()
    assert emu.emulator.received.count("authorization") == 1


def test_mastercard_totals_group(pty: PtyPair) -> None:
    with terminal(pty, card="mastercard") as (drv, _):
        r = drv.authorize(1000)
        tot = drv.totals()
    assert r.masked_pan == "555555******4444" and tot.groups["mastercard"].count == 1


def test_mask_pan_helper() -> None:
    assert mask_pan("card 4111111111111111 ok") == "card 411111******1111 ok"
    assert mask_pan("4111 1111 1111 1111") == "4111 11** **** 1111"
    assert mask_pan("TRACE 000001  RECEIPT 0001") == "TRACE 000001  RECEIPT 0001"


def test_unopenable_port_is_unavailable() -> None:
    with pytest.raises(TerminalUnavailable, match="cannot open"):
        ZvtDriver("/dev/does-not-exist-zvt")


def test_socket_url_works_too() -> None:
    """serial_for_url: the same driver over socket:// (terminals on LAN, ser2net)."""
    import socket

    from kiosk.devices.zvt_emulator import TerminalEmulator, serve_fd

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    stop = threading.Event()
    emu = TerminalEmulator(Knobs())

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            serve_fd(conn.fileno(), emu, stop)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with ZvtDriver(f"socket://127.0.0.1:{port}", timeout=3, ack_timeout=0.3) as drv:
            r = drv.authorize(4200)
        assert r.approved and r.receipt_no == emu.journal[-1].receipt_no
    finally:
        stop.set()
        t.join(5)
        srv.close()


def test_unknown_field_never_changes_an_approval(pty: PtyPair) -> None:
    with terminal(pty, unknown_bmp=True, field_92=True) as (drv, emu):
        r = drv.authorize(1500)
    assert r.approved and r.receipt_no == emu.journal[-1].receipt_no
    assert r.unknown_fields == ["7F (1 bytes)"]


def test_unreadable_status_of_a_payment_is_an_unknown_outcome(pty: PtyPair) -> None:
    with terminal(pty, bad_length=True) as (drv, emu):
        with pytest.raises(OutcomeUnknown, match="unreadable"):
            drv.authorize(1500)
        assert emu.journal[-1].result_code == 0  # it did charge: resolve, never re-charge
        drv.register()  # the link is clean again


@settings(max_examples=200, deadline=None)
@given(st.integers(12, 18), st.data())
def test_no_luhn_valid_number_survives_masking(n: int, data: st.DataObject) -> None:
    body = [data.draw(st.integers(0, 9)) for _ in range(n)]
    # append the Luhn check digit
    total = 0
    for i, d in enumerate(reversed(body)):
        d2 = d * 2 if i % 2 == 0 else d
        total += d2 - 9 if d2 > 9 else d2
    pan = "".join(map(str, body)) + str((10 - total % 10) % 10)
    sep = data.draw(st.sampled_from(["", " ", "-"]))
    shown = sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    text = data.draw(st.text(alphabet="AB :", max_size=5)) + shown + data.draw(st.text(alphabet="AB :", max_size=5))
    masked = mask_pan(text) or ""
    no_full_pan(masked)
    assert re.sub(r"[^0-9*]", "", masked) == pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def test_ignored_abort_is_not_a_cancellation(pty: PtyPair) -> None:
    with terminal(pty, card_delay_s=60, ignore_abort=True) as (drv, emu):
        t = _abort_at_card_wait(drv, emu)
        r = drv.authorize(3000)
        t.join()
    assert "abort" in emu.emulator.received
    assert r.approved and r.receipt_no == emu.journal[-1].receipt_no and not r.abort_refused


def test_to_minor_units_by_exponent() -> None:
    from kiosk.devices.zvt_driver import to_minor

    assert to_minor(25000, 0) == 25000
    assert to_minor("25000.5", 3) == 25000500
    with pytest.raises(UrError, match="more than 0 decimal places"):
        to_minor("1.5", 0)
    with pytest.raises(UrError, match="not a number"):
        to_minor("abc", 0)
