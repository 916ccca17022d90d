"""Kiosk mode: config, Escape/F1 do nothing, idle timeout wipes the citizen's data,
larger text and high contrast, finger-sized targets, RTL mirroring, and what the
screens show when a service is not available yet (real KioskServices)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kiosk import i18n
from kiosk.screens.theme import MIN_TOUCH
from kiosk.services.kiosk_services import KioskServices, check_conforms
from kiosk.store import KioskStore
from tests import support
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def test_production_kiosk_config_is_set_before_the_window() -> None:
    code = (
        "from kiosk.screens import kiosk_mode; kiosk_mode.configure()\n"
        "from kivy.config import Config\n"
        "print(Config.get('graphics','fullscreen'), Config.get('graphics','borderless'),"
        " Config.get('graphics','show_cursor'), Config.get('kivy','exit_on_escape'),"
        " Config.get('input','mouse'))\n"
    )
    env = {**support.kivy_env(), "PYTHONPATH": str(support.REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["auto", "1", "0", "0", "mouse,disable_multitouch"]


def test_escape_and_f1_do_nothing() -> None:
    from kivy.base import EventLoop
    from kivy.uix.settings import Settings

    h = Harness(FixtureServices(), lang="en")
    h.tap("home.track")
    assert h.window.dispatch("on_keyboard", 27, 0, "", []) is True  # consumed, not passed on
    assert h.window.dispatch("on_keyboard", 282, 0, "", []) is True
    h.frames(2)
    assert not EventLoop.quit
    assert h.screen == "track"
    assert h.app.open_settings() is False
    assert not [w for c in h.window.children for w in c.walk() if isinstance(w, Settings)]


@contextmanager
def driven_clock() -> Iterator[Callable[[float], None]]:
    """The app's Kivy clock moves only when the test says (`advance(seconds)`), so a
    timeout test does not depend on how fast this machine draws frames: with a real
    clock, slow frames on a loaded machine ate the margin. Frame pacing is off while it
    runs (it waits for the clock to move)."""
    from kivy.clock import Clock

    now = [Clock.time()]

    def advance(seconds: float) -> None:
        now[0] += seconds

    fps, Clock._max_fps = Clock._max_fps, 0
    Clock.time = lambda: now[0]  # an instance attribute over the class's time source
    try:
        yield advance
    finally:
        del Clock.time
        Clock._max_fps = fps


def test_idle_timeout_returns_home_and_wipes_everything() -> None:
    svc = FixtureServices()
    h = Harness(svc, idle_timeout=1.5, lang="ar")
    with driven_clock() as advance:
        h.tap("home.catalogue", to="catalogue")
        h.type("جواز")
        h.tap("svc.passport-ordinary", to="service")
        h.tap("service.apply", to="apply")
        h.type("علي")
        h.tap("lang.en")
        h.tap("strip.large")
        assert h.app.session.form["full_name"] == "علي"
        advance(1.4)
        h.frames(2)
        assert h.app.idle_resets == 0
        advance(0.2)
        h.wait(lambda: "idle.prompt" in h.ids(), what="'still there?' 1.6 s after the last touch")
        assert h.app.idle_resets == 0 and h.app.session.form["full_name"] == "علي"  # asked, not wiped
        advance(h.app.still_there_s + 0.1)
        h.wait(lambda: h.app.idle_resets == 1, what="the wipe after an unanswered 'still there?'")
    assert h.screen == "home"
    assert h.app.session.is_empty()
    assert h.app.lang == "ar" and not h.app.large_text
    h.tap("home.catalogue", to="catalogue")
    assert h.app.current_screen().fields["query"].value == ""
    assert h.text("field.query") == i18n.tr("catalogue.search_hint", "ar")  # the hint, not old text
    assert {k for k in h.ids() if k.startswith("svc.")} >= {"svc.passport-ordinary", "svc.national-card"}


def test_touches_keep_the_session_alive() -> None:
    """Every touch restarts the idle countdown: 16 taps a quarter second apart (twice the
    2 s timeout, on the driven clock) keep the session; untouched, it is wiped once the
    timeout has passed."""
    h = Harness(FixtureServices(), idle_timeout=2.0, lang="en")
    with driven_clock() as advance:
        h.tap("home.catalogue", to="catalogue")
        h.tap("field.query")  # the keyboard shows only while a field has focus
        for _ in range(16):
            advance(0.25)
            h.tap("key.A")
        assert h.app.idle_resets == 0 and h.screen == "catalogue"
        assert h.app.current_screen().fields["query"].value.startswith("A" * 16)
        advance(1.9)
        h.frames(2)
        assert h.app.idle_resets == 0  # 1.9 s after the last touch: still the citizen's
        advance(0.2)
        h.wait(lambda: "idle.prompt" in h.ids(), what="'still there?' 2.1 s after the last touch")
        assert h.app.idle_resets == 0
        advance(h.app.still_there_s + 0.1)
        h.wait(lambda: h.app.idle_resets == 1, what="the wipe after an unanswered 'still there?'")
        assert h.screen == "home"


def test_larger_text_and_high_contrast(tmp_path: Path) -> None:
    from PIL import Image

    h = Harness(FixtureServices(), lang="en")
    before = h.find("home.title").font_size
    h.tap("strip.large")
    assert h.find("home.title").font_size > before * 1.2
    h.tap("strip.contrast")
    shot = Image.open(h.screenshot(tmp_path / "contrast.png"))
    assert shot.getpixel((640, 1000)) == (0, 0, 0)  # black background
    h.tap("strip.contrast")
    shot = Image.open(h.screenshot(tmp_path / "normal.png"))
    assert shot.getpixel((640, 1000)) != (0, 0, 0)


def all_buttons_big_enough(h) -> list[str]:
    from kivy.uix.button import Button

    small = []
    for w in h.root.walk(restrict=True):
        if isinstance(w, Button) and (w.width < MIN_TOUCH or w.height < MIN_TOUCH):
            small.append(f"{h.screen}:{getattr(w, 'kid', '?')} {w.width:.0f}x{w.height:.0f}")
    return small


def test_touch_targets_are_finger_sized_on_every_screen() -> None:
    svc = FixtureServices()
    svc.applications["KSK1-000001"] = ("passport-ordinary", {})
    h = Harness(svc, lang="ar")
    small = all_buttons_big_enough(h)
    for name in ("catalogue", "track", "verify", "letter", "fines", "complaint"):
        h.app.go(name)
        h.frames(2)
        small += all_buttons_big_enough(h)
    h.app.session.service_id = "passport-ordinary"
    for name in ("service", "apply"):
        h.app.go(name)
        h.frames(2)
        small += all_buttons_big_enough(h)
    for role in ("cashier", "technician"):
        h.app.staff_role = role
        h.app.go(role)
        h.frames(2)
        small += all_buttons_big_enough(h)
    assert not small, small


def test_layout_is_mirrored_for_arabic_and_kurdish() -> None:
    h = Harness(FixtureServices(), lang="ar")

    def x(kid: str) -> float:
        w = h.find(kid)
        return float(w.to_window(*w.center)[0])

    assert x("lang.ar") < x("lang.en")  # the status strip is not mirrored: languages keep their place
    assert x("home.catalogue") > x("home.verify")
    assert h.find("home.title").halign == "right"
    h.tap("lang.ckb")
    assert x("home.catalogue") > x("home.verify")
    h.tap("lang.en")
    assert x("lang.ar") < x("lang.en")
    assert x("home.catalogue") < x("home.verify")
    assert h.find("home.title").halign == "left"


def test_real_kiosk_services_say_what_is_not_available(tmp_path: Path) -> None:
    services = KioskServices(KioskStore(tmp_path / "kiosk"))
    check_conforms(services)
    check_conforms(FixtureServices())
    h = Harness(services, lang="en")
    assert h.text("strip.online") == i18n.tr("strip.offline", "en")
    assert h.text("strip.paper") == i18n.tr("strip.paper.unknown", "en")
    h.tap("home.catalogue")
    assert h.text("catalogue.error").startswith(i18n.tr("err.not_available", "en"))
    h.app.session.pay_reference, h.app.session.pay_amount = "X", 1000
    h.app.go("pay")
    h.wait(lambda: h.app.current_screen().stage == "error", what="error stage")
    assert h.text("pay.stage") == i18n.tr("pay.stage.error", "en")
    assert h.text("pay.detail") == i18n.tr("err.not_available", "en")
    h.tap("strip.home")
    h.staff_entrance("cashier")
    h.type("1234")
    h.tap("pin.ok", to="pin")
    assert h.text("pin.error").startswith(i18n.tr("err.not_available", "en"))
