"""The few widgets every screen is built from, all direction-aware.

Screens are rebuilt from the citizen's session whenever the language, text size
or contrast changes, so mirroring is done once here: `row()` reverses its
children for right-to-left languages and labels align to the reading side.
Every tappable widget carries a `kid` (kiosk id) that tests and the demo use to
find and touch it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kivy.clock import Clock
from kivy.graphics import Color, Line, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.i18n import has_arabic_script
from kiosk.screens.icons import attach_icon
from kiosk.screens.theme import FONT_NAME, MIN_TOUCH, Palette


class Look(Protocol):
    lang: str
    palette: Palette

    @property
    def rtl(self) -> bool: ...
    def size(self, role: str) -> int: ...
    def t(self, key: str, **params: object) -> str: ...


def paint(widget: Widget, color: Any, border: Any = None) -> Widget:
    """Fill `widget` with `color` (and an optional border) that follows its size."""
    with widget.canvas.before:
        Color(*color)
        rect = Rectangle(pos=widget.pos, size=widget.size)
        if border is not None:
            Color(*border)
            line = Line(rectangle=(*widget.pos, *widget.size), width=2)
        else:
            line = None

    def update(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size
        if line is not None:
            line.rectangle = (*widget.pos, *widget.size)

    widget.bind(pos=update, size=update)
    return widget


def label(look: Look, text: str, role: str = "body", color: Any = None, bold: bool = False,
          halign: str | None = None, kid: str = "", wrap: bool = True, height: int | None = None) -> Label:
    """A label aligned to the reading side; wrapping labels grow to fit their text."""
    lab = Label(text=text, font_name=FONT_NAME, font_size=look.size(role), bold=bold,
                color=color or look.palette.text, halign=halign or ("right" if look.rtl else "left"),
                valign="middle", size_hint_y=None, padding=(8, 0))
    lab.kid = kid
    if wrap:
        lab.bind(width=lambda w, v: setattr(w, "text_size", (v, None)))
        lab.bind(texture_size=lambda w, v: setattr(w, "height", max(v[1], height or 0)))
        lab.height = height or look.size(role) + 16
    else:
        lab.height = height or look.size(role) + 16
        lab.bind(size=lambda w, v: setattr(w, "text_size", v))
    return lab


HOLD_S = 0.8  # a touch held this long reads the button's label instead of pressing it


def button(look: Look, text: str, on_press: Callable[[], Any], kid: str, role: str = "primary",
           font: str = "body", height: int | None = None, width: int | None = None,
           disabled: bool = False, icon: str = "", icon_above: bool = False) -> Button:
    """A large button; `on_press` runs on release (a finger may slide off to cancel).
    `icon` names a drawn icon (kiosk.screens.icons) shown above the words (`icon_above`,
    home tiles) or at their reading side."""
    pal = look.palette
    bg = {"primary": pal.primary, "secondary": pal.secondary, "danger": pal.danger,
          "ok": pal.ok}[role]
    fg = pal.secondary_text if role == "secondary" else pal.primary_text
    b = Button(text=text, font_name=FONT_NAME, font_size=look.size(font), color=fg,
               background_normal="", background_down="", background_color=bg,
               size_hint_y=None, height=max(height or MIN_TOUCH + 8, MIN_TOUCH),
               halign="center", valign="middle", disabled=disabled)
    if width is not None:
        b.size_hint_x, b.width = None, max(width, MIN_TOUCH)
    b.bind(size=lambda w, v: setattr(w, "text_size", (v[0] - 16, None)))
    b.kid = kid
    if icon:
        attach_icon(b, icon, fg, look.rtl, above=icon_above)
    # pressed state: the finger's button darkens until it lifts
    b.bind(state=lambda w, v: setattr(w, "background_color", pressed(bg) if v == "down" else bg))
    speak = getattr(look, "speak_label", None)
    held: dict[str, Any] = {"ev": None, "spoke": False}

    def down(*_: Any) -> None:
        held["spoke"] = False
        if speak is not None:
            def read(*_: Any) -> None:
                held["spoke"] = True
                speak(b.text)
            held["ev"] = Clock.schedule_once(read, HOLD_S)

    def up(*_: Any) -> None:
        if held["ev"] is not None:
            held["ev"].cancel()
            held["ev"] = None
        if not held["spoke"]:  # tap acts; tap-and-hold only read the label aloud
            on_press()

    b.bind(on_press=down, on_release=up)
    return b


def pressed(color: Any) -> tuple[float, float, float, float]:
    """The pressed shade of a button colour (darker; lighter for a near-black button)."""
    r, g, b, a = color
    if max(r, g, b) < 0.25:
        return (min(1.0, r + 0.3), min(1.0, g + 0.3), min(1.0, b + 0.3), a)
    return (r * 0.65, g * 0.65, b * 0.65, a)


def measured_width(look: Look, text: str, font: str = "body", pad: int = 48) -> int:
    """The width a one-line button needs for `text` at the look's text size (so filter
    buttons never overlap or clip their words, in any language or text size)."""
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=text, font_name=FONT_NAME, font_size=look.size(font))
    core.refresh()
    return max(int(core.texture.size[0]) + pad, MIN_TOUCH) if core.texture is not None else MIN_TOUCH * 2


def row(look: Look, widgets: Sequence[Widget], height: int | None = None, spacing: int = 12) -> BoxLayout:
    """A horizontal row in reading order: right to left for Arabic and Kurdish."""
    box = BoxLayout(orientation="horizontal", spacing=spacing, size_hint_y=None,
                    height=height or max([w.height for w in widgets] + [MIN_TOUCH]))
    for w in (list(reversed(widgets)) if look.rtl else widgets):
        box.add_widget(w)
    return box


def column(widgets: Sequence[Widget] = (), spacing: int = 12, padding: int = 0) -> GridLayout:
    """A vertical stack whose height is the sum of its children (for scroll views)."""
    grid = GridLayout(cols=1, spacing=spacing, padding=padding, size_hint_y=None)
    grid.bind(minimum_height=grid.setter("height"))
    for w in widgets:
        grid.add_widget(w)
    return grid


def scroll(content: Widget) -> ScrollView:
    """A vertical scroll view; its content keeps clear of the scroll bar on both sides
    (the bar sits on the right, where Arabic and Kurdish lines start)."""
    sv = ScrollView(do_scroll_x=False, bar_width=8, scroll_type=["bars", "content"])
    if isinstance(content, GridLayout):
        content.padding = [16, 0, 16, 0]
    sv.add_widget(content)
    return sv


def spacer(height: int = 8) -> Widget:
    return Widget(size_hint_y=None, height=height)


class Field(BoxLayout):
    """An append/backspace field fed by the on-screen keyboard.

    Kivy's TextInput puts its cursor in the wrong place in right-to-left text
    (kivy#1619), so fields have no cursor: keys append, ⌫ removes the last
    character, and the text is drawn by the shaping text provider as a whole.
    """

    def __init__(self, look: Look, name: str, caption: str, value: str, kid: str,
                 on_focus: Callable[[Field], Any], focused: bool = False, masked: bool = False,
                 error: str = "", hint: str = "") -> None:
        super().__init__(orientation="vertical", size_hint_y=None, spacing=4)
        self.name, self.kid, self.masked = name, kid, masked
        self._value = value
        pal = look.palette
        # the placeholder is smaller and in the hint colour, so it never reads as typed text
        self.hint, self._look = hint, look
        self.caption = label(look, caption, role="small", color=pal.muted, kid=f"{kid}.caption")
        shown = self._shown(value) or hint
        self.box = Button(text=shown, font_name=FONT_NAME,
                          font_size=look.size("heading" if value else "small"),
                          color=pal.text if value else pal.hint,
                          background_normal="", background_down="",
                          background_color=pal.field_focus if focused else pal.field,
                          size_hint_y=None, height=MIN_TOUCH + 8,
                          halign="left", valign="middle")
        self.rtl_look = look.rtl
        self._align(value)
        self.box.kid = kid
        self.box.bind(size=lambda w, v: setattr(w, "text_size", (v[0] - 24, v[1])))
        paint(self.box, pal.field_focus if focused else pal.field,
              border=pal.primary if focused else pal.muted)
        self.box.bind(on_release=lambda *_: on_focus(self))
        self.error = label(look, error, role="small", color=pal.danger, kid=f"{kid}.error")
        self.add_widget(self.caption)
        self.add_widget(self.box)
        if error:
            self.add_widget(self.error)
        self.height = self.caption.height + self.box.height + (self.error.height if error else 0) + 8

    def _shown(self, value: str) -> str:
        return "•" * len(value) if self.masked else value

    @property
    def value(self) -> str:
        return self._value

    def set_value(self, value: str) -> None:
        self._value = value
        self.box.text = self._shown(value) or self.hint
        self.box.font_size = self._look.size("heading" if value else "small")
        self.box.color = self._look.palette.text if value else self._look.palette.hint
        self._align(value)

    def _align(self, value: str) -> None:
        # Arabic-script text starts at the right even on the English screens.
        self.box.halign = "right" if self.rtl_look or has_arabic_script(value) else "left"


def walk_kids(root: Widget) -> dict[str, Widget]:
    """Every widget under `root` that has a kiosk id, by id."""
    found: dict[str, Widget] = {}
    for w in root.walk(restrict=True):
        kid = getattr(w, "kid", "")
        if kid:
            found[kid] = w
    return found
