"""`ur-kiosk ui` in a real X window (Xvfb), touched with xdotool, seen in a screenshot.

The other UI tests drive the app offscreen in-process; this one runs the real command
under a real X server, as a kiosk does, and touches it the way the X server delivers
a finger (a pointer click). Tap positions come from the app's own debug log of its
buttons (`Kiosk: target ...`), screen changes from its `Kiosk: screen ...` line.
Xvfb, xdotool and ImageMagick come from the Makefile's Debian packages: no skip.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from kiosk.screens import theme
from tests import support

SIZE = (1280, 1024)


@pytest.fixture
def xdisplay(tmp_path: Path) -> Iterator[str]:
    """A fresh Xvfb on a display number it picks itself (-displayfd: never a clash)."""
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "xvfb.log", "wb"), start_new_session=True)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            number = f.readline().strip()  # written once the server accepts clients
        assert number.isdigit(), (tmp_path / "xvfb.log").read_text(errors="replace")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def _x(display: str, *cmd: str) -> str:
    return subprocess.run(list(cmd), env={**os.environ, "DISPLAY": display}, check=True,
                          capture_output=True, text=True, timeout=60).stdout


def _screenshot(display: str, path: Path) -> Image.Image:
    _x(display, "import", "-window", "root", str(path))
    return Image.open(path).convert("RGB")


def test_ur_kiosk_ui_in_an_x_window_touched_with_xdotool(tmp_path: Path, xdisplay: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_"))}
    env.update(DISPLAY=xdisplay, SDL_VIDEODRIVER="x11", KIVY_NO_ARGS="1", KIVY_HOME=str(tmp_path / "kivy"),
               KCFG_KIVY_LOG_LEVEL="debug", PYTHONPATH=str(support.REPO))
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(support.launch("kiosk.cli", ["--data", str(tmp_path / "data"), "ui",
                                                             "--windowed", f"{SIZE[0]}x{SIZE[1]}", "--idle", "60"]),
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def text() -> str:
        return log.read_text(errors="replace")

    def target(screen: str, kid: str) -> tuple[int, int] | None:
        m = re.search(rf"target {re.escape(screen)} {re.escape(kid)} (-?\d+) (-?\d+)", text())
        return (int(m.group(1)), int(m.group(2))) if m else None

    try:
        # the app's window is the only one on this private display (xdotool's --name does
        # not read SDL's UTF-8 WM_NAME, so any window with a class)
        wid = _x(xdisplay, "xdotool", "search", "--sync", "--classname", ".").split()[0]
        assert f"Geometry: {SIZE[0]}x{SIZE[1]}" in _x(xdisplay, "xdotool", "getwindowgeometry", wid)
        support.wait_until(lambda: target("home", "home.track") is not None, timeout=60,
                           what="the home screen's tap targets in the log")
        assert "Traceback" not in text()
        home = _screenshot(xdisplay, tmp_path / "home.png")
        assert home.size == SIZE
        assert len(home.getcolors(1 << 16) or []) > 8, "the home screenshot is blank"
        strip = tuple(round(c * 255) for c in theme.NORMAL.strip[:3])
        assert home.getpixel((4, 4)) == strip  # the status strip across the top, in its colour

        x, y = target("home", "home.track") or (0, 0)
        _x(xdisplay, "xdotool", "mousemove", "--window", wid, str(x), str(y), "click", "1")
        support.wait_until(lambda: re.search(r"\] screen track", text()) is not None, timeout=30,
                           what="the track screen after the tap")
        # the track screen's own field is where the tap targets say, once it is laid out
        support.wait_until(lambda: target("track", "field.tracking") is not None, timeout=30,
                           what="the track screen laid out")
        track = _screenshot(xdisplay, tmp_path / "track.png")
        assert track.getpixel((4, 4)) == strip
        body = (0, 120, SIZE[0], SIZE[1])
        diff = ImageChops.difference(home.crop(body), track.crop(body)).convert("L")
        changed = diff.point(lambda v: 255 if v else 0).histogram()[255]
        assert changed > 0.02 * (body[2] - body[0]) * (body[3] - body[1]), "the screen did not change"
        assert "target track key." not in text()  # no field focused: no keyboard yet
        assert proc.poll() is None, text()[-1500:]
        assert "Traceback" not in text()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
