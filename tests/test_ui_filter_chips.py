"""Filter chips start at the reading side (issue 16: "filter buttons wrap or scroll from
the reading side"), on the real app: in Arabic and Kurdish "All" sits at the right edge of
its strip, in English at the left, whether the chips fill less than the strip (a kiosk
with few institutions: they sat at the LEFT in Arabic) or more (they scroll); every chip
is on screen or reachable by scrolling the strip."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.ui_services import Institution
from tests.ui_fixtures import INSTITUTIONS, FixtureServices, T
from tests.ui_harness import Harness

# Twelve long names: wider than the 1280 px window in every language.
MANY = [Institution(f"inst-{n}", T(f"مديرية الخدمات العامة رقم {n}", f"بەڕێوەبەرایەتی خزمەتگوزاری گشتی {n}",
                                   f"General Services Directorate {n}")) for n in range(12)]


class Few(FixtureServices):
    """A kiosk of one institution: "All" and one chip, far narrower than the strip."""

    def institutions(self) -> list[Institution]:
        return [INSTITUTIONS[2]]


class Many(FixtureServices):
    def institutions(self) -> list[Institution]:
        return list(MANY)


def window_x(w: Any) -> tuple[float, float]:
    x, _ = w.to_window(w.x, w.y)
    return x, x + w.width


def check_strip(h: Any, all_kid: str, rtl: bool) -> bool:
    """Asserts the reading-side rules for the strip holding `all_kid`; returns whether
    its chips are wider than the strip (so the caller knows which case it saw)."""
    first = h.find(all_kid)
    box = first.parent
    view = box.parent
    chips = list(box.children)
    vx0, vx1 = window_x(view)
    fx0, fx1 = window_x(first)
    if rtl:
        assert abs(fx1 - vx1) <= 1, f"{all_kid}: right edge {fx1} not at the strip's right edge {vx1}"
    else:
        assert abs(fx0 - vx0) <= 1, f"{all_kid}: left edge {fx0} not at the strip's left edge {vx0}"
    natural = sum(c.width for c in chips) + box.spacing * (len(chips) - 1)
    wide = natural > view.width
    if not wide:
        for c in chips:
            x0, x1 = window_x(c)
            assert vx0 - 1 <= x0 and x1 <= vx1 + 1, f"{c.kid}: {x0}..{x1} outside the strip {vx0}..{vx1}"
        return False
    # Wider than the strip: every chip lies inside the scrolled content, and scrolling to
    # the far end brings the chip farthest from "All" into view.
    for c in chips:
        assert 0 <= c.x and c.right <= box.width + 1, f"{c.kid}: {c.x}..{c.right} outside 0..{box.width}"
    last = min(chips, key=lambda c: c.x) if rtl else max(chips, key=lambda c: c.right)
    view.scroll_x = 0.0 if rtl else 1.0
    h.frames(2)
    lx0, lx1 = window_x(last)
    assert vx0 - 1 <= lx0 and lx1 <= vx1 + 1, f"{last.kid}: {lx0}..{lx1} not reachable in {vx0}..{vx1}"
    view.scroll_x = 1.0 if rtl else 0.0
    h.frames(2)
    return True


@pytest.mark.parametrize("lang", ["ar", "ckb", "en"])
@pytest.mark.parametrize("services,wide", [(Few, False), (Many, True)], ids=["few", "many"])
def test_filter_chips_start_at_the_reading_side(lang: str, services: type[FixtureServices], wide: bool) -> None:
    h = Harness(services(), lang=lang)
    h.tap("home.catalogue", to="catalogue")
    h.frames(3)
    assert check_strip(h, "inst.all", rtl=lang != "en") is wide  # the case the test means
    check_strip(h, "kind.all", rtl=lang != "en")
    # A chip tapped keeps the reading side (the screen is rebuilt with the new filter).
    h.tap(f"inst.{services().institutions()[-1].id}")
    h.frames(3)
    assert check_strip(h, "inst.all", rtl=lang != "en") is wide
