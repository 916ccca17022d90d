"""On-screen keyboard: Arabic, Kurdish (Sorani), English and digits layouts as data.

Keys send characters to the focused append/backspace field (see widgets.Field).
Layouts are rows of characters; special keys are named: SPACE, BACK, CLEAR,
SHIFT, DONE (closes the keyboard). Rows keep the key grid of the physical keyboards people know (Arabic ض
on the Q key), so they are not mirrored with the rest of the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kivy.uix.boxlayout import BoxLayout

from kiosk.screens.widgets import Look, button

SPACE, BACK, CLEAR, SHIFT, DONE = "SPACE", "BACK", "CLEAR", "SHIFT", "DONE"

LAYOUTS: dict[str, list[list[str]]] = {
    "en": [
        list("1234567890"),
        list("QWERTYUIOP"),
        list("ASDFGHJKL-"),
        [SHIFT, *"ZXCVBNM", "/", BACK],
        [CLEAR, SPACE, DONE],
    ],
    "ar": [
        list("1234567890"),
        list("ضصثقفغعهخحج"),
        list("شسيبلاتنمكط"),
        list("ئءؤرىةوزظدذ"),
        [CLEAR, "أ", "إ", "آ", SPACE, BACK, DONE],
    ],
    "ckb": [
        list("1234567890"),
        list("قوەرتیئحعۆپ"),
        list("اسدفگھژکلڵغ"),
        list("زخجچڤبنمێڕش"),
        [CLEAR, "ع", "ح", SPACE, BACK, DONE],
    ],
    "digits": [
        list("123"),
        list("456"),
        list("789"),
        [CLEAR, "0", "-", BACK],
        [DONE],
    ],
}

LABELS = {SPACE: "␣", BACK: "⌫", CLEAR: "✕", SHIFT: "⇧", DONE: "✓"}


def layout_for(field_type: str, lang: str) -> str:
    """Which layout a field opens: digits for numbers, the field's script otherwise."""
    if field_type in ("national_id", "mobile", "number", "date", "pin", "digits"):
        return "digits"
    if field_type == "arabic_text":
        return "ckb" if lang == "ckb" else "ar"
    if field_type in ("plate", "latin", "tracking"):
        return "en"
    return lang


def apply_key(value: str, key: str, max_length: int = 200, lower: bool = False) -> str:
    """The field's new value after `key` (pure: the whole keyboard logic)."""
    if key == BACK:
        return value[:-1]
    if key == CLEAR:
        return ""
    if key in (SHIFT, DONE):
        return value
    ch = " " if key == SPACE else (key.lower() if lower else key)
    if len(value) >= max_length:
        return value
    return value + ch


class OnScreenKeyboard(BoxLayout):
    """The keys of one layout; built once per look and reused (building ~50 key
    buttons took a good part of a screen switch), so `on_key` is set by whoever
    shows it."""

    def __init__(self, look: Look, layout: str, on_key: Callable[[str], None],
                 lower: bool = False) -> None:
        rows = LAYOUTS[layout]
        key_h = 64
        super().__init__(orientation="vertical", spacing=6, size_hint_y=None,
                         height=len(rows) * (key_h + 6) + 6, padding=(6, 6))
        self.kid = f"kbd.{layout}"
        self.layout_name = layout
        self.on_key = on_key
        for keys in rows:
            line = BoxLayout(orientation="horizontal", spacing=6, size_hint_y=None, height=key_h)
            # Key positions follow the physical Arabic / Kurdish keyboards, which keep
            # the same left-to-right key grid as QWERTY (ض on the Q key): not mirrored.
            for k in keys:
                text = LABELS.get(k, k.lower() if lower and len(k) == 1 else k)
                role = "danger" if k in (BACK, CLEAR) else "ok" if k == DONE else "secondary"
                b = button(look, text, partial(self._press, k), kid=f"key.{k}",
                           role=role, font="key", height=key_h)
                if k == SPACE:
                    b.size_hint_x = 4
                line.add_widget(b)
            self.add_widget(line)

    def _press(self, key: str) -> None:
        self.on_key(key)


def shared_keyboard(look: Look, layout: str, lower: bool = False) -> OnScreenKeyboard:
    """The one keyboard of `layout` for this look (text size, contrast), built on first use."""
    cache: dict[tuple[str, bool, int, int], OnScreenKeyboard] = look.__dict__.setdefault("_ur_keyboards", {})
    key = (layout, lower, id(look.palette), look.size("key"))
    kbd = cache.get(key)
    if kbd is None:
        kbd = cache[key] = OnScreenKeyboard(look, layout, lambda _k: None, lower=lower)
    return kbd
