"""Pictures that show a citizen what to do with the kiosk's hardware, drawn with
canvas instructions in the look's colours: where the scanner window is (verify),
and a card going into the terminal while it waits (pay).

The card moves with a Kivy `Animation`, which runs on the Kivy clock: a test on a
driven clock advances it without waiting, and nothing here sleeps. The animation
stops when the picture leaves the screen (the pay screen is rebuilt per stage).
"""

from __future__ import annotations

from typing import Any

from kivy.animation import Animation
from kivy.graphics import Color, Line, Rectangle, RoundedRectangle
from kivy.properties import NumericProperty
from kivy.uix.widget import Widget

from kiosk.screens.icons import draw
from kiosk.screens.theme import Palette


class KioskPicture(Widget):
    """The kiosk seen from the front: screen, scanner window (highlighted, with a QR
    code held over it), card terminal and printer slot."""

    def __init__(self, palette: Palette, **kw: Any) -> None:
        kw.setdefault("size_hint", (None, None))
        kw.setdefault("size", (240, 360))
        super().__init__(**kw)
        self.pal = palette
        self.kid = "verify.kiosk_picture"
        self.bind(pos=self._redraw, size=self._redraw)
        self._redraw()

    def scanner_box(self) -> tuple[float, float, float, float]:
        """Where the scanner window is drawn (x, y, w, h): tests look for its colour there."""
        w, h = self.size
        return self.x + w * 0.22, self.y + h * 0.34, w * 0.56, h * 0.1

    def _redraw(self, *_: Any) -> None:
        pal, (w, h), (x, y) = self.pal, self.size, self.pos
        self.canvas.clear()
        with self.canvas:
            Color(*pal.muted)
            Line(rounded_rectangle=(x + w * 0.1, y, w * 0.8, h * 0.98, 14), width=2.5)  # cabinet
            Line(rectangle=(x + w * 0.2, y + h * 0.64, w * 0.6, h * 0.28), width=2)  # screen
            Line(rectangle=(x + w * 0.28, y + h * 0.2, w * 0.2, h * 0.1), width=2)  # terminal
            Line(points=[x + w * 0.56, y + h * 0.25, x + w * 0.74, y + h * 0.25], width=3)  # printer slot
            Color(*pal.ok)
            sx, sy, sw, sh = self.scanner_box()
            RoundedRectangle(pos=(sx, sy), size=(sw, sh), radius=[6])  # the scanner window, lit
            Color(*pal.primary)
            Line(rounded_rectangle=(sx - 6, sy - 6, sw + 12, sh + 12, 8), width=3)
        # a QR code held just above the window
        side = h * 0.13
        self.canvas.add(draw("verify", self.pal.text, x + (w - side) / 2, sy + sh + 8, side))


class CardAnimation(Widget):
    """A bank card sliding into the terminal's slot, again and again, with the
    contactless waves as it arrives: "insert or tap your card"."""

    travel = NumericProperty(0.0)  # 0: card above the terminal, 1: card in the slot

    def __init__(self, palette: Palette, **kw: Any) -> None:
        kw.setdefault("size_hint", (None, None))
        kw.setdefault("size", (260, 260))
        super().__init__(**kw)
        self.pal = palette
        self.kid = "pay.card_animation"
        self.bind(pos=self._redraw, size=self._redraw, travel=self._redraw)
        self._redraw()
        anim = Animation(travel=1.0, duration=1.4, t="out_quad") + Animation(duration=0.6)
        anim += Animation(travel=0.0, duration=0.0)
        anim.repeat = True
        self.anim = anim
        anim.start(self)
        self.bind(parent=self._on_parent)

    def _on_parent(self, _w: Any, parent: Any) -> None:
        if parent is None:
            self.stop()

    def stop(self) -> None:
        Animation.cancel_all(self)

    def _redraw(self, *_: Any) -> None:
        pal, (w, h), (x, y) = self.pal, self.size, self.pos
        self.canvas.clear()
        tx, ty, tw, th = x + w * 0.2, y, w * 0.6, h * 0.55  # the terminal
        card_w, card_h = tw * 0.7, h * 0.3
        top = ty + th + h * 0.12  # where the card starts
        cy = top - self.travel * (h * 0.25)
        with self.canvas:
            Color(*pal.muted)
            RoundedRectangle(pos=(tx, ty), size=(tw, th), radius=[12])
            Color(*pal.background)
            Rectangle(pos=(tx + tw * 0.15, ty + th * 0.55), size=(tw * 0.7, th * 0.3))  # its display
            for i in range(3):  # keypad
                for j in range(3):
                    Rectangle(pos=(tx + tw * (0.2 + 0.22 * i), ty + th * (0.1 + 0.13 * j)),
                              size=(tw * 0.14, th * 0.08))
            Color(*pal.primary)
            RoundedRectangle(pos=(x + (w - card_w) / 2, cy), size=(card_w, card_h), radius=[8])
            Color(*pal.primary_text)
            Rectangle(pos=(x + (w - card_w) / 2 + card_w * 0.12, cy + card_h * 0.35),
                      size=(card_w * 0.2, card_h * 0.25))  # chip
            Color(*pal.text)
            Line(points=[tx - 6, ty + th + 2, tx + tw + 6, ty + th + 2], width=4)  # the slot
            if self.travel > 0.8:  # contactless waves as the card arrives
                Color(*pal.ok)
                for r in (14, 28, 42):
                    Line(circle=(tx + tw + 2, ty + th * 0.75, r, 20, 160), width=3)
