"""Receipt templates (data) rendered to ESC/POS bytes by a pure function.

Why this split: Arabic and Kurdish printed through code pages come out as `?`
or unjoined letters (printers have no Arabic shaping), but a whole receipt sent as one bitmap is
slow over serial. So each line goes the cheapest way that prints correctly:
plain ASCII lines (Latin, digits) as printer text, anything else shaped by
Pillow + raqm into a bitmap only as wide as its ink, QR codes natively
(GS ( k) when the model has it, else as a bitmap with whole dots per module.

`render_receipt_blocks` returns a list of blocks; a driver may ask the printer
for its status between blocks, never inside one (a raster block is atomic).
"""

from __future__ import annotations

import string
import textwrap
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import segno
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from contract.errors import UrError, ValidationError
from kiosk.devices import arabic_codepage
from kiosk.devices import escpos_commands as cmd

TEMPLATE_DIR = Path(__file__).with_name("receipt_templates")
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
#: Font A on 203-dpi printers is 12 x 24 dots; bitmap text uses the same height.
FONT_A_WIDTH = 12
LINE_PX = {"normal": 24, "double": 40}
RASTER_BAND_ROWS = 256  # a tall bitmap is split into blocks of at most this many rows


@dataclass(frozen=True)
class ReceiptProfile:
    """What rendering needs to know about the printer model."""

    width_dots: int = 576
    native_qr: bool = True
    cutter: bool = True
    qr_module_dots: int = 6
    code_page: int | None = None
    arabic_code_page: int | None = None  # ESC t page for Arabic text lines (CP864), None: bitmap

    @classmethod
    def from_mapping(cls, p: Mapping[str, Any]) -> ReceiptProfile:
        """From a printer profile dict (firmware_config) or a flat mapping."""
        pr = p.get("printer", p)
        return cls(
            width_dots=int(pr.get("paper_width_dots", pr.get("width_dots", 576))),
            native_qr=bool(pr.get("native_qr", True)),
            cutter=bool(pr.get("cutter", True)),
            qr_module_dots=int(pr.get("qr_module_dots", 6)),
            code_page=pr.get("code_page"),
            arabic_code_page=pr.get("arabic_code_page"),
        )


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "rule", "qr", "feed", "cut"]
    text: str = ""
    align: Literal["left", "center", "right", "auto"] = "auto"
    size: Literal["normal", "double"] = "normal"
    bold: bool = False
    data: str = ""
    ecc: Literal["L", "M", "Q", "H"] = "M"
    lines: int = Field(default=1, ge=0, le=20)
    when: str = ""  # placeholder name; the block is skipped when it is empty/missing


class ReceiptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    blocks: list[_Block]


def parse_template(raw: Mapping[str, Any], source: str = "template") -> ReceiptTemplate:
    try:
        return ReceiptTemplate.model_validate(raw)
    except PydanticError as e:
        problems = [f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ValidationError(f"{source} is not a valid receipt template", problems) from None


def load_template(name_or_path: str | Path) -> ReceiptTemplate:
    """A template by name (kiosk/devices/receipt_templates/NAME.toml) or by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = TEMPLATE_DIR / f"{name_or_path}.toml"
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UrError(f"receipt template {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValidationError(f"{p} is not valid TOML", [str(e)]) from None
    return parse_template(raw, str(p))


def fill(text: str, data: Mapping[str, Any]) -> str:
    """Substitute {placeholders}; a missing one is an error naming it."""
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise UrError(f"template text {text!r} is malformed: {e}") from None
    for literal, field, spec, conv in parsed:
        out.append(literal)
        if field is None:
            continue
        if field not in data:
            raise UrError(f"receipt data has no value for placeholder {{{field}}}")
        if spec or conv:
            raise UrError(f"placeholder {{{field}}} may not carry a format spec")
        out.append(str(data[field]))
    return "".join(out)


def is_printer_text(s: str) -> bool:
    """Lines the printer's own font can print: printable ASCII only."""
    return all(0x20 <= ord(c) < 0x7F for c in s)


def base_direction(s: str) -> str:
    for c in s:
        bidi = unicodedata.bidirectional(c)
        if bidi in ("R", "AL"):
            return "rtl"
        if bidi == "L":
            return "ltr"
    return "ltr"


@lru_cache(maxsize=8)
def font(px: int) -> ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.RAQM)
    raise UrError("no receipt font found (install fonts-dejavu-core)")


def shape_line(text: str, px: int, bold: bool = False) -> Image.Image:
    """One line shaped by raqm (joining, RTL, digits) into an 'L' image, ink = 255.

    The image is exactly as wide as the ink (so narrow lines cost few bytes),
    and as tall as the font's line height (so lines keep one baseline).
    """
    f = font(px)
    direction = base_direction(text)
    left, _top, right, _bottom = f.getbbox(text, direction=direction)
    ascent, descent = f.getmetrics()
    w = max(1, right - left)
    img = Image.new("L", (int(w) + (2 if bold else 0), ascent + descent), 0)
    d = ImageDraw.Draw(img)
    for dx in ((0, 1) if bold else (0,)):
        d.text((-left + dx, 0), text, font=f, fill=255, direction=direction)
    return img


def to_raster_bytes(img: Image.Image) -> tuple[int, int, bytes]:
    """'L' image with ink = 255 -> (width_bytes, rows, packed bits MSB-left, 1 = black)."""
    w8 = (img.width + 7) // 8 * 8
    if w8 != img.width:
        padded = Image.new("L", (w8, img.height), 0)
        padded.paste(img, (0, 0))
        img = padded
    bw = img.point(lambda v: 255 if v >= 128 else 0).convert("1")
    return w8 // 8, img.height, bw.tobytes()


def raster_blocks(img: Image.Image, mode: int = 0) -> list[bytes]:
    """A bitmap as one or more GS v 0 blocks of at most RASTER_BAND_ROWS rows."""
    out: list[bytes] = []
    for top in range(0, img.height, RASTER_BAND_ROWS):
        band = img.crop((0, top, img.width, min(img.height, top + RASTER_BAND_ROWS)))
        wb, rows, data = to_raster_bytes(band)
        out.append(cmd.raster(wb, rows, data, mode))
    return out


def wrap_shaped(text: str, px: int, max_w: int) -> list[str]:
    """Split on spaces (logical order) so each piece fits `max_w` dots."""
    f = font(px)
    words, lines, cur = text.split(" "), [], ""
    direction = base_direction(text)
    for w in words:
        cand = f"{cur} {w}" if cur else w
        left, _, right, _ = f.getbbox(cand, direction=direction)
        if right - left <= max_w or not cur:
            cur = cand
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return lines or [""]


def qr_matrix_image(data: str, ecc: str, module: int) -> Image.Image:
    """QR (never Micro QR) as an 'L' image, ink = 255, `module` whole dots per module."""
    q = segno.make_qr(data, error=ecc.lower(), boost_error=False)
    rows = [list(r) for r in q.matrix]
    n = len(rows)
    img = Image.new("L", (n, n), 0)
    img.putdata([255 if v else 0 for r in rows for v in r])
    return img.resize((n * module, n * module), Image.Resampling.NEAREST)


def _qr_module(data: str, ecc: str, profile: ReceiptProfile) -> int:
    n = segno.make_qr(data, error=ecc.lower(), boost_error=False).symbol_size(border=0)[0]
    fit = profile.width_dots // (n + 8)
    if fit < 2:
        raise UrError(f"QR data of {len(data)} characters does not fit on "
                      f"{profile.width_dots}-dot paper")
    return int(max(2, min(profile.qr_module_dots, fit)))


def _text_blocks(b: _Block, text: str, profile: ReceiptProfile) -> list[bytes]:
    size = b.size
    where = b.align
    if where == "auto":
        where = "right" if base_direction(text) == "rtl" else "left"
    if is_printer_text(text):
        cols = profile.width_dots // FONT_A_WIDTH // (2 if size == "double" else 1)
        lines = textwrap.wrap(text, cols) or [""]
        mode = cmd.print_mode(bold=b.bold, double_height=size == "double",
                              double_width=size == "double")
        body = b"".join(ln.encode("ascii") + cmd.LF for ln in lines)
        return [cmd.align(where) + mode + body + cmd.print_mode()]
    if profile.arabic_code_page is not None:
        cols = profile.width_dots // FONT_A_WIDTH // (2 if size == "double" else 1)
        coded = arabic_codepage.encode_lines(text, cols)
        if coded is not None:  # else a letter CP864 lacks: this line goes as a bitmap
            mode = cmd.print_mode(bold=b.bold, double_height=size == "double",
                                  double_width=size == "double")
            body = b"".join(ln + cmd.LF for ln in coded)
            return [cmd.align(where) + mode + cmd.code_page(profile.arabic_code_page) + body
                    + cmd.code_page(profile.code_page or 0) + cmd.print_mode()]
    px = LINE_PX[size]
    out: list[bytes] = []
    for piece in wrap_shaped(text, px, profile.width_dots):
        img = shape_line(piece, px, b.bold)
        if img.width > profile.width_dots:
            img = img.crop((0, 0, profile.width_dots, img.height))
        out.extend(cmd.align(where) + blk for blk in raster_blocks(img))
    return out


def _qr_blocks(b: _Block, data: str, profile: ReceiptProfile) -> list[bytes]:
    if not data:
        raise UrError("QR block has no data")
    module = _qr_module(data, b.ecc, profile)
    if profile.native_qr:
        return [cmd.align("center") + cmd.qr_native(data.encode("utf-8"), module, b.ecc)
                + cmd.LF]
    # Bitmap QR: an even module size is sent at half scale in quadruple mode
    # (GS v 0 m=3 prints each bit as 2 x 2 dots): the same whole-dot modules on
    # paper for a quarter of the bytes. An odd size >= 5 gives up one dot for that.
    if module >= 5 and module % 2:
        module -= 1
    quad = module % 2 == 0
    img = qr_matrix_image(data, b.ecc, module // 2 if quad else module)
    quiet = cmd.feed_dots(module * 4)
    blocks = [cmd.align("center") + quiet]
    blocks.extend(cmd.align("center") + blk for blk in raster_blocks(img, 3 if quad else 0))
    blocks.append(quiet)
    return blocks


REPRINT_TEXT = "*** REPRINT ***"


def render_receipt_blocks(template: ReceiptTemplate, data: Mapping[str, Any],
                          profile: ReceiptProfile, reprint: bool = False) -> list[bytes]:
    """The receipt as a list of atomic ESC/POS blocks (status may be asked between)."""
    blocks: list[bytes] = [cmd.INIT]
    if profile.code_page is not None:
        blocks.append(cmd.code_page(profile.code_page))
    if reprint:
        if profile.cutter:
            # Separate whatever half receipt is still on the paper before starting over.
            blocks.append(cmd.feed_lines(2) + cmd.cut())
        blocks += _text_blocks(_Block(type="text", align="center", size="double", bold=True),
                               REPRINT_TEXT, profile)
    cols = profile.width_dots // FONT_A_WIDTH
    for b in template.blocks:
        if b.when and not str(data.get(b.when, "") or ""):
            continue
        if b.type == "text":
            blocks += _text_blocks(b, fill(b.text, data), profile)
        elif b.type == "rule":
            blocks.append(cmd.align("left") + b"-" * cols + cmd.LF)
        elif b.type == "qr":
            blocks += _qr_blocks(b, fill(b.data, data), profile)
        elif b.type == "feed":
            blocks.append(cmd.feed_lines(b.lines))
        elif b.type == "cut":
            blocks.append(cmd.feed_lines(3) + (cmd.cut() if profile.cutter else b""))
    return blocks


def render_receipt(template: ReceiptTemplate, data: Mapping[str, Any],
                   profile: ReceiptProfile, reprint: bool = False) -> bytes:
    """Pure: template + data + printer profile -> the ESC/POS bytes of one receipt."""
    return b"".join(render_receipt_blocks(template, data, profile, reprint))


def render_full_bitmap_blocks(template: ReceiptTemplate, data: Mapping[str, Any],
                              profile: ReceiptProfile, reprint: bool = False) -> list[bytes]:
    """The usual POS way, kept as the baseline: the whole receipt as one full-width image."""
    w = profile.width_dots
    parts: list[Image.Image] = []
    if reprint:
        parts.append(shape_line(REPRINT_TEXT, LINE_PX["double"], True))
    for b in template.blocks:
        if b.when and not str(data.get(b.when, "") or ""):
            continue
        if b.type == "text":
            text = fill(b.text, data)
            for piece in wrap_shaped(text, LINE_PX[b.size], w):
                parts.append(shape_line(piece, LINE_PX[b.size], b.bold))
        elif b.type == "rule":
            rule = Image.new("L", (w, 24), 0)
            ImageDraw.Draw(rule).line((0, 12, w, 12), fill=255, width=2)
            parts.append(rule)
        elif b.type == "qr":
            q = fill(b.data, data)
            m = _qr_module(q, b.ecc, ReceiptProfile(w, False, True, profile.qr_module_dots))
            parts.append(qr_matrix_image(q, b.ecc, m))
        elif b.type == "feed":
            parts.append(Image.new("L", (w, 24 * b.lines), 0))
    height = sum(p.height for p in parts)
    page = Image.new("L", (w, max(1, height)), 0)
    y = 0
    for p in parts:
        page.paste(p.crop((0, 0, min(p.width, w), p.height)), ((w - min(p.width, w)) // 2, y))
        y += p.height
    blocks = [cmd.INIT, cmd.align("left")] + raster_blocks(page)
    blocks.append(cmd.feed_lines(3) + (cmd.cut() if profile.cutter else b""))
    return blocks


def sample_data() -> dict[str, str]:
    """Data for the trilingual payment receipt (demo, tests, bench)."""
    return {
        "office_ar": "مديرية المرور العامة - بغداد",
        "office_ku": "بەڕێوەبەرایەتی گشتی هاتووچۆ",
        "office_en": "General Traffic Directorate",
        "service_ar": "تجديد إجازة السوق",
        "service_ku": "نوێکردنەوەی مۆڵەتی شۆفێری",
        "service_en": "Driving licence renewal",
        "receipt_no": "R-2026-000123",
        "date": "2026-11-22 10:41",
        "fee": "25,000 IQD",
        "service_fee": "3,000 IQD",
        "total": "28,000 IQD",
        "card": "**** 4242",
        "auth": "A1B2C3",
        "kiosk": "BGD-TRF-07",
        "qr": "UR1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNXHMAH.L-FH-SBC7FK%6PGVA0FA8JA8U1LA3Q4KJV1T7JO9C1VU",
        "thanks_ar": "شكراً لكم",
        "thanks_ku": "سوپاس بۆ ئێوە",
    }
