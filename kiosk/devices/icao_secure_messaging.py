"""Secure messaging after BAC (ICAO Doc 9303 Part 11, 9.8): command APDUs wrapped in
DO'87' (encrypted data), DO'97' (Le) and DO'8E' (MAC); responses checked and opened.

Sans-I/O: `SecureChannel.wrap` turns a plain APDU into bytes to send, `unwrap`
turns the bytes received into (data, status word). The send sequence counter
advances once per wrap and once per unwrap, as the standard says; a response
whose MAC is wrong raises `SecureMessagingError`, and the channel is then dead
(the chip drops its session keys too).
"""

from __future__ import annotations

import hmac

from kiosk.devices import icao_crypto as crypto
from kiosk.devices.card_errors import TornRead
from kiosk.devices.icao_bac import Session


class SecureMessagingError(TornRead):
    """A protected response that is missing its MAC, fails it, or is malformed: on a
    contactless card this is what a card pulled mid-answer looks like."""


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82]) + n.to_bytes(2, "big")


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _read_tlv(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    if pos + 2 > len(buf):
        raise SecureMessagingError("response ends inside a data object")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first in (0x81, 0x82):
        n = first - 0x80
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    else:
        raise SecureMessagingError(f"data object {tag:02X} has a length form {first:02X} we do not read")
    if pos + length > len(buf):
        raise SecureMessagingError(f"data object {tag:02X} runs past the end of the response")
    return tag, buf[pos:pos + length], pos + length


class SecureChannel:
    def __init__(self, session: Session) -> None:
        self._enc = session.enc
        self._mac = session.mac
        self.ssc = session.ssc
        self.broken = False

    def _ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(8, "big")

    def wrap(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
        """Short APDUs only (data < 256 bytes, Le <= 256): what BAC-era chips take."""
        if self.broken:
            raise SecureMessagingError("secure channel closed after an earlier failure")
        header = bytes([cla | 0x0C, ins, p1, p2])
        body = b""
        if data:
            cryptogram = crypto.encrypt(self._enc, crypto.pad(data))
            body += _tlv(0x87, b"\x01" + cryptogram)
        if le is not None:
            body += _tlv(0x97, bytes([le & 0xFF]))
        self.ssc += 1
        mac = crypto.retail_mac(self._mac, crypto.pad(self._ssc_bytes() + crypto.pad(header) + body))
        body += _tlv(0x8E, mac)
        return header + bytes([len(body)]) + body + b"\x00"

    def unwrap(self, response: bytes) -> tuple[bytes, int]:
        """(plain data, status word) of a protected response (status word included)."""
        if len(response) < 2:
            raise SecureMessagingError("response shorter than a status word")
        body, sw = response[:-2], int.from_bytes(response[-2:], "big")
        self.ssc += 1
        if not body:
            # An error status word comes back unprotected (e.g. 6A82 file not found):
            # the caller reports it; the chip has ended secure messaging.
            self.broken = True
            return b"", sw
        pos, mac_input, cryptogram, do99, mac = 0, b"", b"", b"", b""
        while pos < len(body):
            start = pos
            tag, value, pos = _read_tlv(body, pos)
            if tag == 0x87:
                cryptogram = value
                mac_input += body[start:pos]
            elif tag == 0x99:
                do99 = value
                mac_input += body[start:pos]
            elif tag == 0x8E:
                mac = value
            else:
                self.broken = True
                raise SecureMessagingError(f"unexpected data object {tag:02X} in a protected response")
        if not mac:
            self.broken = True
            raise SecureMessagingError("protected response without a MAC (DO'8E')")
        expect = crypto.retail_mac(self._mac, crypto.pad(self._ssc_bytes() + mac_input))
        if not hmac.compare_digest(expect, mac):
            self.broken = True
            raise SecureMessagingError("response MAC does not verify (altered or torn transmission)")
        if do99 and int.from_bytes(do99, "big") != sw:
            self.broken = True
            raise SecureMessagingError("protected status word differs from the plain one")
        if not cryptogram:
            return b"", sw
        if cryptogram[:1] != b"\x01":
            raise SecureMessagingError("encrypted data object without padding indicator 01")
        try:
            return crypto.unpad(crypto.decrypt(self._enc, cryptogram[1:])), sw
        except ValueError as e:
            self.broken = True
            raise SecureMessagingError(f"encrypted response does not decrypt: {e}") from None
