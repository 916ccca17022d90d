"""Tracking numbers a person can read out over the phone.

Format `KKKK-NNNNNN-C`: a 4-digit kiosk code assigned at enrollment (so kiosks
mint numbers offline without collisions), a per-kiosk serial, and a Damm check
digit, which catches every single-digit error and every adjacent transposition.
Spaces and dashes are ignored on input; Eastern Arabic digits are accepted.
"""

from __future__ import annotations

from contract.errors import UrError

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def damm(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def make(kiosk_code: int, serial: int) -> str:
    if not 0 <= kiosk_code <= 9999:
        raise UrError(f"kiosk code {kiosk_code} is not 0..9999")
    if not 0 < serial <= 999999:
        raise UrError(f"tracking serial {serial} is not 1..999999")
    body = f"{kiosk_code:04d}{serial:06d}"
    return f"{body[:4]}-{body[4:]}-{damm(body)}"


def parse(text: str) -> str:
    """Normalise a typed or scanned tracking number; rejects a wrong check digit."""
    raw = text.strip().translate(_DIGITS).replace("-", "").replace(" ", "")
    if not raw.isdigit() or len(raw) != 11:
        raise UrError(f"tracking number {text!r} must be 11 digits like 1234-000001-7")
    if damm(raw) != 0:
        raise UrError(f"tracking number {text!r} has a wrong check digit (mistyped?)")
    return f"{raw[:4]}-{raw[4:10]}-{raw[10]}"


def kiosk_code_of(text: str) -> int:
    """The code of the kiosk that minted a tracking number (its first four digits).
    Central accepts a new number only from that kiosk (central/ingest.py)."""
    return int(parse(text)[:4])
