"""Colours, sizes and the font: the normal and the high-contrast look, and larger text.

Touch targets are at least `MIN_TOUCH` pixels (about 12 mm on a 21" 1080p kiosk
panel; guidance for public touch screens asks for at least 9-10 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# DejaVu Sans covers Arabic, the Sorani letters (ێ ڵ ە ڕ ۆ ڤ), Latin and the key
# symbols (⌫ ⏎ ⇧) in one file; Kivy's PIL provider has no font fallback.
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_NAME = "KioskSans"

MIN_TOUCH = 64

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


def _hex(h: str) -> RGBA:
    h = h.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, 1.0)


NORMAL = Palette(
    background=_hex("f4f6f8"), panel=_hex("ffffff"), text=_hex("1b2631"), muted=_hex("5d6d7e"),
    primary=_hex("0b6e4f"), primary_text=_hex("ffffff"), secondary=_hex("d5dbe1"),
    danger=_hex("b03a2e"), ok=_hex("1e8449"), warning=_hex("b9770e"), field=_hex("ffffff"),
    field_focus=_hex("e8f6f3"), strip=_hex("1b2631"),
)

HIGH_CONTRAST = Palette(
    background=_hex("000000"), panel=_hex("000000"), text=_hex("ffffff"), muted=_hex("ffff00"),
    primary=_hex("ffff00"), primary_text=_hex("000000"), secondary=_hex("ffffff"),
    danger=_hex("ff4040"), ok=_hex("00ff00"), warning=_hex("ffa500"), field=_hex("000000"),
    field_focus=_hex("333300"), strip=_hex("000000"),
)

BASE_SIZES = {"huge": 56, "title": 34, "heading": 28, "body": 24, "small": 19, "key": 26}


def sizes(large: bool) -> dict[str, int]:
    scale = 1.3 if large else 1.0
    return {k: int(v * scale) for k, v in BASE_SIZES.items()}


def register_font() -> None:
    from kivy.core.text import LabelBase  # after kiosk_mode.configure() picked the text provider

    LabelBase.register(FONT_NAME, fn_regular=str(FONT_REGULAR), fn_bold=str(FONT_BOLD))
