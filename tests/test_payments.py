"""Payment service against the ZVT emulator over real pseudo-terminals: the failure
cases seen in the field (lost ACK, busy terminal, approval then silence, declines,
aborts, reversal refused, amount echo mismatch), each checked on both sides (kiosk journal
and the terminal's own journal), so "never a second charge" is observed, not assumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import journal as pj
from kiosk.payments.service import DeliveryFailed, PaymentBlocked, PaymentRow, PaymentService
from kiosk.sync.outbox import OutboxRow
from tests.payment_fixtures import enrolled_store, terminal

S = pj.PaymentState


def charges(h) -> int:
    """Approved, unreversed payments minus refunds on the terminal: money actually taken."""
    paid = sum(1 for e in h.journal if e.kind == "payment" and e.receipt_no is not None and not e.reversed)
    return paid - sum(1 for e in h.journal if e.kind == "refund")


def outbox_events(store) -> list[str]:
    with store.session() as s:
        return [r.stream for r in s.scalars(select(OutboxRow))]


def test_happy_path_one_charge_one_record(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    seen: list[str] = []
    with terminal() as (h, factory):
        svc = PaymentService(store, ident, factory)
        r = svc.pay("fine:F-0001", lambda ev, _m: seen.append(ev))
        assert r.paid, r.message
        assert r.amount == 26000 and h.journal[-1].amount == 26000
        assert seen == ["insert_card", "approved"]
        assert r.terminal_receipt["customer"] and "CARDHOLDER COPY" in r.terminal_receipt["customer"]
        # Same fee again: refused; same collection id again: the stored result, no new charge.
        with pytest.raises(PaymentBlocked, match="already has payment"):
            svc.pay("fine:F-0001")
        again = svc.pay("fine:F-0001", payment_id=r.payment_id)
        assert again.payment_id == r.payment_id and again.paid
        assert charges(h) == 1
    assert outbox_events(store) == ["payments"]


def test_no_ack_means_unavailable_and_unpaid(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(drop_ack=True, card_delay_s=0)) as (h, factory):
        r = PaymentService(store, ident, factory).pay("fine:F-0002")
    assert r.state == "FAILED" and "not answering" in r.message
    assert charges(h) == 0 and outbox_events(store) == []


def test_busy_terminal_sends_no_second_authorization(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(busy=2, card_delay_s=0)) as (h, factory):
        svc = PaymentService(store, ident, factory)
        # The payment waits out the busy terminal (status enquiries) before anything is
        # sent: one authorization, sent once the terminal said ready, one charge.
        r = svc.pay("fine:F-0003")
        assert r.paid and charges(h) == 1
        assert h.emulator.received.count("authorization") == 1
        assert h.emulator.received.index("status enquiry") < h.emulator.received.index("authorization")


def test_a_terminal_busy_for_longer_than_the_wait_charges_nothing(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(busy=1000, card_delay_s=0)) as (h, factory):
        svc = PaymentService(store, ident, factory, busy_wait_s=1.0)
        r = svc.pay("fine:F-0003")
        assert r.state == "FAILED" and h.journal == [] and "authorization" not in h.emulator.received
        assert "still busy" in r.message


@pytest.mark.parametrize("code", [0x6C, 0x05, 0xA3, 0x9B])
def test_declines_cancel_and_acquirer_offline_record_failed(tmp_path: Path, code: int) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(decline=code, card_delay_s=0)) as (h, factory):
        r = PaymentService(store, ident, factory).pay("fine:F-0004")
    assert r.state == "FAILED" and ("cancelled" if code == 0x6C else "declined") in r.message
    assert "not charged" in r.message
    row = PaymentService(store, ident, factory).get(r.payment_id)
    assert "DECLINED" in row.entry_json and charges(h) == 0 and outbox_events(store) == []


def test_unknown_outcome_blocks_then_resolves_paid_by_enquiry(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(approve_then_silence=1, card_delay_s=0)) as (h, factory):
        svc = PaymentService(store, ident, factory)
        events: list[str] = []
        r = svc.pay("fine:F-0005", lambda ev, _m: events.append(ev))
        assert "unknown" in events
        # The immediate enquiry already found the charge: paid, not charged again.
        assert r.paid, r.message
        assert charges(h) == 1 and len([e for e in h.journal if e.kind == "payment"]) == 1


def test_unknown_stays_blocking_while_the_terminal_is_unreachable(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(approve_then_silence=1, card_delay_s=0), timeout=1.5) as (h, factory):
        svc = PaymentService(store, ident, factory)
        # The link drops after the request: the answer never comes and enquiries fail.
        def broken():
            h.emulator.knobs.drop_ack = True
            return factory()
        calls = {"n": 0}

        def flaky():
            calls["n"] += 1
            return factory() if calls["n"] == 1 else broken()
        svc.terminal = flaky
        r = svc.pay("fine:F-0006")
        assert r.state == "UNKNOWN" and "do NOT pay again" in r.message
        with pytest.raises(PaymentBlocked, match="F-0006.*not settled.*Next: wait until the terminal"):
            svc.pay("fine:F-0006")
        with pytest.raises(PaymentBlocked, match="card payments are stopped.*F-0006"):
            svc.pay("fine:F-0007")  # no other fee either: the terminal must settle it first
        h.emulator.knobs.drop_ack = False
        svc.terminal = factory
        out = svc.recover()
        assert [x.state for x in out] == ["PAID"]
        assert charges(h) == 1


def test_amount_echo_mismatch_is_reversed(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(amount_mismatch=5, card_delay_s=0)) as (h, factory):
        r = PaymentService(store, ident, factory).pay("fine:F-0007")
    assert r.state == "REVERSED" and charges(h) == 0
    assert outbox_events(store) == ["payments"]  # central learns of the reversed collection


def test_service_failure_after_approval_reverses(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")

    def fail(_row: PaymentRow) -> None:
        raise DeliveryFailed("document could not be produced")
    with terminal() as (h, factory):
        r = PaymentService(store, ident, factory, deliver=fail).pay("fine:F-0008")
    assert r.state == "REVERSED" and "document could not be produced" in r.message
    assert charges(h) == 0


def test_refused_reversal_falls_back_to_one_supervisor_refund(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    fail_once = {"on": True}

    def fail(_row: PaymentRow) -> None:
        if fail_once["on"]:
            raise DeliveryFailed("printer jammed")
    with terminal(Knobs(reverse_last_only=True, card_delay_s=0)) as (h, factory):
        svc = PaymentService(store, ident, factory, deliver=fail)
        fail_once["on"] = False
        assert svc.pay("fine:F-0009").paid
        fail_once["on"] = True
        r = svc.pay("fine:F-0010")  # reversal of this one works (it is the last)
        assert r.state == "REVERSED"
        # Void the first one: not the last transaction -> B5 -> refund needed.
        v = svc.void(svc.pay("fine:F-0009", payment_id=_pid(store, "fine:F-0009")).payment_id, "citizen asked")
        assert v.needs_supervisor and v.state == "PAID"
        with pytest.raises(pj.UrError, match="supervisor"):
            svc.refund(v.payment_id, "")
        done = svc.refund(v.payment_id, "sup-1")
        assert done.state == "REFUNDED"
        with pytest.raises(pj.UrError, match="cannot refund"):
            svc.refund(v.payment_id, "sup-1")
        with pytest.raises(pj.UrError, match="only a paid payment"):
            svc.void(v.payment_id, "again")
        assert charges(h) == 0


def _pid(store, fee_ref: str) -> str:
    with store.session() as s:
        return s.scalars(select(PaymentRow.payment_id).where(PaymentRow.fee_ref == fee_ref,
                                                             PaymentRow.state == "PAID")).one()


def test_abort_ignored_waits_for_the_final_answer(tmp_path: Path) -> None:
    import threading

    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(ignore_abort=True, card_delay_s=60)) as (h, factory):
        svc = PaymentService(store, ident, factory)
        drivers = []

        def capture():
            d = factory()
            drivers.append(d)
            return d
        svc.terminal = capture

        def abort_at_card_wait() -> None:
            if h.emulator.waiting_for_card.wait(60):
                drivers[-1].abort()
        aborter = threading.Thread(target=abort_at_card_wait)
        aborter.start()
        r = svc.pay("fine:F-0011")
        aborter.join()
    # The terminal ignored the abort and approved: we did not assume "cancelled".
    assert "abort" in h.emulator.received
    assert r.paid and charges(h) == 1


def test_service_wired_from_the_terminal_profile(tmp_path: Path) -> None:
    from firmware_config.profiles import load_profile, profile_dict
    from kiosk.payments.service import terminal_from_profile

    store, ident = enrolled_store(tmp_path / "k")
    with terminal() as (h, factory):
        drv_factory, exponent = terminal_from_profile(profile_dict(load_profile("zvt_terminal_generic")),
                                                      factory.device)  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        r = PaymentService(store, ident, drv_factory, exponent=exponent).pay("fine:F-0001")
    assert r.paid and charges(h) == 1


def test_second_operation_at_the_same_station_is_refused_not_interleaved(tmp_path: Path) -> None:
    import threading

    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(card_delay_s=60)) as (h, factory):
        svc = PaymentService(store, ident, factory)
        first: list = []
        t = threading.Thread(target=lambda: first.append(svc.pay("fine:F-0001")))
        t.start()
        assert h.emulator.waiting_for_card.wait(60)
        with pytest.raises(PaymentBlocked, match="another payment operation"):
            svc.pay("fine:F-0002")
        h.emulator.present_card()
        t.join(60)
        assert first[0].paid and charges(h) == 1


def test_card_wait_runs_out_and_the_payment_is_aborted_at_the_terminal(tmp_path: Path) -> None:
    from kiosk.payments.service import MESSAGES

    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(card_delay_s=30)) as (h, factory):
        events: list[tuple[str, str]] = []
        r = PaymentService(store, ident, factory, card_wait_s=1.5).pay(
            "fine:F-0012", lambda ev, m: events.append((ev, m)))
    assert r.state == "FAILED" and "cancelled" in r.message and "not charged" in r.message
    countdown = [m for ev, m in events if ev == "card_wait"]
    assert countdown and countdown[0] in ("1", "2") and ("cancelled", MESSAGES["cancelled"]) in events
    assert "abort" in h.emulator.received and h.journal == []
