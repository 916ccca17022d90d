"""The QR code printed on a tracking slip: the tracking number in QR
alphanumeric mode (upper case, digits, '-' and ':' only), ECC M, never Micro QR
(zbar does not decode Micro QR). A phone or the kiosk's scanner reads
it back with `parse_qr_text`.
"""

from __future__ import annotations

import segno

from contract import tracking
from contract.errors import UrError

PREFIX = "UR:T:"


def qr_text(number: str) -> str:
    """'UR:T:1234-000001-7' for a valid tracking number (check digit verified)."""
    return PREFIX + tracking.parse(number)


def parse_qr_text(text: str) -> str:
    t = text.strip()
    if not t.upper().startswith(PREFIX):
        raise UrError(f"QR text {text[:40]!r} is not an Ur tracking code")
    return tracking.parse(t[len(PREFIX):])


def qr_code(number: str, error: str = "m") -> segno.QRCode:
    """A segno QR (printer engineer renders it: `qr.matrix`, `qr.save(...)`)."""
    return segno.make_qr(qr_text(number), error=error, mode="alphanumeric")
