"""The paper: ESC/POS decoder events drawn as the printer would print them.

Used by the emulator (one PNG per cut receipt) so tests and technicians can see
exactly what would come out. Printer text uses a 12 x 24 monospace cell (Font
A on 203-dpi printers); raster images are pasted dot for dot; native QR codes
are drawn with segno at the module size the host asked for.
"""

from __future__ import annotations

import codecs
from functools import lru_cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from firmware_config.capabilities import capabilities
from kiosk.devices import escpos_decoder as ev

# ESC t n -> Python codec for the code pages our profiles select.
CODE_PAGES = {0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252",
              17: "cp866", 18: "cp852", 19: "cp858", 37: "cp864", 50: "cp1256"}
MONO_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",)
CELL_W, CELL_H = 12, 24
LINE_SPACING = 30  # ESC 2 default line feed is about 30 dots on 203-dpi printers
MAX_HEIGHT = 20000  # dots of paper per receipt before we stop drawing (bounded memory)


# ESC/POS capability names -> Python codecs, for names whose codec is not the
# lower-cased name (python-escpos's database lists these per model).
_CODEC_NAMES = {"ISO_8859-1": "latin_1", "ISO_8859-2": "iso8859_2", "ISO_8859-7": "iso8859_7",
                "ISO_8859-15": "iso8859_15", "ISO_8859-5": "iso8859_5", "ISO_8859-6": "iso8859_6",
                "ISO_8859-8": "iso8859_8", "ISO_8859-9": "iso8859_9", "RK1048": "kz1048",
                "CP1098": "cp864", "KATAKANA": "cp932"}


@lru_cache(maxsize=64)
def code_pages_of(model: str) -> dict[int, str]:
    """ESC t n -> Python codec for every code page the capability database lists for
    `model`, with the model's own numbering (Epson 32 = CP720 Arabic, 37 = CP864,
    50 = WPC1256). Pages without a Python codec are left out (they print as CP437)."""
    out = dict(CODE_PAGES)
    for k, name in (capabilities(model).get("codePages") or {}).items():
        codec = _CODEC_NAMES.get(name, name.lower())
        try:
            codecs.lookup(codec)
        except LookupError:
            continue
        out[int(k)] = codec
    return out


# GS k m -> python-barcode name (form A m = 0..6, form B m = 65..73)
BARCODES = {0: "upca", 65: "upca", 2: "ean13", 67: "ean13", 3: "ean8", 68: "ean8",
            4: "code39", 69: "code39", 5: "itf", 70: "itf", 6: "codabar", 71: "codabar",
            73: "code128"}


@lru_cache(maxsize=1)
def _mono() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for p in MONO_FONTS:
        if Path(p).exists():
            return ImageFont.truetype(p, 20)
    return ImageFont.load_default()


class Paper:
    """Accumulates one receipt; `apply(event)`; `take()` after a cut."""

    def __init__(self, width_dots: int, code_page_codec: str = "cp437",
                 code_pages: dict[int, str] | None = None) -> None:
        self.width = width_dots
        self.codec = code_page_codec
        self.code_pages = code_pages or CODE_PAGES
        self.bar_height, self.bar_width, self.bar_hri = 162, 3, 0
        self.unknown: list[str] = []  # unknown commands met, in order
        self.finished: list[Image.Image] = []
        self.last_job_text: list[str] = []
        self._reset_job()

    def _reset_job(self) -> None:
        self.rows: list[Image.Image] = []
        self.height = 0
        self._text = bytearray()
        self.align = 0
        self.mode = 0
        self.size = 0
        self.qr_data = b""
        self.qr_module = 3
        self.qr_ecc = "m"
        self.text_lines: list[str] = []  # decoded printer text, for tests and logs
        self.inked = False

    @property
    def blank(self) -> bool:
        return not self.rows and not self._text

    def _add(self, img: Image.Image) -> None:
        if self.height + img.height > MAX_HEIGHT:
            return
        self.rows.append(img)
        self.height += img.height

    def _place(self, img: Image.Image) -> None:
        """Put an 'L' image (ink = 0) on a paper-wide strip, honouring alignment."""
        img = img.crop((0, 0, min(img.width, self.width), img.height))
        strip = Image.new("L", (self.width, img.height), 255)
        x = {0: 0, 1: (self.width - img.width) // 2, 2: self.width - img.width}[self.align]
        strip.paste(img, (x, 0))
        self._add(strip)

    def _flush_text(self, force_line: bool) -> None:
        if not self._text and not force_line:
            return
        text = bytes(self._text).decode(self.codec, errors="replace")
        self._text.clear()
        self.text_lines.append(text)
        self.inked = self.inked or bool(text.strip())
        dw = 2 if (self.mode & 0x20 or self.size & 0x70) else 1
        dh = 2 if (self.mode & 0x10 or self.size & 0x07) else 1
        w = max(1, len(text) * CELL_W)
        img = Image.new("L", (w, CELL_H), 255)
        d = ImageDraw.Draw(img)
        for dx in ((0, 1) if self.mode & 0x08 else (0,)):
            for i, ch in enumerate(text):
                d.text((i * CELL_W + dx, 1), ch, font=_mono(), fill=0)
        img = img.resize((w * dw, CELL_H * dh), Image.Resampling.NEAREST)
        line = Image.new("L", (img.width, max(img.height, LINE_SPACING * dh)), 255)
        line.paste(img, (0, 0))
        self._place(line)

    def apply(self, e: ev.Event) -> None:
        if isinstance(e, ev.Text):
            self._text += e.data
        elif isinstance(e, ev.LineFeed):
            self._flush_text(force_line=True)
        elif isinstance(e, ev.Init):
            self._flush_text(False)
            self.align, self.mode, self.size = 0, 0, 0
        elif isinstance(e, ev.Align):
            self.align = e.where
        elif isinstance(e, ev.CodePage):
            self._flush_text(False)
            self.codec = self.code_pages.get(e.page, "cp437")
        elif isinstance(e, ev.PrintMode):
            self.mode = e.mode
        elif isinstance(e, ev.CharSize):
            self.size = e.size
        elif isinstance(e, ev.Bold):
            self.mode = (self.mode | 0x08) if e.on else (self.mode & ~0x08)
        elif isinstance(e, ev.FeedLines):
            self._flush_text(False)
            self._add(Image.new("L", (self.width, LINE_SPACING * e.lines), 255))
        elif isinstance(e, ev.FeedDots):
            self._flush_text(False)
            self._add(Image.new("L", (self.width, e.dots), 255))
        elif isinstance(e, ev.Raster):
            self._flush_text(False)
            img = Image.frombytes("1", (e.width_bytes * 8, e.rows), e.data)
            self.inked = self.inked or any(e.data)
            img = Image.eval(img.convert("L"), lambda v: 255 - v)
            sx = 2 if e.mode in (1, 3) else 1
            sy = 2 if e.mode in (2, 3) else 1
            if sx != 1 or sy != 1:
                img = img.resize((img.width * sx, img.height * sy), Image.Resampling.NEAREST)
            self._place(img)
        elif isinstance(e, ev.QrParam):
            if e.fn == 67 and e.value and 1 <= e.value[0] <= 16:
                self.qr_module = e.value[0]
            if e.fn == 69 and e.value and 48 <= e.value[0] <= 51:
                self.qr_ecc = "lmqh"[e.value[0] - 48]
        elif isinstance(e, ev.QrStore):
            self.qr_data = e.data
        elif isinstance(e, ev.QrPrint):
            self._flush_text(False)
            self._print_qr()
        elif isinstance(e, ev.BarcodeParam):
            if e.command == 0x68 and e.value:
                self.bar_height = e.value
            elif e.command == 0x77 and 1 <= e.value <= 6:
                self.bar_width = e.value
            elif e.command == 0x48:
                self.bar_hri = e.value % 48
        elif isinstance(e, ev.Barcode):
            self._flush_text(False)
            self._print_barcode(e)
        elif isinstance(e, ev.Unknown):
            self._flush_text(False)
            self.unknown.append(e.reason)
            self._mark(f"?? {e.command.hex(' ')}")
        elif isinstance(e, ev.Cut):
            self._flush_text(False)
            if not self.inked:
                self._reset_job()  # a cut of blank paper is not a receipt
                return
            self.finished.append(self.image())
            self.last_job_text = list(self.text_lines)
            self._reset_job()

    def _mark(self, text: str) -> None:
        """A grey hatched strip with the text: where an unknown command was."""
        img = Image.new("L", (self.width, CELL_H + 6), 255)
        d = ImageDraw.Draw(img)
        for x in range(0, self.width, 8):
            d.line([(x, 0), (x + CELL_H, CELL_H + 6)], fill=160)
        d.text((4, 3), text[: self.width // CELL_W - 1], font=_mono(), fill=0)
        self.inked = True
        self._add(img)

    def _print_barcode(self, e: ev.Barcode) -> None:
        # python-barcode costs 0.04-0.06 s (python -X importtime), only for receipts with a barcode
        import barcode as pybarcode  # type: ignore[import-untyped]  # python-barcode ships no type hints
        from barcode.errors import BarcodeError  # type: ignore[import-untyped]  # python-barcode ships no type hints

        name = BARCODES.get(e.m)
        text = e.data.decode("ascii", "replace")
        if e.m == 73 and text[:1] == "{":
            text = text[2:].replace("{", "")  # code set selectors ({A {B {C): the encoder picks its own
        try:
            if name is None:
                raise BarcodeError(f"GS k {e.m} not drawn")
            code = pybarcode.get_barcode_class(name)(text)
            modules = code.build()[0]
            hri = code.get_fullcode() if hasattr(code, "get_fullcode") else text
        except (BarcodeError, ValueError, KeyError, IndexError, TypeError) as err:
            self._mark(f"?? barcode {e.m}: {text} ({err})"[:80])
            return
        w = self.bar_width
        img = Image.new("L", (len(modules) * w + 20 * w, self.bar_height), 255)
        d = ImageDraw.Draw(img)
        for i, bit in enumerate(modules):
            if bit == "1":
                d.rectangle([(10 * w + i * w, 0), (10 * w + (i + 1) * w - 1, self.bar_height - 1)], fill=0)
        self.inked = True
        self.text_lines.append(f"[barcode {name} {hri}]")
        label = Image.new("L", (max(1, len(hri) * CELL_W), CELL_H), 255)
        ImageDraw.Draw(label).text((0, 1), hri, font=_mono(), fill=0)
        if self.bar_hri in (1, 3):
            self._place(label)
        self._place(img)
        if self.bar_hri in (2, 3):
            self._place(label)

    def _print_qr(self) -> None:
        if not self.qr_data:
            return
        try:
            q = segno.make_qr(self.qr_data, error=self.qr_ecc, boost_error=False)
        except (segno.DataOverflowError, ValueError):
            return
        rows = [list(r) for r in q.matrix]
        n = len(rows)
        img = Image.new("L", (n, n), 255)
        img.putdata([0 if v else 255 for r in rows for v in r])
        m = self.qr_module
        img = img.resize((n * m, n * m), Image.Resampling.NEAREST)
        self.inked = True
        quiet = Image.new("L", (self.width, 4 * m), 255)
        self._add(quiet)
        self._place(img)
        self._add(quiet)

    def image(self) -> Image.Image:
        """The receipt so far as a white 'L' image with a small top margin."""
        h = max(1, self.height) + 16
        page = Image.new("L", (self.width, h), 255)
        y = 8
        for r in self.rows:
            page.paste(r, (0, y))
            y += r.height
        return page


def render_stream(data: bytes, width_dots: int) -> list[Image.Image]:
    """Decode a whole byte stream and return the receipts it prints (a test helper
    for golden images; an unfinished receipt at the end is returned too)."""
    dec = ev.EscPosDecoder()
    paper = Paper(width_dots)
    for e in dec.receive_data(data):
        paper.apply(e)
    out = list(paper.finished)
    if not paper.blank:
        out.append(paper.image())
    return out
