"""What goes into the printed QR code: an upper-case verification address + the signed code.

The address form is `HTTPS://VERIFY.UR.GOV.IQ/UR1/` + Base32: a stock phone
camera offers it as a link (no spaces, no `%`), the browser sends the path as
it is, and the web verifier answers; a kiosk reads the same text offline
(contract.ur1 reads both this and the older `.../UR1:` + Base45 form, which
cameras refuse because Base45 holds spaces and `%`).

Upper case keeps every character in the QR alphanumeric set (0-9 A-Z space
$%*+-./:), so the whole code is one alphanumeric segment: ~5.5 bits per
character instead of 8 and no byte-mode charset guessing by readers. Base32
costs ~7% more characters than Base45 would; it buys a link that opens.
Always a full QR (`segno.make_qr`), never Micro QR, which zbar cannot read.
"""

from __future__ import annotations

import io

import segno

from contract import ur1
from contract.errors import UrError
from contract.ur1 import BASE45_ALPHABET, PREFIX, URL_RE

DEFAULT_BASE = "HTTPS://VERIFY.UR.GOV.IQ/"


def verification_text(ur1_text: str, base: str | None = DEFAULT_BASE) -> str:
    """`base` + "UR1/" + Base32 (the address form); `base` None or "" gives the bare UR1 text."""
    if not ur1_text.startswith(PREFIX):
        raise UrError("not a UR1 text")
    if not base:
        return ur1_text
    return ur1.address_text(ur1_text, _checked_base(base))


def legacy_text(ur1_text: str, base: str = DEFAULT_BASE) -> str:
    """The form printed before the address form: `base` + the `UR1:` Base45 text.
    Kept so tests and tools can make the codes already on paper."""
    if not ur1_text.startswith(PREFIX):
        raise UrError("not a UR1 text")
    return _checked_base(base) + ur1_text


def _checked_base(base: str) -> str:
    if not base.endswith("/"):
        base += "/"
    m = URL_RE.match(base)
    if m is None or m.end() != len(base) or base != base.upper():
        raise UrError(f"verification base {base!r} must be an upper-case http(s) address like HTTPS://VERIFY.EXAMPLE.IQ/")
    bad = {c for c in base if c not in BASE45_ALPHABET}
    if bad:
        raise UrError(f"characters outside the QR alphanumeric set: {sorted(bad)}")
    return base


def make_qr(text: str, thermal: bool = False) -> segno.QRCode:
    """ECC M for office paper, Q for thermal; boosting off so the version stays minimal."""
    qr = segno.make_qr(text, error="q" if thermal else "m", boost_error=False)
    if qr.mode != "alphanumeric":
        raise UrError(f"QR came out in {qr.mode} mode; the text must be upper-case alphanumeric")
    return qr


def png_bytes(qr: segno.QRCode, scale: int, border: int = 4) -> bytes:
    """PNG with an integer number of pixels (printer dots) per module."""
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()
