"""Drive the real Kivy kiosk app without a person: build it in the one window a
process has, touch widgets found by their kiosk id, type on the on-screen
keyboard and take screenshots from the framebuffer on flip (a screenshot taken
from a Clock callback came out black when tried). Used by the scripted demo,
the UI bench and the UI tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (1280, 1024)
_current: KioskDriver | None = None


def offscreen_env() -> None:
    """Render offscreen through SDL (Mesa llvmpipe), never the mock GL backend."""
    if "kivy" in sys.modules:
        return
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
    os.environ.setdefault("KIVY_TEXT", "pil")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")


def _configure() -> None:
    offscreen_env()
    from kiosk.screens import kiosk_mode

    if not kiosk_mode.is_configured():
        kiosk_mode.configure(window_size=SIZE, fullscreen=False)


class KioskDriver:
    """One kiosk app in this process's window; a new driver replaces the previous one."""

    def __init__(self, services: Any, idle_timeout: float = 600.0, lang: str = "ar",
                 status_interval: float = 60.0, speech: Any = None) -> None:
        global _current
        _configure()
        from kivy.base import EventLoop

        EventLoop.ensure_window()
        self.window = EventLoop.window
        self.loop = EventLoop
        if _current is not None:
            _current.close()
        from kiosk.screens.app import KioskApp

        self.services = services
        if speech is None:  # one clip cache for every driven app on this machine
            from kiosk.speech import Speech

            speech = Speech(cache_dir=Path(tempfile.gettempdir()) / "ur-kiosk-speech-cache")
        self.app = KioskApp(services, idle_timeout=idle_timeout, lang=lang,
                            status_interval=status_interval, speech=speech)
        self.root = self.app.build()
        self.app.root = self.root
        self.window.add_widget(self.root)
        self.app.attach()
        _current = self
        self.frames(3)

    def close(self) -> None:
        self.app.detach()
        if self.root.parent is not None:
            self.window.remove_widget(self.root)

    # -- time ---------------------------------------------------------------
    def frames(self, n: int = 2) -> None:
        for _ in range(n):
            self.loop.idle()

    def wait(self, pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.frames(1)
            got = pred()
            if got:
                return got
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what} on screen {self.screen}")

    # -- looking ------------------------------------------------------------
    @property
    def screen(self) -> str:
        sm = self.app.sm
        assert sm is not None, "built in __init__"
        return str(sm.current)

    def ids(self) -> dict[str, Any]:
        from kiosk.screens.widgets import walk_kids

        return walk_kids(self.root)

    def find(self, kid: str) -> Any:
        found = self.ids()
        if kid not in found:
            raise AssertionError(f"no widget {kid!r} on screen {self.screen}; have: {sorted(found)}")
        return found[kid]

    def text(self, kid: str) -> str:
        return str(self.find(kid).text)

    # -- touching -----------------------------------------------------------
    def wait_screen(self, name: str, timeout: float = 10.0, after: str = "") -> None:
        """Run the event loop until `name` is the current screen (a screen reached
        after a background step, e.g. a payment, comes a number of frames later);
        fail with what is on screen instead after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.screen != name:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{after or 'waiting'}: expected screen {name!r} within {timeout} s, "
                                     f"still on {self.screen!r}")
            self.frames(1)
            time.sleep(0.005)

    def tap(self, kid: str, to: str | None = None, timeout: float = 10.0) -> None:
        """A real touch (down + up through the window) at the widget's centre, once the
        widget is on screen (waited for, at most `timeout`). With `to`, returns only
        when the tap has led to that screen (see `wait_screen`), so the next tap never
        lands on the screen before."""
        from kivy.tests.common import UnitTestTouch
        from kivy.uix.scrollview import ScrollView

        self.frames(1)  # let layouts place widgets built since the last frame
        if kid not in self.ids():
            self.wait(lambda: kid in self.ids(), timeout=timeout, what=f"widget {kid!r} to tap")
        w = self.find(kid)
        parent = w.parent
        while parent is not None and not isinstance(parent, ScrollView):
            parent = parent.parent if parent.parent is not parent else None
        if parent is not None and not self._inside(w, parent):
            def shown() -> bool:
                # scrolled again each frame until it is in view: a layout still settling
                # moves it after the first scroll (on a busy machine it failed the tap)
                if self._inside(w, parent):
                    return True
                parent.scroll_to(w, padding=10, animate=False)
                return False
            self.wait(shown, timeout=timeout, what=f"{kid!r} scrolled into view")
        x, y = w.to_window(*w.center)
        if not (0 <= x < self.window.width and 0 <= y < self.window.height):
            raise AssertionError(f"{kid} is off screen at ({x:.0f}, {y:.0f})")
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        self.frames(1)
        if to is not None:
            self.wait_screen(to, timeout, after=f"tap on {kid!r}")

    def hold(self, kid: str, seconds: float | None = None) -> None:
        """A touch held on the widget for `seconds` (default: just over the hold time
        that reads a label aloud), then lifted; the loop runs meanwhile."""
        from kivy.tests.common import UnitTestTouch

        from kiosk.screens.widgets import HOLD_S

        self.frames(1)
        w = self.find(kid)
        x, y = w.to_window(*w.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        until = time.monotonic() + (HOLD_S + 0.8 if seconds is None else seconds)  # + a scroll view's delay
        while time.monotonic() < until:
            self.frames(1)
            time.sleep(0.01)
        touch.touch_up()
        self.frames(1)

    def staff_entrance(self, role: str) -> None:
        """Staff sign-in as staff do it: hold the hidden corner of the home screen, then
        choose the role on the PIN screen."""
        from kiosk.screens.citizen import STAFF_HOLD_S

        if self.screen != "home":
            self.tap("strip.home", to="home")
        self.hold("home.staff_corner", STAFF_HOLD_S + 0.8)
        self.wait_screen("pin", after="holding the staff corner")
        self.tap(f"pin.as.{role}")

    @staticmethod
    def _inside(w: Any, view: Any) -> bool:
        """Is the widget's centre within the scroll view's visible area?"""
        x, y = w.to_window(*w.center)
        vx, vy = view.to_window(view.x, view.y)
        return bool(vx <= x <= vx + view.width and vy <= y <= vy + view.height)

    def keyboard_shown(self) -> bool:
        return any(k.startswith("kbd.") for k in self.ids())

    def type(self, text: str, field: str | None = None) -> None:
        """Type on the on-screen keyboard, key by key (real touches on each key).

        The keyboard shows only while a field has focus: with none focused (or with
        `field` named and not the focused one) the field is tapped first, as a citizen
        would (by default the screen's first field)."""

        self.frames(1)
        screen = self.app.current_screen()
        focus = self.app.session.focus
        if field is not None and field != focus or not self.keyboard_shown():
            fields = list(getattr(screen, "fields", None) or {})
            if not fields:
                raise AssertionError(f"no field to type into on screen {self.screen}")
            self.tap(f"field.{field or fields[0]}")
            self.wait(self.keyboard_shown, what="the keyboard after tapping a field")
        for ch in text:
            self.press_key("SPACE" if ch == " " else ch)

    def press_key(self, key: str, after: int = 1) -> None:
        """One real touch on an on-screen key (keys stay put while typing), the frame that
        shows it, then `after` frames more: what a key sets off once its echo is on screen
        (the catalogue's search) runs in them, as it does between a person's keys. The
        UI bench passes 0 and times the echo frame alone."""
        from kivy.tests.common import UnitTestTouch

        w = self.find(f"key.{key}")
        x, y = w.to_window(*w.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        self.frames(1 + after)

    # -- screenshots --------------------------------------------------------
    def _settle_scroll_bars(self) -> None:
        """Scroll bars that were scrolled fade to their resting colour on a wall-clock
        timer (0.5 s, then a 0.5 s animation): put each at its resting colour now, so
        a screenshot shows what a person sees a second later, whatever the machine's
        speed (golden images differed by the fade's phase on a loaded machine)."""
        from kivy.animation import Animation
        from kivy.uix.scrollview import ScrollView

        for top in list(self.window.children):
            for w in top.walk(restrict=True):
                ev = getattr(w, "_bind_inactive_bar_color_ev", None)
                if not isinstance(w, ScrollView) or ev is None:
                    continue  # never scrolled: no bar drawn, nothing pending
                ev.cancel()
                Animation.stop_all(w, "_bar_color")
                w.funbind("bar_color", w._change_bar_color)
                w.fbind("bar_inactive_color", w._change_bar_color)
                w._bar_color = list(w.bar_inactive_color)

    def screenshot(self, path: Path) -> Path:
        from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels
        from PIL import Image

        shots: list[bytes] = []
        w, h = self.window.size

        def grab(*_: Any) -> None:
            shots.append(glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE))

        self.frames(2)
        self._settle_scroll_bars()
        self.window.bind(on_flip=grab)
        try:
            for _ in range(5):
                self.window.canvas.ask_update()
                self.frames(1)
                if shots:
                    break
        finally:
            self.window.unbind(on_flip=grab)
        if not shots:
            raise AssertionError("no frame was drawn for the screenshot")
        img = Image.frombytes("RGBA", (w, h), shots[-1]).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").save(path)
        return path
