"""The kiosk's look, measured on the real app: contrast of every text/background pair
of both themes (WCAG 2, computed from the palettes), 15 mm touch targets at the
panel's DPI on every screen, only palette colours on screen, icons on tiles and
service kinds, the step indicator of the application journey, the card animation
on a driven clock, and the verify screen's scanner picture and verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.errors import UrError
from kiosk import i18n
from kiosk.money_format import format_amount
from kiosk.screens import theme
from kiosk.ui_services import VERDICTS, Verification
from tests.test_ui_kiosk_mode import driven_clock
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def test_wcag_contrast_is_computed_as_the_standard_says() -> None:
    black, white = (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 1.0)
    assert theme.contrast_ratio(black, white) == pytest.approx(21.0)
    assert theme.contrast_ratio(white, white) == pytest.approx(1.0)
    # WCAG's own example: #777777 on white is just under 4.5:1
    grey = (0x77 / 255, 0x77 / 255, 0x77 / 255, 1.0)
    assert theme.contrast_ratio(grey, white) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("look", sorted(theme.PALETTES))
def test_every_text_and_background_pair_has_at_least_4_5_to_1(look: str) -> None:
    pal = theme.PALETTES[look]
    roles = set(theme.palette_roles())
    low = []
    for fg, bg in theme.TEXT_PAIRS:
        assert fg in roles and bg in roles, (fg, bg)
        ratio = theme.contrast_ratio(getattr(pal, fg), getattr(pal, bg))
        if ratio < theme.MIN_CONTRAST:
            low.append(f"{look}: {fg} on {bg} is {ratio:.2f}:1")
    assert not low, low
    # the placeholder is not drawn like typed text, the QR's hint is dark on its light panel
    assert pal.hint != pal.text
    assert theme.relative_luminance(pal.qr_panel) > 0.9 > theme.relative_luminance(pal.qr_text) + 0.5


def test_touch_target_size_follows_the_dpi_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert theme.mm_to_px(15, 96) == 57 and theme.mm_to_px(15, 200) == 119
    assert theme.touch_px(96) == theme.LAYOUT_MIN_TOUCH  # the reference panel: the layout's 64 px
    assert theme.touch_px(200) == 119
    monkeypatch.delenv("UR_KIOSK_DPI", raising=False)
    assert theme.kiosk_dpi() == theme.DEFAULT_DPI
    monkeypatch.setenv("UR_KIOSK_DPI", "141")
    assert theme.kiosk_dpi() == 141
    for bad in ("big", "10", "9000"):
        monkeypatch.setenv("UR_KIOSK_DPI", bad)
        with pytest.raises(UrError, match="UR_KIOSK_DPI"):
            theme.kiosk_dpi()


def test_amounts_with_arabic_indic_digits() -> None:
    assert format_amount(25_000, "ar", True).startswith("٢٥٬٠٠٠")
    assert "25,000" in format_amount(25_000, "ar", False)
    assert format_amount(25_000, "en", True) == "25,000 IQD"  # English keeps its digits


class LookServices(FixtureServices):
    """The fixture catalogue, with any verdict on demand: `UR1:V:<VERDICT>`."""

    def verify_document(self, text: str) -> Verification:
        if text.startswith("UR1:V:"):
            base = super().verify_document("UR1:DOC-GOOD")
            return Verification(text[6:], base.document_type, base.issuer, base.fields)
        return super().verify_document(text)


def screens_in_every_state(h: Any, svc: LookServices) -> Iterator[str]:
    """Visit every screen of the app (citizen, staff, out of service), and the ones
    with answers in their answered state; yields a name for each view."""
    app = h.app
    app.session.service_id = "passport-ordinary"
    for name in app.sm.screen_names:
        if name in ("cashier", "technician"):
            app.staff_role = name
        app.go(name)
        h.frames(2)
        yield name
    app.staff_role = ""
    app.out_of_service = False
    app.go("verify")
    svc.scans.append("UR1:DOC-REVOKED")
    h.wait(lambda: "verify.verdict" in h.ids(), timeout=30, what="a verdict")
    yield "verify+verdict"
    app.go("fines")
    app.session.inputs["plate"] = "12345 BGD"
    app.current_screen().act()
    h.frames(2)
    yield "fines+results"


def _visible_buttons(root: Any) -> Iterator[Any]:
    from kivy.uix.button import Button

    for w in root.walk(restrict=True):
        if isinstance(w, Button) and getattr(w, "kid", "") and not w.disabled:
            yield w


@pytest.mark.parametrize("contrast", [False, True], ids=["normal", "high_contrast"])
def test_every_button_on_every_screen_is_15_mm_at_the_dpi(contrast: bool) -> None:
    px = theme.touch_px(theme.kiosk_dpi())
    assert px >= theme.mm_to_px(theme.TOUCH_MM, theme.kiosk_dpi())
    svc = LookServices()
    h = Harness(svc, lang="ar")
    if contrast:
        h.tap("strip.contrast")
    small, seen = [], 0
    for view in screens_in_every_state(h, svc):
        for b in _visible_buttons(h.root):
            seen += 1
            if b.width < px or b.height < px:
                small.append(f"{view}: {b.kid} {b.width:.0f}x{b.height:.0f} px")
    assert seen > 100  # the walk really met the screens' buttons (keyboards included)
    assert not small, f"smaller than {theme.TOUCH_MM} mm ({px} px at {theme.kiosk_dpi()} dpi): {small}"


@pytest.mark.parametrize("contrast", [False, True], ids=["normal", "high_contrast"])
def test_screens_draw_text_only_in_palette_colours_checked_for_contrast(contrast: bool) -> None:
    """Every label's and button's text colour is a text role of TEXT_PAIRS (so the
    contrast test above covers what is on screen): no stray white-on-white."""
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    svc = LookServices()
    h = Harness(svc, lang="en")
    if contrast:
        h.tap("strip.contrast")
    pal = h.app.palette
    allowed = {tuple(getattr(pal, fg)) for fg, _ in theme.TEXT_PAIRS}
    stray = []
    for view in screens_in_every_state(h, svc):
        for w in h.root.walk(restrict=True):
            if isinstance(w, Label) and w.text.strip() and tuple(w.color) not in allowed:
                kind = "button" if isinstance(w, Button) else "label"
                stray.append(f"{view}: {kind} {getattr(w, 'kid', '') or w.text[:20]!r} {tuple(w.color)}")
    assert not stray, stray


def test_home_tiles_and_service_kinds_carry_icons() -> None:
    from kiosk.screens.icons import ICONS

    h = Harness(LookServices(), lang="ar")
    tiles = {k: w for k, w in h.ids().items() if k.startswith("home.") and hasattr(w, "on_press")
             and k != "home.staff_corner"}
    assert len(tiles) == 6
    icons = {k: getattr(w, "icon_name", "") for k, w in tiles.items()}
    assert all(icons.values()) and len(set(icons.values())) == 6, icons
    assert getattr(h.find("strip.home"), "icon_name", "") == "home"
    assert h.find("strip.language_icon").icon_name == "language"
    h.tap("home.catalogue", to="catalogue")
    from kiosk.ui_services import KINDS

    for kind in KINDS:
        assert kind in ICONS and getattr(h.find(f"kind.{kind}"), "icon_name", "") == kind
    h.tap("svc.passport-ordinary", to="service")
    assert h.find("service.kind_icon").icon_name in ICONS


def test_step_indicator_follows_the_application_journey() -> None:
    svc = LookServices()
    h = Harness(svc, lang="ckb")

    def steps() -> tuple[str, dict[str, str]]:
        box = h.find("steps")
        return box.current, {k[5:]: w.state for k, w in h.ids().items() if k.startswith("step.")}

    h.app.session.service_id = "passport-ordinary"
    h.app.go("service")
    assert steps() == ("service", {"service": "current", "form": "todo", "review": "todo",
                                   "pay": "todo", "receipt": "todo"})
    h.tap("service.apply", to="apply")
    assert steps()[0] == "form" and steps()[1]["service"] == "done"
    h.app.session.form.update({"full_name": "عەلی حەسەن", "national_id": "111122223333",
                               "mobile": "07701234567", "delivery": "office"})
    h.tap("apply.next", to="review")
    assert steps()[0] == "review"
    h.tap("review.submit", to="submitted")
    assert steps()[0] == "pay"
    h.tap("submitted.pay", to="pay")
    assert steps()[0] == "pay"
    h.wait(lambda: h.app.current_screen().stage == "approved", timeout=30, what="approval")
    h.tap("pay.receipt", to="receipt")
    current, states = steps()
    assert current == "receipt" and list(states.values()).count("done") == 4
    # a fine is no application: its payment shows no journey
    h.tap("receipt.done", to="home")
    h.tap("home.fines", to="fines")
    h.app.session.inputs["plate"] = "12345 BGD"
    h.app.current_screen().act()
    fine = next(k for k in h.ids() if k.startswith("fine.") and k.endswith(".pay"))
    svc.pay_outcome = "declined"
    h.tap(fine, to="pay")
    assert "steps" not in h.ids()


def test_the_card_animation_moves_on_the_driven_clock_and_stops_with_the_wait() -> None:
    svc = LookServices()
    svc.pay_step_s = 0.0
    gate: list[bool] = []
    original = svc.pay

    def slow_pay(reference: str, amount: int, lang: str = "ar") -> Iterator[Any]:
        for ev in original(reference, amount, lang=lang):
            yield ev
            if ev.stage == "insert_card":
                while not gate:  # the card is "in the slot" only when the test says
                    import time

                    time.sleep(0.01)
    svc.pay = slow_pay  # type: ignore[method-assign]  # the fixture's terminal waits for the test
    h = Harness(svc, lang="en")
    from kiosk.screens.citizen import start_payment

    with driven_clock() as advance:
        start_payment(h.app, "KSK1-000001", 91_000, back="home")
        def stage_is(stage: str) -> bool:
            advance(0.05)  # the pay screen reads the terminal's events on the clock
            return bool(h.app.current_screen().stage == stage)

        h.wait(lambda: stage_is("insert_card"), timeout=60, what="the card wait")  # generous: a loaded machine
        anim = h.find("pay.card_animation")
        seen = set()
        for _ in range(12):
            advance(0.2)
            h.frames(2)
            seen.add(round(anim.travel, 1))
        assert len(seen) >= 4 and max(seen) >= 0.9 and min(seen) <= 0.3, seen  # it slides in, again
        gate.append(True)
        h.wait(lambda: stage_is("approved"), timeout=60, what="approval")
        assert "pay.card_animation" not in h.ids()
        still = anim.travel
        advance(0.7)
        h.frames(3)
        assert anim.travel == still  # stopped with the wait: nothing animates off screen


VERDICT_ROLE = {"VALID": "ok", "REVOKED": "danger", "INVALID": "danger", "EXPIRED": "warning",
                "NOT_YET_VALID": "warning", "STALE": "warning", "UNKNOWN_KEY": "neutral"}
VERDICT_MARK = {"ok": "check", "danger": "cross", "warning": "alert", "neutral": "question"}


def _pixel(shot: Path, x: float, y: float, height: int) -> tuple[int, int, int]:
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    return img.getpixel((int(x), int(height - y)))  # type: ignore[return-value]  # RGB image: a triple


def _close(rgb: tuple[int, int, int], color: Any) -> bool:
    return all(abs(a - round(b * 255)) <= 3 for a, b in zip(rgb, color[:3], strict=False))


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_verify_shows_where_the_scanner_is_and_every_verdict_large(lang: str, tmp_path: Path) -> None:
    assert set(VERDICT_ROLE) == set(VERDICTS)
    svc = LookServices()
    h = Harness(svc, lang=lang)
    h.tap("home.verify", to="verify")
    pal = h.app.palette
    picture = h.find("verify.kiosk_picture")
    assert h.text("verify.scanner_here") == i18n.tr("verify.scanner_here", lang)
    sx, sy, sw, sh = picture.scanner_box()
    wx, wy = picture.to_window(sx + sw / 2, sy + 4)
    shot = h.screenshot(tmp_path / "verify-idle.png")
    assert _close(_pixel(shot, wx, wy, h.window.height), pal.ok)  # the scanner window, lit
    for verdict, role in VERDICT_ROLE.items():
        svc.scans.append(f"UR1:V:{verdict}")
        h.wait(lambda: "verify.verdict" in h.ids(), timeout=30, what=f"verdict {verdict}")
        panel = h.find("verify.verdict_panel")
        assert panel.role == role
        assert h.find("verify.verdict_icon").icon_name == VERDICT_MARK[role]
        word = h.find("verify.verdict")
        assert word.text == i18n.tr(f"verdict.{verdict}", lang)
        assert word.font_size == h.app.size("huge")
        assert theme.contrast_ratio(tuple(word.color), getattr(pal, role)) >= theme.MIN_CONTRAST
        x, y = panel.to_window(panel.x + 6, panel.y + 6)
        shot = h.screenshot(tmp_path / f"verify-{verdict}.png")
        assert _close(_pixel(shot, x, y, h.window.height), getattr(pal, role)), verdict
        h.tap("verify.again")
