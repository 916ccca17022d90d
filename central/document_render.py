"""The printed page of a secured document: A4, Arabic right-to-left, agency header, QR.

Pillow with raqm shapes Arabic and Sorani (joining, bidi, digits inside Arabic);
DejaVu Sans covers Arabic, Sorani letters (ێ ڵ ە) and Latin in one font, so no
fallback chain is needed. The QR is drawn with an integer number of pixels per
module (4 px at 200 dpi, about 0.5 mm) so printers do not smear modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from contract import qr_text
from contract.errors import UrError

DPI = 200
A4_PX = (round(210 / 25.4 * DPI), round(297 / 25.4 * DPI))  # 1654 x 2339
MODULE_PX = 4
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
MARGIN = 120

TYPE_TITLES = {
    "certificate": "شهادة", "letter": "كتاب رسمي", "receipt": "وصل استلام",
    "tracking_slip": "إشعار متابعة", "non_conviction_certificate": "شهادة عدم محكومية",
    "civil_status_record": "صورة قيد مدني", "residence_certificate": "تأييد سكن",
    "license": "إجازة", "decision": "قرار",
}
FIELD_LABELS = {
    "name": "الاسم", "number": "الرقم", "date": "التاريخ", "subject": "الموضوع", "from": "من",
    "to": "إلى", "holder": "صاحب العلاقة", "amount": "المبلغ", "father": "اسم الأب",
    "birth_date": "تاريخ الولادة", "purpose": "الغرض",
}


def _has_rtl(s: str) -> bool:
    return any("\u0590" <= c <= "\u08ff" or "\ufb50" <= c <= "\ufeff" for c in s)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path = FONT_BOLD if bold else FONT
    if not Path(path).exists():
        raise UrError(f"font {path} missing (Debian package fonts-dejavu-core)")
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)


def _text_right(d: ImageDraw.ImageDraw, x_right: int, y: int, s: str, font: ImageFont.FreeTypeFont) -> None:
    d.text((x_right, y), s, font=font, fill=0, anchor="ra", direction="rtl" if _has_rtl(s) else None,
           language="ar" if _has_rtl(s) else None)


def _wrap(d: ImageDraw.ImageDraw, s: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for para in s.splitlines() or [""]:
        cur = ""
        for word in para.split(" "):
            cand = f"{cur} {word}".strip()
            if d.textlength(cand, font=font, direction="rtl" if _has_rtl(cand) else None) <= width or not cur:
                cur = cand
            else:
                lines.append(cur)
                cur = word
        lines.append(cur)
    return lines


def render(*, doc_id: str, doc_type: str, agency: str, office: str, issued_at: int,
           expires_at: int | None, fields: Mapping[str, str], body: str, qr: str,
           thermal: bool = False) -> Image.Image:
    """The page as a 1-bit-friendly grayscale image (white paper, black ink)."""
    if not features.check("raqm"):
        raise UrError("Pillow was built without raqm; Arabic cannot be shaped")
    w, h = A4_PX
    page = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(page)
    right = w - MARGIN
    y = MARGIN
    _text_right(d, right, y, "جمهورية العراق", _font(40, True))
    d.text((MARGIN, y), "Republic of Iraq", font=_font(32), fill=0)
    y += 70
    _text_right(d, right, y, agency, _font(48, True))
    y += 75
    if office:
        _text_right(d, right, y, office, _font(36))
        y += 60
    d.line((MARGIN, y + 10, right, y + 10), fill=0, width=4)
    y += 60
    title = TYPE_TITLES.get(doc_type, doc_type)
    tf = _font(56, True)
    d.text((w // 2, y), title, font=tf, fill=0, anchor="ma", direction="rtl", language="ar")
    y += 110
    meta = _font(30)
    _text_right(d, right, y, f"رقم الوثيقة: {doc_id}", meta)
    d.text((MARGIN, y), datetime.fromtimestamp(issued_at, UTC).strftime("%Y-%m-%d"), font=meta, fill=0)
    y += 50
    if expires_at is not None:
        _text_right(d, right, y, "نافذة لغاية: \u2066" + datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d") + "\u2069", meta)
        y += 50
    y += 40
    label_f, value_f = _font(36, True), _font(36)
    for key, value in fields.items():
        label = FIELD_LABELS.get(key, key) + ":"
        _text_right(d, right, y, label, label_f)
        lw = int(d.textlength(label, font=label_f, direction="rtl" if _has_rtl(label) else None))
        for line in _wrap(d, value, value_f, right - MARGIN - lw - 30):
            _text_right(d, right - lw - 30, y, line, value_f)
            y += 58
        y += 12
    if body:
        y += 30
        for line in _wrap(d, body, value_f, right - MARGIN):
            _text_right(d, right, y, line, value_f)
            y += 58
    code = qr_text.make_qr(qr, thermal=thermal)
    dark = np.array(list(code.matrix_iter(scale=MODULE_PX, border=4)), dtype=bool)
    qr_img = Image.fromarray(np.where(dark, 0, 255).astype(np.uint8), "L")
    size = qr_img.width
    qy = max(y + 40, h - MARGIN - size - 120)
    if qy + size + 120 > h:
        raise UrError("document body too long for one A4 page")
    page.paste(qr_img, (MARGIN, qy))
    cap = _font(28)
    d.text((MARGIN + size + 30, qy + size // 2 - 40), "امسح الرمز للتحقق من صحة الوثيقة", font=cap, fill=0,
           direction="rtl", language="ar")
    d.text((MARGIN + size + 30, qy + size // 2 + 10), f"Scan to verify · {doc_id}", font=cap, fill=0)
    return page


def save(page: Image.Image, png: str | None = None, pdf: str | None = None) -> None:
    if png:
        page.save(png, "PNG", dpi=(DPI, DPI))
    if pdf:
        page.convert("RGB").save(pdf, "PDF", resolution=float(DPI))
