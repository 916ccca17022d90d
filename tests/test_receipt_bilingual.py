"""The fee receipt in the session's language with English below (issue 16): amounts with
thousands separators (Arabic-Indic digits when the operator asks), the agency and service
named from the catalogue, the terminal's own lines untouched, a compact receipt code whose
QR is version 10 or lower at ECC M and still verifies, golden PNGs of what the ESC/POS
emulator prints for ar / ckb / en on 58 and 80 mm paper.

Golden images live in tests/golden/receipt_<lang>_<width>.png; after an intended change of
the layout regenerate them with UR_REGEN_GOLDEN=1 (UR_UPDATE_GOLDEN=1 as in
tests/test_receipt.py works too) and look at the PNGs before committing them.
"""

from __future__ import annotations

import base64
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from pyzbar import pyzbar

from contract import receipt_claims, ur1
from kiosk.at_rest import DataKey
from kiosk.devices import receipt as r
from kiosk.devices.receipt_image import render_stream
from kiosk.i18n import LRI, PDI, has_arabic_script
from kiosk.identity import Identity
from kiosk.money_format import format_amount
from kiosk.payments import journal as pj
from kiosk.payments import receipt_code
from kiosk.payments.receipts import TEMPLATE, PaidFor, receipt_data
from kiosk.payments.service import PaymentRow, entry_to_json

GOLDEN = Path(__file__).parent / "golden"
P80 = r.ReceiptProfile(width_dots=576, native_qr=True, cutter=True)
P58 = r.ReceiptProfile(width_dots=384, native_qr=False, cutter=False)
TOLERANCE = 0.0002  # as tests/test_receipt.py: a few edge dots between FreeType builds
PAYMENT_ID = "3f2a9c1b-0d7e-4c55-9a41-6b7e2d1f0a93"
TERMINAL_LINES = ["CARDHOLDER COPY", "VISA 4111 11** **** 1111", "AUTH 123456", "APPROVED"]
WHAT = PaidFor(
    {"ar": "شهادة عدم محكومية", "ckb": "بڕوانامەی بێ سزایی", "en": "Non-conviction certificate"},
    {"ar": "وزارة الداخلية", "ckb": "وەزارەتی ناوخۆ", "en": "Ministry of Interior"},
    "1001-000013-9")


def ident(office: str = "BGD-01") -> Identity:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # fixed: goldens stay put
    return Identity("BGD-K07", 7, office, "mqtt://127.0.0.1:1", key,
                    DataKey(base64.urlsafe_b64encode(bytes(32))))


def paid_row(amount: int = 10000, statutory: int = 7000, code: str | None = None) -> PaymentRow:
    e = pj.PaymentEntry(PAYMENT_ID, "app:1001-000013-9", amount, 368, state=pj.S.PAID,
                        receipt_no=17, trace=45, terminal_id="52500001",
                        history=(("PAID", "2026-11-22T10:41:05", ""),))
    if code is None:
        code = receipt_code.sign_compact_receipt(ident(), PAYMENT_ID, 1795000000, amount,
                                                 "app:1001-000013-9")
    return PaymentRow(payment_id=PAYMENT_ID, fee_ref="app:1001-000013-9", kind="app", state="PAID",
                      dinars=amount, statutory=statutory, service=amount - statutory,
                      description="application 1001-000013-9 (non-conviction-certificate)",
                      business_date="2026-11-22", terminal_receipt=json.dumps({"customer": TERMINAL_LINES}),
                      receipt_code=code, entry_json=entry_to_json(e))


def printed_lines(data: dict[str, object]) -> list[str]:
    """The receipt's text lines in print order (the template filled as the renderer does)."""
    out = []
    for b in r.load_template(TEMPLATE).blocks:
        if b.type == "text" and not (b.when and not str(data.get(b.when, "") or "")):
            out.append(r.fill(b.text, data))
    return [ln.replace(LRI, "").replace(PDI, "") for ln in out]  # bidi isolates draw nothing


def test_qr_of_the_receipt_code_is_version_10_or_lower_at_ecc_m_even_at_the_extremes() -> None:
    worst = receipt_code.sign_compact_receipt(ident("X" * 64), PAYMENT_ID, 1795000000,
                                              999_999_999, "item:" + "s" * 91)
    for code in (paid_row().receipt_code, worst):
        qr = segno.make_qr(code, error="m", boost_error=False)
        assert qr.version <= 10 and qr.mode == "alphanumeric", (qr.version, len(code))
    # What the printer gets decodes back to the same code: the QR block of the template.
    data = receipt_data(paid_row(), ident(), "citizen", lang="ar", what=WHAT)
    img = render_stream(r.render_receipt(r.load_template(TEMPLATE), data, P58), 384)[-1]
    assert [f.data.decode() for f in pyzbar.decode(img)] == [data["qr"]]
    # ... and the long form printed before would not have fitted.
    long = receipt_code.sign_receipt(ident(), PAYMENT_ID, 1795000000, {
        "amount": "10000", "fee": "app:1001-000013-9", "statutory": "7000", "service": "3000",
        "receipt": "17", "terminal": "52500001", "trace": "45", "date": "2026-11-22"}, {})
    assert segno.make_qr(long, error="m", boost_error=False).version > 10


def test_compact_claims_bind_id_amount_and_fee() -> None:
    row = paid_row()
    c = ur1.decode(row.receipt_code).claims
    assert c.doc_id == "3F2A9C1B-0D7E" == receipt_claims.short_id(PAYMENT_ID)
    assert receipt_claims.is_short_id(c.doc_id) and dict(c.fields) == {"a": "10000"}
    assert receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, PAYMENT_ID, 10000, "app:1001-000013-9")
    assert not receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, PAYMENT_ID, 10000, "app:1001-000014-7")
    assert not receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, PAYMENT_ID, 9000, "app:1001-000013-9")
    other = PAYMENT_ID[:14] + "ffff" + PAYMENT_ID[18:]  # same short id, another collection
    assert not receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, other, 10000, "app:1001-000013-9")


def test_arabic_session_prints_arabic_first_english_below_with_separated_amounts() -> None:
    data = receipt_data(paid_row(), ident(), "citizen", lang="ar", arabic_indic=False, what=WHAT)
    lines = printed_lines(data)
    arabic = [i for i, ln in enumerate(lines) if has_arabic_script(ln)]
    english_at = lines.index("UR E-SERVICES FEE RECEIPT")
    assert arabic and max(arabic) < english_at, lines  # every Arabic line above the English
    assert arabic[0] == 0 and "إيصال" in lines[0]
    assert "المجموع: 10,000 دينار" in lines and "TOTAL 10,000 IQD" in lines
    assert "الرسم القانوني: 7,000 دينار" in lines and "Service fee: 3,000 IQD" in lines
    assert "الخدمة: شهادة عدم محكومية" in lines and "Paid for: Non-conviction certificate" in lines
    assert "الجهة: وزارة الداخلية" in lines and "Agency: Ministry of Interior" in lines
    assert "Reference: 1001-000013-9" in lines and "Receipt no. 3F2A9C1B-0D7E" in lines
    assert lines[-len(TERMINAL_LINES) - 1:] == [*TERMINAL_LINES, "3F2A9C1B-0D7E"]  # terminal's lines as sent; id under the QR
    text = "\n".join(lines)
    assert "10000" not in text and PAYMENT_ID not in text and "app:" not in text
    assert "non-conviction-certificate" not in text
    # The operator's Arabic-Indic setting: the same formatter as the screens.
    indic = printed_lines(receipt_data(paid_row(), ident(), "citizen", lang="ar", arabic_indic=True, what=WHAT))
    assert f"المجموع: {format_amount(10000, 'ar', True)}" in indic
    assert "المجموع: ١٠٬٠٠٠ دينار" in indic and "TOTAL 10,000 IQD" in indic
    # English session: English only, once.
    en = printed_lines(receipt_data(paid_row(), ident(), "merchant", lang="en", what=WHAT))
    assert en.count("UR E-SERVICES FEE RECEIPT") == 1 and "MERCHANT COPY" in en
    assert not any(has_arabic_script(ln) for ln in en)


def test_arabic_lines_take_the_printers_arabic_way_and_english_prints_as_text() -> None:
    """On a printer with CP864 the Arabic lines it can encode go as code-page text (the
    emulator reads them back) above the English printer text; the rest as bitmaps."""
    from firmware_config import profiles as fp
    from kiosk.devices.printer_emulator import PrinterEmulator

    prof = fp.parse_profile({"model": "x", "kind": "printer", "capability_model": "TM-T20II",
                             "printer": {"arabic": "auto"}})
    profile = r.ReceiptProfile.from_mapping(fp.profile_dict(prof))
    data = receipt_data(paid_row(), ident(), "citizen", lang="ar", what=WHAT)
    stream = r.render_receipt(r.load_template(TEMPLATE), data, profile)
    emu = PrinterEmulator(profile.width_dots, model="TM-T20II")
    emu.handle(stream)
    [texts] = emu.receipt_texts
    logical = [unicodedata.normalize("NFKC", x)[::-1].strip() for x in texts]
    assert "نسخة المواطن" in logical
    assert logical.index("نسخة المواطن") < texts.index("CITIZEN COPY") < texts.index("TOTAL 10,000 IQD")
    assert b"\x1bt\x25" in stream and b"\x1dv0" in stream  # CP864 text and shaped bitmaps


def _diff_fraction(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 1.0
    return float(((np.asarray(a.convert("L")) < 128) != (np.asarray(b.convert("L")) < 128)).mean())


@pytest.mark.parametrize("lang", ["ar", "ckb", "en"])
@pytest.mark.parametrize("width,profile", [("58mm", P58), ("80mm", P80)])
def test_golden_fee_receipt(lang: str, width: str, profile: r.ReceiptProfile) -> None:
    data = receipt_data(paid_row(), ident(), "citizen", lang=lang, what=WHAT)
    img = render_stream(r.render_receipt(r.load_template(TEMPLATE), data, profile), profile.width_dots)[-1]
    path = GOLDEN / f"receipt_{lang}_{width}.png"
    if "1" in (os.environ.get("UR_REGEN_GOLDEN"), os.environ.get("UR_UPDATE_GOLDEN")):
        img.save(path)
    if not path.exists():
        pytest.fail(f"golden image {path} is missing; run with UR_REGEN_GOLDEN=1")
    assert _diff_fraction(img, Image.open(path)) <= TOLERANCE, f"{path.name} differs from what prints now"
    assert [f.data.decode() for f in pyzbar.decode(img)] == [data["qr"]]
