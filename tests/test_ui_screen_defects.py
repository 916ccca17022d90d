"""The real-window defects that lived in the screens, each driven on the real app:
no crash from any screen to any other (the cashier after a filed complaint crashed),
staff entrances hidden from citizens, end of day asks first and shows a mismatch in
red, "still there?" before the idle wipe, language buttons that keep their place,
filter buttons sized to their words and scrolled from the reading side, and buttons
that show they are pressed."""

from __future__ import annotations

import pytest

from kiosk import i18n
from kiosk.ui_services import Reconciliation
from tests.test_ui_kiosk_mode import driven_clock
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def file_complaint(h) -> None:
    h.tap("home.complaint", to="complaint")
    h.tap("complaint.cat.delay")
    h.tap("field.complaint_text")
    h.type("LATE" if h.app.lang == "en" else "تأخير")
    h.tap("complaint.go")
    h.wait(lambda: "complaint.reference" in h.ids(), what="the complaint's reference")


def test_cashier_after_a_filed_complaint_does_not_crash() -> None:
    # the real-window run: complaint, Home, Cashier, PIN -> AttributeError 'ComplaintFiled'.label
    h = Harness(FixtureServices(), lang="ar")
    file_complaint(h)
    h.tap("strip.home", to="home")
    h.staff_entrance("cashier")
    h.type("1234")
    h.tap("pin.ok", to="cashier")
    assert "cashier.found" not in h.ids()  # the citizen's result is not the cashier's
    assert h.find("cashier.find")


def every_pair_once(names: list[str]) -> list[str]:
    """A walk that takes every ordered pair (a -> b, a -> a too) exactly once: an Euler
    circuit of the complete graph with loops (Hierholzer)."""
    left = {a: list(names) for a in names}
    stack, walk = [names[0]], []
    while stack:
        v = stack[-1]
        if left[v]:
            stack.append(left[v].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def test_every_screen_to_every_other_screen_without_a_crash() -> None:
    h = Harness(FixtureServices(pay_step_s=0.01), lang="en")
    file_complaint(h)  # a citizen's result left in the session, as in the real run
    app = h.app
    names = list(app.sm.screen_names)
    assert len(names) >= 16
    walk = every_pair_once(names)
    assert set(zip(walk, walk[1:], strict=False)) == {(a, b) for a in names for b in names}
    for n, name in enumerate(walk):
        app.staff_role = name if not getattr(app.sm.get_screen(name), "citizen", True) else ""
        app.go(name)  # any exception in build_body fails the test here
        assert h.screen == name, f"step {n}: {walk[n - 1] if n else ''} -> {name}: on {h.screen}"
        if n % 8 == 0:
            h.frames(1)  # layouts and scheduled callbacks run too


def test_staff_entrances_are_off_the_home_screen() -> None:
    h = Harness(FixtureServices(), lang="en")
    ids = h.ids()
    assert not [k for k in ids if k in ("home.cashier", "home.technician")]
    corner = h.find("home.staff_corner")
    assert corner.text == "" and corner.background_color[3] == 0  # nothing to see
    h.tap("home.staff_corner")  # a tap does nothing
    h.frames(3)
    assert h.screen == "home"
    h.staff_entrance("technician")
    assert h.app.pin_role == "technician"
    h.type("4321")
    h.tap("pin.ok", to="technician")


class MismatchServices(FixtureServices):
    """The test catalogue's services with a day whose totals do not match."""

    def end_of_day(self) -> Reconciliation:
        self.eod_runs = getattr(self, "eod_runs", 0) + 1
        return Reconciliation("2026-05-01", 10_000, 25_000, 2, False, ("terminal 25,000 vs ledger 10,000",))


def test_end_of_day_asks_first_and_shows_a_mismatch_in_red() -> None:
    svc = MismatchServices()
    h = Harness(svc, lang="en")
    h.staff_entrance("cashier")
    h.type("1234")
    h.tap("pin.ok", to="cashier")
    h.tap("cashier.eod")
    assert getattr(svc, "eod_runs", 0) == 0  # one tap only asks
    assert h.text("cashier.eod_ask") == i18n.tr("cashier.eod_ask", "en")
    h.tap("cashier.eod_no")
    assert "cashier.eod_ask" not in h.ids() and getattr(svc, "eod_runs", 0) == 0
    h.tap("cashier.eod")
    h.tap("cashier.eod_yes")
    assert svc.eod_runs == 1
    msg = h.find("cashier.message")
    assert msg.text.startswith(i18n.tr("cashier.eod_mismatch", "en"))
    assert tuple(msg.color) == tuple(h.app.palette.danger)


def test_still_there_before_the_idle_wipe() -> None:
    """On the driven clock (tests/test_ui_kiosk_mode.py): with the wall clock, a loaded
    machine's slow frames could pass the 1 s timeout between a tap and the next look."""
    h = Harness(FixtureServices(), lang="en", idle_timeout=1.0)
    with driven_clock() as advance:
        h.tap("home.track", to="track")
        h.tap("field.tracking")
        h.type("1001")
        advance(1.1)
        h.wait(lambda: "idle.prompt" in h.ids(), timeout=60, what="'still there?'")
        assert h.app.idle_resets == 0 and h.app.session.inputs["tracking"] == "1001"
        assert h.text("idle.prompt") == i18n.tr("idle.still_there", "en")
        h.tap("idle.continue")
        assert "idle.prompt" not in h.ids()
        assert h.app.idle_resets == 0 and h.screen == "track" and h.app.session.inputs["tracking"] == "1001"
        advance(1.1)
        h.wait(lambda: "idle.prompt" in h.ids(), timeout=60, what="'still there?' again")
        advance(h.app.still_there_s + 0.1)
        h.wait(lambda: h.app.idle_resets == 1, timeout=60, what="the wipe after no answer")
        assert h.screen == "home" and h.app.session.is_empty() and "idle.prompt" not in h.ids()


def test_language_buttons_keep_their_place() -> None:
    h = Harness(FixtureServices(), lang="ar")

    def places() -> dict[str, tuple[int, ...]]:
        h.frames(2)
        return {k: tuple(int(v) for v in h.find(k).to_window(*h.find(k).pos)) for k in ("lang.ar", "lang.ckb", "lang.en")}

    first = places()
    h.tap("lang.en")
    assert places() == first
    h.tap("lang.ckb")
    assert places() == first


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_filter_buttons_fit_their_words_and_start_at_the_reading_side(lang: str) -> None:
    h = Harness(FixtureServices(), lang=lang)
    h.tap("strip.large")  # the hardest case: large text
    h.tap("home.catalogue", to="catalogue")
    h.frames(3)
    chips = [w for k, w in h.ids().items() if k.startswith(("inst.", "kind."))]
    assert len(chips) >= 5
    for w in chips:
        w.texture_update()
        assert w.texture_size[0] <= w.width, f"{w.kid}: text {w.texture_size[0]} px in a {w.width} px button"
    first = h.find("inst.all")
    x, _ = first.to_window(first.x, first.y)
    view = first.parent.parent
    vx, _ = view.to_window(view.x, view.y)
    if lang == "ar":  # "All" is the rightmost chip and in view at the right edge
        assert x + first.width <= vx + view.width + 1 and x >= vx
    else:
        assert x >= vx - 1 and x + first.width <= vx + view.width


def test_buttons_show_they_are_pressed() -> None:
    from kivy.tests.common import UnitTestTouch

    h = Harness(FixtureServices(), lang="en")
    b = h.find("strip.contrast")
    normal = tuple(b.background_color)
    x, y = b.to_window(*b.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    h.frames(1)
    assert tuple(b.background_color) != normal and b.state == "down"
    touch.touch_up()
    h.frames(1)
    assert h.app.high_contrast  # the release acts: contrast toggles
