"""UI test helpers: the kiosk driver in the offscreen test environment, and golden
image comparison with a tolerance."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests import support

# Before anything imports kivy: offscreen SDL, PIL text (raqm), a private KIVY_HOME,
# and the kiosk's window config at the test size.
if "kivy" not in sys.modules:
    support.apply_kivy_env()
    from kiosk.screens import driver as _driver
    from kiosk.screens import kiosk_mode as _kiosk_mode

    _kiosk_mode.configure(window_size=_driver.SIZE, fullscreen=False)


def Harness(services: Any, **kw: Any) -> Any:  # noqa: N802 - reads like the class it builds
    """A `KioskDriver` for one test, in the offscreen Kivy environment of tests/support."""
    from kiosk.screens.driver import KioskDriver

    return KioskDriver(services, **kw)


GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "ui"


def compare_golden(shot: Path, name: str, max_mean: float = 1.5, max_tile: float = 6.0) -> None:
    """Compare a screenshot with tests/golden/ui/<name>.png within a tolerance.

    `max_mean`: mean absolute difference over the whole image (0-255 scale);
    `max_tile`: the same mean over any 32x32 tile, so one moved or changed word
    fails even though it is a tiny share of the screen, while the faint
    anti-aliasing differences of another Mesa build pass. UR_REGEN_GOLDEN=1
    rewrites the golden instead (look at the new image before committing it).
    """
    from PIL import Image, ImageChops, ImageStat

    golden = GOLDEN_DIR / f"{name}.png"
    if os.environ.get("UR_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").save(golden, optimize=True)
        return
    if not golden.exists():
        raise AssertionError(f"no golden image {golden}; run with UR_REGEN_GOLDEN=1 to create it")
    a = Image.open(shot).convert("RGB")
    b = Image.open(golden).convert("RGB")
    if a.size != b.size:
        raise AssertionError(f"{name}: size {a.size} differs from golden {b.size}")
    diff = ImageChops.difference(a, b).convert("L")
    mean = ImageStat.Stat(diff).mean[0]
    tiles = diff.resize((max(1, a.width // 32), max(1, a.height // 32)), Image.Resampling.BOX)
    worst = tiles.getextrema()[1]
    if mean > max_mean or worst > max_tile:
        out = shot.with_name(shot.stem + "-diff.png")
        diff.point(lambda v: min(255, v * 4)).save(out)
        raise AssertionError(f"{name}: differs from golden (mean {mean:.2f} > {max_mean} or worst "
                             f"32px tile {worst} > {max_tile}); diff image: {out}")
