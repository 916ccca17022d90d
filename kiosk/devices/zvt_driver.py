"""ZVT card-terminal driver: a thin pyserial shell around `EcrConnection`.

Rules it enforces (each from a failure seen with real terminals):
- one request at a time; a second caller gets `TerminalBusy`, never a second 06 01;
- a terminal that answers 84 xx / result 9C, A0 is busy: `TerminalBusy` is raised and
  nothing is resent until a status enquiry (05 01) reports ready (`wait_ready`);
- a command frame nobody ACKed after 3 transmissions: `TerminalUnavailable` (nothing
  happened); a command the terminal took (ACKed) but never finished: `OutcomeUnknown`
  (the money may have moved; resolve by `repeat_receipt` / `totals`, never by charging
  again);
- `abort()` only asks; the result is whatever the terminal finally says (06 1E or 04 0F);
- receipt lines are kept for both copies; card numbers leave this module masked only,
  even if the terminal sent a full PAN.

Ports are opened with `serial.serial_for_url`, so a device path, a pseudo-terminal,
``socket://host:port`` and ``rfc2217://host:port`` (serial framing tunnelled over a
network, as serial servers do) all work. ``tcp://host:port`` (or ``transport="tcp"``)
is ZVT over TCP/IP as countertop terminals speak it on port 20007: bare APDUs
(`ApduLink`), no DLE/CRC/ACK, with the same rules as above. There the terminal has no
ACK byte to give, so a command counts as delivered once written: a terminal that then
says nothing (no 80 00 within the ACK time) or drops the connection leaves a money
command's outcome unknown, never "not sent".
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import serial

from contract.errors import UrError
from kiosk.devices import zvt_apdu as ap
from kiosk.devices import zvt_ecr as ecr
from kiosk.devices import zvt_frames as zf
from kiosk.devices.zvt_frames import ZvtProtocolError

RESULT_TEXT = {
    0x00: "approved", 0x05: "declined by issuer", 0x6C: "cancelled (timeout or abort key)",
    0x77: "end-of-day not possible", 0x83: "function not possible", 0x9A: "ZVT protocol error",
    0x9B: "error from dial-up / acquirer communication", 0x9C: "please wait (busy)",
    0xA0: "receiver not ready", 0xA3: "no connection to acquirer", 0xB4: "already reversed",
    0xB5: "reversal not possible", 0xF0: "open end-of-day batch present",
}
BUSY_CODES = {0x9C, 0xA0}
MONEY_COMMANDS = {ap.AUTHORIZATION, ap.REVERSAL, ap.REFUND}


class TerminalError(UrError):
    """Base of the typed terminal errors."""


class TerminalUnavailable(TerminalError):
    """No ACK for our command after 3 transmissions (or the port cannot be opened)."""


class TerminalBusy(TerminalError):
    """The terminal (or this driver) is busy with something else; nothing was done."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OutcomeUnknown(TerminalError):
    """The terminal accepted the command and never said how it ended."""

    def __init__(self, message: str, command: str, amount: int | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.amount = amount


def to_minor(amount: int | str | Decimal, exponent: int) -> int:
    """Major units (e.g. dinars, as text or Decimal) -> minor units at `exponent`.

    Refuses amounts with more decimals than the exponent allows instead of rounding.
    """
    try:
        d = Decimal(str(amount))
    except InvalidOperation:
        raise UrError(f"amount {amount!r} is not a number") from None
    minor = d.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise UrError(f"amount {amount} has more than {exponent} decimal places")
    if minor <= 0:
        raise UrError(f"amount must be positive, got {amount}")
    return int(minor)


# -- PAN masking -------------------------------------------------------------------------

# Between two digits of a card number: up to three separator characters of any
# kind (spaces, tabs, no-break and zero-width spaces, dots, dashes, slashes ...),
# that is anything but a letter, a digit, a newline or ':' and '=' (times and
# track data delimit numbers, they do not group them). A run of 13 or more digits
# is masked whatever its length: a PAN beside other digits is still a PAN.
_SEP = r"(?:[^\w\n*:=]|_)"
_PANLIKE = re.compile(rf"(?<![\d*])\d(?:{_SEP}{{0,3}}[\d*]){{12,}}(?![\d*])")


def _mask_run(m: re.Match[str]) -> str:
    text = m.group(0)
    digits = [i for i, c in enumerate(text) if c.isdigit() or c == "*"]
    hide = set(digits[6:-4])  # a set: a long run must not cost quadratic time
    return "".join("*" if i in hide else c for i, c in enumerate(text))


def mask_pan(text: str | None) -> str | None:
    """Mask every card-number-like run (13 or more digits, grouped by any
    separators) to its first 6 + last 4 digits: PCI DSS allows no more on a
    receipt or in a log."""
    if text is None:
        return None
    return _PANLIKE.sub(_mask_run, text)


# -- results -------------------------------------------------------------------------------


@dataclass
class TransactionResult:
    command: str
    result_code: int
    approved: bool
    receipt_no: int | None = None
    trace: int | None = None
    masked_pan: str | None = None
    terminal_id: str | None = None
    amount: int | None = None
    currency: int | None = None
    time: str | None = None  # HHMMSS as sent by the terminal
    date: str | None = None  # MMDD
    card_type: int | None = None
    card_name: str | None = None
    receipt_lines_merchant: list[str] = field(default_factory=list)
    receipt_lines_customer: list[str] = field(default_factory=list)
    receipt_lines_admin: list[str] = field(default_factory=list)
    intermediate: list[int] = field(default_factory=list)
    auto_end_of_day: bool = False
    amount_mismatch: bool = False  # approved for another amount *or currency*: reverse it
    currency_mismatch: bool = False
    abort_refused: bool = False
    message: str = ""
    additional_text: str | None = None  # BMP 3C (masked): e.g. why the terminal aborted
    card_seq_no: int | None = None  # BMP 17
    # Tags outside the ZVT table, as hex, with their raw length: logged, never the outcome.
    unknown_fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Totals:
    result_code: int
    ok: bool
    amount: int | None
    receipt_from: int
    receipt_to: int
    groups: dict[str, ap.GroupTotal]
    trace: int | None = None
    receipt_lines: list[str] = field(default_factory=list)
    message: str = ""
    terminal_id: str | None = None
    serial: str | None = None  # the device's serial number, if the terminal reports one

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups.values())


@dataclass
class TerminalStatus:
    ready: bool
    status_code: int
    terminal_id: str | None
    message: str


@dataclass
class _Run:
    """What one command produced, collected from the connection's events."""

    infos: list[ap.StatusInformation] = field(default_factory=list)
    lines: list[list[str]] = field(default_factory=lambda: [[]])
    blocks: dict[int, list[str]] = field(default_factory=dict)
    intermediate: list[int] = field(default_factory=list)
    completion: ap.Completion | None = None
    abort_code: int | None = None
    abort_fields: tuple[tuple[int, bytes], ...] = ()
    refused: int | None = None
    delivered: bool = False
    accepted: bool = False
    abort_refused: bool = False
    finished: bool = False
    undecodable: list[str] = field(default_factory=list)


def _serial(tlv: tuple[ap.Tlv, ...]) -> str | None:
    hit = ap.find_tlv(tlv, ap.SERIAL_TAG)
    return hit.value.decode("ascii", "replace")[:32] if hit is not None and hit.value else None


class ZvtDriver:
    def __init__(
        self,
        port_url: str,
        baudrate: int = 9600,
        password: str = "000000",
        timeout: float = 180.0,
        ack_timeout: float = 5.0,
        currency: int = ap.IQD,
        exponent: int = 0,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 2,
        transport: str | None = None,
    ) -> None:
        if port_url.startswith("tcp://"):
            transport = transport or "tcp"
            port_url = "socket://" + port_url[len("tcp://"):]
        transport = transport or "serial"
        if transport not in ("serial", "tcp"):
            raise UrError(f"terminal transport must be 'serial' or 'tcp', not {transport!r}")
        if transport == "tcp" and not port_url.startswith("socket://"):
            raise UrError(f"a ZVT/TCP terminal needs tcp://host:port, not {port_url!r}")
        self.transport = transport
        if len(password) != 6 or not password.isdigit():
            raise UrError("terminal password must be exactly 6 digits")
        if exponent not in (0, 1, 2, 3):
            raise UrError(f"currency exponent must be 0..3, not {exponent}")
        self.port_url = port_url
        self.password = password
        self.timeout = timeout
        self.ack_timeout = ack_timeout
        self.currency = currency
        self.exponent = exponent
        self._conn = ecr.EcrConnection(zf.ApduLink() if transport == "tcp" else None)
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._seen_busy = False  # set by 84 9C/A0, cleared by a status enquiry saying ready
        self._port_settings: dict[str, Any] = dict(
            baudrate=baudrate, bytesize=bytesize, parity=parity,
            stopbits=stopbits, timeout=0.02, write_timeout=max(ack_timeout, 1.0),
        )
        self._port: serial.Serial | None = None
        self._open()

    def _open(self) -> serial.Serial:
        if self._port is not None:
            return self._port
        try:
            self._port = serial.serial_for_url(self.port_url, **self._port_settings)
        except (serial.SerialException, ValueError, OSError) as e:
            raise TerminalUnavailable(f"cannot open terminal port {self.display_url}: {e}") from None
        return self._port

    @property
    def display_url(self) -> str:
        if self.transport == "tcp":
            return "tcp://" + self.port_url[len("socket://"):]
        return self.port_url

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not raise
            pass

    def __enter__(self) -> ZvtDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop ------------------------------------------------------------------------
    def _write(self, command: ap.Command | None = None, delivered: bool = False) -> None:
        out = self._conn.data_to_send()
        if out:
            try:
                self._open().write(out)
            except (serial.SerialException, OSError) as e:
                self.close()  # a TCP connection is opened again on the next request
                if delivered and command is not None and command.command in MONEY_COMMANDS:
                    raise OutcomeUnknown(f"{command.name}: connection to the terminal lost: {e}",
                                         command.name) from None
                raise TerminalUnavailable(f"writing to {self.display_url} failed: {e}") from None

    def _exchange(self, command: ap.Command, timeout: float | None = None) -> _Run:
        if not self._lock.acquire(blocking=False):
            raise TerminalBusy(f"another terminal request is running; {command.name} not sent")
        try:
            self._abort.clear()
            return self._exchange_locked(command, self.timeout if timeout is None else timeout)
        finally:
            self._lock.release()

    def _exchange_locked(self, command: ap.Command, timeout: float) -> _Run:
        run = _Run()
        port = self._open()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError):
            if self.transport == "tcp":  # the terminal closed the idle connection: once more
                self.close()
                port = self._open()
        self._conn.reset()
        sent = self._conn.send(command)
        self._write()
        for ev in sent:
            self._collect(command, run, ev)
        now = time.monotonic()
        link = self._conn.link
        seen_tx = link.transmissions
        ack_deadline = now + self.ack_timeout
        deadline = now + timeout
        heard = False  # TCP: anything at all from the terminal since the command
        while True:
            try:
                data = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError) as e:
                data = b""
                if self.transport == "tcp":
                    self.close()
                    self._conn.reset()
                    if run.delivered and command.command in MONEY_COMMANDS and not run.finished:
                        raise OutcomeUnknown(f"{command.name}: connection to the terminal lost: {e}",
                                             command.name) from None
                    if not run.finished:
                        raise TerminalUnavailable(f"terminal at {self.display_url}: {e}") from None
                elif not run.delivered:
                    raise TerminalUnavailable(f"reading {self.port_url} failed: {e}") from None
            now = time.monotonic()
            heard = heard or bool(data)
            if self.transport == "tcp" and not heard and now >= ack_deadline:
                self._conn.reset()
                if command.command in MONEY_COMMANDS:
                    raise OutcomeUnknown(
                        f"{command.name}: terminal at {self.display_url} took the request and did "
                        f"not answer within {self.ack_timeout:g}s", command.name)
                raise TerminalUnavailable(
                    f"terminal at {self.display_url} did not answer {command.name} within {self.ack_timeout:g}s")
            events: list[ecr.EcrEvent] = []
            try:
                if data:
                    events += self._conn.receive_data(data)
                if self._conn.awaiting_ack and link.transmissions == seen_tx and now >= ack_deadline:
                    events += self._conn.ack_timeout()
            except ZvtProtocolError as e:
                self._conn.reset()
                if run.delivered:
                    raise OutcomeUnknown(f"{command.name}: terminal broke the protocol: {e}", command.name) from None
                raise TerminalUnavailable(f"{command.name}: terminal broke the protocol: {e}") from None
            if link.transmissions != seen_tx:
                seen_tx = link.transmissions
                ack_deadline = now + self.ack_timeout
            for ev in events:
                self._collect(command, run, ev)
                if isinstance(ev, ecr.Intermediate):
                    deadline = now + timeout  # the terminal is alive and working
            try:
                self._write(command, run.delivered)
            except TerminalError:
                if not run.finished and run.refused is None:
                    raise  # once the terminal has said how it ended, a lost 80 00 changes nothing
                return run
            if run.refused is not None or run.finished:
                # Let our last 80 00 00 reach the terminal before returning.
                if not self._conn.awaiting_ack:
                    return run
                if now >= deadline:
                    return run
            if run.refused is None and not run.finished:
                if run.delivered is False and self._conn.state is ecr.State.IDLE:
                    raise TerminalUnavailable(
                        f"terminal at {self.display_url} did not acknowledge {command.name} "
                        "after 3 transmissions"
                    )
                if now >= deadline:
                    self._conn.reset()
                    if run.delivered:
                        raise OutcomeUnknown(
                            f"{command.name}: terminal took the request but gave no final answer "
                            f"within {timeout:g}s", command.name,
                        )
                    raise TerminalUnavailable(f"terminal at {self.display_url} did not answer {command.name}")
            if self._abort.is_set() and run.accepted and not run.finished:
                self._abort.clear()
                self._conn.send_abort()
                self._write(command, run.delivered)

    def _collect(self, command: ap.Command, run: _Run, ev: ecr.EcrEvent) -> None:
        if isinstance(ev, ecr.Delivered):
            run.delivered = True
        elif isinstance(ev, ecr.Accepted):
            run.delivered = run.accepted = True
            if command.command == ap.ABORT:
                run.finished = True
        elif isinstance(ev, ecr.Refused):
            run.delivered = True
            run.refused = ev.code
        elif isinstance(ev, ecr.StatusInfo):
            run.infos.append(ev.info)
        elif isinstance(ev, ecr.Intermediate):
            run.intermediate.append(ev.code)
        elif isinstance(ev, ecr.Line):
            run.lines[-1].append(ev.line.text)
            if ev.line.last_line:
                run.lines.append([])
        elif isinstance(ev, ecr.TextBlock):
            run.blocks.setdefault(ev.block.receipt_type, []).extend(ev.block.lines)
        elif isinstance(ev, ecr.Completed):
            run.completion = ev.completion
            run.finished = True
        elif isinstance(ev, ecr.Aborted):
            run.abort_code = ev.code
            run.abort_fields = ev.fields
            run.finished = True
        elif isinstance(ev, ecr.AbortAnswered):
            run.abort_refused = not ev.accepted
        elif isinstance(ev, ecr.Undecodable):
            run.undecodable.append(ev.reason)
        elif isinstance(ev, ecr.Undelivered):
            pass  # handled by the loop (state back to IDLE, nothing delivered)

    # -- building results ----------------------------------------------------------------
    def _check_refused(self, command: ap.Command, run: _Run) -> None:
        if run.refused is None:
            return
        code = run.refused
        if code in BUSY_CODES:
            self._seen_busy = True
            raise TerminalBusy(
                f"terminal busy ({code:02X} {RESULT_TEXT.get(code, '')}); {command.name} not done - "
                "wait until a status enquiry reports ready", code,
            )
        raise TerminalError(f"terminal refused {command.name}: 84 {code:02X} {RESULT_TEXT.get(code, '')}".rstrip())

    def _receipts(self, run: _Run) -> tuple[list[str], list[str], list[str]]:
        merchant = run.blocks.get(ap.RECEIPT_MERCHANT, [])
        customer = run.blocks.get(ap.RECEIPT_CUSTOMER, [])
        admin = run.blocks.get(ap.RECEIPT_ADMIN, [])
        copies = [c for c in run.lines if c]
        # Print lines carry no copy type: the terminal sends the merchant copy first.
        if copies and not merchant:
            merchant = copies[0]
        if len(copies) > 1 and not customer:
            customer = copies[1]
        def clean(lines: list[str]) -> list[str]:
            return [mask_pan(x) or "" for x in lines]

        return clean(merchant), clean(customer), clean(admin)

    def _result(self, command: ap.Command, run: _Run, requested: int | None = None,
                currency: int | None = None) -> TransactionResult:
        self._check_refused(command, run)
        if run.undecodable and command.command in MONEY_COMMANDS:
            # The terminal finished, but part of what it said about the money is unreadable.
            raise OutcomeUnknown(
                f"{command.name}: terminal answer partly unreadable ({run.undecodable[0]})",
                command.name, requested,
            )
        try:
            f = ap.read_fields(run.infos[-1].fields) if run.infos else ap.Fields()
            extra = ap.read_fields(run.abort_fields)
        except ZvtProtocolError as e:
            if command.command in MONEY_COMMANDS:
                raise OutcomeUnknown(f"{command.name}: terminal answer partly unreadable ({e})",
                                     command.name, requested) from None
            raise TerminalError(f"{command.name}: terminal answer unreadable ({e})") from None
        code = run.abort_code if run.abort_code is not None else (f.result_code if f.result_code is not None else 0)
        if run.abort_code is None and run.completion is not None and f.result_code is None and not run.infos:
            code = 0
        merchant, customer, admin = self._receipts(run)
        res = TransactionResult(
            command=command.name, result_code=code,
            approved=run.completion is not None and run.abort_code is None and code == 0,
            receipt_no=f.receipt_no, trace=f.trace, masked_pan=mask_pan(f.pan),
            terminal_id=f.terminal_id, amount=f.amount, currency=f.currency, time=f.time, date=f.date,
            card_type=f.card_type, card_name=mask_pan(f.card_name),
            receipt_lines_merchant=merchant, receipt_lines_customer=customer, receipt_lines_admin=admin,
            intermediate=list(run.intermediate), auto_end_of_day=0x0F in run.intermediate,
            abort_refused=run.abort_refused, message=RESULT_TEXT.get(code, f"result code {code:02X}"),
            additional_text=mask_pan(f.additional_text or extra.additional_text),
            card_seq_no=f.card_seq_no,
            unknown_fields=[f"{t:02X} ({len(v)} bytes)" for t, v in f.unknown + extra.unknown],
        )
        if code in BUSY_CODES:
            self._seen_busy = True
        if requested is not None and res.approved and res.amount is not None and res.amount != requested:
            res.amount_mismatch = True
        if currency is not None and res.approved and res.currency is not None and res.currency != currency:
            # Approved in another currency (EUR 978 when IQD 368 was asked): not what
            # the citizen owes, so it is reversed exactly like a wrong amount.
            res.currency_mismatch = res.amount_mismatch = True
        return res

    # -- commands ------------------------------------------------------------------------
    def register(self) -> TransactionResult:
        run = self._exchange(ap.registration(self.password, self.currency), timeout=min(self.timeout, 30.0))
        res = self._result(ap.registration(self.password, self.currency), run)
        if run.completion is not None:
            f = ap.read_fields(run.completion.fields)
            res.terminal_id = f.terminal_id
            res.currency = f.currency
        return res

    def authorize(self, amount_minor: int, currency: int | None = None, wait_if_busy: float = 0.0) -> TransactionResult:
        """Pay `amount_minor` (units of 10**-exponent of the currency).

        With `wait_if_busy` > 0 a busy terminal is polled with status enquiries and the
        06 01 is sent again only once it reports ready (at most that many seconds).
        """
        cur = self.currency if currency is None else currency
        cmd = ap.authorization(self._check_amount(amount_minor), cur)
        if self._seen_busy:
            # Never a second 06 01 to a terminal that said busy before 05 01 says ready.
            if wait_if_busy <= 0 or not self.wait_ready(wait_if_busy):
                raise TerminalBusy(
                    "terminal reported busy; authorization not sent until a status enquiry "
                    "reports ready", 0x9C,
                )
        try:
            run = self._exchange(cmd)
            return self._result(cmd, run, amount_minor, cur)
        except TerminalBusy as e:
            if wait_if_busy <= 0 or e.code is None or not self.wait_ready(wait_if_busy):
                raise
        run = self._exchange(cmd)
        return self._result(cmd, run, amount_minor, cur)

    def _check_amount(self, amount_minor: int) -> int:
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
            raise UrError(f"amount must be a positive whole number of minor units, got {amount_minor!r}")
        if amount_minor > ap.MAX_AMOUNT:
            raise UrError(f"amount {amount_minor} is more than 12 digits")
        return amount_minor

    def reverse(self, receipt_no: int) -> TransactionResult:
        if not 0 < receipt_no <= 9999:
            raise UrError(f"receipt number must be 1..9999, got {receipt_no}")
        cmd = ap.reversal(self.password, receipt_no)
        return self._result(cmd, self._exchange(cmd))

    def refund(self, amount_minor: int, currency: int | None = None) -> TransactionResult:
        cur = self.currency if currency is None else currency
        cmd = ap.refund(self.password, self._check_amount(amount_minor), cur)
        return self._result(cmd, self._exchange(cmd), amount_minor, cur)

    def repeat_receipt(self) -> TransactionResult:
        """The terminal's last transaction again (04 0F + receipts): resolves UNKNOWN."""
        cmd = ap.simple(ap.REPEAT_RECEIPT, self.password)
        return self._result(cmd, self._exchange(cmd))

    def status(self) -> TerminalStatus:
        cmd = ap.simple(ap.STATUS_ENQUIRY, self.password)
        run = self._exchange(cmd, timeout=min(self.timeout, 30.0))
        self._check_refused(cmd, run)
        f = ap.read_fields(run.infos[-1].fields) if run.infos else ap.Fields()
        code = f.result_code if f.result_code is not None else (run.abort_code or 0)
        if run.completion is not None and f.terminal_id is None:
            f.terminal_id = ap.read_fields(run.completion.fields).terminal_id
        ready = code == 0 and run.abort_code is None
        if ready:
            self._seen_busy = False
        elif code in BUSY_CODES:
            self._seen_busy = True
        return TerminalStatus(ready, code, f.terminal_id, "ready" if ready else RESULT_TEXT.get(code, f"status {code:02X}"))

    def wait_ready(self, within_s: float, interval_s: float = 0.2) -> bool:
        """Poll 05 01 until the terminal reports ready (True) or time runs out (False)."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                if self.status().ready:
                    return True
            except TerminalBusy:
                pass
            if time.monotonic() + interval_s > deadline:
                return False
            time.sleep(interval_s)

    def _totals(self, command: tuple[int, int]) -> Totals:
        cmd = ap.simple(command, self.password)
        run = self._exchange(cmd)
        self._check_refused(cmd, run)
        f = ap.read_fields(run.infos[-1].fields) if run.infos else ap.Fields()
        code = run.abort_code if run.abort_code is not None else (f.result_code or 0)
        rf, rt, groups = f.totals if f.totals else (0, 0, {})
        merchant, customer, admin = self._receipts(run)
        return Totals(
            result_code=code, ok=run.completion is not None and code == 0, amount=f.amount,
            receipt_from=rf, receipt_to=rt, groups=groups, trace=f.trace,
            receipt_lines=admin or merchant, message=RESULT_TEXT.get(code, f"result code {code:02X}"),
            terminal_id=f.terminal_id, serial=_serial(f.tlv),
        )

    def end_of_day(self) -> Totals:
        return self._totals(ap.END_OF_DAY)

    def totals(self) -> Totals:
        return self._totals(ap.TOTALS)

    def abort(self) -> None:
        """Ask the terminal to abort the running command (no-op if none runs).

        Returns at once; the running call (e.g. `authorize`) returns the real outcome:
        cancelled (06 1E) if the terminal agreed, the terminal's final result otherwise.
        """
        self._abort.set()
        if self._lock.acquire(blocking=False):
            # Nothing runs: nothing to abort.
            self._abort.clear()
            self._lock.release()
