"""A ZVT payment terminal (PT) emulator: the same framing and APDU codec, other side.

It keeps its own journal (receipt no., trace, amount, time, masked card, reversed)
so status enquiry, repeat receipt, totals and end-of-day answer truthfully - that is
what lets the payment code resolve an UNKNOWN outcome by asking the terminal. The
fault knobs reproduce what goes wrong in the field (see `Knobs`).

`TerminalEmulator` is the protocol logic without I/O (bytes in, bytes out, a clock
passed in); `serve_fd` drives it on a pseudo-terminal fd; `run_in_thread` does that
on a thread for tests. Cards are Luhn-valid test numbers; the emulator only ever
sends them masked, except with the ``full_pan`` knob that exists to prove the
driver masks them itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from contract.errors import ValidationError
from kiosk.devices import zvt_apdu as ap
from kiosk.devices.emulator_host import serve_clients
from kiosk.devices.zvt_frames import ApduLink, FrameReceived, LinkFailed, ZvtLink, ZvtProtocolError

#: Luhn-valid test card numbers (the card schemes' public test PANs).
TEST_CARDS = {
    "visa": ("4111111111111111", 10, "VISA"),
    "mastercard": ("5555555555554444", 6, "MASTERCARD"),
}

# result codes used below
RC_OK = 0x00
RC_ABORT = 0x6C
RC_FUNCTION_NOT_POSSIBLE = 0x83
RC_BUSY = 0x9C
RC_NOT_READY = 0xA0
RC_ALREADY_REVERSED = 0xB4
RC_REVERSAL_NOT_POSSIBLE = 0xB5

FAULTS = (
    "drop_ack", "corrupt_crc", "corrupt_crc_always", "busy", "approve_then_silence",
    "decline", "refuse_abort", "ignore_abort", "reverse_last_only", "eod_mismatch", "auto_eod", "full_pan",
    "eod_fail", "amount_mismatch", "unknown_bmp", "currency_mismatch", "bad_length", "field_92",
)


@dataclass
class Knobs:
    """Fault knobs. Counts (busy, approve_then_silence) are used up one by one."""

    drop_ack: bool = False  # never ACK a frame: the terminal seems dead
    corrupt_crc: bool = False  # first transmission of each of our frames has a bad CRC
    corrupt_crc_always: bool = False  # every transmission has a bad CRC
    busy: int = 0  # this many status enquiries say "busy"; until then commands get 84 A0
    approve_then_silence: int = 0  # ACK + approve this many 06 01, then say nothing
    decline: int | None = None  # result code for 06 01 (05, 6C, A3, 9B...)
    refuse_abort: bool = False  # answer 06 B0 with 84 83; the card arrives just then, carry on
    ignore_abort: bool = False  # take 06 B0 (ACK byte) but never answer it; the card arrives just then
    reverse_last_only: bool = False  # reversal of anything but the last payment: RC B5
    eod_mismatch: bool = False  # end-of-day/totals report one payment too many
    auto_eod: bool = False  # next 06 01 first runs an automatic end-of-day (04 FF 0F)
    full_pan: bool = False  # send the full PAN (BMP 22 and receipts) - the driver must mask
    eod_fail: int | None = None  # end-of-day ends with 06 1E and this code (e.g. 77)
    amount_mismatch: int = 0  # echo amount + this in 04 0F
    unknown_bmp: bool = False  # 04 0F of payments ends with a tag outside the ZVT table (7F ...)
    currency_mismatch: int = 0  # 04 0F reports this currency (e.g. 978) instead of the one asked
    bad_length: bool = False  # 04 0F of payments ends with a 3C whose LLL length runs past the end
    field_92: bool = False  # 04 0F of payments carries BMP 92 (LLLVAR, ec-cash chip data)
    receipts: str = "lines"  # "lines" (06 D1) or "blocks" (06 D3)
    card: str = "visa"
    card_delay_s: float = 0.05  # time "waiting for card": an abort can land here
    password: str = "000000"
    terminal_id: str = "52500123"
    ack_timeout_s: float = 1.0  # our T3 for the ECR's ACK byte
    answer_timeout_s: float = 5.0  # how long we wait for the ECR's 80 00 00
    journal: str = ""  # append the journal to this file as JSON lines (ground truth for tests)
    serial: str = ""  # the device's serial number (default: a new one per emulator = per device)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> Knobs:
        """{"fault": "busy,full_pan", "decline": "05", "card": "mastercard", ...}."""
        k = cls()
        names = {f.name: f for f in fields(cls)}
        problems: list[str] = []
        items: list[tuple[str, str]] = []
        for key, value in options.items():
            if key == "fault":
                for part in str(value).split(","):
                    part = part.strip()
                    if not part:
                        continue
                    name, _, val = part.partition("=")
                    items.append((name.strip(), val.strip()))
            else:
                items.append((key, str(value)))
        for name, val in items:
            if name not in names:
                problems.append(f"unknown knob {name!r} (faults: {', '.join(FAULTS)})")
                continue
            current = getattr(k, name)
            try:
                if name == "currency_mismatch":
                    setattr(k, name, int(val or "978"))
                elif name in ("decline", "eod_fail"):
                    setattr(k, name, int(val or ("05" if name == "decline" else "77"), 16))
                elif isinstance(current, bool):
                    setattr(k, name, val.lower() not in ("0", "false", "no", "off"))
                elif isinstance(current, int):
                    setattr(k, name, int(val) if val else 1)
                elif isinstance(current, float):
                    setattr(k, name, float(val))
                else:
                    setattr(k, name, val)
            except ValueError:
                problems.append(f"knob {name}: {val!r} is not a valid value")
        if k.card not in TEST_CARDS:
            problems.append(f"card must be one of {', '.join(TEST_CARDS)}, not {k.card!r}")
        if k.receipts not in ("lines", "blocks"):
            problems.append("receipts must be 'lines' or 'blocks'")
        if problems:
            raise ValidationError("bad terminal emulator options", problems)
        return k


@dataclass
class JournalEntry:
    kind: str  # payment | refund | reversal
    trace: int
    amount: int
    currency: int
    time: dt.datetime
    pan_masked: str
    card_type: int
    card_name: str
    result_code: int
    receipt_no: int | None = None
    reversed: bool = False
    batch: int = 1
    reverses: int | None = None  # receipt no. of the reversed payment


@dataclass(frozen=True)
class RawApdu:
    """An APDU sent as is (for knobs that speak a dialect the ECR may not know)."""

    apdu: ap.Apdu

    def to_apdu(self) -> ap.Apdu:
        return self.apdu


def mask(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def group_of(card_name: str) -> str:
    n = card_name.lower()
    return n if n in ap.TOTALS_GROUPS else "other"


# Script steps: ("send", msg, wants_answer) | ("wait", seconds) | ("call", fn)
Step = tuple[Any, ...]


class TerminalEmulator:
    """PT-side protocol logic; feed with `receive_data`, drive time with `tick`."""

    def __init__(self, knobs: Knobs | None = None, clock: Callable[[], float] = time.monotonic,
                 transport: str = "serial") -> None:
        self.knobs = knobs or Knobs()
        self.clock = clock
        if transport not in ("serial", "tcp"):
            raise ValidationError(f"terminal emulator transport must be serial or tcp, not {transport!r}")
        self.transport = transport
        self.link: ZvtLink | ApduLink = ApduLink() if transport == "tcp" else ZvtLink()
        self.link.ack_frames = not self.knobs.drop_ack
        self.link.corrupt_first = self.knobs.corrupt_crc
        self.link.corrupt_all = self.knobs.corrupt_crc_always
        self.journal: list[JournalEntry] = []
        if not self.knobs.serial:
            self.knobs.serial = os.urandom(4).hex().upper()
        self._journal_file = open(self.knobs.journal, "a", encoding="utf-8") if self.knobs.journal else None  # noqa: SIM115
        self.received: list[str] = []  # names of commands received, in order
        self.batch = 1
        self.trace = 0
        self.receipt = 0
        self._script: deque[Step] = deque()
        self._waiting_answer = False
        self._answer_deadline = 0.0
        self._wait_until = 0.0
        self._ack_deadline: float | None = None
        self._seen_tx = 0
        self._abortable = False
        self._lock = threading.Lock()
        # Set while "insert card" is shown: tests act at that moment instead of guessing
        # it with a sleep (an abort that lands after the charge tests nothing).
        self.waiting_for_card = threading.Event()

    # -- I/O facing ------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        with self._lock:
            for ev in self.link.receive_data(data):
                if isinstance(ev, FrameReceived):
                    if self.knobs.drop_ack:
                        continue  # a dead terminal neither ACKs nor acts
                    self._on_apdu(ev.apdu)
                elif isinstance(ev, LinkFailed):
                    self._abandon()
            self._run()

    def tick(self) -> None:
        with self._lock:
            now = self.clock()
            if self.link.transmissions != self._seen_tx:
                self._seen_tx = self.link.transmissions
                self._ack_deadline = now + self.knobs.ack_timeout_s
            if self.link.awaiting_ack and self._ack_deadline is not None and now >= self._ack_deadline:
                for ev in self.link.ack_timeout():
                    if isinstance(ev, LinkFailed):
                        self._abandon()
            if self._waiting_answer and now >= self._answer_deadline:
                self._abandon()
            self._run()

    def data_to_send(self) -> bytes:
        with self._lock:
            return self.link.data_to_send()

    def disconnected(self) -> None:
        """The ECR closed its TCP connection: what was running is dropped (what was
        already charged stays in the journal), the next connection starts clean."""
        with self._lock:
            self._abandon()

    def present_card(self) -> None:
        """The citizen inserts the card now: the card wait ends at the next tick."""
        with self._lock:
            self._end_card_wait()

    def _end_card_wait(self) -> None:
        if self._abortable and self._script and self._script[0][0] == "wait":
            self._wait_until = float("-inf")

    @property
    def in_card_wait(self) -> bool:
        """The ECR has acknowledged "insert card" and the terminal now waits for the card:
        from here the charge goes on whether or not the ECR is still there (what a test
        that kills the ECR "while the card is read" must wait for)."""
        with self._lock:
            return (self._abortable and bool(self._script) and self._script[0][0] == "wait"
                    and not self._waiting_answer and not self.link.awaiting_ack)

    @property
    def busy(self) -> bool:
        return bool(self._script) or self._waiting_answer

    # -- script runner -------------------------------------------------------------------
    def _abandon(self) -> None:
        self.waiting_for_card.clear()
        self._script.clear()
        self._waiting_answer = False
        self._abortable = False
        self.link.reset()

    def _send(self, msg: ap.Message | RawApdu) -> None:
        self.link.send_apdu(msg.to_apdu().encode())

    def _run(self) -> None:
        while self._script and not self._waiting_answer and not self.link.awaiting_ack:
            step = self._script[0]
            if step[0] == "wait":
                if self._wait_until == 0.0:
                    self._wait_until = self.clock() + step[1]
                if self.clock() < self._wait_until:
                    return
                self._wait_until = 0.0
                self._script.popleft()
            elif step[0] == "call":
                self._script.popleft()
                step[1]()
            else:
                self._script.popleft()
                _, msg, wants_answer = step
                self._send(msg)
                if wants_answer:
                    self._waiting_answer = True
                    self._answer_deadline = self.clock() + self.knobs.answer_timeout_s

    def _on_apdu(self, raw: bytes) -> None:
        try:
            msg = ap.decode_message_bytes(raw)
        except ZvtProtocolError:
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        if isinstance(msg, ap.Ack):
            if self._waiting_answer:
                self._waiting_answer = False
            return
        if isinstance(msg, ap.Nack):
            self._waiting_answer = False
            return
        if not isinstance(msg, ap.Command):
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        self.received.append(msg.name)
        if msg.command == ap.ABORT:
            self._on_abort()
            return
        if self.busy:
            self._send(ap.Nack(RC_NOT_READY))
            return
        if msg.command == ap.STATUS_ENQUIRY:
            self._status_enquiry(msg)
            return
        if self.knobs.busy > 0:
            self._send(ap.Nack(RC_NOT_READY))
            return
        if msg.password is not None and msg.password != self.knobs.password:
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        handler = {
            ap.REGISTRATION: self._registration,
            ap.AUTHORIZATION: self._authorization,
            ap.REVERSAL: self._reversal,
            ap.REFUND: self._refund,
            ap.END_OF_DAY: self._end_of_day,
            ap.TOTALS: self._totals,
            ap.REPEAT_RECEIPT: self._repeat_receipt,
        }.get(msg.command)
        if handler is None:
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        try:
            handler(msg)
        except ZvtProtocolError:
            # e.g. an amount that is not BCD: refuse, stay alive for the next command
            if not self.link.awaiting_ack and not self._script:
                self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
        self._run()

    def _queue(self, *steps: Step) -> None:
        self._script.extend(steps)

    def _msg(self, msg: ap.Message) -> Step:
        return ("send", msg, True)

    # -- commands ----------------------------------------------------------------------
    def _on_abort(self) -> None:
        # Ignored or refused: the card is inserted just as the abort arrives - the race
        # those knobs exist for, made certain instead of left to timing.
        if self.knobs.ignore_abort and self.busy:
            self._end_card_wait()
            return
        if self._abortable and not self.knobs.refuse_abort:
            self._script.clear()
            self._wait_until = 0.0
            self._abortable = False
            self.waiting_for_card.clear()
            self._send(ap.Ack())
            self._queue(self._msg(ap.TerminalAbort(RC_ABORT)))
            return
        if not self.busy:
            self._send(ap.Ack())  # nothing to abort: harmless
            return
        self._end_card_wait()
        self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))

    def _tid(self) -> bytes:
        return bytes.fromhex(self.knobs.terminal_id)

    def _status_enquiry(self, msg: ap.Command) -> None:
        self._send(ap.Ack())
        code = RC_OK
        if self.knobs.busy > 0:
            self.knobs.busy -= 1
            code = RC_BUSY
        self._queue(
            self._msg(ap.StatusInformation(((0x27, bytes([code])), (0x29, self._tid())))),
            self._msg(ap.Completion(((0x29, self._tid()),))),
        )

    def _registration(self, msg: ap.Command) -> None:
        self._send(ap.Ack())
        cur = msg.currency if msg.currency is not None else ap.IQD
        self._queue(self._msg(ap.Completion((
            (0x19, b"\x00"), (0x29, self._tid()), (0x49, ap.bcd_encode(cur, 2)),
        ))))

    def _new_entry(self, kind: str, amount: int, currency: int, rc: int) -> JournalEntry:
        pan, ctype, cname = TEST_CARDS[self.knobs.card]
        self.trace += 1
        entry = JournalEntry(
            kind=kind, trace=self.trace, amount=amount, currency=currency,
            time=dt.datetime.now().replace(microsecond=0), pan_masked=mask(pan),
            card_type=ctype, card_name=cname, result_code=rc, batch=self.batch,
        )
        if rc == RC_OK:
            self.receipt += 1
            entry.receipt_no = self.receipt
        self.journal.append(entry)
        self._write_journal("entry", entry)
        return entry

    def _write_journal(self, event: str, e: JournalEntry | None = None, **extra: object) -> None:
        """One JSON line per journal change, flushed at once: what the terminal did is on
        disk even if whoever drives it is killed (`read_journal` folds it back)."""
        if self._journal_file is None:
            return
        rec: dict[str, object] = {"event": event, **extra}
        if e is not None:
            rec.update({k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in e.__dict__.items()})
        self._journal_file.write(json.dumps(rec) + "\n")
        self._journal_file.flush()

    def _status_fields(self, e: JournalEntry) -> tuple[tuple[int, bytes], ...]:
        pan = TEST_CARDS[self.knobs.card][0] if self.knobs.full_pan else e.pan_masked
        out: list[tuple[int, bytes]] = [
            (0x27, bytes([e.result_code])),
            (0x04, ap.amount_encode(e.amount + self.knobs.amount_mismatch)),
            (0x49, ap.bcd_encode(self.knobs.currency_mismatch or e.currency, 2)),
            (0x0B, ap.bcd_encode(e.trace, 3)),
            (0x0C, bytes.fromhex(e.time.strftime("%H%M%S"))),
            (0x0D, bytes.fromhex(e.time.strftime("%m%d"))),
            (0x22, ap.pan_encode(pan)),
            (0x29, self._tid()),
            (0x8A, bytes([e.card_type])),
            (0x8B, e.card_name.encode("ascii") + b"\x00"),
        ]
        if e.receipt_no is not None:
            out.append((0x87, ap.bcd_encode(e.receipt_no, 2)))
        # Card sequence number and expiry, as real terminals send them (test card: 12/30).
        out += [(0x17, b"\x00\x01"), (0x0E, b"\x30\x12")]
        if self.knobs.field_92:
            out.append((0x92, bytes.fromhex("9f2701809f360200a2")))
        return tuple(out)

    def _receipt_lines(self, e: JournalEntry, copy: str) -> list[str]:
        pan = TEST_CARDS[self.knobs.card][0] if self.knobs.full_pan else e.pan_masked
        shown = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        verdict = "APPROVED" if e.result_code == RC_OK else f"DECLINED {e.result_code:02X}"
        return [
            "UR KIOSK TEST TERMINAL",
            copy,
            e.kind.upper(),
            f"TID {self.knobs.terminal_id}  {e.time:%d.%m.%Y %H:%M:%S}",
            f"{e.card_name}  {shown}",
            f"AMOUNT {e.currency} {e.amount}",
            f"TRACE {e.trace:06d}  RECEIPT {e.receipt_no or 0:04d}",
            verdict,
        ]

    def _receipt_steps(self, e: JournalEntry) -> list[Step]:
        steps: list[Step] = []
        for rtype, copy in ((ap.RECEIPT_MERCHANT, "MERCHANT COPY"), (ap.RECEIPT_CUSTOMER, "CARDHOLDER COPY")):
            lines = self._receipt_lines(e, copy)
            if self.knobs.receipts == "blocks":
                steps.append(self._msg(ap.PrintTextBlock(rtype, tuple(lines))))
            else:
                for i, text in enumerate(lines):
                    attr = 0x81 if i == len(lines) - 1 else 0x00
                    steps.append(self._msg(ap.PrintLine(attr, text)))
        return steps

    def _finish_tx(self, e: JournalEntry) -> None:
        """Status information, receipts, then completion (or 06 1E for a decline)."""
        info: ap.Message | RawApdu = ap.StatusInformation(self._status_fields(e))
        if self.knobs.unknown_bmp:
            a = info.to_apdu()
            info = RawApdu(ap.Apdu(a.cls, a.ins, a.data + b"\x7f\x01"))
        if self.knobs.bad_length:
            a = info.to_apdu()
            info = RawApdu(ap.Apdu(a.cls, a.ins, a.data + b"\x3c\xf0\xf2\xf0AB"))  # says 20, has 2
        self._script.appendleft(("send", info, True))
        rest: list[Step] = self._receipt_steps(e) if e.result_code == RC_OK else []
        reason = ((0x3C, f"DECLINED {e.result_code:02X}".encode("ascii")),)
        rest.append(self._msg(ap.Completion() if e.result_code == RC_OK else ap.TerminalAbort(e.result_code, reason)))
        for step in reversed(rest):
            self._script.insert(1, step)

    def _authorization(self, msg: ap.Command) -> None:
        raw_amount = msg.get(0x04)
        raw_cur = msg.get(0x49)
        if raw_amount is None:
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        amount = ap.bcd_decode(raw_amount)
        currency = ap.bcd_decode(raw_cur) if raw_cur else ap.IQD
        self._send(ap.Ack())
        if self.knobs.approve_then_silence > 0:
            self.knobs.approve_then_silence -= 1
            self._new_entry("payment", amount, currency, RC_OK)  # charged, and then: nothing
            return
        if self.knobs.auto_eod:
            self.knobs.auto_eod = False
            self._queue(self._msg(ap.IntermediateStatus(0x0F)), ("call", self._close_batch))
        self._queue(
            ("call", self._card_wanted),
            self._msg(ap.IntermediateStatus(0x0A)),  # insert card
            ("wait", self.knobs.card_delay_s),
            ("call", lambda: self._charge(amount, currency)),
        )

    def _card_wanted(self) -> None:
        self._abortable = True
        self.waiting_for_card.set()

    def _charge(self, amount: int, currency: int) -> None:
        self._abortable = False
        self.waiting_for_card.clear()
        rc = self.knobs.decline if self.knobs.decline is not None else RC_OK
        e = self._new_entry("payment", amount, currency, rc)
        self._finish_tx(e)

    def _refund(self, msg: ap.Command) -> None:
        raw_amount = msg.get(0x04)
        if raw_amount is None:
            self._send(ap.Nack(RC_FUNCTION_NOT_POSSIBLE))
            return
        raw_cur = msg.get(0x49)
        self._send(ap.Ack())
        e = self._new_entry("refund", ap.bcd_decode(raw_amount), ap.bcd_decode(raw_cur) if raw_cur else ap.IQD, RC_OK)
        self._finish_tx(e)

    def _reversal(self, msg: ap.Command) -> None:
        raw = msg.get(0x87)
        self._send(ap.Ack())
        payments = [e for e in self.journal if e.kind == "payment" and e.receipt_no is not None]
        target = None
        if raw is not None:
            no = ap.bcd_decode(raw)
            target = next((e for e in payments if e.receipt_no == no), None)
        rc = RC_OK
        if target is None or target.batch != self.batch:
            rc = RC_REVERSAL_NOT_POSSIBLE
        elif target.reversed:
            rc = RC_ALREADY_REVERSED
        elif self.knobs.reverse_last_only and target is not payments[-1]:
            rc = RC_REVERSAL_NOT_POSSIBLE
        if rc != RC_OK:
            self._queue(self._msg(ap.TerminalAbort(rc)))
            return
        assert target is not None
        target.reversed = True
        self._write_journal("reversed", receipt_no=target.receipt_no, batch=target.batch)
        e = self._new_entry("reversal", target.amount, target.currency, RC_OK)
        e.reverses = target.receipt_no
        self._finish_tx(e)

    def batch_totals(self) -> tuple[int, int, dict[str, ap.GroupTotal]]:
        """Approved, unreversed payments of the open batch (refunds are not in BMP 60)."""
        groups: dict[str, ap.GroupTotal] = {}
        nos = []
        for e in self.journal:
            if e.batch != self.batch or e.kind != "payment" or e.receipt_no is None:
                continue
            nos.append(e.receipt_no)
            if e.reversed:
                continue
            g = group_of(e.card_name)
            t = groups.get(g, ap.GroupTotal(0, 0))
            groups[g] = ap.GroupTotal(t.count + 1, t.amount + e.amount)
        if self.knobs.eod_mismatch:
            g = group_of(TEST_CARDS[self.knobs.card][2])
            t = groups.get(g, ap.GroupTotal(0, 0))
            groups[g] = ap.GroupTotal(t.count + 1, t.amount + 1000)
        return (min(nos) if nos else 0, max(nos) if nos else 0, groups)

    def _totals_steps(self, title: str) -> list[Step]:
        rf, rt, groups = self.batch_totals()
        total = sum(g.amount for g in groups.values())
        self.trace += 1
        now = dt.datetime.now()
        info = ap.StatusInformation((
            (0x27, bytes([RC_OK])), (0x04, ap.amount_encode(total)), (0x0B, ap.bcd_encode(self.trace, 3)),
            (0x0C, bytes.fromhex(now.strftime("%H%M%S"))), (0x0D, bytes.fromhex(now.strftime("%m%d"))),
            (0x29, self._tid()), (0x60, ap.totals_encode(rf, rt, groups)),
            # The device's serial number (TLV tag SERIAL_TAG in BMP 06): another device with
            # the same terminal id is told apart by it.
            (0x06, ap.encode_tlv((ap.Tlv(ap.SERIAL_TAG, self.knobs.serial.encode("ascii")),))),
        ))
        lines = [title, f"TID {self.knobs.terminal_id}", f"RECEIPTS {rf:04d}-{rt:04d}"]
        lines += [f"{name.upper()} {g.count} {g.amount}" for name, g in groups.items()]
        lines.append(f"TOTAL {total}")
        steps: list[Step] = [self._msg(info)]
        if self.knobs.receipts == "blocks":
            steps.append(self._msg(ap.PrintTextBlock(ap.RECEIPT_ADMIN, tuple(lines))))
        else:
            steps += [self._msg(ap.PrintLine(0x81 if i == len(lines) - 1 else 0, t)) for i, t in enumerate(lines)]
        return steps

    def _close_batch(self) -> None:
        self.batch += 1
        self._write_journal("batch_closed", batch=self.batch - 1)

    def _end_of_day(self, msg: ap.Command) -> None:
        self._send(ap.Ack())
        if self.knobs.eod_fail is not None:
            self._queue(self._msg(ap.TerminalAbort(self.knobs.eod_fail)))
            return
        self._queue(*self._totals_steps("END OF DAY"), ("call", self._close_batch), self._msg(ap.Completion()))

    def _totals(self, msg: ap.Command) -> None:
        self._send(ap.Ack())
        self._queue(*self._totals_steps("TOTALS"), self._msg(ap.Completion()))

    def _repeat_receipt(self, msg: ap.Command) -> None:
        self._send(ap.Ack())
        last = next((e for e in reversed(self.journal) if e.receipt_no is not None), None)
        if last is None:
            self._queue(self._msg(ap.TerminalAbort(RC_FUNCTION_NOT_POSSIBLE)))
            return
        self._queue(self._msg(ap.StatusInformation(self._status_fields(last))))
        self._queue(*self._receipt_steps(last), self._msg(ap.Completion()))


def read_journal(path: str | os.PathLike[str]) -> list[JournalEntry]:
    """The journal a terminal emulator wrote with the `journal` knob (`--journal FILE`)."""
    out: list[JournalEntry] = []
    by_receipt: dict[tuple[int, int], JournalEntry] = {}
    try:
        text = open(path, encoding="utf-8").read()  # noqa: SIM115
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        event = rec.pop("event")
        if event == "entry":
            rec["time"] = dt.datetime.fromisoformat(rec["time"])
            e = JournalEntry(**rec)
            out.append(e)
            if e.receipt_no is not None and e.kind == "payment":
                by_receipt[(e.batch, e.receipt_no)] = e
        elif event == "reversed":
            hit = by_receipt.get((rec["batch"], rec["receipt_no"]))
            if hit is not None:
                hit.reversed = True
    return out


# -- running it ------------------------------------------------------------------------


def serve_fd(fd: int, emulator: TerminalEmulator, stop: threading.Event, poll_s: float = 0.01) -> None:
    """Serve the emulator on a pty master fd until `stop` is set (or the fd closes)."""
    while not stop.is_set():
        try:
            r, _, _ = select.select([fd], [], [], poll_s)
        except (OSError, ValueError):
            return
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return  # the other end went away for good
            if data:
                emulator.receive_data(data)
        emulator.tick()
        out = emulator.data_to_send()
        while out:
            try:
                n = os.write(fd, out)
            except OSError:
                return
            out = out[n:]


def serve_socket(listener: socket.socket, emulator: TerminalEmulator, stop: threading.Event,
                 poll_s: float = 0.01) -> None:
    """ZVT over TCP/IP: accept one ECR connection at a time on `listener` (as
    countertop terminals do on port 20007) and serve it until it closes or `stop`."""

    def serve_one(conn: socket.socket) -> None:
        try:
            _serve_connection(conn, emulator, stop, poll_s)
        finally:
            emulator.disconnected()

    serve_clients(listener, stop, poll_s * 10, serve_one)


def _serve_connection(conn: socket.socket, emulator: TerminalEmulator, stop: threading.Event,
                      poll_s: float) -> None:
    """One ECR connection: feed what arrives to the emulator, send what it answers."""
    conn.setblocking(False)
    while not stop.is_set():
        try:
            r, _, _ = select.select([conn], [], [], poll_s)
            data = conn.recv(65536) if r else None
        except (BlockingIOError, InterruptedError):
            data = None
        except OSError:
            return
        if data == b"":
            return  # the ECR closed the connection
        if data:
            emulator.receive_data(data)
        emulator.tick()
        out = emulator.data_to_send()
        try:
            if out:
                conn.setblocking(True)
                conn.sendall(out)
                conn.setblocking(False)
        except OSError:
            return


@contextmanager
def run_tcp_in_thread(knobs: Knobs | None = None, host: str = "127.0.0.1",
                      port: int = 0) -> Iterator[tuple[EmulatorHandle, int]]:
    """A ZVT/TCP emulator listening on host:port (0 = a free port) on a daemon thread."""
    emu = TerminalEmulator(knobs, transport="tcp")
    listener = socket.create_server((host, port))
    stop = threading.Event()
    t = threading.Thread(target=serve_socket, args=(listener, emu, stop), name="zvt-emulator-tcp", daemon=True)
    handle = EmulatorHandle(emu, t, stop)
    t.start()
    try:
        yield handle, listener.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        listener.close()


@dataclass
class EmulatorHandle:
    emulator: TerminalEmulator
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def journal(self) -> list[JournalEntry]:
        return self.emulator.journal


@contextmanager
def run_in_thread(fd: int, knobs: Knobs | None = None) -> Iterator[EmulatorHandle]:
    """An emulator serving `fd` on a daemon thread for the duration of the block."""
    emu = TerminalEmulator(knobs)
    stop = threading.Event()
    t = threading.Thread(target=serve_fd, args=(fd, emu, stop), name="zvt-emulator", daemon=True)
    handle = EmulatorHandle(emu, t, stop)
    t.start()
    try:
        yield handle
    finally:
        stop.set()
        t.join(5)
