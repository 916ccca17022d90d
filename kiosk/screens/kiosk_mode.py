"""Kiosk-mode Kivy configuration; `configure()` must run before any other kivy import.

Kivy reads its config when the window is created, so fullscreen, borderless, the
hidden cursor, Escape-does-not-quit and the single-touch mouse provider must be
set first. `KIVY_TEXT=pil` selects the Pillow text provider, whose raqm layout
(HarfBuzz + FriBiDi) is the only one in Kivy 2.3.1 that joins Arabic and Sorani
letters and orders mixed right-to-left text correctly (the default SDL2 provider
does not shape).
"""

from __future__ import annotations

import os
import sys

_configured = False


def configure(window_size: tuple[int, int] | None = None, fullscreen: bool = True) -> None:
    """Set the kiosk's Kivy config. `window_size` with `fullscreen=False` is for tests,
    the demo and benches (offscreen windows of a known size)."""
    global _configured
    if "kivy.core.window" in sys.modules and not _configured:
        raise RuntimeError("kiosk_mode.configure() must run before kivy.core.window is imported")
    os.environ.setdefault("KIVY_TEXT", "pil")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config  # only now: Kivy reads the environment set above when imported

    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "borderless", "1")
    Config.set("graphics", "show_cursor", "0")
    Config.set("graphics", "resizable", "0")
    # No multisampling (Kivy's default is 2x): it doubled the cost of every full-window
    # redraw under software GL (keystroke echo, issue 16), for the edges of a few icon
    # curves only; text is anti-aliased by the text provider (docs/performance.md).
    Config.set("graphics", "multisamples", "0")
    if window_size:
        Config.set("graphics", "width", str(window_size[0]))
        Config.set("graphics", "height", str(window_size[1]))
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    # One touch at a time and no red multitouch-emulation dots under the mouse provider.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    _configured = True


def is_configured() -> bool:
    return _configured
