"""ZVT APDUs and the messages this project speaks, sans-I/O.

An APDU is ``CLASS INSTR LEN DATA``; LEN is one byte, or ``FF`` followed by two
bytes little-endian for 255 bytes and more. DATA is, for most commands, a run of
BMP fields: a one-byte tag followed by a fixed-length value, an LLVAR/LLLVAR value
(length as ``Fx Fy [Fz]`` decimal digits), or for BMP 06 a BER-TLV container.
Numbers are packed BCD; amounts are 6 bytes (12 digits) of minor units.

Every decoder here raises `ZvtProtocolError` (a `ValidationError`) naming what is
wrong, never another exception: the bytes come from a device we do not control.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kiosk.devices.zvt_frames import ZvtProtocolError

IQD = 368
log = logging.getLogger(__name__)


# -- APDU ------------------------------------------------------------------------


@dataclass(frozen=True)
class Apdu:
    cls: int
    ins: int
    data: bytes = b""

    @property
    def command(self) -> tuple[int, int]:
        return (self.cls, self.ins)

    def encode(self) -> bytes:
        n = len(self.data)
        if n > 0xFFFF:
            raise ZvtProtocolError(f"APDU data of {n} bytes exceeds 65535")
        head = bytes([self.cls & 0xFF, self.ins & 0xFF])
        if n < 0xFF:
            return head + bytes([n]) + self.data
        return head + bytes([0xFF, n & 0xFF, n >> 8]) + self.data

    def __str__(self) -> str:
        return f"{self.cls:02X} {self.ins:02X} ({len(self.data)} bytes)"


def decode_apdu(raw: bytes) -> Apdu:
    raw = bytes(raw)
    if len(raw) < 3:
        raise ZvtProtocolError(f"APDU of {len(raw)} bytes is shorter than class+instr+length")
    cls, ins, ln = raw[0], raw[1], raw[2]
    start = 3
    if ln == 0xFF:
        if len(raw) < 5:
            raise ZvtProtocolError("APDU long length marker FF without the two length bytes")
        ln = raw[3] | (raw[4] << 8)
        start = 5
    data = raw[start:]
    if len(data) != ln:
        raise ZvtProtocolError(
            f"APDU {cls:02X} {ins:02X} says {ln} data bytes but carries {len(data)}"
        )
    return Apdu(cls, ins, data)


# -- BCD -------------------------------------------------------------------------


def bcd_encode(value: int, nbytes: int) -> bytes:
    if value < 0:
        raise ZvtProtocolError(f"cannot BCD-encode negative number {value}")
    digits = str(value)
    if len(digits) > 2 * nbytes:
        raise ZvtProtocolError(f"{value} does not fit in {nbytes} BCD bytes")
    digits = digits.rjust(2 * nbytes, "0")
    return bytes(int(digits[i : i + 2], 16) for i in range(0, len(digits), 2))


def bcd_decode(raw: bytes, what: str = "BCD number") -> int:
    s = bytes(raw).hex()
    if not s or not s.isdigit():
        raise ZvtProtocolError(f"{what} {bytes(raw).hex(' ')} is not packed BCD")
    return int(s)


def bcd_digits(raw: bytes, what: str = "BCD field") -> str:
    """BCD digits as text, keeping leading zeros (times, dates, terminal ids)."""
    s = bytes(raw).hex()
    if not s.isdigit():
        raise ZvtProtocolError(f"{what} {bytes(raw).hex(' ')} is not packed BCD")
    return s


MAX_AMOUNT = 999_999_999_999


def amount_encode(minor: int) -> bytes:
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise ZvtProtocolError(f"amount must be an integer number of minor units, got {minor!r}")
    if minor < 0 or minor > MAX_AMOUNT:
        raise ZvtProtocolError(f"amount {minor} is outside 0..{MAX_AMOUNT} (6 BCD bytes)")
    return bcd_encode(minor, 6)


def password_encode(password: str) -> bytes:
    if len(password) != 6 or not password.isdigit():
        raise ZvtProtocolError("terminal password must be exactly 6 digits")
    return bytes.fromhex(password)


# -- BMP fields --------------------------------------------------------------------

# The public ZVT field (BMP) table: tag -> fixed length (>0), "LL", "LLL" or "TLV".
# Lengths as in the ZVT specification's bitmap chapter (cross-checked with the
# Wireshark ZVT dissector and the Portalum.Zvt parser tables, read not copied).
BMP_FORMAT: dict[int, int | str] = {
    0x01: 1, 0x02: 1, 0x03: 1, 0x04: 6, 0x05: 1, 0x06: "TLV",
    0x0B: 3, 0x0C: 3, 0x0D: 2, 0x0E: 2, 0x17: 2, 0x19: 1,
    0x22: "LL", 0x23: "LL", 0x24: "LLL", 0x27: 1, 0x29: 4, 0x2A: 15,
    0x2D: "LL", 0x2E: "LLL", 0x37: 3, 0x3A: 2, 0x3B: 8, 0x3C: "LLL", 0x3D: 3,
    0x49: 2, 0x60: "LLL",
    0x70: 4, 0x71: 4, 0x72: 1, 0x73: 1, 0x74: 1, 0x75: 1,
    0x87: 2, 0x88: 3, 0x8A: 1, 0x8B: "LL", 0x8C: 1,
    0x92: "LLL", 0x9A: "LLL", 0xA0: 1, 0xA7: "LL", 0xAA: 3, 0xAF: "LLL", 0xBA: 5,
    0xD0: 1, 0xD1: "LL", 0xD2: 1, 0xD3: 1,
    0xE0: 1, **{t: "LL" for t in range(0xE1, 0xE9)}, 0xE9: 1, 0xEA: 1, 0xEB: 8,
    0xF0: 1, **{t: "LL" for t in range(0xF1, 0xF9)}, 0xF9: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFD: 1,
}

BMP_NAMES = {
    0x01: "timeout", 0x02: "max status infos", 0x03: "service byte", 0x04: "amount",
    0x05: "pump no", 0x06: "TLV container", 0x0B: "trace", 0x0C: "time", 0x0D: "date",
    0x0E: "expiry date", 0x17: "card sequence no", 0x19: "status/payment type", 0x22: "PAN",
    0x23: "track 2", 0x24: "track 3", 0x27: "result code", 0x29: "terminal id",
    0x2A: "VU number", 0x2D: "track 1", 0x2E: "sync chip data", 0x37: "original trace",
    0x3A: "CVV/CVC", 0x3B: "AID", 0x3C: "additional text", 0x3D: "password",
    0x49: "currency", 0x60: "individual totals", 0x87: "receipt no", 0x88: "turnover no",
    0x8A: "card type", 0x8B: "card name", 0x8C: "card type id", 0x92: "additional ec-cash data",
    0x9A: "GeldKarte record", 0xA0: "result code AS", 0xA7: "chip data", 0xAA: "date YYMMDD",
    0xAF: "EF_Info", 0xBA: "AID parameter",
}


def _var_len(digits: int, raw: bytes, pos: int, tag: int) -> tuple[int, int]:
    if pos + digits > len(raw):
        raise ZvtProtocolError(f"BMP {tag:02X}: length field cut short")
    n = 0
    for b in raw[pos : pos + digits]:
        if b >> 4 != 0xF or (b & 0x0F) > 9:
            raise ZvtProtocolError(f"BMP {tag:02X}: length byte {b:02X} is not Fx with x a digit")
        n = n * 10 + (b & 0x0F)
    return n, pos + digits


def _var_len_encode(n: int, digits: int, tag: int) -> bytes:
    if n >= 10**digits:
        raise ZvtProtocolError(f"BMP {tag:02X}: value of {n} bytes is too long for {'L' * digits}VAR")
    return bytes(0xF0 | int(d) for d in str(n).rjust(digits, "0"))


def tlv_length(raw: bytes, pos: int, what: str) -> tuple[int, int]:
    """BER length at ``pos``: (length, position after the length bytes)."""
    if pos >= len(raw):
        raise ZvtProtocolError(f"{what}: TLV length missing")
    b = raw[pos]
    if b < 0x80:
        return b, pos + 1
    k = b & 0x7F
    if k == 0 or k > 2:
        raise ZvtProtocolError(f"{what}: TLV length byte {b:02X} is not supported (use <80, 81 or 82)")
    if pos + 1 + k > len(raw):
        raise ZvtProtocolError(f"{what}: TLV length cut short")
    n = int.from_bytes(raw[pos + 1 : pos + 1 + k], "big")
    return n, pos + 1 + k


def tlv_length_encode(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82, n >> 8, n & 0xFF])
    raise ZvtProtocolError(f"TLV value of {n} bytes is too long")


def decode_bmps(data: bytes) -> list[tuple[int, bytes]]:
    """BMP fields in order as (tag, value); for BMP 06 the value is the raw TLV body.

    A tag outside the table has no known length, so it and everything after it
    are kept as one raw field (tag, rest) with a warning: a newer terminal's extra
    field must not turn a charge into "outcome unknown". Only a known field whose
    length is wrong or runs past the end is an error.
    """
    raw = bytes(data)
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        pos += 1
        fmt = BMP_FORMAT.get(tag)
        if fmt is None:
            log.warning("ZVT: unknown BMP tag %02X at offset %d: %d bytes kept raw",
                        tag, pos - 1, len(raw) - pos)
            out.append((tag, raw[pos:]))
            break
        if fmt == "LL":
            n, pos = _var_len(2, raw, pos, tag)
        elif fmt == "LLL":
            n, pos = _var_len(3, raw, pos, tag)
        elif fmt == "TLV":
            n, pos = tlv_length(raw, pos, f"BMP {tag:02X}")
        else:
            assert isinstance(fmt, int)
            n = fmt
        if pos + n > len(raw):
            raise ZvtProtocolError(f"BMP {tag:02X} needs {n} bytes, only {len(raw) - pos} left")
        out.append((tag, raw[pos : pos + n]))
        pos += n
    return out


def encode_bmps(fields: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for tag, value in fields:
        fmt = BMP_FORMAT.get(tag)
        if fmt is None:
            raise ZvtProtocolError(f"unknown BMP tag {tag:02X}")
        out.append(tag)
        if fmt == "LL":
            out += _var_len_encode(len(value), 2, tag)
        elif fmt == "LLL":
            out += _var_len_encode(len(value), 3, tag)
        elif fmt == "TLV":
            out += tlv_length_encode(len(value))
        elif len(value) != fmt:
            raise ZvtProtocolError(f"BMP {tag:02X} must be {fmt} bytes, got {len(value)}")
        out += value
    return bytes(out)


# -- TLV (BMP 06) --------------------------------------------------------------------


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes = b""
    children: tuple[Tlv, ...] = ()

    @property
    def constructed(self) -> bool:
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def find(self, tag: int) -> Tlv | None:
        return find_tlv(self.children, tag)


MAX_TLV_DEPTH = 8
SERIAL_TAG = 0x1F44  # the terminal's device serial number in BMP 06, where a terminal sends one


def decode_tlv(raw: bytes, depth: int = 0) -> tuple[Tlv, ...]:
    raw = bytes(raw)
    if depth > MAX_TLV_DEPTH:
        raise ZvtProtocolError(f"TLV nested deeper than {MAX_TLV_DEPTH} levels")
    items: list[Tlv] = []
    pos = 0
    while pos < len(raw):
        first = raw[pos]
        tag = first
        pos += 1
        if first & 0x1F == 0x1F:
            for _ in range(3):
                if pos >= len(raw):
                    raise ZvtProtocolError("TLV tag cut short")
                tag = (tag << 8) | raw[pos]
                pos += 1
                if not raw[pos - 1] & 0x80:
                    break
            else:
                raise ZvtProtocolError(f"TLV tag {tag:X} is longer than 4 bytes")
        n, pos = tlv_length(raw, pos, f"TLV tag {tag:X}")
        if pos + n > len(raw):
            raise ZvtProtocolError(f"TLV tag {tag:X} needs {n} bytes, only {len(raw) - pos} left")
        value = raw[pos : pos + n]
        pos += n
        children = decode_tlv(value, depth + 1) if first & 0x20 else ()
        items.append(Tlv(tag, value if not children else b"", children))
    return tuple(items)


def _tag_bytes(tag: int) -> bytes:
    n = max(1, (tag.bit_length() + 7) // 8)
    return tag.to_bytes(n, "big")


def encode_tlv(items: tuple[Tlv, ...] | list[Tlv]) -> bytes:
    out = bytearray()
    for t in items:
        value = encode_tlv(t.children) if t.children else t.value
        out += _tag_bytes(t.tag) + tlv_length_encode(len(value)) + value
    return bytes(out)


def find_tlv(items: tuple[Tlv, ...], tag: int) -> Tlv | None:
    for t in items:
        if t.tag == tag:
            return t
        hit = find_tlv(t.children, tag)
        if hit is not None:
            return hit
    return None


# -- PAN (BMP 22) ------------------------------------------------------------------


def pan_decode(raw: bytes) -> str:
    """BCD PAN with 'E' nibbles for masked digits and 'F' padding -> '411111******1111'."""
    out = []
    for ch in bytes(raw).hex().upper():
        if ch.isdigit():
            out.append(ch)
        elif ch == "E":
            out.append("*")
        elif ch == "F":
            continue
        else:
            raise ZvtProtocolError(f"PAN nibble {ch} is not a digit, E (masked) or F (padding)")
    return "".join(out)


def pan_encode(pan: str) -> bytes:
    nib = "".join("E" if c == "*" else c for c in pan)
    if not nib or not all(c.isdigit() or c == "E" for c in nib):
        raise ZvtProtocolError("PAN must be digits and '*' for masked digits")
    if len(nib) % 2:
        nib += "F"
    return bytes.fromhex(nib)


# -- Individual totals (BMP 60) ------------------------------------------------------

#: Card-type groups in BMP 60 order (receipt range, then count + amount per group).
TOTALS_GROUPS = ("girocard", "jcb", "mastercard", "amex", "visa", "diners", "other")


@dataclass(frozen=True)
class GroupTotal:
    count: int
    amount: int


def totals_encode(receipt_from: int, receipt_to: int, groups: dict[str, GroupTotal]) -> bytes:
    out = bcd_encode(receipt_from, 2) + bcd_encode(receipt_to, 2)
    for g in TOTALS_GROUPS:
        t = groups.get(g, GroupTotal(0, 0))
        if not 0 <= t.count <= 255:
            raise ZvtProtocolError(f"{g}: count {t.count} does not fit one byte")
        out += bytes([t.count]) + amount_encode(t.amount)
    return out


def totals_decode(raw: bytes) -> tuple[int, int, dict[str, GroupTotal]]:
    raw = bytes(raw)
    want = 4 + 7 * len(TOTALS_GROUPS)
    if len(raw) != want:
        raise ZvtProtocolError(f"individual totals (BMP 60) must be {want} bytes, got {len(raw)}")
    rf = bcd_decode(raw[0:2], "totals receipt-from")
    rt = bcd_decode(raw[2:4], "totals receipt-to")
    groups = {}
    pos = 4
    for g in TOTALS_GROUPS:
        groups[g] = GroupTotal(raw[pos], bcd_decode(raw[pos + 1 : pos + 7], f"{g} total"))
        pos += 7
    return rf, rt, groups


# -- Messages ----------------------------------------------------------------------

# ECR -> terminal
REGISTRATION = (0x06, 0x00)
AUTHORIZATION = (0x06, 0x01)
REVERSAL = (0x06, 0x30)
REFUND = (0x06, 0x31)
END_OF_DAY = (0x06, 0x50)
TOTALS = (0x06, 0x10)
REPEAT_RECEIPT = (0x06, 0x20)
ABORT = (0x06, 0xB0)
STATUS_ENQUIRY = (0x05, 0x01)
# terminal -> ECR
STATUS_INFO = (0x04, 0x0F)
INTERMEDIATE = (0x04, 0xFF)
PRINT_LINE = (0x06, 0xD1)
PRINT_BLOCK = (0x06, 0xD3)
COMPLETION = (0x06, 0x0F)
PT_ABORT = (0x06, 0x1E)

COMMAND_NAMES = {
    REGISTRATION: "registration", AUTHORIZATION: "authorization", REVERSAL: "reversal",
    REFUND: "refund", END_OF_DAY: "end-of-day", TOTALS: "totals",
    REPEAT_RECEIPT: "repeat receipt", ABORT: "abort", STATUS_ENQUIRY: "status enquiry",
    STATUS_INFO: "status information", INTERMEDIATE: "intermediate status",
    PRINT_LINE: "print line", PRINT_BLOCK: "print text block", COMPLETION: "completion",
    PT_ABORT: "abort (from terminal)",
}

#: Registration config byte: ECR prints payment + admin receipts, ECR wants intermediate
#: status, ECR controls payment + admin functions, receipts come as print lines/blocks.
DEFAULT_CONFIG_BYTE = 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x80

RECEIPT_MERCHANT = 1
RECEIPT_CUSTOMER = 2
RECEIPT_ADMIN = 3


@dataclass(frozen=True)
class Ack:
    """80 00 00: the command was accepted (the answer comes later)."""

    def to_apdu(self) -> Apdu:
        return Apdu(0x80, 0x00)


@dataclass(frozen=True)
class Nack:
    """84 xx 00: the command was refused; xx says why (e.g. A0 receiver not ready)."""

    code: int

    def to_apdu(self) -> Apdu:
        return Apdu(0x84, self.code)


@dataclass(frozen=True)
class Command:
    """An ECR -> terminal command with its password (when it has one) and BMP fields."""

    command: tuple[int, int]
    password: str | None = None
    config_byte: int | None = None  # registration only
    currency: int | None = None  # registration only (positional CC)
    fields: tuple[tuple[int, bytes], ...] = ()

    def to_apdu(self) -> Apdu:
        data = bytearray()
        if self.password is not None:
            data += password_encode(self.password)
        if self.config_byte is not None:
            data.append(self.config_byte)
            if self.currency is not None:
                data += bcd_encode(self.currency, 2)
        data += encode_bmps(list(self.fields))
        return Apdu(self.command[0], self.command[1], bytes(data))

    def get(self, tag: int) -> bytes | None:
        for t, v in self.fields:
            if t == tag:
                return v
        return None

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"{self.command[0]:02X} {self.command[1]:02X}")


@dataclass(frozen=True)
class StatusInformation:
    """04 0F: result of a transaction or enquiry, as BMP fields."""

    fields: tuple[tuple[int, bytes], ...] = ()

    def to_apdu(self) -> Apdu:
        return Apdu(0x04, 0x0F, encode_bmps(list(self.fields)))

    def get(self, tag: int) -> bytes | None:
        for t, v in self.fields:
            if t == tag:
                return v
        return None


@dataclass(frozen=True)
class IntermediateStatus:
    """04 FF: what the terminal is doing now (0A insert card, 0F automatic end-of-day...)."""

    code: int
    tlv: tuple[Tlv, ...] = ()
    timeout: int | None = None  # seconds the terminal shows it (positional, after the code)

    def to_apdu(self) -> Apdu:
        data = bytes([self.code])
        if self.timeout is not None:
            data += bytes([self.timeout])
        if self.tlv:
            data += encode_bmps([(0x06, encode_tlv(self.tlv))])
        return Apdu(0x04, 0xFF, data)


@dataclass(frozen=True)
class PrintLine:
    """06 D1: one receipt line; an attribute with bit 7 set (not 80/FF) ends the receipt."""

    attribute: int
    text: str

    @property
    def last_line(self) -> bool:
        return bool(self.attribute & 0x80) and self.attribute not in (0x80, 0xFF)

    def to_apdu(self) -> Apdu:
        return Apdu(0x06, 0xD1, bytes([self.attribute]) + self.text.encode("cp437", "replace"))


@dataclass(frozen=True)
class PrintTextBlock:
    """06 D3: a whole receipt in a TLV container (tag 25 with 1F07 type + 07 lines)."""

    receipt_type: int
    lines: tuple[str, ...]

    def to_apdu(self) -> Apdu:
        kids = [Tlv(0x1F07, bytes([self.receipt_type]))]
        kids += [Tlv(0x07, ln.encode("cp437", "replace")) for ln in self.lines]
        body = encode_tlv([Tlv(0x25, children=tuple(kids)), Tlv(0x09, b"")])
        return Apdu(0x06, 0xD3, encode_bmps([(0x06, body)]))


@dataclass(frozen=True)
class Completion:
    """06 0F: the command finished (fields may carry status byte, TID, currency)."""

    fields: tuple[tuple[int, bytes], ...] = ()

    def to_apdu(self) -> Apdu:
        return Apdu(0x06, 0x0F, encode_bmps(list(self.fields)))


@dataclass(frozen=True)
class TerminalAbort:
    """06 1E: the terminal ended the command without success; code is the result code,
    optionally followed by BMPs (e.g. 3C additional text: the terminal's reason)."""

    code: int
    fields: tuple[tuple[int, bytes], ...] = ()

    def to_apdu(self) -> Apdu:
        return Apdu(0x06, 0x1E, bytes([self.code]) + encode_bmps(list(self.fields)))


Message = Ack | Nack | Command | StatusInformation | IntermediateStatus | PrintLine | PrintTextBlock | Completion | TerminalAbort

_PASSWORD_COMMANDS = {REGISTRATION, REVERSAL, REFUND, END_OF_DAY, TOTALS, REPEAT_RECEIPT, STATUS_ENQUIRY}


def decode_message(apdu: Apdu) -> Message:
    """Decode an APDU into one of the messages above (or raise ZvtProtocolError)."""
    cmd, data = apdu.command, apdu.data
    name = COMMAND_NAMES.get(cmd, f"{cmd[0]:02X} {cmd[1]:02X}")
    if apdu.cls == 0x80:
        if apdu.ins != 0x00 or data:
            raise ZvtProtocolError(f"positive acknowledgement must be 80 00 00, got {apdu}")
        return Ack()
    if apdu.cls == 0x84:
        if data:
            raise ZvtProtocolError(f"negative acknowledgement 84 {apdu.ins:02X} must carry no data")
        return Nack(apdu.ins)
    if cmd == STATUS_INFO:
        return StatusInformation(tuple(decode_bmps(data)))
    if cmd == INTERMEDIATE:
        if not data:
            raise ZvtProtocolError("intermediate status 04 FF without its status byte")
        # 04 FF: status byte, an optional timeout byte (positional), optional BMP 06.
        tail, timeout = data[1:], None
        bmps = _strict_bmps(tail)
        if tail and (bmps is None or any(t != 0x06 for t, _ in bmps)):
            timeout, bmps = tail[0], tuple(decode_bmps(tail[1:]))
        tlv: tuple[Tlv, ...] = ()
        for t, v in bmps or ():
            if t == 0x06:
                tlv = decode_tlv(v)
        return IntermediateStatus(data[0], tlv, timeout)
    if cmd == PRINT_LINE:
        if not data:
            raise ZvtProtocolError("print line 06 D1 without its attribute byte")
        return PrintLine(data[0], data[1:].decode("cp437"))
    if cmd == PRINT_BLOCK:
        rtype = 0
        lines: list[str] = []
        for t, v in decode_bmps(data):
            if t != 0x06:
                continue
            items = decode_tlv(v)
            kind = find_tlv(items, 0x1F07)
            if kind is not None:
                if len(kind.value) != 1:
                    raise ZvtProtocolError("receipt type (TLV 1F07) must be one byte")
                rtype = kind.value[0]
            texts = find_tlv(items, 0x25)
            for child in texts.children if texts else ():
                if child.tag == 0x07:
                    lines.append(child.value.decode("cp437"))
        return PrintTextBlock(rtype, tuple(lines))
    if cmd == COMPLETION:
        return Completion(tuple(decode_bmps(data)))
    if cmd == PT_ABORT:
        return TerminalAbort(data[0] if data else 0x00, tuple(decode_bmps(data[1:])))
    if cmd == ABORT:
        if data:
            raise ZvtProtocolError("abort 06 B0 carries no data")
        return Command(ABORT)
    if cmd == AUTHORIZATION:
        return Command(AUTHORIZATION, fields=tuple(decode_bmps(data)))
    if cmd in _PASSWORD_COMMANDS:
        if len(data) < 3:
            raise ZvtProtocolError(f"{name} must start with the 3-byte password")
        password = bcd_digits(data[:3], "password")
        rest = data[3:]
        if cmd == REGISTRATION:
            if not rest:
                raise ZvtProtocolError("registration needs its config byte after the password")
            config = rest[0]
            rest = rest[1:]
            currency, fields_rest = _registration_tail(rest)
            return Command(REGISTRATION, password, config, currency, fields_rest)
        return Command(cmd, password, fields=tuple(decode_bmps(rest)))
    raise ZvtProtocolError(f"unsupported APDU {apdu}")


def _strict_bmps(data: bytes) -> tuple[tuple[int, bytes], ...] | None:
    """The BMPs of `data` if every tag is in the table, else None."""
    try:
        fields = decode_bmps(data)
    except ZvtProtocolError:
        return None
    return None if any(t not in BMP_FORMAT for t, _ in fields) else tuple(fields)


def _registration_tail(rest: bytes) -> tuple[int | None, tuple[tuple[int, bytes], ...]]:
    """After 06 00's config byte: an optional 2-byte BCD currency, then BMPs (03, 06).

    The currency is positional and IQD (03 68) even looks like BMP 03, so: take the
    two bytes as a currency when the rest then parses as BMPs, unless they also read
    as a service byte (BMP 03 with bits 0-1 only, values 00..03): ``8E 03 00`` is a
    registration without a currency, never currency 300 (no ISO 4217 code is 300..303).
    """
    as_bmps = _strict_bmps(rest)
    service_byte = len(rest) >= 2 and rest[0] == 0x03 and rest[1] <= 0x03
    if len(rest) >= 2 and rest[:2].hex().isdigit() and not (service_byte and as_bmps is not None):
        after = _strict_bmps(rest[2:])
        if after is not None:
            return bcd_decode(rest[:2]), after
    if as_bmps is None:
        return None, tuple(decode_bmps(rest))
    return None, as_bmps


def decode_message_bytes(raw: bytes) -> Message:
    return decode_message(decode_apdu(raw))


def encode_message(msg: Message) -> bytes:
    return msg.to_apdu().encode()


# -- convenient builders (ECR side) --------------------------------------------------------


def registration(password: str, currency: int = IQD, config_byte: int = DEFAULT_CONFIG_BYTE,
                 service_byte: int = 0x00) -> Command:
    return Command(REGISTRATION, password, config_byte, currency, ((0x03, bytes([service_byte])),))


def authorization(amount: int, currency: int = IQD) -> Command:
    return Command(AUTHORIZATION, fields=((0x04, amount_encode(amount)), (0x49, bcd_encode(currency, 2))))


def reversal(password: str, receipt_no: int) -> Command:
    return Command(REVERSAL, password, fields=((0x87, bcd_encode(receipt_no, 2)),))


def refund(password: str, amount: int, currency: int = IQD) -> Command:
    return Command(REFUND, password, fields=((0x04, amount_encode(amount)), (0x49, bcd_encode(currency, 2))))


def simple(command: tuple[int, int], password: str) -> Command:
    """Status enquiry, end-of-day, totals, repeat receipt: password only."""
    return Command(command, password)


def abort() -> Command:
    return Command(ABORT)


@dataclass
class Fields:
    """Typed view of the BMP fields of a 04 0F status information."""

    result_code: int | None = None
    amount: int | None = None
    currency: int | None = None
    trace: int | None = None
    receipt_no: int | None = None
    turnover_no: int | None = None
    pan: str | None = None
    terminal_id: str | None = None
    time: str | None = None  # HHMMSS
    date: str | None = None  # MMDD
    card_type: int | None = None
    card_name: str | None = None
    totals: tuple[int, int, dict[str, GroupTotal]] | None = None
    tlv: tuple[Tlv, ...] = field(default_factory=tuple)
    additional_text: str | None = None  # BMP 3C, e.g. the terminal's reason for an abort
    card_seq_no: int | None = None  # BMP 17
    # BMP 0E (YYMM) is checked and dropped: a card's expiry is never kept or printed.
    expiry_seen: bool = False
    unknown: tuple[tuple[int, bytes], ...] = ()  # tags outside the table, kept raw


def read_fields(fields: tuple[tuple[int, bytes], ...]) -> Fields:
    f = Fields()
    for tag, v in fields:
        if tag == 0x27:
            f.result_code = v[0]
        elif tag == 0x04:
            f.amount = bcd_decode(v, "amount (BMP 04)")
        elif tag == 0x49:
            f.currency = bcd_decode(v, "currency (BMP 49)")
        elif tag == 0x0B:
            f.trace = bcd_decode(v, "trace (BMP 0B)")
        elif tag == 0x87:
            f.receipt_no = bcd_decode(v, "receipt no (BMP 87)")
        elif tag == 0x88:
            f.turnover_no = bcd_decode(v, "turnover no (BMP 88)")
        elif tag == 0x22:
            f.pan = pan_decode(v)
        elif tag == 0x29:
            f.terminal_id = bcd_digits(v, "terminal id (BMP 29)")
        elif tag == 0x0C:
            f.time = bcd_digits(v, "time (BMP 0C)")
        elif tag == 0x0D:
            f.date = bcd_digits(v, "date (BMP 0D)")
        elif tag == 0x8A:
            f.card_type = v[0]
        elif tag == 0x8B:
            f.card_name = v.decode("cp437").rstrip("\x00")
        elif tag == 0x60:
            f.totals = totals_decode(v)
        elif tag == 0x06:
            f.tlv = decode_tlv(v)
        elif tag == 0x3C:
            f.additional_text = v.decode("cp437").rstrip("\x00")
        elif tag == 0x17:
            f.card_seq_no = bcd_decode(v, "card sequence no (BMP 17)")
        elif tag == 0x0E:
            bcd_digits(v, "expiry date (BMP 0E)")
            f.expiry_seen = True
        elif tag not in BMP_FORMAT:
            f.unknown += ((tag, v),)
    return f
