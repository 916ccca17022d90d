"""The step indicator of the application journey: service → form → review → pay → receipt.

Shown at the top of each screen of that journey so a citizen sees how far they are
and how much is left: steps done are ticked, the current one is filled and named
in bold, the rest are outlined. Drawn in reading order (right to left for Arabic
and Kurdish).
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.i18n import N_
from kiosk.screens.icons import draw
from kiosk.screens.widgets import Look, label

STEPS: tuple[tuple[str, str], ...] = (
    ("service", N_("step.service")), ("form", N_("step.form")), ("review", N_("step.review")),
    ("pay", N_("step.pay")), ("receipt", N_("step.receipt")),
)
STEP_NAMES = tuple(name for name, _ in STEPS)
BADGE = 44


class StepBadge(Widget):
    """A numbered circle: ticked when done, filled when current, outlined when to come."""

    def __init__(self, look: Look, number: int, state: str, **kw: Any) -> None:
        super().__init__(size_hint=(None, None), size=(BADGE, BADGE), **kw)
        self.state = state
        pal = look.palette
        fill = pal.ok if state == "done" else pal.primary if state == "current" else pal.background
        ink = pal.primary_text if state in ("done", "current") else pal.muted
        self._look, self._fill, self._ink, self._number = look, fill, ink, number
        self.numeral = label(look, str(number), role="body", bold=True, color=ink, halign="center",
                             wrap=False, height=BADGE)
        self.numeral.size_hint = (None, None)
        self.numeral.size = (BADGE, BADGE)
        self.numeral.padding = (0, 0)
        if state != "done":
            self.add_widget(self.numeral)
        self.bind(pos=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.before.clear()
        self.numeral.pos = self.pos
        with self.canvas.before:
            Color(*self._fill)
            Ellipse(pos=self.pos, size=self.size)
            Color(*self._ink)
            Line(circle=(self.x + BADGE / 2, self.y + BADGE / 2, BADGE / 2 - 1), width=2)  # not center_x: stale in a pos event
        if self.state == "done":
            self.canvas.before.add(draw("check", self._ink, self.x + 10, self.y + 10, BADGE - 20))


def step_indicator(look: Look, current: str) -> BoxLayout:
    """The journey's steps with `current` highlighted (kid `steps`, each `step.<name>`
    with `.state` done / current / todo)."""
    at = STEP_NAMES.index(current)
    box = BoxLayout(orientation="horizontal", size_hint_y=None, height=BADGE + 8, spacing=6)
    box.kid = "steps"
    box.current = current
    parts: list[Widget] = []
    for n, (name, key) in enumerate(STEPS):
        state = "done" if n < at else "current" if n == at else "todo"
        cell = BoxLayout(orientation="horizontal", spacing=6)
        badge = StepBadge(look, n + 1, state, pos_hint={"center_y": 0.5})
        badge.kid = f"step.{name}"
        words = label(look, look.t(key), role="small", bold=state == "current",
                      color=look.palette.text if state == "current" else look.palette.muted,
                      wrap=False, height=BADGE)
        words.pos_hint = {"center_y": 0.5}
        for w in ([words, badge] if look.rtl else [badge, words]):
            cell.add_widget(w)
        parts.append(cell)
    for w in reversed(parts) if look.rtl else parts:
        box.add_widget(w)
    return box
