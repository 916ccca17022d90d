"""Reading an eMRTD chip (ICAO Doc 9303 Parts 10 and 11) as a sans-I/O dialogue.

`read_document` is a generator: it yields each command APDU (bytes) and is sent
the card's full response (data + SW1 SW2). Whoever drives it owns the I/O
(`run` does it with any `transmit` function, kiosk/devices/pcsc_reader.py gives
one over PC/SC). The order is the one Part 11 prescribes for BAC: SELECT the
LDS application, GET CHALLENGE, EXTERNAL AUTHENTICATE, then every file under
secure messaging: EF.COM, DG1, DG2.

Failures are `CardReadError`s with a message for the screen: `NotAnEmrtd`,
`BacFailed` (wrong MRZ), `TornRead` (card pulled or answers cut mid-read).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from kiosk.devices import icao_bac
from kiosk.devices.card_errors import BacFailed, CardReadError, NotAnEmrtd, TornRead
from kiosk.devices.icao_lds import (
    AID_EMRTD,
    FILE_IDS,
    FacePhoto,
    LdsError,
    data_groups,
    dg1_mrz,
    dg2_face,
    read_header,
)
from kiosk.devices.icao_mrz import MrzData, MrzKey
from kiosk.devices.icao_secure_messaging import SecureChannel, SecureMessagingError

SW_OK = 0x9000
CHUNK = 0xDF  # bytes per READ BINARY: protected responses must stay within 256 bytes
MAX_FILE = 0x7FFF  # offsets above need READ BINARY with odd INS; DG2 photos stay below
Dialogue = Generator[bytes, bytes, "IdDocument"]


__all__ = ["BacFailed", "CardReadError", "IdDocument", "NotAnEmrtd", "TornRead",
           "read_document", "run"]


@dataclass(frozen=True)
class IdDocument:
    """What the chip says: the MRZ of DG1 and the DG2 face (screen only, never stored)."""

    mrz: MrzData
    data_groups: list[int]
    photo: FacePhoto | None = field(default=None, repr=False)


def _sw(resp: bytes) -> int:
    if len(resp) < 2:
        raise TornRead("the card's answer was cut short (no status word)")
    return int.from_bytes(resp[-2:], "big")


def _plain(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if le is not None:
        apdu += bytes([le & 0xFF])
    return apdu


def _protected(sm: SecureChannel, what: str, ins: int, p1: int, p2: int,
               data: bytes = b"", le: int | None = None) -> Generator[bytes, bytes, bytes]:
    resp = yield sm.wrap(0x00, ins, p1, p2, data, le)
    _sw(resp)
    try:
        plain, sw = sm.unwrap(resp)
    except SecureMessagingError as e:
        raise SecureMessagingError(f"{what}: {e}") from None
    if sw != SW_OK:
        if sw in (0x6A82, 0x6A80):
            raise LdsError(f"{what}: the chip has no such file (status {sw:04X})")
        raise TornRead(f"{what}: the card answered status {sw:04X}")
    return plain


def _read_file(sm: SecureChannel, name: str) -> Generator[bytes, bytes, bytes]:
    fid = FILE_IDS[name]
    yield from _protected(sm, f"select {name}", 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
    head = yield from _protected(sm, f"read {name}", 0xB0, 0, 0, le=8)
    if not head:
        raise TornRead(f"read {name}: the card returned no data")
    try:
        _, length, value_at = read_header(head)
    except LdsError as e:
        raise TornRead(f"read {name}: {e}") from None
    total = value_at + length
    if total > MAX_FILE:
        raise LdsError(f"{name} is {total} bytes, more than this reader handles ({MAX_FILE})")
    data = bytearray(head[:total])
    while len(data) < total:
        n = min(CHUNK, total - len(data))
        off = len(data)
        chunk = yield from _protected(sm, f"read {name} at {off}", 0xB0, off >> 8, off & 0xFF, le=n)
        if not chunk:
            raise TornRead(f"read {name}: the card returned no data at offset {off} of {total}")
        data += chunk[:n]
    return bytes(data)


def read_document(key: MrzKey, want_photo: bool = True,
                  random: Callable[[int], bytes] = os.urandom) -> Dialogue:
    resp = yield _plain(0x00, 0xA4, 0x04, 0x0C, AID_EMRTD)
    if _sw(resp) != SW_OK:
        raise NotAnEmrtd(f"this card has no ICAO 9303 travel-document application (status {_sw(resp):04X})")
    resp = yield icao_bac.GET_CHALLENGE
    if _sw(resp) != SW_OK:
        raise NotAnEmrtd(f"the card refuses GET CHALLENGE (status {_sw(resp):04X}): it has no Basic "
                         "Access Control (a PACE-only card, which this reader does not open yet)")
    handshake = icao_bac.start(key, resp[:-2], random(8), random(16))
    resp = yield handshake.command()
    sw = _sw(resp)
    if sw != SW_OK:
        # 6300 / 6982 are what chips answer to a cryptogram made with other keys.
        raise BacFailed(f"the card refused the MRZ data (status {sw:04X}): check document number, "
                        "birth date and expiry date")
    sm = SecureChannel(handshake.finish(resp[:-2]))
    com = yield from _read_file(sm, "COM")
    groups = data_groups(com)
    if 1 not in groups:
        raise LdsError("EF.COM does not list DG1: the chip has no MRZ data")
    mrz = dg1_mrz((yield from _read_file(sm, "DG1")))
    photo = None
    if want_photo and 2 in groups:
        photo = dg2_face((yield from _read_file(sm, "DG2")))
    return IdDocument(mrz, groups, photo)


def run(dialogue: Dialogue, transmit: Callable[[bytes], bytes]) -> IdDocument:
    """Drive a dialogue with a transmit function (command APDU -> response with SW)."""
    try:
        apdu = next(dialogue)
        while True:
            apdu = dialogue.send(transmit(apdu))
    except StopIteration as done:
        result: IdDocument = done.value
        return result
