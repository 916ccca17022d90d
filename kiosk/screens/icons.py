"""Icons drawn with Kivy canvas instructions: no icon font, nothing to license or fetch.

Each icon is a function drawing into a unit square (0..1 both ways, y up) that
`IconPainter` scales to the box it is given, in one colour, so an icon follows
the look (normal or high contrast) like text does. Strokes scale with the icon.
`Icon` is a widget showing one; `attach_icon()` draws one inside a button (above
its words on a tile, or at the reading side of a smaller button).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, Ellipse, InstructionGroup, Line, Rectangle, Triangle
from kivy.uix.widget import Widget


class IconPainter:
    """Draws unit-square shapes into an instruction group at (x, y, size)."""

    def __init__(self, group: InstructionGroup, x: float, y: float, size: float, mirror: bool) -> None:
        self.g, self.x, self.y, self.s, self.mirror = group, x, y, size, mirror
        self.w = max(1.2, size / 30)  # stroke width (Kivy's Line width is about half the stroke)

    def p(self, u: float, v: float) -> tuple[float, float]:
        u = 1 - u if self.mirror else u
        return self.x + u * self.s, self.y + v * self.s

    def pts(self, *uv: float) -> list[float]:
        out: list[float] = []
        for i in range(0, len(uv), 2):
            out += self.p(uv[i], uv[i + 1])
        return out

    def line(self, *uv: float, close: bool = False) -> None:
        self.g.add(Line(points=self.pts(*uv), width=self.w, close=close, joint="round", cap="round"))

    def rect(self, u: float, v: float, du: float, dv: float, fill: bool = False, radius: float = 0) -> None:
        if self.mirror:
            u = 1 - u - du
        x, y = self.x + u * self.s, self.y + v * self.s
        if fill:
            self.g.add(Rectangle(pos=(x, y), size=(du * self.s, dv * self.s)))
        elif radius:
            self.g.add(Line(rounded_rectangle=(x, y, du * self.s, dv * self.s, radius * self.s), width=self.w))
        else:
            self.g.add(Line(rectangle=(x, y, du * self.s, dv * self.s), width=self.w, joint="round"))

    def circle(self, u: float, v: float, r: float, fill: bool = False, start: float = 0, end: float = 360) -> None:
        cx, cy = self.p(u, v)
        if fill:
            self.g.add(Ellipse(pos=(cx - r * self.s, cy - r * self.s), size=(2 * r * self.s, 2 * r * self.s)))
        else:
            if self.mirror:
                start, end = -end, -start
            self.g.add(Line(circle=(cx, cy, r * self.s, start, end), width=self.w))

    def ellipse(self, u: float, v: float, du: float, dv: float) -> None:
        if self.mirror:
            u = 1 - u - du
        self.g.add(Line(ellipse=(self.x + u * self.s, self.y + v * self.s, du * self.s, dv * self.s),
                        width=self.w))

    def tri(self, *uv: float) -> None:
        self.g.add(Triangle(points=self.pts(*uv)))


def _application(d: IconPainter) -> None:  # a form with a folded corner and lines
    d.line(0.2, 0.05, 0.2, 0.95, 0.62, 0.95, 0.8, 0.77, 0.8, 0.05, close=True)
    d.line(0.62, 0.95, 0.62, 0.77, 0.8, 0.77)
    for v in (0.62, 0.45, 0.28):
        d.line(0.32, v, 0.68, v)


def _verify(d: IconPainter) -> None:  # a QR code: three finder squares and modules
    for u, v in ((0.08, 0.6), (0.6, 0.6), (0.08, 0.08)):
        d.rect(u, v, 0.32, 0.32)
        d.rect(u + 0.1, v + 0.1, 0.12, 0.12, fill=True)
    for u, v in ((0.6, 0.08), (0.78, 0.26), (0.6, 0.34), (0.82, 0.08), (0.5, 0.46)):
        d.rect(u, v, 0.11, 0.11, fill=True)


def _letter(d: IconPainter) -> None:  # an envelope
    d.rect(0.06, 0.2, 0.88, 0.6)
    d.line(0.06, 0.8, 0.5, 0.42, 0.94, 0.8)


def _fine(d: IconPainter) -> None:  # a car
    d.line(0.04, 0.3, 0.04, 0.52, 0.2, 0.56, 0.32, 0.78, 0.68, 0.78, 0.8, 0.56, 0.96, 0.52, 0.96, 0.3,
           close=True)
    d.line(0.26, 0.56, 0.74, 0.56)
    d.circle(0.26, 0.28, 0.1, fill=True)
    d.circle(0.74, 0.28, 0.1, fill=True)


def _complaint(d: IconPainter) -> None:  # a speech bubble with "!"
    d.rect(0.06, 0.3, 0.88, 0.62, radius=0.1)
    d.tri(0.22, 0.32, 0.42, 0.32, 0.2, 0.08)
    d.line(0.5, 0.8, 0.5, 0.56)
    d.circle(0.5, 0.44, 0.045, fill=True)


def _track(d: IconPainter) -> None:  # a magnifying glass over a path
    d.circle(0.42, 0.58, 0.28)
    d.line(0.62, 0.38, 0.92, 0.08)
    d.line(0.3, 0.58, 0.4, 0.48, 0.56, 0.7)


def _payment(d: IconPainter) -> None:  # a bank card with its stripe and chip
    d.rect(0.04, 0.18, 0.92, 0.64, radius=0.06)
    d.rect(0.04, 0.6, 0.92, 0.1, fill=True)
    d.rect(0.14, 0.3, 0.2, 0.16, fill=True)


def _receipt(d: IconPainter) -> None:  # a till slip with a torn edge
    zig = [0.2, 0.95, 0.8, 0.95, 0.8, 0.1]
    for i in range(6):
        zig += [0.8 - (i + 0.5) * 0.1, 0.04 if i % 2 == 0 else 0.1]
    zig += [0.2, 0.1]
    d.line(*zig, close=True)
    for v in (0.75, 0.6, 0.45):
        d.line(0.3, v, 0.7, v)
    d.line(0.5, 0.28, 0.7, 0.28)


def _language(d: IconPainter) -> None:  # a globe
    d.circle(0.5, 0.5, 0.42)
    d.ellipse(0.3, 0.08, 0.4, 0.84)
    d.line(0.08, 0.5, 0.92, 0.5)
    d.line(0.16, 0.72, 0.84, 0.72)
    d.line(0.16, 0.28, 0.84, 0.28)


def _speaker(d: IconPainter) -> None:  # a loudspeaker with sound waves
    d.tri(0.06, 0.36, 0.06, 0.64, 0.3, 0.64)
    d.tri(0.06, 0.36, 0.3, 0.64, 0.3, 0.36)
    d.tri(0.3, 0.64, 0.3, 0.36, 0.52, 0.14)
    d.tri(0.3, 0.64, 0.52, 0.14, 0.52, 0.86)
    d.circle(0.52, 0.5, 0.2, start=50, end=130)
    d.circle(0.52, 0.5, 0.36, start=50, end=130)


def _home(d: IconPainter) -> None:  # a house
    d.line(0.06, 0.5, 0.5, 0.92, 0.94, 0.5)
    d.line(0.18, 0.58, 0.18, 0.06, 0.82, 0.06, 0.82, 0.58)
    d.rect(0.42, 0.06, 0.16, 0.3)


def _back(d: IconPainter) -> None:  # an arrow pointing back (mirrored right to left)
    d.line(0.9, 0.5, 0.12, 0.5)
    d.line(0.42, 0.82, 0.12, 0.5, 0.42, 0.18)


def _check(d: IconPainter) -> None:
    d.line(0.1, 0.5, 0.38, 0.2, 0.9, 0.82)


def _cross(d: IconPainter) -> None:
    d.line(0.15, 0.15, 0.85, 0.85)
    d.line(0.15, 0.85, 0.85, 0.15)


def _alert(d: IconPainter) -> None:  # "!" in a triangle
    d.line(0.5, 0.94, 0.96, 0.08, 0.04, 0.08, close=True)
    d.line(0.5, 0.66, 0.5, 0.36)
    d.circle(0.5, 0.22, 0.05, fill=True)


def _question(d: IconPainter) -> None:
    d.circle(0.5, 0.66, 0.22, start=-90, end=135)
    d.line(0.5, 0.44, 0.5, 0.3)
    d.circle(0.5, 0.12, 0.06, fill=True)


def _info(d: IconPainter) -> None:  # "i" in a circle: informational services
    d.circle(0.5, 0.5, 0.44)
    d.line(0.5, 0.24, 0.5, 0.54)
    d.circle(0.5, 0.7, 0.06, fill=True)


def _people(d: IconPainter) -> None:  # two people: participatory services
    for u in (0.32, 0.68):
        d.circle(u, 0.68, 0.13)
        d.circle(u, 0.08, 0.26, start=-75, end=75)


def _procedure(d: IconPainter) -> None:  # a checklist: procedural services
    for v in (0.72, 0.45, 0.18):
        d.line(0.08, v + 0.06, 0.16, v - 0.02, 0.3, v + 0.14)
        d.line(0.42, v + 0.04, 0.92, v + 0.04)


def _interactive(d: IconPainter) -> None:  # arrows both ways: interactive services
    d.line(0.1, 0.66, 0.88, 0.66)
    d.line(0.66, 0.86, 0.88, 0.66, 0.66, 0.46)
    d.line(0.9, 0.34, 0.12, 0.34)
    d.line(0.34, 0.54, 0.12, 0.34, 0.34, 0.14)


ICONS: dict[str, Callable[[IconPainter], None]] = {
    "application": _application, "verify": _verify, "letter": _letter, "fine": _fine,
    "complaint": _complaint, "track": _track, "payment": _payment, "receipt": _receipt,
    "language": _language, "speaker": _speaker, "home": _home, "back": _back,
    "check": _check, "cross": _cross, "alert": _alert, "question": _question,
    "informational": _info, "participatory": _people, "procedural": _procedure,
    "interactive": _interactive,
}
MIRRORED = frozenset({"back"})  # icons with a direction: flipped for right-to-left pages


def draw(name: str, color: Any, x: float, y: float, size: float, rtl: bool = False) -> InstructionGroup:
    """The instructions drawing icon `name` in a `size` square at (x, y)."""
    group = InstructionGroup()
    group.add(Color(*color))
    ICONS[name](IconPainter(group, x, y, size, mirror=rtl and name in MIRRORED))
    return group


class Icon(Widget):
    """A widget showing one drawn icon, centred in its box, redrawn when it moves."""

    def __init__(self, name: str, color: Any, size: float = 64, rtl: bool = False, **kw: Any) -> None:
        kw.setdefault("size_hint", (None, None))
        super().__init__(size=(size, size), **kw)
        if name not in ICONS:
            raise ValueError(f"no icon {name!r}")
        self.icon_name, self.icon_color, self.rtl = name, color, rtl
        self._group: InstructionGroup | None = None
        self.bind(pos=self._redraw, size=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        if self._group is not None:
            self.canvas.remove(self._group)
        side = min(self.width, self.height)
        self._group = draw(self.icon_name, self.icon_color, self.x + (self.width - side) / 2,
                           self.y + (self.height - side) / 2, side, self.rtl)
        self.canvas.add(self._group)


def attach_icon(button: Any, name: str, color: Any, rtl: bool, above: bool) -> None:
    """Draw icon `name` inside `button`: `above` its words (a tile; the words move down),
    or at the reading side of the words (left, or right for right-to-left pages)."""
    state: dict[str, InstructionGroup | None] = {"g": None}
    button.icon_name = name

    def place(*_: Any) -> None:
        if state["g"] is not None:
            button.canvas.after.remove(state["g"])
        w, h = button.size
        if above:  # the icon in the top half, the words from the bottom up
            side = min(h * 0.36, w * 0.5, 64)
            x, y = button.x + (w - side) / 2, button.y + h - side - h * 0.1
            button.valign = "bottom"
            # the words never climb into the icon's room (three lines of Kurdish at
            # large text ran over it; the tile's height leaves room for three lines)
            button.padding = [8, h * 0.1 + side + 6, 8, h * 0.1]
            button.text_size = (w - 16, h)
        else:  # the icon at the reading side, the words centred in the rest
            side = min(h * 0.42, 36)
            gap = 10
            x = button.x + w - side - gap if rtl else button.x + gap  # not .right: stale inside a pos event
            y = button.y + (h - side) / 2
            room = side + gap + 4
            button.padding = [4, 0, room, 0] if rtl else [room, 0, 4, 0]
            button.text_size = (w, None)
        state["g"] = draw(name, color, x, y, side, rtl)
        button.canvas.after.add(state["g"])

    button.bind(pos=place, size=place)
    place()

