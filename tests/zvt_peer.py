"""A second, independent ZVT implementation for interop tests.

Written only from the public ZVT specification's byte tables (APDU layout, the
serial frame DLE STX ... DLE ETX CRC, the bitmap table, LLVAR/LLLVAR lengths), and
deliberately NOT importing anything from kiosk/devices: when our driver and our
emulator agree with this peer, they agree with the specification, not only with
their own shared codec. Kept small and plain on purpose (bitwise CRC, dict of field
lengths, no classes shared with the product).

- `PeerTerminal` answers an ECR the way a terminal does, with scripted answers
  (a list of raw APDUs per command), on a pty (serial framing) or on TCP (bare APDUs).
- `PeerEcr` drives a terminal (our emulator) over a pty or TCP.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DLE, STX, ETX, ACK, NAK = 0x10, 0x02, 0x03, 0x06, 0x15

# Field lengths from the specification's bitmap list: a number is a fixed length,
# 2 = LLVAR (F0..F9 twice), 3 = LLLVAR (three times), "tlv" = BER length.
FIXED = {0x01: 1, 0x02: 1, 0x03: 1, 0x04: 6, 0x05: 1, 0x0B: 3, 0x0C: 3, 0x0D: 2, 0x0E: 2,
         0x17: 2, 0x19: 1, 0x27: 1, 0x29: 4, 0x2A: 15, 0x37: 3, 0x3A: 2, 0x3B: 8, 0x3D: 3,
         0x49: 2, 0x87: 2, 0x88: 3, 0x8A: 1, 0x8C: 1, 0xA0: 1, 0xAA: 3, 0xBA: 5}
LLVAR = {0x22, 0x23, 0x2D, 0x8B, 0xA7}
LLLVAR = {0x24, 0x2E, 0x3C, 0x60, 0x92, 0x9A, 0xAF}


def crc_kermit(data: bytes) -> int:
    """CRC-CCITT as the spec gives it for the serial frame: polynomial 1021 reflected,
    start 0000, computed bit by bit (the product uses a table)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def frame(apdu: bytes) -> bytes:
    c = crc_kermit(apdu + bytes([ETX]))
    return bytes([DLE, STX]) + apdu.replace(b"\x10", b"\x10\x10") + bytes([DLE, ETX, c & 0xFF, c >> 8])


def apdu(cls: int, ins: int, data: bytes = b"") -> bytes:
    n = len(data)
    return bytes([cls, ins]) + (bytes([n]) if n < 255 else bytes([0xFF, n & 0xFF, n >> 8])) + data


def bcd(value: int, nbytes: int) -> bytes:
    return bytes.fromhex(str(value).zfill(2 * nbytes))


def llvar(tag: int, value: bytes, digits: int) -> bytes:
    return bytes([tag]) + bytes(0xF0 | int(d) for d in str(len(value)).zfill(digits)) + value


def split_apdu(buf: bytearray) -> bytes | None:
    """Take one whole APDU off the front of `buf` (TCP), or None if incomplete."""
    if len(buf) < 3:
        return None
    n, head = buf[2], 3
    if n == 0xFF:
        if len(buf) < 5:
            return None
        n, head = buf[3] | buf[4] << 8, 5
    if len(buf) < head + n:
        return None
    out = bytes(buf[: head + n])
    del buf[: head + n]
    return out


def apdu_data(raw: bytes) -> bytes:
    return raw[5:] if raw[2] == 0xFF else raw[3:]


def read_fields(data: bytes) -> dict[int, bytes]:
    """BMPs -> {tag: value}; raises ValueError on an unknown tag or a short field."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag in FIXED:
            n = FIXED[tag]
        elif tag in LLVAR or tag in LLLVAR:
            k = 2 if tag in LLVAR else 3
            n = int("".join(str(b & 0x0F) for b in data[i:i + k]))
            i += k
        elif tag == 0x06:
            n = data[i]
            i += 1
            if n & 0x80:
                k = n & 0x7F
                n = int.from_bytes(data[i:i + k], "big")
                i += k
        else:
            raise ValueError(f"peer: unknown tag {tag:02X}")
        if i + n > len(data):
            raise ValueError(f"peer: field {tag:02X} is short")
        out[tag] = data[i:i + n]
        i += n
    return out


class _Wire:
    """Bytes in/out on a pty master fd (serial frames + ACK) or a socket (bare APDUs)."""

    def __init__(self, serial_fd: int | None = None, sock: socket.socket | None = None) -> None:
        self.fd = serial_fd
        self.sock = sock
        self.buf = bytearray()
        self.sent: list[bytes] = []  # APDUs we sent, for assertions
        self.received: list[bytes] = []

    def _read(self, timeout: float) -> bytes:
        src = self.fd if self.fd is not None else self.sock
        r, _, _ = select.select([src], [], [], timeout)
        if not r:
            return b""
        if self.fd is not None:
            return os.read(self.fd, 4096)
        assert self.sock is not None
        data = self.sock.recv(4096)
        if not data:
            raise ConnectionError("peer: connection closed")
        return data

    def _write(self, data: bytes) -> None:
        if self.fd is not None:
            os.write(self.fd, data)
        else:
            assert self.sock is not None
            self.sock.sendall(data)

    def send(self, raw: bytes, timeout: float = 3.0) -> None:
        """Send one APDU; on serial wait for the ACK byte (spec: repeat on NAK)."""
        self.sent.append(raw)
        if self.fd is None:
            self._write(raw)
            return
        for _ in range(3):
            self._write(frame(raw))
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if self.buf[:1] in (bytes([ACK]), bytes([NAK])):
                    b = self.buf.pop(0)
                    if b == ACK:
                        return
                    break
                self.buf += self._read(0.05)
                self._skip_noise()
        raise TimeoutError("peer: no ACK")

    def _skip_noise(self) -> None:
        while self.buf and self.buf[0] not in (DLE, ACK, NAK):
            self.buf.pop(0)

    def recv(self, timeout: float = 3.0) -> bytes | None:
        """One APDU (serial: unframed, CRC checked, ACKed), or None on timeout."""
        end = time.monotonic() + timeout
        while True:
            got = self._take()
            if got is not None:
                self.received.append(got)
                return got
            if time.monotonic() >= end:
                return None
            self.buf += self._read(0.05)

    def _take(self) -> bytes | None:
        if self.fd is None:
            return split_apdu(self.buf)
        self._skip_noise()
        if self.buf[:2] != bytes([DLE, STX]):
            if self.buf[:1] in (bytes([ACK]), bytes([NAK])):
                self.buf.pop(0)
            return None
        body = bytearray()
        i = 2
        while i + 1 < len(self.buf):
            if self.buf[i] == DLE:
                if self.buf[i + 1] == DLE:
                    body.append(DLE)
                    i += 2
                    continue
                if self.buf[i + 1] == ETX:
                    if i + 4 > len(self.buf):
                        return None
                    crc = self.buf[i + 2] | self.buf[i + 3] << 8
                    del self.buf[: i + 4]
                    ok = crc == crc_kermit(bytes(body) + bytes([ETX]))
                    self._write(bytes([ACK if ok else NAK]))
                    return bytes(body) if ok else None
            body.append(self.buf[i])
            i += 1
        return None


# -- the peer terminal -------------------------------------------------------------------


def approval_fields(amount: int, currency: int, extra: bytes = b"") -> bytes:
    """04 0F data of an approved payment, built from the table above."""
    return (b"\x27\x00" + b"\x04" + bcd(amount, 6) + b"\x49" + bcd(currency, 2) + b"\x0b" + bcd(7, 3)
            + b"\x0c\x12\x30\x00\x0d\x06\x15" + b"\x29" + bcd(52500999, 4) + b"\x87" + bcd(42, 2)
            + b"\x8a\x0a" + llvar(0x8B, b"VISA\x00", 2) + extra)


Script = Callable[[bytes], list[bytes]]


@dataclass
class PeerTerminal:
    """Answers each ECR command with 80 00 00 then the APDUs `script(command)` gives."""

    script: Script
    commands: list[bytes] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, wire: _Wire) -> None:
        while not self.stop.is_set():
            try:
                cmd = wire.recv(0.1)
            except (ConnectionError, OSError):
                return
            if cmd is None or cmd[:2] == b"\x80\x00":
                continue
            self.commands.append(cmd)
            try:
                wire.send(apdu(0x80, 0x00))
                for answer in self.script(cmd):
                    wire.send(answer)
                    if answer[:2] in (b"\x06\x0f", b"\x06\x1e", b"\x04\x0f", b"\x04\xff"):
                        ack = wire.recv(3.0)  # the ECR's 80 00 00
                        if ack is None or ack[:2] != b"\x80\x00":
                            return
            except (ConnectionError, OSError, TimeoutError):
                return

    def serve_tcp(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self.serve(_Wire(sock=conn))


# -- the peer ECR --------------------------------------------------------------------------


class PeerEcr:
    """Sends a command, ACKs with 80 00 00, collects APDUs until 06 0F or 06 1E."""

    def __init__(self, serial_fd: int | None = None, sock: socket.socket | None = None) -> None:
        self.wire = _Wire(serial_fd, sock)

    def run(self, command: bytes, timeout: float = 5.0) -> list[bytes]:
        self.wire.send(command)
        got: list[bytes] = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            a = self.wire.recv(0.2)
            if a is None:
                continue
            got.append(a)
            if a[:2] == b"\x84\x00" or a[0] == 0x84:
                return got
            if a[:2] != b"\x80\x00":
                self.wire.send(apdu(0x80, 0x00))
            if a[:2] in (b"\x06\x0f", b"\x06\x1e"):
                return got
        raise TimeoutError(f"peer ECR: no end after {got!r}")


def registration(config: int = 0x8E, currency: int | None = None, service: int | None = 0x00) -> bytes:
    """06 00: password 000000, config byte, optional currency, optional BMP 03."""
    data = b"\x00\x00\x00" + bytes([config])
    if currency is not None:
        data += bcd(currency, 2)
    if service is not None:
        data += bytes([0x03, service])
    return apdu(0x06, 0x00, data)


def authorization(amount: int, currency: int) -> bytes:
    return apdu(0x06, 0x01, b"\x04" + bcd(amount, 6) + b"\x49" + bcd(currency, 2))
