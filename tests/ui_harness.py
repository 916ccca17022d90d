"""Drive the real Kivy kiosk app offscreen: build it in the one window a process
has, touch widgets found by their kiosk id, type on the on-screen keyboard and
take screenshots from the window's framebuffer on flip (a Clock-time screenshot
can be black; see FIELD_NOTES)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import support

SIZE = (1280, 1024)
_current: Harness | None = None


def _configure() -> None:
    if "kivy" not in __import__("sys").modules:
        support.apply_kivy_env()
    from kiosk.screens import kiosk_mode

    if not kiosk_mode.is_configured():
        kiosk_mode.configure(window_size=SIZE, fullscreen=False)


class Harness:
    def __init__(self, services: Any, idle_timeout: float = 600.0, lang: str = "ar",
                 status_interval: float = 60.0) -> None:
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
        self.app = KioskApp(services, idle_timeout=idle_timeout, lang=lang,
                            status_interval=status_interval)
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
        return str(self.app.sm.current)

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
    def tap(self, kid: str) -> None:
        """A real touch (down + up through the window) at the widget's centre."""
        from kivy.tests.common import UnitTestTouch
        from kivy.uix.scrollview import ScrollView

        w = self.find(kid)
        parent = w.parent
        while parent is not None and not isinstance(parent, ScrollView):
            parent = parent.parent if parent.parent is not parent else None
        if parent is not None:
            parent.scroll_to(w, padding=10, animate=False)
            self.frames(2)
        x, y = w.to_window(*w.center)
        if not (0 <= x < self.window.width and 0 <= y < self.window.height):
            raise AssertionError(f"{kid} is off screen at ({x:.0f}, {y:.0f})")
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)

    def type(self, text: str) -> None:
        """Type on the on-screen keyboard, key by key."""
        for ch in text:
            self.tap("key.SPACE" if ch == " " else f"key.{ch}")

    # -- screenshots --------------------------------------------------------
    def screenshot(self, path: Path) -> Path:
        from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels
        from PIL import Image

        shots: list[bytes] = []
        w, h = self.window.size

        def grab(*_: Any) -> None:
            shots.append(glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE))

        self.frames(2)
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


GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "ui"


def compare_golden(shot: Path, name: str, max_mean: float = 3.0, max_bad: float = 0.01) -> None:
    """Compare a screenshot with tests/golden/ui/<name>.png within a tolerance.

    `max_mean`: mean absolute difference per channel (0-255); `max_bad`: share of
    pixels differing by more than 64 in any channel. UR_REGEN_GOLDEN=1 rewrites
    the golden instead (look at the new image before committing it).
    """
    from PIL import Image, ImageChops, ImageStat

    golden = GOLDEN_DIR / f"{name}.png"
    if os.environ.get("UR_REGEN_GOLDEN") == "1" or not golden.exists():
        if os.environ.get("UR_REGEN_GOLDEN") != "1":
            raise AssertionError(f"no golden image {golden}; run with UR_REGEN_GOLDEN=1 to create it")
        golden.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").save(golden, optimize=True)
        return
    a = Image.open(shot).convert("RGB")
    b = Image.open(golden).convert("RGB")
    if a.size != b.size:
        raise AssertionError(f"{name}: size {a.size} differs from golden {b.size}")
    diff = ImageChops.difference(a, b)
    mean = sum(ImageStat.Stat(diff).mean) / 3
    bad_mask = diff.convert("L").point(lambda v: 255 if v > 21 else 0)  # ~64 on one channel / 3
    bad = ImageStat.Stat(bad_mask).mean[0] / 255
    if mean > max_mean or bad > max_bad:
        out = shot.with_name(shot.stem + "-diff.png")
        diff.save(out)
        raise AssertionError(f"{name}: differs from golden (mean {mean:.2f} > {max_mean} or "
                             f"{bad:.2%} pixels > {max_bad:.0%}); diff image: {out}")
