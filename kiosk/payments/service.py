"""Card collection of government fees: the persistent payment journal and the service
screens and the cashier call (`PaymentService`).

Built on the pure state machine in `kiosk.payments.journal`; this module adds the
imperative shell: every step is committed (synchronous=FULL) *before* the next
thing happens at the terminal, so a kill at any point leaves a row that `recover()`
finishes by asking the terminal - never by charging again.

    pay: resolve fee -> CREATED (commit) -> PENDING (commit) -> 06 01
         -> APPROVED (commit) -> receipt + service -> PAID (commit, outbox "payments")
         -> DECLINED/FAILED (commit)      -> UNKNOWN (commit; blocks the fee)
    service failed after approval -> reversal (06 30); refused -> refund_due, and only a
    supervisor-approved refund (06 31) may follow: never both.

Settle before anything else: before any new transaction at the terminal (a charge, a
void, a refund) every open row of the station is settled from the terminal first, while
its last transaction, repeat receipt and batch totals can still prove what happened;
what the terminal cannot settle is *flagged* (amount, time, fee; synced as
"unresolved") and stops new card payments here until the end-of-day batch totals or a
supervisor (`resolve_manually`, audited) close it. A payment is matched only against
the terminal session that took it (terminal id, trace, batch - `payment_journal.
session_changed`), so a swapped or reset terminal never reads as "nothing was charged".
One payment operation per station at a time, across processes too (a file lock): a
PENDING row found while holding the lock is a crash, never someone else's payment.

No card number is stored: the driver masks PANs, and receipts keep its masked lines.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import fault_points, ids
from contract.errors import UrError
from kiosk.devices.terminal_device import terminal_settings
from kiosk.devices.zvt_driver import (
    RESULT_TEXT,
    OutcomeUnknown,
    TerminalBusy,
    TerminalError,
    TerminalUnavailable,
    TransactionResult,
    ZvtDriver,
)
from kiosk.identity import Identity
from kiosk.payments import batches, payables, receipt_code
from kiosk.payments import journal as pj
from kiosk.store import Base, KioskStore
from kiosk.sync import outbox

S = pj.PaymentState
STREAM = "payments"
IQD = 368
Progress = Callable[[str, str], None]
BUSY_WAIT_S = 60.0  # how long recovery waits out a busy terminal (bounded, with progress)
KIOSK_CARD_WAIT_S = 60.0  # default card wait (profile key card_wait_s)


class PaymentBlocked(UrError):
    """A new charge for this fee is not allowed (paid, in progress or outcome unknown)."""


class DeliveryFailed(UrError):
    """The service paid for (receipt, document) could not be produced after approval."""


class PaymentRow(Base):
    __tablename__ = "payments"
    payment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fee_ref: Mapped[str] = mapped_column(String(96), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), index=True)
    dinars: Mapped[int] = mapped_column(Integer)
    statutory: Mapped[int] = mapped_column(Integer)
    service: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    catalogue_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    business_date: Mapped[str] = mapped_column(String(10), index=True)
    operator: Mapped[str] = mapped_column(String(64), default="")
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    reversal_due: Mapped[str | None] = mapped_column(String(256), nullable=True)
    refund_due: Mapped[str | None] = mapped_column(String(256), nullable=True)
    refund_sent_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # refund in flight
    refund_sent_trace: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra_traces: Mapped[str] = mapped_column(String(64), default="")  # reversal/refund traces
    terminal_receipt: Mapped[str] = mapped_column(Text, default="{}")  # masked lines, both copies
    receipt_code: Mapped[str] = mapped_column(Text, default="")
    entry_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class TerminalTrace(Base):
    """The highest trace number seen from this station's terminal: the lower bound
    `resolve_unknown` needs to prove that nothing was charged after a request."""

    __tablename__ = "terminal_trace"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_trace: Mapped[int | None] = mapped_column(Integer, nullable=True)
    terminal_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


# -- (de)serialising the pure entry ----------------------------------------------------------


def entry_to_json(e: pj.PaymentEntry) -> str:
    d = asdict(e)
    d["state"] = e.state.value
    for k in ("created_at", "sent_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return json.dumps(d)


def entry_from_json(text: str) -> pj.PaymentEntry:
    d = json.loads(text)
    d["state"] = S(d["state"])
    for k in ("created_at", "sent_at"):
        d[k] = dt.datetime.fromisoformat(d[k]) if d[k] else None
    d["history"] = tuple(tuple(h) for h in d["history"])
    return pj.PaymentEntry(**d)


def entry_of(row: PaymentRow) -> pj.PaymentEntry:
    return entry_from_json(row.entry_json)


def outcome_of(r: TransactionResult) -> pj.TerminalOutcome:
    return pj.TerminalOutcome(r.approved, r.result_code, r.amount, r.receipt_no, r.trace,
                              r.terminal_id, r.time, r.date, r.masked_pan, r.currency)


@dataclass
class PaymentResult:
    payment_id: str
    fee_ref: str
    state: str
    amount: int  # whole dinars
    message: str
    receipt_code: str = ""
    needs_supervisor: bool = False
    blocked_by: str | None = None
    terminal_receipt: dict[str, list[str]] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        return self.state == S.PAID.value

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> dt.datetime:
    # Terminal clocks are local wall time (BMP 0C/0D): the journal uses the same clock.
    return dt.datetime.now().replace(microsecond=0)


def _checkpoint(step: str) -> None:
    """`step` is committed: where the SIGKILL recovery tests cut the power (a hook
    only the test suite installs; contract/fault_points.py)."""
    fault_points.reached(fault_points.PAY_STEP_COMMITTED, step)


def _one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    """One terminal per station: a second screen/thread (or a second process: the CLI next
    to the UI) gets a clear refusal instead of opening the port twice. Holding the file
    lock is also what makes a PENDING row found by recovery a crash, never a payment
    another process is still running (the kernel drops the lock of a killed process)."""
    @functools.wraps(method)
    def locked(self: PaymentService, *args: Any, **kwargs: Any) -> Any:
        if not self._lock.acquire(blocking=False):
            raise PaymentBlocked("another payment operation is running at this station; try again in a minute")
        try:
            if self._depth == 0:
                fd = os.open(self.store.dir / "payments.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise PaymentBlocked("another program at this station is using the card terminal "
                                         "(a payment or a recovery); try again in a minute") from None
                self._lock_fd = fd
            self._depth += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # releases the flock
                    self._lock_fd = None
        finally:
            self._lock.release()
    return locked


MESSAGES = {
    "insert_card": "Insert, tap or swipe your card",
    "approved": "Payment approved",
    "declined": "Payment declined - you were not charged; you may try another card",
    "cancelled": "Payment cancelled - you were not charged",
    "unknown": "Your payment is being checked - do NOT pay again; staff will settle it",
    "unavailable": "The card terminal is not answering - you were not charged; try again in a minute or ask staff",
    "busy": "The card terminal is busy finishing something; waiting",
}
RESOLVE_HINT = ("a supervisor reads the terminal's printed journal, then runs "
                "`ur-kiosk payments resolve {pid} --as paid|not-charged --evidence TEXT`; "
                "or close the day (the terminal's batch totals may settle it)")


class PaymentService:
    """Card payments on one station (kiosk or cashier) with one terminal.

    `terminal` opens the driver (a context manager) for each exchange; `deliver`
    (optional) produces the service after approval - it may raise `DeliveryFailed`
    (then the payment is reversed); `receipts` (optional) prints the receipt."""

    def __init__(self, store: KioskStore, ident: Identity, terminal: Callable[[], ZvtDriver],
                 receipts: Any | None = None, exponent: int = 0, currency: int = IQD,
                 deliver: Callable[[PaymentRow], None] | None = None, card_wait_s: float | None = None,
                 busy_wait_s: float = BUSY_WAIT_S) -> None:
        self.store = store
        self.ident = ident
        self.terminal = terminal
        self.receipts = receipts
        self.exponent = exponent
        self.currency = currency
        self.deliver = deliver
        self.card_wait_s = card_wait_s  # None: the terminal's own timeout decides
        self.busy_wait_s = busy_wait_s
        self._lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None
        self._cancel = threading.Event()

    # -- queries ----------------------------------------------------------------------------
    def get(self, payment_id: str) -> PaymentRow:
        with self.store.session() as s:
            row = s.get(PaymentRow, payment_id)
            if row is None:
                raise UrError(f"no payment {payment_id} at this station")
            return row

    def result(self, row: PaymentRow, message: str = "") -> PaymentResult:
        return PaymentResult(
            row.payment_id, row.fee_ref, row.state, row.dinars,
            message or _state_message(row), row.receipt_code,
            needs_supervisor=bool(row.refund_due) and row.state not in (S.REFUNDED, S.REVERSED),
            terminal_receipt=json.loads(row.terminal_receipt or "{}"),
        )

    # -- persistence helpers ----------------------------------------------------------------
    def _save(self, s: Session, row: PaymentRow, e: pj.PaymentEntry) -> None:
        prev = row.state
        row.state = e.state.value
        row.entry_json = entry_to_json(e)
        row.updated_at = _now()
        if row.state != prev and row.state in (S.PAID, S.REVERSED, S.REFUNDED):
            outbox.enqueue(s, self.ident, STREAM, self._record(row, e))
        elif row.state != prev and row.state == S.FAILED and prev == S.UNKNOWN and (e.flagged or e.resolved_by):
            # Central was told it is unresolved (or a supervisor decided): tell it how it ended.
            outbox.enqueue(s, self.ident, STREAM, self._record(row, e, "not_charged"))

    def _record(self, row: PaymentRow, e: pj.PaymentEntry, event: str | None = None) -> dict[str, Any]:
        """What central's ledger keeps: one record per collection id, its latest state."""
        rec = {
            "collection_id": row.payment_id, "event": event or row.state.lower(), "fee_ref": row.fee_ref,
            "kind": row.kind, "amount": row.dinars, "statutory": row.statutory, "service": row.service,
            "catalogue_version": row.catalogue_version, "office": self.ident.office,
            "station": self.ident.kiosk_id, "operator": row.operator,
            "terminal_id": e.terminal_id or e.terminal_before, "trace": e.trace, "receipt_no": e.receipt_no,
            "business_date": row.business_date, "at": _now().isoformat(),
        }
        if e.flagged:
            rec["flagged"] = e.flagged
            rec["sent_at"] = e.sent_at.isoformat() if e.sent_at else None
        if e.state in (S.PAID, S.FAILED) and e.history and e.history[-1][2].startswith("resolved"):
            rec["resolution"] = {"outcome": "paid" if e.state is S.PAID else "not_charged",
                                 "by": e.resolved_by or "terminal", "evidence": e.evidence or e.history[-1][2][:300],
                                 "at": e.history[-1][1]}
        return rec

    def _note_trace(self, s: Session, r: TransactionResult | None, trace: int | None = None) -> None:
        t = trace if trace is not None else (r.trace if r else None)
        if t is None:
            return
        st = s.get(TerminalTrace, 1)
        if st is None:
            st = TerminalTrace(id=1, last_trace=None)
            s.add(st)
        if st.last_trace is None or t > st.last_trace:
            st.last_trace = t
        if r is not None and r.terminal_id:
            st.terminal_id = r.terminal_id

    def _wait_ready(self, t: ZvtDriver, say: Progress) -> None:
        """Wait out a busy terminal (it is often still finishing the crashed transaction
        with nobody listening) with progress, bounded by `busy_wait_s`."""
        deadline = time.monotonic() + self.busy_wait_s
        failures, last_said = 0, -1
        while True:
            try:
                if t.status().ready:
                    return
                why = "busy"
            except TerminalBusy as x:
                why = str(x)
            except (TerminalUnavailable, OutcomeUnknown):
                raise  # no ACK, or no answer at all: not busy, not there
            except TerminalError as x:  # a half-heard frame of the exchange that died with us
                failures += 1
                if failures >= 3:
                    raise
                why = str(x)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TerminalBusy(f"the terminal was still busy after {self.busy_wait_s:g} s ({why}): wait until "
                                   "it shows its idle screen, then run `ur-kiosk payments recover` again")
            if int(left) // 5 != last_said:
                last_said = int(left) // 5
                say("terminal_busy", f"{MESSAGES['busy']} (up to {int(left)} s more)")
            time.sleep(0.3)

    def _ask(self, t: ZvtDriver, call: Callable[[], Any], say: Progress) -> Any:
        """One enquiry; a busy answer waits until ready and asks again (never a money command)."""
        for _ in range(5):
            try:
                return call()
            except TerminalBusy:
                self._wait_ready(t, say)
        return call()

    def _terminal_view(self, t: ZvtDriver, say: Progress) -> pj.TerminalView:
        """The terminal's counters now (totals, 06 10): the fingerprint a pending payment is
        later matched against. A terminal id that changed or a trace that went down since the
        last transaction here means another (or a reset) terminal: noted as a batch boundary."""
        try:
            tot = self._ask(t, t.totals, say)
        except OutcomeUnknown as x:  # an enquiry, not money: nothing was charged by it
            raise TerminalUnavailable(f"the terminal did not answer its totals ({x}); nothing was sent") from None
        view = pj.TerminalView(tot.terminal_id, tot.trace, tot.count, tot.amount or 0, tot.receipt_from, tot.serial)
        with self.store.tx() as s:
            st = s.get(TerminalTrace, 1)
            if st is None:
                s.add(TerminalTrace(id=1, last_trace=view.trace, terminal_id=view.terminal_id))
                return view
            changed = ((st.terminal_id and view.terminal_id and st.terminal_id != view.terminal_id)
                       or (st.last_trace is not None and view.trace is not None and view.trace < st.last_trace))
            if changed:
                batches.note_terminal_changed(s, f"terminal {st.terminal_id} trace {st.last_trace} -> "
                                         f"{view.terminal_id} trace {view.trace}")
                st.last_trace = view.trace
            elif view.trace is not None and (st.last_trace is None or view.trace > st.last_trace):
                st.last_trace = view.trace
            if view.terminal_id:
                st.terminal_id = view.terminal_id
        return view

    # -- pay ----------------------------------------------------------------------------------
    @_one_at_a_time
    def pay(self, fee_ref: str, on_progress: Progress | None = None, payment_id: str | None = None,
            operator: str = "") -> PaymentResult:
        """Charge the fee `fee_ref` once. The same `payment_id` again returns the stored
        result (idempotent); a fee that is paid, in progress or UNKNOWN is refused, and so
        is any new charge while an earlier payment of this station is not settled."""
        say = on_progress or (lambda _e, _m: None)
        self._cancel.clear()
        pid = payment_id or ids.new_id()
        if payment_id is None or self._find(pid) is None:
            self._settle_before_charge(say)
        now = _now()
        with self.store.tx() as s:
            existing = s.get(PaymentRow, pid)
            if existing is not None:
                return self.result(existing)
            if fee_ref.startswith("item:") and fee_ref.count(":") == 1:
                fee_ref = f"{fee_ref}:{pid.replace('-', '')[-12:]}"  # a sale, not the item, is paid once
            payable = payables.resolve(s, fee_ref)
            entries = [entry_of(r) for r in s.scalars(select(PaymentRow).where(PaymentRow.fee_ref == fee_ref))]
            why = pj.can_start(entries, fee_ref)
            if why:
                blocker = next(e for e in entries if e.state in pj.OPEN_OR_CHARGED)
                raise PaymentBlocked(why + (": it is being checked; a supervisor settles it "
                                            f"(ur-kiosk payments show {blocker.payment_id})"
                                            if blocker.state in (S.UNKNOWN, S.PENDING) else ""))
            e = pj.create(pid, fee_ref, payable.amount * 10 ** self.exponent, self.currency, now)
            row = PaymentRow(payment_id=pid, fee_ref=fee_ref, kind=payable.kind, state=e.state.value,
                             dinars=payable.amount, statutory=payable.statutory, service=payable.service,
                             description=payable.description[:200], catalogue_version=payable.catalogue_version,
                             business_date=now.date().isoformat(), operator=operator, delivered=False,
                             entry_json=entry_to_json(e), updated_at=now)
            s.add(row)
        _checkpoint("created")
        try:
            with self.terminal() as t:
                before = self._terminal_view(t, say)
                with self.store.tx() as s:
                    row = s.get_one(PaymentRow, pid)
                    e = pj.mark_pending(entry_of(row), _now(), before=before)
                    self._save(s, row, e)
                _checkpoint("pending")
                say("insert_card", MESSAGES["insert_card"])
                res = self._authorize(t, e.amount, say)
        except OutcomeUnknown as x:
            with self.store.tx() as s:
                row = s.get_one(PaymentRow, pid)
                self._save(s, row, pj.record_unknown(entry_of(row), _now(), str(x)))
            say("unknown", MESSAGES["unknown"])
            try:
                return self._resolve(pid, say)
            except TerminalError:
                return self.result(self.get(pid), MESSAGES["unknown"])
        except (TerminalUnavailable, TerminalBusy, TerminalError) as x:
            with self.store.tx() as s:
                row = s.get_one(PaymentRow, pid)
                e = entry_of(row)
                if e.state is S.CREATED:  # never got as far as PENDING
                    e = pj.mark_pending(e, _now())
                self._save(s, row, pj.record_not_sent(e, _now(), str(x)))
            say("unavailable", MESSAGES["unavailable"])
            return self.result(self.get(pid), f"{MESSAGES['unavailable']} ({x})")
        _checkpoint("answered")
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, pid)
            e = pj.record_outcome(entry_of(row), outcome_of(res), _now())
            row.terminal_receipt = json.dumps({"customer": res.receipt_lines_customer,
                                               "merchant": res.receipt_lines_merchant})
            self._note_trace(s, res)
            if res.auto_end_of_day:  # the terminal closed its batch before this payment
                batches.note_auto_end_of_day(s, pid)
            if e.state is S.DECLINED:
                e = pj.close_declined(e, _now())
            self._save(s, row, e)
        if not res.approved:
            if res.result_code == 0x6C:
                say("cancelled", MESSAGES["cancelled"])
                return self.result(self.get(pid), MESSAGES["cancelled"])
            text = RESULT_TEXT.get(res.result_code, f"code {res.result_code:02X}")
            say("declined", f"{MESSAGES['declined']} ({text})")
            return self.result(self.get(pid), f"{MESSAGES['declined']} ({text})")
        _checkpoint("approved")
        say("approved", MESSAGES["approved"])
        return self._finish(pid)

    def _authorize(self, t: ZvtDriver, amount: int, say: Progress) -> TransactionResult:
        """06 01 with the card wait: a countdown each second, and at zero (or on `cancel`)
        an abort at the terminal. The terminal's answer is still what counts: an abort it
        refuses (the card was already read) ends in its real result."""
        done = threading.Event()

        def watch() -> None:
            end = time.monotonic() + self.card_wait_s if self.card_wait_s else None
            shown, asked = None, 0.0
            while not done.wait(0.2):
                if self._cancel.is_set() or (end is not None and time.monotonic() >= end):
                    if time.monotonic() - asked >= 1.0:  # again each second: the exchange may not
                        asked = time.monotonic()         # have started when it was first asked
                        t.abort()
                    continue
                if end is not None:
                    left = max(0, int(end - time.monotonic() + 0.999))
                    if left != shown:
                        shown = left
                        say("card_wait", str(left))

        watcher = threading.Thread(target=watch, name="card-wait", daemon=True)
        watcher.start()
        try:
            return t.authorize(amount, self.currency)
        finally:
            done.set()
            watcher.join(2)

    def cancel(self) -> None:
        """The citizen's or cashier's Cancel: abort the card wait at the terminal (the
        running `pay` returns the terminal's answer: cancelled, or charged if too late)."""
        self._cancel.set()

    # -- after approval -------------------------------------------------------------------
    def _finish(self, pid: str) -> PaymentResult:
        row = self.get(pid)
        e = entry_of(row)
        if e.must_reverse:
            return self._reverse(pid, e.must_reverse)
        try:
            self._produce(row)
        except DeliveryFailed as x:
            return self._reverse(pid, f"service failed after approval: {x}")
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, pid)
            e = entry_of(row)
            if e.state is S.APPROVED:
                e = pj.mark_paid(e, _now())
            row.delivered = True
            self._save(s, row, e)
        _checkpoint("paid")
        return self.result(self.get(pid), "Paid")

    def _produce(self, row: PaymentRow) -> None:
        """Receipt code, receipt, then the service itself; idempotent (re-run on recovery)."""
        if not row.receipt_code:
            # Compact claims (short id, amount, digest of id+amount+fee): the QR stays small.
            code = receipt_code.sign_compact_receipt(self.ident, row.payment_id, int(time.time()),
                                                     row.dinars, row.fee_ref)
            with self.store.tx() as s:
                r = s.get_one(PaymentRow, row.payment_id)
                r.receipt_code = code
            row.receipt_code = code
        if self.receipts is not None:
            self.receipts.issue(row)  # raises DeliveryFailed when the receipt cannot be printed
        if self.deliver is not None:
            self.deliver(row)

    def _reverse(self, pid: str, why: str) -> PaymentResult:
        row = self.get(pid)
        e = entry_of(row)
        if row.refund_due:
            return self.result(row, f"reversal was refused; a supervisor refund is needed ({row.refund_due})")
        with self.store.tx() as s:
            r = s.get_one(PaymentRow, pid)
            r.reversal_due = why[:256]
        _checkpoint("reversal_due")
        try:
            with self.terminal() as t:
                res = t.reverse(e.receipt_no or 0)
            _checkpoint("reversal_answered")
        except (TerminalUnavailable, TerminalBusy, OutcomeUnknown) as x:
            # Left with reversal_due: recover() asks again (B4 "already reversed" counts as done).
            return self.result(self.get(pid), f"reversal pending, terminal: {x}")
        except TerminalError as x:
            res = TransactionResult("reversal", 0x83, False, message=str(x))
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, pid)
            self._note_trace(s, res)
            if res.approved or res.result_code == 0xB4:
                rev = pj.TerminalOutcome(True, res.result_code, res.amount, res.receipt_no, res.trace)
                if res.trace is not None:
                    row.extra_traces = f"{row.extra_traces} {res.trace}".strip()
                row.reversal_due = None
                self._save(s, row, pj.mark_reversed(entry_of(row), rev, _now()))
                msg = f"Payment reversed: {why}"
            else:
                row.refund_due = (f"reversal refused ({RESULT_TEXT.get(res.result_code, hex(res.result_code))}): "
                                  f"{why}")[:256]
                row.reversal_due = None
                row.updated_at = _now()
                msg = f"Reversal refused by the terminal; a supervisor-approved refund is needed ({why})"
        return self.result(self.get(pid), msg)

    @_one_at_a_time
    def void(self, payment_id: str, why: str) -> PaymentResult:
        """Cashier void (same day, terminal reversal). Refused -> refund_due."""
        row = self.get(payment_id)
        if row.state not in (S.PAID, S.APPROVED):
            raise UrError(f"payment {payment_id} is {row.state}: only a paid payment can be voided")
        self._settle_before_charge(lambda _e, _m: None)
        return self._reverse(payment_id, why)

    @_one_at_a_time
    def refund(self, payment_id: str, supervisor: str, why: str = "") -> PaymentResult:
        """Supervisor-approved refund (06 31) of a paid payment; never after a reversal and
        never twice. The caller has checked the supervisor's PIN (kiosk.payments.cashier).

        The refund is marked as sent (with the terminal trace before it) in a committed row
        first: if its answer is lost, no second refund is possible until `recover()` has
        settled it from the terminal's repeat receipt."""
        if not supervisor:
            raise UrError("a refund needs a supervisor's approval")
        row = self.get(payment_id)
        if row.state not in (S.PAID, S.APPROVED) or row.reversal_due:
            raise UrError(f"payment {payment_id} is {row.state}"
                          + (" with a reversal in progress" if row.reversal_due else "") + ": cannot refund")
        if row.refund_sent_by:
            raise PaymentBlocked(f"a refund of payment {payment_id} was sent and its outcome is unknown: "
                                 "run recovery with the terminal before anything else")
        if self.unsettled():
            self._settle_before_charge(lambda _e, _m: None)
        e = entry_of(row)
        try:
            with self.terminal() as t:
                before = self._terminal_view(t, lambda _e, _m: None).trace
                with self.store.tx() as s:
                    r = s.get_one(PaymentRow, payment_id)
                    r.refund_sent_by, r.refund_sent_trace = supervisor[:64], before
                _checkpoint("refund_sent")
                res = t.refund(e.amount, self.currency)
                _checkpoint("refund_answered")
        except OutcomeUnknown as x:
            return self.result(self.get(payment_id), f"refund outcome unknown ({x}); run recovery")
        except TerminalError:
            with self.store.tx() as s:  # never reached the terminal: nothing happened
                r = s.get_one(PaymentRow, payment_id)
                r.refund_sent_by, r.refund_sent_trace = None, None
            raise
        return self._book_refund(payment_id, res, supervisor, why)

    def _book_refund(self, payment_id: str, res: TransactionResult, supervisor: str, why: str) -> PaymentResult:
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, payment_id)
            self._note_trace(s, res)
            row.refund_sent_by, row.refund_sent_trace = None, None
            if not res.approved:
                row.updated_at = _now()
                msg = f"refund declined by the terminal ({RESULT_TEXT.get(res.result_code, res.result_code)})"
            else:
                if res.trace is not None:
                    row.extra_traces = f"{row.extra_traces} {res.trace}".strip()
                row.refund_due = None
                self._save(s, row, pj.mark_refunded(entry_of(row), outcome_of(res), supervisor, _now()))
                msg = f"Refunded, approved by {supervisor}" + (f": {why}" if why else "")
        return self.result(self.get(payment_id), msg)

    def _settle_refund(self, payment_id: str) -> PaymentResult:
        """A refund was sent and its answer lost: the terminal's last transaction decides."""
        row = self.get(payment_id)
        with self.terminal() as t:
            try:
                last: TransactionResult | None = t.repeat_receipt()
            except TerminalError:
                last = None
        before = row.refund_sent_trace
        moved = last is not None and last.trace is not None and (before is None or last.trace > before)
        if moved and last is not None and last.approved and last.amount == entry_of(row).amount:
            return self._book_refund(payment_id, last, row.refund_sent_by or "", "settled from the terminal")
        if last is None or not moved:
            with self.store.tx() as s:  # nothing happened after the refund was sent
                r = s.get_one(PaymentRow, payment_id)
                r.refund_sent_by, r.refund_sent_trace = None, None
            return self.result(self.get(payment_id), "the refund did not happen; it may be sent again")
        return self.result(row, "terminal's last transaction is not this refund; a supervisor must check")

    # -- recovery ---------------------------------------------------------------------------
    @_one_at_a_time
    def resolve(self, payment_id: str, on_progress: Progress | None = None) -> PaymentResult:
        """Settle an UNKNOWN payment by asking the terminal (status, repeat receipt, totals)."""
        return self._resolve(payment_id, on_progress or (lambda _e, _m: None))

    def _claimed_traces(self, payment_id: str) -> frozenset[int]:
        claimed: set[int] = set()
        with self.store.session() as s:
            for r in s.scalars(select(PaymentRow).where(PaymentRow.payment_id != payment_id,
                                                        PaymentRow.state.notin_([S.CREATED, S.FAILED]))):
                o = entry_of(r)
                if o.trace is not None:
                    claimed.add(o.trace)
                claimed.update(int(x) for x in r.extra_traces.split())
        return frozenset(claimed)

    def _resolve(self, payment_id: str, say: Progress) -> PaymentResult:
        row = self.get(payment_id)
        e = entry_of(row)
        if e.state is not S.UNKNOWN:
            return self.result(row)
        if e.flagged:  # the terminal's answers were already exhausted
            return self.result(row, f"NEEDS RESOLUTION: {e.flagged}; next: {RESOLVE_HINT.format(pid=payment_id)}")
        claimed = self._claimed_traces(payment_id)
        with self.terminal() as t:
            self._wait_ready(t, say)
            try:
                last: TransactionResult | None = self._ask(t, t.repeat_receipt, say)
            except (TerminalBusy, TerminalUnavailable, OutcomeUnknown):
                raise
            except TerminalError:
                last = None  # 06 1E: the terminal has no transaction to repeat
            if last is not None and not last.approved and last.receipt_no is None:
                last = None
            tot = self._ask(t, t.totals, say)
        now_view = pj.TerminalView(tot.terminal_id, tot.trace, tot.count, tot.amount or 0, tot.receipt_from,
                                   tot.serial)
        changed = pj.session_changed(e, now_view, last.terminal_id if last else None)
        if changed:
            with self.store.tx() as s:
                batches.note_terminal_changed(s, changed)
                st = s.get(TerminalTrace, 1)
                if st is not None:
                    st.last_trace, st.terminal_id = now_view.trace, now_view.terminal_id or st.terminal_id
            return self._flag(payment_id, f"cannot be matched any more: {changed}")
        d = pj.resolve_unknown(e, pj.TerminalAnswers(
            last=outcome_of(last) if last else None, claimed_traces=claimed,
            count_before=e.count_before, amount_before=e.amount_before,
            count_now=now_view.count if e.count_before is not None else None,
            amount_now=now_view.amount if e.amount_before is not None else None))
        if d.outcome == "UNDECIDED":
            return self._flag(payment_id, f"the terminal's answers do not settle it: {d.reason}")
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, payment_id)
            e = pj.apply_decision(entry_of(row), d, _now())
            if last is not None and d.outcome == "PAID" and d.receipt_no is not None:
                row.terminal_receipt = json.dumps({"customer": last.receipt_lines_customer,
                                                   "merchant": last.receipt_lines_merchant})
            self._note_trace(s, last)
            self._note_trace(s, None, now_view.trace)
            self._save(s, row, e)
        if d.outcome == "PAID":
            return self._finish(payment_id)
        return self.result(self.get(payment_id), f"not charged: {d.reason}")

    def _flag(self, payment_id: str, why: str) -> PaymentResult:
        """Only the batch totals or a person can settle it now: report it (with its amount)
        to central at once, and say what to do."""
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, payment_id)
            e = entry_of(row)
            if not e.flagged:
                e = pj.flag(e, why, _now())
                self._save(s, row, e)
                outbox.enqueue(s, self.ident, STREAM, self._record(row, e, "unresolved"))
        return self.result(self.get(payment_id), f"NEEDS RESOLUTION: {why}; next: "
                                                 f"{RESOLVE_HINT.format(pid=payment_id)}")

    @_one_at_a_time
    def resolve_manually(self, payment_id: str, outcome: str, supervisor: str, evidence: str) -> PaymentResult:
        """A supervisor's decision on an UNKNOWN payment (the caller checked the PIN and
        writes the audit entry). "paid" delivers the service and books it; "not-charged"
        closes it and frees the fee. Synced to central with who decided and why."""
        row = self.get(payment_id)
        with self.store.tx() as s:
            row = s.get_one(PaymentRow, payment_id)
            e = pj.resolve_by_person(entry_of(row), outcome, supervisor, evidence, _now())
            self._save(s, row, e)
        if outcome == "paid":
            return self._finish(payment_id)
        return self.result(self.get(payment_id), f"resolved by {supervisor} as not charged")

    def settle_from_totals(self, unknown_ids: list[str], journal: tuple[int, int],
                           terminal: tuple[int, int]) -> list[PaymentResult]:
        """End of day: decide UNKNOWN payments of the open batch from its totals
        (`payment_journal.settle_by_totals`); undecided ones are flagged."""
        entries = [entry_of(self.get(pid)) for pid in unknown_ids]
        out = []
        for pid, d in pj.settle_by_totals(entries, journal, terminal).items():
            if d.outcome == "UNDECIDED":
                out.append(self._flag(pid, d.reason))
                continue
            with self.store.tx() as s:
                row = s.get_one(PaymentRow, pid)
                self._save(s, row, pj.apply_decision(entry_of(row), d, _now()))
            out.append(self._finish(pid) if d.outcome == "PAID" else self.result(self.get(pid), d.reason))
        return out

    def _find(self, payment_id: str) -> PaymentRow | None:
        with self.store.session() as s:
            return s.get(PaymentRow, payment_id)

    def unsettled(self) -> list[PaymentRow]:
        """Payments whose outcome is not known (in flight, UNKNOWN, flagged): while any
        exists this station takes no new card payment."""
        with self.store.session() as s:
            return list(s.scalars(select(PaymentRow).where(
                PaymentRow.state.in_([S.CREATED, S.PENDING, S.UNKNOWN])).order_by(PaymentRow.payment_id)))

    def _settle_before_charge(self, say: Progress) -> None:
        """Before the terminal takes another transaction, settle every open row from it: its
        repeat receipt only shows the *last* transaction, so this is the moment it can still
        prove what happened. What stays unsettled refuses the new charge, naming it."""
        if not self.open_payments():
            return
        self._recover_all(say)
        left = [r for r in self.unsettled()]
        if left:
            raise PaymentBlocked(blocked_message(left))

    def open_payments(self) -> list[PaymentRow]:
        with self.store.session() as s:
            return open_rows(s)

    @_one_at_a_time
    def recover(self, on_progress: Progress | None = None) -> list[PaymentResult]:
        """Start-up (and before every charge): finish every payment a crash or a lost link
        left open, asking the terminal; waits out a busy terminal with progress."""
        return self._recover_all(on_progress or (lambda _e, _m: None))

    def _recover_all(self, say: Progress) -> list[PaymentResult]:
        out = []
        for row in self.open_payments():
            pid = row.payment_id
            try:
                if row.state == S.CREATED:
                    with self.store.tx() as s:
                        r = s.get_one(PaymentRow, pid)
                        e = pj.mark_pending(entry_of(r), _now())
                        self._save(s, r, pj.record_not_sent(e, _now(), "station restarted before sending"))
                    out.append(self.result(self.get(pid), "not charged: the station stopped before sending it"))
                    continue
                if row.state == S.PENDING:
                    with self.store.tx() as s:
                        r = s.get_one(PaymentRow, pid)
                        self._save(s, r, pj.recover_after_restart(entry_of(r), _now()))
                    row = self.get(pid)
                if row.state == S.UNKNOWN:
                    out.append(self._resolve(pid, say))
                elif row.refund_sent_by:
                    out.append(self._settle_refund(pid))
                elif row.reversal_due:
                    out.append(self._reverse(pid, row.reversal_due))
                elif row.refund_due:
                    out.append(self.result(row, f"a supervisor-approved refund is due ({row.refund_due}): "
                                                f"ur-kiosk cashier refund {pid}"))
                else:  # APPROVED, or PAID by resolution but not yet delivered
                    out.append(self._finish(pid))
            except TerminalError as x:
                out.append(self.result(self.get(pid), f"still open, the terminal did not settle it ({x}); next: "
                                                      "check the terminal is on and connected, then run "
                                                      "`ur-kiosk payments recover`"))
        return out


def blocked_message(rows: list[PaymentRow]) -> str:
    r = rows[0]
    e = entry_of(r)
    when = (e.sent_at or e.created_at or r.updated_at).strftime("%Y-%m-%d %H:%M")
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    step = (RESOLVE_HINT.format(pid=r.payment_id) if e.flagged else
            "wait until the terminal shows its idle screen, then run `ur-kiosk payments recover`")
    return (f"card payments are stopped at this station: payment {r.payment_id} ({r.fee_ref}, {r.dinars} IQD, "
            f"{when}) is not settled{more} - {e.flagged or 'the terminal has not confirmed its outcome'}. "
            f"Next: {step}")


def _is_open(r: PaymentRow) -> bool:
    """Needs action before the day can close: in flight, unknown, undelivered or owed back."""
    if r.state in (S.CREATED, S.PENDING, S.UNKNOWN, S.APPROVED):
        return True
    return r.state == S.PAID and (not r.delivered or bool(r.reversal_due) or bool(r.refund_due)
                                  or bool(r.refund_sent_by))


def open_rows(session: Session, business_date: str | None = None) -> list[PaymentRow]:
    q = select(PaymentRow).where(or_(
        PaymentRow.state.in_([S.CREATED, S.PENDING, S.UNKNOWN, S.APPROVED]),
        (PaymentRow.state == S.PAID) & (PaymentRow.delivered.is_(False) | PaymentRow.reversal_due.is_not(None)
                                        | PaymentRow.refund_due.is_not(None)
                                        | PaymentRow.refund_sent_by.is_not(None)))).order_by(PaymentRow.payment_id)
    if business_date:
        q = q.where(PaymentRow.business_date == business_date)
    return [r for r in session.scalars(q) if _is_open(r)]


def _state_message(row: PaymentRow) -> str:
    if row.refund_due:
        return f"reversal refused; supervisor refund needed ({row.refund_due})"
    return {
        S.PAID: "Paid", S.FAILED: "Not charged", S.UNKNOWN: MESSAGES["unknown"],
        S.REVERSED: "Reversed - not charged", S.REFUNDED: "Refunded",
    }.get(S(row.state), row.state)


def card_wait_from_profile(profile: dict[str, Any]) -> float | None:
    """The profile's card wait (seconds; None: no limit of ours)."""
    wait = float(terminal_settings(profile, "-")["card_wait_s"])
    return wait or None


def terminal_from_profile(profile: dict[str, Any], port: str | None = None) -> tuple[Callable[[], ZvtDriver], int]:
    """(driver factory, exponent) for a terminal device profile (firmware_config), so the
    app wires `PaymentService(store, ident, factory, exponent=exponent, ...)` from data."""
    st = terminal_settings(profile, port)

    def factory() -> ZvtDriver:
        return ZvtDriver(st["port"], baudrate=st["baudrate"], password=str(st["password"]),
                         timeout=st["timeout_s"], currency=st["currency"], exponent=st["exponent"],
                         bytesize=st["bytesize"], parity=st["parity"], stopbits=st["stopbits"])
    return factory, int(st["exponent"])
