"""Payment journal state machine and UNKNOWN resolution (pure), plus resolution against
the ZVT emulator over a real pty."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.devices.zvt_driver import OutcomeUnknown, TerminalUnavailable, ZvtDriver
from kiosk.devices.zvt_emulator import Knobs, run_in_thread
from kiosk.payments import journal as pj
from tests.support import PtyPair

T0 = dt.datetime(2026, 11, 22, 10, 0, 0)
S = pj.PaymentState


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def pending(amount: int = 25000, trace_before: int | None = 7) -> pj.PaymentEntry:
    e = pj.create("uuid-1", "fee-1", amount, 368, T0)
    return pj.mark_pending(e, at(1), trace_before=trace_before)


def ok(amount: int = 25000, trace: int = 8, when: dt.datetime | None = None, approved: bool = True, rc: int = 0) -> pj.TerminalOutcome:
    when = when or at(20)
    return pj.TerminalOutcome(approved, rc, amount, receipt_no=3 if approved else None, trace=trace,
                              terminal_id="52500123", time=when.strftime("%H%M%S"), date=when.strftime("%m%d"))


def test_happy_path_and_history() -> None:
    e = pj.record_outcome(pending(), ok(), at(20))
    assert e.state is S.APPROVED and e.receipt_no == 3 and e.trace == 8
    e = pj.mark_paid(e, at(30))
    assert e.state is S.PAID
    assert [h[0] for h in e.history] == ["CREATED", "PENDING", "APPROVED", "PAID"]


def test_illegal_steps_name_both_states() -> None:
    e = pj.create("uuid-1", "fee-1", 100, 368, T0)
    with pytest.raises(pj.PaymentStateError, match="cannot go from CREATED to PAID"):
        pj.mark_paid(e, T0)
    with pytest.raises(pj.PaymentStateError, match="in state CREATED"):
        pj.record_outcome(e, ok(100), T0)
    with pytest.raises(pj.UrError, match="positive whole number"):
        pj.create("u", "f", 0, 368, T0)


def test_declined_then_failed_and_not_sent() -> None:
    e = pj.record_outcome(pending(), ok(approved=False, rc=0x05), at(9))
    assert e.state is S.DECLINED and e.result_code == 5
    assert pj.close_declined(e, at(10)).state is S.FAILED
    assert pj.record_not_sent(pending(), at(5), "no ACK").state is S.FAILED


def test_amount_mismatch_must_be_reversed_before_paid() -> None:
    e = pj.record_outcome(pending(25000), ok(25001), at(9))
    assert e.state is S.APPROVED and e.must_reverse
    with pytest.raises(pj.PaymentStateError, match="must be reversed"):
        pj.mark_paid(e, at(10))
    assert pj.mark_reversed(e, ok(25001, trace=9), at(11)).state is S.REVERSED


def test_refused_reversal_points_to_refund_and_refund_needs_supervisor() -> None:
    e = pj.mark_paid(pj.record_outcome(pending(), ok(), at(9)), at(10))
    with pytest.raises(pj.PaymentStateError, match="supervisor-approved refund"):
        pj.mark_reversed(e, ok(approved=False, rc=0xB5), at(11))
    with pytest.raises(pj.PaymentStateError, match="supervisor"):
        pj.mark_refunded(e, ok(), "", at(12))
    r = pj.mark_refunded(e, ok(), "sup-7", at(12))
    assert r.state is S.REFUNDED and r.approved_by == "sup-7"
    with pytest.raises(pj.PaymentStateError):
        pj.mark_refunded(r, ok(), "sup-7", at(13))  # never twice


def test_one_open_payment_per_fee_and_same_uuid_finds_the_entry() -> None:
    p = pending()
    assert pj.can_start([p], "fee-1") is not None
    assert pj.can_start([p], "fee-2") is None
    unknown = pj.record_unknown(p, at(5), "timeout")
    assert "UNKNOWN" in (pj.can_start([unknown], "fee-1") or "")
    failed = pj.record_not_sent(pending(), at(5), "x")
    assert pj.can_start([failed], "fee-1") is None
    assert pj.find([p], "uuid-1") is p and pj.find([p], "other") is None


def test_restart_turns_pending_into_unknown() -> None:
    assert pj.recover_after_restart(pending(), at(60)).state is S.UNKNOWN
    paid = pj.mark_paid(pj.record_outcome(pending(), ok(), at(9)), at(10))
    assert pj.recover_after_restart(paid, at(60)) is paid


def unknown(**kw: object) -> pj.PaymentEntry:
    return pj.record_unknown(pending(**kw), at(200), "no final answer")  # type: ignore[arg-type]  # keyword overrides typed object for brevity


def test_resolve_paid_on_amount_time_and_trace() -> None:
    d = pj.resolve_unknown(unknown(), pj.TerminalAnswers(last=ok()))
    assert d.outcome == "PAID" and d.trace == 8 and d.receipt_no == 3
    e = pj.apply_decision(unknown(), d, at(300))
    assert e.state is S.PAID and e.trace == 8


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        (pj.TerminalAnswers(last=None), "FAILED"),
        (pj.TerminalAnswers(last=ok(trace=7, when=at(-600))), "FAILED"),  # older transaction
        (pj.TerminalAnswers(last=ok(trace=7)), "FAILED"),  # trace did not move
        (pj.TerminalAnswers(last=ok(approved=False, rc=0x6C)), "FAILED"),  # declined at PIN pad
        (pj.TerminalAnswers(last=ok(amount=999)), "UNDECIDED"),  # someone else's payment
        (pj.TerminalAnswers(last=ok(when=at(3600))), "UNDECIDED"),  # much later
        (pj.TerminalAnswers(last=ok(), claimed_traces=frozenset({8})), "UNDECIDED"),  # owned by another entry
        (pj.TerminalAnswers(last=ok(), last_is_payment=False), "UNDECIDED"),  # a reversal/refund
        (pj.TerminalAnswers(last=ok(), count_before=2, amount_before=5000, count_now=2, amount_now=5000), "UNDECIDED"),
        (pj.TerminalAnswers(last=ok(amount=999), count_before=2, amount_before=5000, count_now=2, amount_now=5000), "FAILED"),
        (pj.TerminalAnswers(last=ok(amount=999), count_before=2, amount_before=5000, count_now=3, amount_now=30000), "PAID"),
        (pj.TerminalAnswers(last=None, count_before=0, amount_before=0, count_now=1, amount_now=25000), "UNDECIDED"),
    ],
)
def test_resolve_cases(answers: pj.TerminalAnswers, outcome: str) -> None:
    assert pj.resolve_unknown(unknown(), answers).outcome == outcome


def test_undecided_leaves_the_entry_unknown() -> None:
    e = unknown()
    d = pj.resolve_unknown(e, pj.TerminalAnswers(last=ok(amount=1)))
    assert pj.apply_decision(e, d, at(300)) is e


def test_terminal_date_across_new_year() -> None:
    near = dt.datetime(2027, 1, 1, 0, 1, 0)
    assert pj.terminal_datetime("1231", "235959", near) == dt.datetime(2026, 12, 31, 23, 59, 59)
    assert pj.terminal_datetime("1331", "235959", near) is None


def test_resolve_needs_unknown() -> None:
    with pytest.raises(pj.PaymentStateError, match="needs UNKNOWN"):
        pj.resolve_unknown(pending(), pj.TerminalAnswers(last=None))


# -- against the emulator ------------------------------------------------------------------


def outcome_of(r) -> pj.TerminalOutcome:
    return pj.TerminalOutcome(r.approved, r.result_code, r.amount, r.receipt_no, r.trace, r.terminal_id,
                              r.time, r.date, r.masked_pan)


def test_unknown_after_silence_resolves_paid_by_asking_the_terminal(pty: PtyPair) -> None:
    with run_in_thread(pty.fd, Knobs()) as emu, ZvtDriver(pty.device, timeout=1.0, ack_timeout=0.3) as drv:
        first = drv.authorize(1000)  # an earlier payment: trace 1
        before = drv.totals()
        emu.emulator.knobs.approve_then_silence = 1
        now = dt.datetime.now()
        e = pj.mark_pending(pj.create("uuid-9", "fee-9", 12000, 368, now), now, trace_before=before.trace)
        with pytest.raises(OutcomeUnknown):
            drv.authorize(12000)
        e = pj.record_unknown(e, dt.datetime.now(), "no final answer")
        last = drv.repeat_receipt()
        after = drv.totals()
    d = pj.resolve_unknown(e, pj.TerminalAnswers(
        last=outcome_of(last), count_before=before.count, amount_before=before.amount,
        count_now=after.count, amount_now=after.amount, claimed_traces=frozenset({first.trace}),
    ))
    assert d.outcome == "PAID", d.reason
    assert d.trace == emu.journal[-1].trace
    assert len([j for j in emu.journal if j.kind == "payment"]) == 2  # never charged twice


def test_timed_out_request_that_still_completes_is_found(pty: PtyPair) -> None:
    """Adyen's warning: a timed-out request may still continue. The terminal charges
    after we gave up; status reports busy until it is done; then the answer is PAID."""
    knobs = Knobs(card_delay_s=1.0, ack_timeout_s=0.2)
    with run_in_thread(pty.fd, knobs) as emu, ZvtDriver(pty.device, timeout=0.4, ack_timeout=2.0) as drv:
        now = dt.datetime.now()
        e = pj.mark_pending(pj.create("uuid-3", "fee-3", 5000, 368, now), now, trace_before=0)
        with pytest.raises(OutcomeUnknown):
            drv.authorize(5000)
        e = pj.record_unknown(e, dt.datetime.now(), "timeout")
        # The 0.4 s answer timeout was there to give up on the authorization; the status
        # enquiries after it get the default wait (0.4 s failed them on a loaded machine).
        drv.timeout, drv.ack_timeout = 30.0, 5.0
        assert drv.wait_ready(60.0)  # returns once ready (about 1 s); the bound only says when to give up
        last = drv.repeat_receipt()
    d = pj.resolve_unknown(e, pj.TerminalAnswers(last=outcome_of(last)))
    assert d.outcome == "PAID", d.reason
    assert pj.apply_decision(e, d, dt.datetime.now()).state is S.PAID
    assert emu.journal[-1].amount == 5000


def test_dead_terminal_leaves_the_fee_unpaid(pty: PtyPair) -> None:
    with run_in_thread(pty.fd, Knobs(drop_ack=True)) as emu, ZvtDriver(pty.device, timeout=2, ack_timeout=0.2) as drv:
        now = dt.datetime.now()
        e = pj.mark_pending(pj.create("uuid-4", "fee-4", 5000, 368, now), now)
        with pytest.raises(TerminalUnavailable) as ei:
            drv.authorize(5000)
        e = pj.record_not_sent(e, dt.datetime.now(), str(ei.value))
    assert e.state is S.FAILED and emu.journal == []
    assert pj.can_start([e], "fee-4") is None


# -- issue 19: session fingerprint, flags, batch totals, a supervisor's resolution ---------


def _sent(trace_before: int = 7, count: int = 2, amount: int = 50000, batch_from: int = 1,
          serial: str | None = "AB12") -> pj.PaymentEntry:
    e = pj.create("uuid-1", "fee-1", 25000, 368, T0)
    before = pj.TerminalView("52500123", trace_before, count, amount, batch_from, serial)
    return pj.record_unknown(pj.mark_pending(e, at(1), before=before), at(5), "killed")


def test_session_changed_names_swap_reset_and_closed_batch() -> None:
    e = _sent()
    same = pj.TerminalView("52500123", 9, 3, 75000, 1, "AB12")
    assert pj.session_changed(e, same) is None
    assert "terminal id changed" in (pj.session_changed(e, pj.TerminalView("52500999", 9, 3, 75000, 1, "AB12")) or "")
    assert "serial number changed" in (pj.session_changed(e, pj.TerminalView("52500123", 99, 3, 75000, 1, "ZZ")) or "")
    assert "trace counter went down" in (pj.session_changed(e, pj.TerminalView("52500123", 2, 3, 0, 1, "AB12")) or "")
    assert "batch holds 0 payments" in (pj.session_changed(e, pj.TerminalView("52500123", 9, 0, 0, 0, "AB12")) or "")
    assert "batch now starts at receipt 9" in (pj.session_changed(e, pj.TerminalView("52500123", 12, 3, 1, 9, "AB12"))
                                               or "")
    # The last transaction itself can name another terminal id.
    assert pj.session_changed(e, same, last_terminal_id="52500999") is not None
    # A terminal that reports no serial leaves the counters as the fingerprint.
    assert pj.session_changed(_sent(serial=None), pj.TerminalView("52500123", 9, 3, 75000, 1, None)) is None


def test_flagged_entry_stays_unknown_and_only_a_supervisor_or_the_totals_settle_it() -> None:
    e = pj.flag(_sent(), "terminal swapped", at(9))
    assert e.state is S.UNKNOWN and e.flagged == "terminal swapped"
    with pytest.raises(pj.UrError, match="evidence"):
        pj.resolve_by_person(e, "paid", "sup", "ok", at(10))
    with pytest.raises(pj.UrError, match="resolve as one of"):
        pj.resolve_by_person(e, "maybe", "sup", "terminal journal", at(10))
    paid = pj.resolve_by_person(e, "paid", "sup", "terminal journal: receipt 0042 approved", at(10))
    assert paid.state is S.PAID and paid.resolved_by == "sup" and "receipt 0042" in (paid.evidence or "")
    assert pj.resolve_by_person(e, "not-charged", "sup", "terminal journal: nothing", at(10)).state is S.FAILED
    pending = pj.mark_pending(pj.create("u2", "f", 1, 368, T0), at(1))
    with pytest.raises(pj.PaymentStateError, match="payments recover"):
        pj.resolve_by_person(pending, "paid", "sup", "terminal journal", at(2))


def test_batch_totals_settle_only_what_they_single_out() -> None:
    a = _sent()
    b = pj.PaymentEntry(**{**a.__dict__, "payment_id": "uuid-2", "amount": 30000})
    c = pj.PaymentEntry(**{**a.__dict__, "payment_id": "uuid-3"})  # same amount as a
    out = pj.settle_by_totals([a, b], journal=(4, 100000), terminal=(4, 100000))
    assert {k: d.outcome for k, d in out.items()} == {"uuid-1": "FAILED", "uuid-2": "FAILED"}
    out = pj.settle_by_totals([a, b], journal=(4, 100000), terminal=(5, 130000))
    assert {k: d.outcome for k, d in out.items()} == {"uuid-1": "FAILED", "uuid-2": "PAID"}
    out = pj.settle_by_totals([a, b], journal=(4, 100000), terminal=(6, 155000))
    assert {d.outcome for d in out.values()} == {"PAID"}
    out = pj.settle_by_totals([a, c], journal=(4, 100000), terminal=(5, 125000))  # which one?
    assert {d.outcome for d in out.values()} == {"UNDECIDED"}
    out = pj.settle_by_totals([a], journal=(4, 100000), terminal=(3, 75000))  # fewer: not ours to read
    assert {d.outcome for d in out.values()} == {"UNDECIDED"}
