"""Commands a technician pushes into scanner firmware over the serial line.

Two dialects, both sans-I/O (bytes out, reply bytes in):
- Honeywell serial programming: `SYN M CR` + menu command + `.`; the scanner
  echoes the command with ACK (0x06), ENQ (0x05, unknown) or NAK (0x15, bad
  value) before the terminator.
- Zebra SSI: `len opcode source status data checksum(2)`; PARAM_SEND (0xC6)
  with parameter number/value pairs, answered by CMD_ACK (0xD0) or CMD_NAK (0xD1).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import UrError

SYN, ACK, ENQ, NAK = 0x16, 0x06, 0x05, 0x15
HONEYWELL_PREFIX = bytes([SYN, ord("M"), 0x0D])

SSI_PARAM_SEND = 0xC6
SSI_CMD_ACK = 0xD0
SSI_CMD_NAK = 0xD1
SSI_HOST = 0x04
SSI_DECODER = 0x00


class ScannerConfigError(UrError):
    """A configuration command or reply that is malformed or refused."""


# -- Honeywell ----------------------------------------------------------------

def honeywell_command(menu: str) -> bytes:
    """`menu` like "232BAD9" (115200 baud); the trailing '.' stores it in RAM+flash."""
    if not menu or not menu.isascii() or any(c in menu for c in "\r\n.!"):
        raise ScannerConfigError(f"Honeywell menu command {menu!r} must be ASCII without . ! CR LF")
    return HONEYWELL_PREFIX + menu.encode("ascii") + b"."


def honeywell_reply(reply: bytes) -> str:
    """'ack', or raise naming what the scanner refused."""
    body = reply[len(HONEYWELL_PREFIX):] if reply.startswith(HONEYWELL_PREFIX) else reply
    body = body.rstrip(b".")
    if not body:
        raise ScannerConfigError("empty reply to a Honeywell menu command")
    last = body[-1]
    if last == ACK:
        return "ack"
    cmd = body[:-1].decode("ascii", "replace")
    if last == ENQ:
        raise ScannerConfigError(f"scanner does not know the menu command {cmd!r}")
    if last == NAK:
        raise ScannerConfigError(f"scanner refused the value in {cmd!r}")
    raise ScannerConfigError(f"reply {reply!r} has no ACK/ENQ/NAK")


def honeywell_parse_command(frame: bytes) -> str:
    """The scanner's side: the menu command inside one frame."""
    if not frame.startswith(HONEYWELL_PREFIX) or not frame.endswith(b"."):
        raise ScannerConfigError("not a Honeywell menu frame (SYN M CR ... .)")
    return frame[len(HONEYWELL_PREFIX):-1].decode("ascii", "replace")


# -- Zebra SSI ----------------------------------------------------------------

@dataclass(frozen=True)
class SsiPacket:
    opcode: int
    source: int
    status: int
    data: bytes


def _checksum(body: bytes) -> bytes:
    c = (-sum(body)) & 0xFFFF
    return bytes([c >> 8, c & 0xFF])


def ssi_encode(p: SsiPacket) -> bytes:
    length = 4 + len(p.data)
    if length > 255:
        raise ScannerConfigError("SSI packet too long")
    body = bytes([length, p.opcode, p.source, p.status]) + p.data
    return body + _checksum(body)


def ssi_decode(frame: bytes) -> SsiPacket:
    if len(frame) < 6:
        raise ScannerConfigError(f"SSI packet of {len(frame)} bytes is shorter than 6")
    length = frame[0]
    if length < 4 or len(frame) != length + 2:
        raise ScannerConfigError(f"SSI length byte {length} does not match {len(frame)} bytes")
    body, cks = frame[:length], frame[length:]
    if _checksum(body) != cks:
        raise ScannerConfigError("SSI checksum mismatch")
    return SsiPacket(body[1], body[2], body[3], body[4:])


def ssi_param_send(params: dict[int, int], permanent: bool = True) -> bytes:
    data = bytearray([0xFF])  # beep code: no beep
    for num, val in params.items():
        if not 0 <= num < 0xF0 or not 0 <= val <= 0xFF:
            raise ScannerConfigError(f"SSI parameter {num}={val} is outside the 1-byte range")
        data += bytes([num, val])
    return ssi_encode(SsiPacket(SSI_PARAM_SEND, SSI_HOST, 0x08 if permanent else 0, bytes(data)))


def ssi_params(p: SsiPacket) -> dict[int, int]:
    """The scanner's side: parameter number -> value pairs of a PARAM_SEND."""
    if p.opcode != SSI_PARAM_SEND:
        raise ScannerConfigError(f"SSI opcode 0x{p.opcode:02x} is not PARAM_SEND")
    d = p.data[1:]
    if len(d) % 2:
        raise ScannerConfigError("SSI PARAM_SEND has an odd number of parameter bytes")
    return {d[i]: d[i + 1] for i in range(0, len(d), 2)}
