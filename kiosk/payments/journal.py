"""The card-payment journal as a pure state machine (no store, no terminal I/O).

    CREATED -> PENDING -> APPROVED | DECLINED | UNKNOWN
    APPROVED -> PAID (service delivered) | REVERSED (service failed, reversal done)
             | REFUNDED (service failed, reversal refused, supervisor refund)
    DECLINED -> FAILED
    UNKNOWN  -> PAID | FAILED  (by evidence from the terminal: `resolve_unknown`, the batch
                                totals at end of day: `settle_by_totals`, or a supervisor
                                reading the terminal's printed journal: `resolve_by_person`)
    PAID     -> REVERSED | REFUNDED (supervisor)
    PENDING  -> FAILED when the request provably never reached the terminal

Why it looks like this: an entry is PENDING *before*
the request is sent, so a crash or a lost answer leaves a trace that blocks a second
charge for the same fee; an UNKNOWN outcome is settled by asking the terminal (repeat
receipt, totals) and matching amount, time and trace - never by charging again.
An UNKNOWN entry the terminal can no longer settle (its answers are ambiguous, or the
terminal was swapped or reset: `session_changed`) is *flagged*: it stays UNKNOWN, it
is reported with its amount, and only the batch totals or a person may close it.
Every function returns a new entry; an illegal step raises `PaymentStateError`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum

from contract.errors import UrError


class PaymentState(StrEnum):
    CREATED = "CREATED"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    UNKNOWN = "UNKNOWN"
    PAID = "PAID"
    FAILED = "FAILED"
    REVERSED = "REVERSED"
    REFUNDED = "REFUNDED"


S = PaymentState

TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    S.CREATED: frozenset({S.PENDING}),
    S.PENDING: frozenset({S.APPROVED, S.DECLINED, S.UNKNOWN, S.FAILED}),
    S.APPROVED: frozenset({S.PAID, S.REVERSED, S.REFUNDED}),  # refund: reversal refused (payments.py)
    S.DECLINED: frozenset({S.FAILED}),
    S.UNKNOWN: frozenset({S.PAID, S.FAILED}),
    S.PAID: frozenset({S.REVERSED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.REVERSED: frozenset(),
    S.REFUNDED: frozenset(),
}
#: States in which the fee may have been charged or is being charged: no new attempt.
OPEN_OR_CHARGED = frozenset({S.PENDING, S.APPROVED, S.UNKNOWN, S.PAID})


class PaymentStateError(UrError):
    """A step the payment journal does not allow (names the entry and both states)."""


@dataclass(frozen=True)
class TerminalOutcome:
    """What the terminal said about one transaction (from the driver's result)."""

    approved: bool
    result_code: int
    amount: int | None = None
    receipt_no: int | None = None
    trace: int | None = None
    terminal_id: str | None = None
    time: str | None = None  # HHMMSS, terminal clock
    date: str | None = None  # MMDD, terminal clock
    masked_pan: str | None = None
    currency: int | None = None  # ISO 4217 numeric the terminal says it charged in


@dataclass(frozen=True)
class PaymentEntry:
    payment_id: str  # the collection UUID: the same id twice is the same payment
    fee_ref: str  # what is being paid (application / catalogue item)
    amount: int  # minor units at the configured exponent
    currency: int
    state: PaymentState = S.CREATED
    created_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    trace_before: int | None = None  # terminal trace known before sending, if any
    receipt_no: int | None = None
    trace: int | None = None
    terminal_id: str | None = None
    result_code: int | None = None
    masked_pan: str | None = None
    must_reverse: str | None = None  # why this approval must be reversed, if it must
    approved_by: str | None = None  # supervisor for a refund
    # The terminal as it was right before sending (totals 06 10): the session fingerprint
    # a later answer must match, and the batch totals a missing charge shows up in.
    terminal_before: str | None = None
    serial_before: str | None = None  # the terminal's device serial, where it reports one
    count_before: int | None = None
    amount_before: int | None = None
    batch_from: int | None = None  # first receipt no. of the open batch (0: empty batch)
    flagged: str | None = None  # why only the batch totals or a person can settle it now
    resolved_by: str | None = None  # supervisor who decided an UNKNOWN entry
    evidence: str | None = None  # what the supervisor read (e.g. the terminal's journal)
    history: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (state, iso time, note)


def _move(e: PaymentEntry, to: PaymentState, now: dt.datetime, note: str, **changes: object) -> PaymentEntry:
    if to not in TRANSITIONS[e.state]:
        raise PaymentStateError(f"payment {e.payment_id}: cannot go from {e.state} to {to} ({note})")
    return replace(e, state=to, history=e.history + ((to.value, now.isoformat(), note),), **changes)  # type: ignore[arg-type]  # **changes are PaymentEntry fields, checked by its tests


def create(payment_id: str, fee_ref: str, amount: int, currency: int, now: dt.datetime) -> PaymentEntry:
    if not payment_id:
        raise UrError("payment id is required (the collection UUID)")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise UrError(f"payment {payment_id}: amount must be a positive whole number, got {amount!r}")
    return PaymentEntry(payment_id, fee_ref, amount, currency, created_at=now,
                        history=((S.CREATED.value, now.isoformat(), "created"),))


def can_start(entries: list[PaymentEntry], fee_ref: str) -> str | None:
    """None if a new attempt for `fee_ref` may start, else why not."""
    for e in entries:
        if e.fee_ref == fee_ref and e.state in OPEN_OR_CHARGED:
            return f"fee {fee_ref} already has payment {e.payment_id} in state {e.state}"
    return None


def find(entries: list[PaymentEntry], payment_id: str) -> PaymentEntry | None:
    """The existing entry for a collection UUID: a resend returns it, not a new charge."""
    return next((e for e in entries if e.payment_id == payment_id), None)


@dataclass(frozen=True)
class TerminalView:
    """The terminal's counters at one moment (from its totals, 06 10)."""

    terminal_id: str | None
    trace: int | None
    count: int | None
    amount: int | None
    batch_from: int | None
    serial: str | None = None


def mark_pending(e: PaymentEntry, now: dt.datetime, trace_before: int | None = None,
                 before: TerminalView | None = None) -> PaymentEntry:
    """Persist this *before* the authorization goes to the terminal."""
    extra: dict[str, object] = {}
    if before is not None:
        extra = dict(terminal_before=before.terminal_id, serial_before=before.serial, count_before=before.count,
                     amount_before=before.amount, batch_from=before.batch_from)
        trace_before = before.trace if trace_before is None else trace_before
    return _move(e, S.PENDING, now, "sent to terminal", sent_at=now, trace_before=trace_before, **extra)


def record_not_sent(e: PaymentEntry, now: dt.datetime, why: str) -> PaymentEntry:
    """The terminal never ACKed the request (TerminalUnavailable/TerminalBusy): no charge."""
    return _move(e, S.FAILED, now, f"not delivered: {why}")


def record_outcome(e: PaymentEntry, outcome: TerminalOutcome, now: dt.datetime) -> PaymentEntry:
    if e.state is not S.PENDING:
        raise PaymentStateError(f"payment {e.payment_id}: a terminal answer arrived in state {e.state}")
    data = dict(receipt_no=outcome.receipt_no, trace=outcome.trace, terminal_id=outcome.terminal_id,
                result_code=outcome.result_code, masked_pan=outcome.masked_pan)
    if not outcome.approved:
        return _move(e, S.DECLINED, now, f"declined, result code {outcome.result_code:02X}", **data)
    must = None
    if outcome.amount is not None and outcome.amount != e.amount:
        must = f"terminal charged {outcome.amount}, requested {e.amount}"
    elif outcome.currency is not None and outcome.currency != e.currency:
        must = f"terminal charged in currency {outcome.currency:03d}, requested {e.currency:03d}"
    return _move(e, S.APPROVED, now, "approved" + (f"; must reverse: {must}" if must else ""),
                 must_reverse=must, **data)


def record_unknown(e: PaymentEntry, now: dt.datetime, why: str) -> PaymentEntry:
    """The terminal took the request and never said how it ended (or we crashed)."""
    return _move(e, S.UNKNOWN, now, f"outcome unknown: {why}")


def recover_after_restart(e: PaymentEntry, now: dt.datetime) -> PaymentEntry:
    """On start-up a PENDING entry means we died mid-payment: it is UNKNOWN now."""
    if e.state is S.PENDING:
        return record_unknown(e, now, "kiosk restarted while the payment was pending")
    return e


def close_declined(e: PaymentEntry, now: dt.datetime) -> PaymentEntry:
    return _move(e, S.FAILED, now, "declined payment closed")


def mark_paid(e: PaymentEntry, now: dt.datetime) -> PaymentEntry:
    """The service was delivered against an approved payment."""
    if e.must_reverse:
        raise PaymentStateError(f"payment {e.payment_id}: must be reversed first ({e.must_reverse})")
    return _move(e, S.PAID, now, "service delivered")


def mark_reversed(e: PaymentEntry, reversal: TerminalOutcome, now: dt.datetime) -> PaymentEntry:
    if not reversal.approved:
        raise PaymentStateError(
            f"payment {e.payment_id}: reversal refused (result code {reversal.result_code:02X}); "
            "fall back to a supervisor-approved refund"
        )
    return _move(e, S.REVERSED, now, f"reversed, reversal receipt {reversal.receipt_no}")


def mark_refunded(e: PaymentEntry, refund: TerminalOutcome, supervisor: str, now: dt.datetime) -> PaymentEntry:
    if not supervisor:
        raise PaymentStateError(f"payment {e.payment_id}: a refund needs a supervisor's approval")
    if not refund.approved:
        raise PaymentStateError(f"payment {e.payment_id}: refund declined (result code {refund.result_code:02X})")
    if refund.amount is not None and refund.amount != e.amount:
        raise PaymentStateError(f"payment {e.payment_id}: refund of {refund.amount} does not match {e.amount}")
    return _move(e, S.REFUNDED, now, f"refunded, approved by {supervisor}", approved_by=supervisor)


# -- resolving UNKNOWN ---------------------------------------------------------------------


@dataclass(frozen=True)
class TerminalAnswers:
    """What the terminal told us when asked after an UNKNOWN outcome.

    `last` is its last transaction (repeat receipt, 06 20) or None if it has none;
    `count_before` / `amount_before` are the batch totals known before sending (if the
    kiosk took them), `count_now` / `amount_now` the totals (06 10) now.
    """

    last: TerminalOutcome | None
    last_is_payment: bool = True
    count_before: int | None = None
    amount_before: int | None = None
    count_now: int | None = None
    amount_now: int | None = None
    claimed_traces: frozenset[int] = frozenset()  # traces other journal entries own


@dataclass(frozen=True)
class Decision:
    outcome: str  # "PAID" | "FAILED" | "UNDECIDED"
    reason: str
    receipt_no: int | None = None
    trace: int | None = None
    terminal_id: str | None = None


def terminal_datetime(date: str | None, time: str | None, near: dt.datetime) -> dt.datetime | None:
    """MMDD + HHMMSS from the terminal, with the year taken from `near` (year wrap aware)."""
    if not date or not time or len(date) != 4 or len(time) != 6:
        return None
    try:
        t = dt.datetime(near.year, int(date[:2]), int(date[2:]), int(time[:2]), int(time[2:4]), int(time[4:]))
    except ValueError:
        return None
    if t - near.replace(tzinfo=None) > dt.timedelta(days=180):
        t = t.replace(year=t.year - 1)
    elif near.replace(tzinfo=None) - t > dt.timedelta(days=180):
        t = t.replace(year=t.year + 1)
    return t


def resolve_unknown(
    entry: PaymentEntry,
    answers: TerminalAnswers,
    max_skew: dt.timedelta = dt.timedelta(minutes=5),
    max_duration: dt.timedelta = dt.timedelta(minutes=10),
) -> Decision:
    """Decide PAID / FAILED / UNDECIDED for an UNKNOWN entry from the terminal's answers.

    PAID needs the terminal's last transaction to be an approved payment of the same
    amount, at a time within [sent - skew, sent + duration + skew], with a trace newer
    than the one known before sending and not owned by another entry. FAILED needs proof
    that nothing was charged after we sent: the terminal has no transaction, or its last
    transaction is older than our request, or its totals did not move. Anything else
    stays UNDECIDED (ask again / escalate): never guess towards charging again.
    """
    if entry.state is not S.UNKNOWN:
        raise PaymentStateError(f"payment {entry.payment_id}: resolve_unknown needs UNKNOWN, not {entry.state}")
    sent = entry.sent_at
    if sent is None:
        return Decision("UNDECIDED", "the entry has no send time to match against")
    sent_naive = sent.replace(tzinfo=None)
    last = answers.last

    totals_known = None not in (answers.count_before, answers.amount_before, answers.count_now, answers.amount_now)
    if totals_known:
        dc = answers.count_now - answers.count_before  # type: ignore[operator]  # totals_known: none of the four is None
        da = answers.amount_now - answers.amount_before  # type: ignore[operator]  # totals_known: none of the four is None
    if last is None:
        if totals_known and (dc, da) != (0, 0):
            return Decision("UNDECIDED", "terminal shows no last transaction but its totals moved")
        return Decision("FAILED", "the terminal has no transaction at all")

    when = terminal_datetime(last.date, last.time, sent_naive)
    newer_trace = (
        None if entry.trace_before is None or last.trace is None else last.trace > entry.trace_before
    )
    if when is not None and when < sent_naive - max_skew:
        if newer_trace:
            return Decision("UNDECIDED", "last transaction is older than the request by time but newer by trace")
        if totals_known and (dc, da) != (0, 0):
            return Decision("UNDECIDED", "last transaction predates the request but the totals moved")
        return Decision("FAILED", f"the terminal's last transaction ({when:%Y-%m-%d %H:%M:%S}) predates the request")
    if newer_trace is False:
        return Decision("FAILED", f"no transaction after trace {entry.trace_before}: nothing was charged")

    matches_time = when is not None and when <= sent_naive + max_duration + max_skew
    matches = (
        answers.last_is_payment and last.approved and last.amount == entry.amount and matches_time
        and newer_trace is not False and (last.trace is None or last.trace not in answers.claimed_traces)
    )
    if matches:
        if totals_known and not (dc >= 1 and da >= entry.amount):
            return Decision("UNDECIDED", "last transaction matches but the totals did not grow by it")
        return Decision("PAID", f"terminal's last transaction matches amount {entry.amount}, time and trace",
                        last.receipt_no, last.trace, last.terminal_id)
    if (
        answers.last_is_payment and not last.approved and last.amount == entry.amount and matches_time
        and newer_trace is not False
    ):
        return Decision("FAILED", f"terminal declined it (result code {last.result_code:02X})",
                        None, last.trace, last.terminal_id)
    if totals_known and (dc, da) == (0, 0):
        return Decision("FAILED", "terminal totals did not move since the request")
    if totals_known and dc == 1 and da == entry.amount:
        return Decision("PAID", "terminal totals grew by exactly one payment of this amount")
    return Decision("UNDECIDED", "the terminal's answers neither confirm nor rule out the charge")


def session_changed(e: PaymentEntry, now: TerminalView, last_terminal_id: str | None = None) -> str | None:
    """Why the terminal answering now is not the session that took `e` (swapped, reset, or
    its batch closed), or None. Its last transaction and totals then say nothing about `e`:
    "no transaction after trace N" from another terminal must never read as "not charged"."""
    before_tid = e.terminal_before
    for tid in (now.terminal_id, last_terminal_id):
        if before_tid and tid and tid != before_tid:
            return f"the terminal id changed from {before_tid} to {tid} (terminal swapped)"
    if e.serial_before and now.serial and now.serial != e.serial_before:
        return f"the terminal's serial number changed from {e.serial_before} to {now.serial} (terminal swapped)"
    if e.trace_before is not None and now.trace is not None and now.trace < e.trace_before:
        return (f"the terminal's trace counter went down from {e.trace_before} to {now.trace} "
                "(terminal swapped or reset)")
    if e.count_before is not None and now.count is not None and now.count < e.count_before:
        return (f"the terminal's batch holds {now.count} payments, {e.count_before} before this one "
                "(batch closed, or terminal swapped)")
    if (e.count_before and now.count and e.batch_from and now.batch_from
            and now.batch_from != e.batch_from):
        return (f"the terminal's batch now starts at receipt {now.batch_from}, not {e.batch_from} "
                "(batch closed, or terminal swapped)")
    return None


def flag(e: PaymentEntry, why: str, now: dt.datetime) -> PaymentEntry:
    """The terminal cannot settle `e` any more: it stays UNKNOWN, flagged for the batch
    totals or a supervisor (it blocks its fee and the station's next charge meanwhile)."""
    if e.state is not S.UNKNOWN:
        raise PaymentStateError(f"payment {e.payment_id}: only an UNKNOWN payment can be flagged, not {e.state}")
    return replace(e, flagged=why[:300], history=e.history + ((S.UNKNOWN.value, now.isoformat(),
                                                                f"flagged for resolution: {why}"),))


RESOLVE_AS = ("paid", "not-charged")


def resolve_by_person(e: PaymentEntry, outcome: str, supervisor: str, evidence: str,
                      now: dt.datetime) -> PaymentEntry:
    """A supervisor decides an UNKNOWN entry from evidence the software cannot read (the
    terminal's printed journal, the acquirer's statement). Never for a PENDING one: that
    is a crash recovery has not looked at yet."""
    if e.state is not S.UNKNOWN:
        raise PaymentStateError(f"payment {e.payment_id} is {e.state}: only an UNKNOWN payment is resolved "
                                "by a supervisor" + (" (run `ur-kiosk payments recover` first)"
                                                     if e.state in (S.CREATED, S.PENDING) else ""))
    if outcome not in RESOLVE_AS:
        raise UrError(f"resolve as one of {', '.join(RESOLVE_AS)}, not {outcome!r}")
    if not supervisor:
        raise UrError(f"payment {e.payment_id}: a resolution needs a supervisor")
    evidence = " ".join(str(evidence or "").split())
    if len(evidence) < 5:
        raise UrError("--evidence must say what was checked (at least 5 characters), e.g. "
                      "'terminal journal: receipt 0042 approved 25000'")
    to = S.PAID if outcome == "paid" else S.FAILED
    return _move(e, to, now, f"resolved by supervisor {supervisor} as {outcome}: {evidence}",
                 resolved_by=supervisor, evidence=evidence[:300])


def settle_by_totals(unknown: list[PaymentEntry], journal: tuple[int, int],
                     terminal: tuple[int, int]) -> dict[str, Decision]:
    """End of day: the terminal's batch totals minus what the journal knows it charged
    (count, minor units) is what the UNKNOWN entries of that batch charged. Decided only
    when that difference names them unambiguously: nothing (all FAILED), exactly one
    entry of exactly that amount (it PAID, the rest FAILED), or all of them. Anything
    else stays UNDECIDED, for a person."""
    if not unknown:
        return {}
    dc, da = terminal[0] - journal[0], terminal[1] - journal[1]
    if (dc, da) == (0, 0):
        return {e.payment_id: Decision("FAILED", "the terminal's batch totals equal the journal's: not charged")
                for e in unknown}
    single = [e for e in unknown if e.amount == da]
    if dc == 1 and len(single) == 1:
        hit = single[0].payment_id
        return {e.payment_id: Decision("PAID", f"the terminal's batch holds exactly one payment of {da} "
                                               "more than the journal") if e.payment_id == hit else
                Decision("FAILED", f"the batch's one missing charge is payment {hit}") for e in unknown}
    if dc == len(unknown) and da == sum(e.amount for e in unknown):
        return {e.payment_id: Decision("PAID", f"the terminal's batch holds {dc} payments ({da}) more "
                                               "than the journal: all of the open ones") for e in unknown}
    why = (f"the terminal's batch differs from the journal by {dc} payments / {da}, which does not "
           "single out the open payments")
    return {e.payment_id: Decision("UNDECIDED", why) for e in unknown}


def apply_decision(e: PaymentEntry, d: Decision, now: dt.datetime) -> PaymentEntry:
    if d.outcome == "PAID":
        return _move(e, S.PAID, now, f"resolved: {d.reason}", receipt_no=d.receipt_no or e.receipt_no,
                     trace=d.trace or e.trace, terminal_id=d.terminal_id or e.terminal_id)
    if d.outcome == "FAILED":
        return _move(e, S.FAILED, now, f"resolved: {d.reason}")
    return e
