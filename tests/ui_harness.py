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
