"""Colours, sizes and the font: the normal and the high-contrast look, and larger text.

Touch targets: at least `TOUCH_MM` (15 mm) in both dimensions at the kiosk panel's
DPI, the operator setting `UR_KIOSK_DPI`. The reference kiosk is a 17" 5:4 SXGA
touch panel (1280x1024, the size the screens are laid out and tested at):
sqrt(1280² + 1024²) / 17 = 96.4 dots per inch, so `DEFAULT_DPI = 96` and 15 mm is
57 px; `MIN_TOUCH` never goes below the 64 px the layouts were drawn with.

Contrast: every text colour on every background it is drawn on (`TEXT_PAIRS`,
roles of `Palette`) has a WCAG 2 contrast ratio of at least `MIN_CONTRAST` (4.5:1)
in both looks; tests/test_ui_look.py computes it from the palettes below.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

from contract.errors import UrError

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# DejaVu Sans covers Arabic, the Sorani letters (ێ ڵ ە ڕ ۆ ڤ), Latin and the key
# symbols (⌫ ⏎ ⇧) in one file; Kivy's PIL provider has no font fallback.
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_NAME = "KioskSans"

TOUCH_MM = 15.0
DEFAULT_DPI = 96.0  # the reference 17" 1280x1024 panel (see the module docstring)
LAYOUT_MIN_TOUCH = 64  # the smallest target the layouts were drawn with
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal-size text


def kiosk_dpi() -> float:
    """The panel's dots per inch: UR_KIOSK_DPI (40-600), default `DEFAULT_DPI`."""
    raw = os.environ.get("UR_KIOSK_DPI", "")
    if not raw:
        return DEFAULT_DPI
    try:
        dpi = float(raw)
    except ValueError:
        raise UrError(f"UR_KIOSK_DPI must be the panel's dots per inch (a number), got {raw!r}") from None
    if not 40 <= dpi <= 600:
        raise UrError(f"UR_KIOSK_DPI must be from 40 to 600 dots per inch, got {raw!r}")
    return dpi


def mm_to_px(mm: float, dpi: float) -> int:
    """Whole pixels covering at least `mm` millimetres at `dpi`."""
    return math.ceil(mm / 25.4 * dpi)


def touch_px(dpi: float) -> int:
    """The smallest touch target side in pixels at `dpi`: 15 mm, never below the layout's."""
    return max(LAYOUT_MIN_TOUCH, mm_to_px(TOUCH_MM, dpi))


MIN_TOUCH = touch_px(kiosk_dpi())

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class Palette:
    background: RGBA
    panel: RGBA
    text: RGBA
    muted: RGBA
    primary: RGBA
    primary_text: RGBA
    secondary: RGBA
    danger: RGBA
    ok: RGBA
    warning: RGBA
    field: RGBA
    field_focus: RGBA
    strip: RGBA
    secondary_text: RGBA  # text on a secondary button
    neutral: RGBA  # the background of a grey verdict (UNKNOWN_KEY, INVALID)
    hint: RGBA  # a field's placeholder: smaller and unlike typed text
    strip_text: RGBA
    strip_ok: RGBA
    strip_warning: RGBA
    qr_panel: RGBA  # a QR code needs a light quiet zone whatever the look
    qr_text: RGBA


def _hex(h: str) -> RGBA:
    h = h.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, 1.0)


NORMAL = Palette(
    background=_hex("f4f6f8"), panel=_hex("ffffff"), text=_hex("1b2631"), muted=_hex("5d6d7e"),
    primary=_hex("0b6e4f"), primary_text=_hex("ffffff"), secondary=_hex("d5dbe1"),
    danger=_hex("b03a2e"), ok=_hex("196f3d"), warning=_hex("8a5a00"), field=_hex("ffffff"),
    field_focus=_hex("e8f6f3"), strip=_hex("1b2631"), secondary_text=_hex("1b2631"),
    neutral=_hex("5d6d7e"), hint=_hex("5d6d7e"), strip_text=_hex("ffffff"),
    strip_ok=_hex("27ae60"), strip_warning=_hex("f5b041"), qr_panel=_hex("ffffff"),
    qr_text=_hex("1b2631"),
)

HIGH_CONTRAST = Palette(
    background=_hex("000000"), panel=_hex("000000"), text=_hex("ffffff"), muted=_hex("ffff00"),
    primary=_hex("ffff00"), primary_text=_hex("000000"), secondary=_hex("ffffff"),
    danger=_hex("ff4040"), ok=_hex("00ff00"), warning=_hex("ffa500"), field=_hex("000000"),
    field_focus=_hex("333300"), strip=_hex("000000"), secondary_text=_hex("000000"),
    neutral=_hex("c0c0c0"), hint=_hex("bfbfbf"), strip_text=_hex("ffffff"),
    strip_ok=_hex("00ff00"), strip_warning=_hex("ffa500"), qr_panel=_hex("ffffff"),
    qr_text=_hex("000000"),
)

# Every (text role, background role) the screens draw: labels on the screen
# background and panels, each button's text on its colour, verdict and step
# badges, field text and placeholders, the status strip, the QR panel.
TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("text", "background"), ("text", "panel"), ("muted", "background"), ("muted", "panel"),
    ("ok", "background"), ("danger", "background"), ("warning", "background"),
    ("primary", "background"),
    ("primary_text", "primary"), ("secondary_text", "secondary"), ("primary_text", "danger"),
    ("primary_text", "ok"), ("primary_text", "warning"), ("primary_text", "neutral"),
    ("text", "field"), ("text", "field_focus"), ("hint", "field"), ("hint", "field_focus"),
    ("strip_text", "strip"), ("strip_ok", "strip"), ("strip_warning", "strip"),
    ("qr_text", "qr_panel"),
)

PALETTES = {"normal": NORMAL, "high_contrast": HIGH_CONTRAST}


def relative_luminance(color: RGBA) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black .. 1 white)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in color[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGBA, b: RGBA) -> float:
    """WCAG 2 contrast ratio (1 .. 21) between two opaque colours."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def palette_roles() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Palette))


BASE_SIZES = {"huge": 56, "title": 34, "heading": 28, "body": 24, "small": 19, "key": 26}


def sizes(large: bool) -> dict[str, int]:
    scale = 1.3 if large else 1.0
    return {k: int(v * scale) for k, v in BASE_SIZES.items()}


def register_font() -> None:
    from kivy.core.text import LabelBase  # after kiosk_mode.configure() picked the text provider

    LabelBase.register(FONT_NAME, fn_regular=str(FONT_REGULAR), fn_bold=str(FONT_BOLD))
