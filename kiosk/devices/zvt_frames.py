"""ZVT serial transport framing, sans-I/O (bytes in, events out).

On RS-232 every APDU travels as ``DLE STX <APDU, each DLE doubled> DLE ETX CRCL CRCH``.
The CRC is the reflected CCITT CRC-16 (polynomial 0x1021 bit-reversed = 0x8408,
initial value 0, no final xor; a.k.a. CRC-16/KERMIT) over the *unstuffed* APDU plus
the ETX byte, sent low byte first. The receiver answers each frame with one byte:
ACK (0x06) when the CRC is right, NAK (0x15) when it is not; the sender repeats a
frame that was NAKed or not ACKed in time, at most ``MAX_TRIES`` transmissions in all.

`ZvtLink` is that transport for either side (the ECR driver and the terminal
emulator use the same class): it never touches a port, it is fed bytes with
``receive_data`` and told about elapsed ACK time with ``ack_timeout``; what it
wants written is collected in ``data_to_send``. The receive buffer is bounded so a
babbling peer cannot exhaust memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from contract.errors import ValidationError

DLE = 0x10
STX = 0x02
ETX = 0x03
ACK = 0x06
NAK = 0x15

#: Transmissions of one frame before the link gives up (first try + 2 repeats).
MAX_TRIES = 3
#: Largest APDU: 2 control bytes + FF + 2 length bytes + 65535 data bytes.
MAX_APDU = 3 + 2 + 0xFFFF


class ZvtProtocolError(ValidationError):
    """The peer broke the ZVT protocol (framing, APDU layout or message order)."""


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Reflected CCITT CRC-16 with initial value 0 (the variant ZVT uses)."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def frame_crc(apdu: bytes) -> bytes:
    """The two CRC bytes that follow DLE ETX, low byte first (CRC covers APDU + ETX)."""
    c = crc16(bytes(apdu) + bytes([ETX]))
    return bytes([c & 0xFF, c >> 8])


def encode_frame(apdu: bytes) -> bytes:
    """One APDU as a serial frame, DLE bytes doubled."""
    if not apdu:
        raise ZvtProtocolError("cannot frame an empty APDU")
    if len(apdu) > MAX_APDU:
        raise ZvtProtocolError(f"APDU of {len(apdu)} bytes is longer than the ZVT maximum {MAX_APDU}")
    body = bytes(apdu).replace(bytes([DLE]), bytes([DLE, DLE]))
    return bytes([DLE, STX]) + body + bytes([DLE, ETX]) + frame_crc(apdu)


# -- events -----------------------------------------------------------------


@dataclass(frozen=True)
class FrameReceived:
    """A frame with a correct CRC; an ACK byte has been queued for it."""

    apdu: bytes


@dataclass(frozen=True)
class FrameCorrupt:
    """A frame was damaged (CRC or DLE sequence); a NAK byte has been queued."""

    reason: str


@dataclass(frozen=True)
class FrameAcked:
    """The peer ACKed our outstanding frame."""

    apdu: bytes


@dataclass(frozen=True)
class FrameResent:
    """The peer NAKed (or did not ACK in time) our frame; it was queued again."""

    apdu: bytes
    tries: int
    why: str


@dataclass(frozen=True)
class LinkFailed:
    """A frame was not ACKed after MAX_TRIES transmissions; it was dropped."""

    apdu: bytes
    why: str


@dataclass(frozen=True)
class StrayByte:
    """A byte outside any frame that is neither ACK nor NAK (line noise); ignored."""

    value: int


LinkEvent = FrameReceived | FrameCorrupt | FrameAcked | FrameResent | LinkFailed | StrayByte


class _Outbox:
    """What both link kinds keep alike: bytes waiting for the wire and the byte totals
    (for diagnostics and the bench); the framing is theirs."""

    def __init__(self) -> None:
        self._out = bytearray()
        self.bytes_in = 0
        self.bytes_out = 0

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        self.bytes_out += len(out)
        return out


class ZvtLink(_Outbox):
    """Framing + ACK/NAK + repeat for one end of a ZVT serial line.

    ``send_apdu`` queues APDUs; only one frame is outstanding (un-ACKed) at a time,
    the next one goes out when the peer ACKs. ``corrupt_first`` / ``corrupt_all``
    exist for the emulator's CRC fault knobs (they spoil the CRC of what we send).
    """

    def __init__(self, max_tries: int = MAX_TRIES, max_buffer: int = 2 * MAX_APDU + 16) -> None:
        super().__init__()
        self.max_tries = max_tries
        self.max_buffer = max_buffer
        self._queue: deque[bytes] = deque()
        self._pending: bytes | None = None
        self._tries = 0
        self.corrupt_first = False  # emulator knob: first transmission of each frame is bad
        self.corrupt_all = False  # emulator knob: every transmission is bad
        self.ack_frames = True  # emulator knob "drop ACK" sets this False
        self.transmissions = 0  # frames written so far: callers restart their ACK timer on change
        # receive state
        self._state = "idle"  # idle | body | body_dle | crc
        self._body = bytearray()
        self._crc = bytearray()
        self._raw_len = 0

    # -- sending --------------------------------------------------------------
    @property
    def awaiting_ack(self) -> bool:
        return self._pending is not None

    @property
    def pending_apdu(self) -> bytes | None:
        return self._pending

    def send_apdu(self, apdu: bytes) -> None:
        encode_frame(apdu)  # validates length early, in the caller's context
        self._queue.append(bytes(apdu))
        self._pump()

    def _transmit(self) -> None:
        assert self._pending is not None
        frame = bytearray(encode_frame(self._pending))
        if self.corrupt_all or (self.corrupt_first and self._tries == 0):
            frame[-1] ^= 0x5A
        self._tries += 1
        self.transmissions += 1
        self._out += frame

    def _pump(self) -> None:
        if self._pending is None and self._queue:
            self._pending = self._queue.popleft()
            self._tries = 0
            self._transmit()

    def _retry(self, why: str) -> LinkEvent:
        assert self._pending is not None
        apdu = self._pending
        if self._tries >= self.max_tries:
            self._pending = None
            self._pump()
            return LinkFailed(apdu, f"{why} after {self.max_tries} transmissions")
        self._transmit()
        return FrameResent(apdu, self._tries, why)

    def ack_timeout(self) -> list[LinkEvent]:
        """The caller's ACK timer (ZVT T3) ran out for the outstanding frame."""
        if self._pending is None:
            return []
        return [self._retry("no ACK")]

    def reset(self) -> None:
        """Forget queued/outstanding frames and any half-received frame."""
        self._queue.clear()
        self._pending = None
        self._tries = 0
        self._state = "idle"
        self._body.clear()
        self._crc.clear()
        self._raw_len = 0

    # -- receiving ------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        self.bytes_in += len(data)
        for b in bytes(data):
            ev = self._feed(b)
            if ev is not None:
                events.append(ev)
        return events

    def _abandon(self, reason: str) -> FrameCorrupt:
        self._state = "idle"
        self._body.clear()
        self._crc.clear()
        self._raw_len = 0
        self._out.append(NAK)
        return FrameCorrupt(reason)

    def _feed(self, b: int) -> LinkEvent | None:
        st = self._state
        if st == "idle":
            if b == DLE:
                self._state = "start"
                return None
            if b == ACK and self._pending is not None:
                apdu = self._pending
                self._pending = None
                self._pump()
                return FrameAcked(apdu)
            if b == NAK and self._pending is not None:
                return self._retry("NAK")
            return StrayByte(b)
        if st == "start":
            if b == STX:
                self._state = "body"
                self._body.clear()
                self._raw_len = 0
                return None
            self._state = "idle"
            return StrayByte(b)
        self._raw_len += 1
        if self._raw_len > self.max_buffer:
            return self._abandon(f"frame longer than {self.max_buffer} bytes without DLE ETX")
        if st == "body":
            if b == DLE:
                self._state = "body_dle"
            else:
                self._body.append(b)
            return None
        if st == "body_dle":
            if b == DLE:
                self._body.append(DLE)
                self._state = "body"
                return None
            if b == ETX:
                self._state = "crc"
                self._crc.clear()
                return None
            if b == STX:
                # A new frame started inside the old one: the old one is lost.
                self._body.clear()
                self._raw_len = 0
                self._state = "body"
                self._out.append(NAK)
                return FrameCorrupt("frame restarted (DLE STX) before DLE ETX")
            return self._abandon(f"DLE followed by 0x{b:02X} inside a frame (expected DLE or ETX)")
        # crc
        self._crc.append(b)
        if len(self._crc) < 2:
            return None
        apdu = bytes(self._body)
        got = bytes(self._crc)
        self._state = "idle"
        self._body.clear()
        self._crc.clear()
        self._raw_len = 0
        if not apdu:
            self._out.append(NAK)
            return FrameCorrupt("empty frame")
        want = frame_crc(apdu)
        if got != want:
            self._out.append(NAK)
            return FrameCorrupt(f"CRC {got.hex()} does not match computed {want.hex()}")
        if self.ack_frames:
            self._out.append(ACK)
        return FrameReceived(apdu)


class ApduLink(_Outbox):
    """ZVT over TCP/IP (port 20007): bare APDUs, no DLE/STX, no CRC, no ACK bytes.

    TCP already delivers bytes intact and in order, so the serial link's framing,
    checksum and repeats are absent; each APDU is delimited by its own length
    (``CLASS INSTR LEN``, LEN ``FF lo hi`` for 255 and more). It has the interface
    of `ZvtLink` so the ECR connection and the emulator run unchanged on it: a
    sent APDU counts as delivered at once (``awaiting_ack`` is never true), and the
    serial fault knobs (CRC, ACK) have nothing to act on.
    """

    reliable = True

    def __init__(self) -> None:
        super().__init__()
        self._in = bytearray()
        self.transmissions = 0
        self.ack_frames = True  # no ACK bytes on TCP; kept for the emulator's knobs
        self.corrupt_first = False
        self.corrupt_all = False

    awaiting_ack = False
    pending_apdu: bytes | None = None

    def send_apdu(self, apdu: bytes) -> None:
        if len(apdu) < 3:
            raise ZvtProtocolError(f"APDU of {len(apdu)} bytes is shorter than class+instr+length")
        if len(apdu) > MAX_APDU:
            raise ZvtProtocolError(f"APDU of {len(apdu)} bytes is longer than the ZVT maximum {MAX_APDU}")
        self._out += apdu
        self.transmissions += 1

    def ack_timeout(self) -> list[LinkEvent]:
        return []

    def reset(self) -> None:
        self._in.clear()

    def receive_data(self, data: bytes) -> list[LinkEvent]:
        """Whole APDUs out of the byte stream; a partial one waits for more bytes.

        The buffer cannot grow past one APDU: every length a header can declare is
        at most `MAX_APDU`, and a complete APDU is taken out at once.
        """
        self.bytes_in += len(data)
        self._in += data
        events: list[LinkEvent] = []
        while len(self._in) >= 3:
            n, head = self._in[2], 3
            if n == 0xFF:
                if len(self._in) < 5:
                    break
                n, head = self._in[3] | (self._in[4] << 8), 5
            if len(self._in) < head + n:
                break
            events.append(FrameReceived(bytes(self._in[: head + n])))
            del self._in[: head + n]
        return events
