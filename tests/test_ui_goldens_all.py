"""Proof on every screen: a golden screenshot of every citizen, cashier and technician
screen (each in a state that shows what it is for: a verdict, a result, a receipt) in
Arabic, Kurdish and English at normal text, again at large text, and in high
contrast; and a check that no label's words are cut off at large text.

A missing golden FAILS (never skips): the set is the proof. After a change to the
look, regenerate and look at the images before committing them:

    UR_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q -p no:randomly -n 2 tests/test_ui_goldens_all.py

Goldens are kept small (shrunk to GOLDEN_WIDTH px wide and quantized to a palette):
the comparison shrinks the new screenshot the same way, then allows the faint
anti-aliasing differences of another Mesa build (`compare_golden`'s tolerance).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.ui_fixtures import INST, FixtureServices
from tests.ui_harness import GOLDEN_DIR, Harness

SCREENS_DIR = GOLDEN_DIR / "screens"
GOLDEN_WIDTH = 640
GOLDEN_COLOURS = 48
LANGS = ("ar", "ckb", "en")
# (variant, languages): every screen in every language at normal and at large text
# (where words wrap and clip first); high contrast only changes colours, so one
# right-to-left and one left-to-right language show it.
VARIANTS: dict[str, tuple[str, ...]] = {"normal": LANGS, "large": LANGS, "contrast": ("ar", "en")}
GOOD_FORM = {"full_name": "علي حسن كاظم", "national_id": "199012345678", "mobile": "07701234567",
             "delivery": "office"}


# -- reaching every screen ------------------------------------------------------
def _submit(h: Any) -> str:
    """One application filed through the services (the data a later screen looks up)."""
    return str(h.app.services.submit_application("passport-ordinary", dict(GOOD_FORM)).tracking)


def _act(h: Any, screen: str, **inputs: str) -> None:
    h.app.session.inputs.update(inputs)
    h.app.go(screen)
    h.app.current_screen().act()


def home(h: Any) -> None:
    h.app.go("home")


def catalogue(h: Any) -> None:
    h.app.go("catalogue")


def service(h: Any) -> None:
    h.app.session.service_id = "passport-ordinary"
    h.app.go("service")


def apply_errors(h: Any) -> None:
    s = h.app.session
    s.service_id = "passport-ordinary"
    h.app.go("apply")
    s.form.update({"full_name": "علي", "mobile": "0770"})
    h.app.current_screen().next()  # the services' checks: errors under the fields


def review(h: Any) -> None:
    s = h.app.session
    s.service_id, s.form = "passport-ordinary", dict(GOOD_FORM)
    h.app.go("review")


def submitted(h: Any) -> None:
    """Filed, with the fee to pay and the queue ticket of a service that needs a visit
    (the test catalogue's services print none: the ticket is the fixture's)."""
    from kiosk.ui_services import VisitTicket

    review(h)
    h.app.current_screen().submit()
    s = h.app.session
    s.submitted = replace(s.submitted, ticket=VisitTicket(s.submitted.tracking, INST["moi-passports"].name, 25, True))
    h.app.go("submitted")


def _paid(h: Any) -> None:
    from kiosk.screens.citizen import start_payment

    start_payment(h.app, _submit(h), 91_000, back="home")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="the payment's approval")


def pay(h: Any) -> None:
    _paid(h)


def receipt(h: Any) -> None:
    _paid(h)
    h.app.go("receipt")


def track(h: Any) -> None:
    _act(h, "track", tracking=_submit(h))


def _verdict(code: str) -> Callable[[Any], None]:
    def reach(h: Any) -> None:
        h.app.go("verify")
        h.app.services.scans.append(code)  # through the scanner, as a citizen does it
        h.wait(lambda: "verify.verdict" in h.ids(), what="the verdict")
    return reach


def letter(h: Any) -> None:
    _act(h, "letter", letter_no="1234", letter_date="2026-04-20")


def fines(h: Any) -> None:
    _act(h, "fines", plate="12345 BGD")


def complaint(h: Any) -> None:
    _act(h, "complaint", complaint_category="delay", complaint_text="تأخير في المعاملة",
         complaint_mobile="07701234567")


def card(h: Any) -> None:
    h.app.session.service_id = "passport-ordinary"
    h.app.go("card")
    h.app.current_screen().read()
    h.wait(lambda: "card.reason" in h.ids(), what="the card's fallback reason")


def pin(h: Any) -> None:
    h.app.pin_role = "cashier"
    h.app.go("pin")


def _staff(h: Any, role: str) -> Any:
    h.app.staff_role = role
    h.app.go(role)
    return h.app.current_screen()


def cashier(h: Any) -> None:
    h.app.services.open_shift("cashier")
    h.app.session.inputs["reference"] = _submit(h)
    _staff(h, "cashier").find()


def cashier_end_of_day(h: Any) -> None:
    _paid(h)
    screen = _staff(h, "cashier")
    screen.end_of_day()
    screen.end_of_day_confirmed()


def technician(h: Any) -> None:
    _staff(h, "technician")


def out_of_service(h: Any) -> None:
    h.app.set_out_of_service(True)


# state -> (the screen it is on, how to get there)
STATES: dict[str, tuple[str, Callable[[Any], None]]] = {
    "home": ("home", home), "catalogue": ("catalogue", catalogue), "service": ("service", service),
    "apply-errors": ("apply", apply_errors), "review": ("review", review),
    "submitted": ("submitted", submitted), "pay": ("pay", pay), "receipt": ("receipt", receipt),
    "track": ("track", track), "verify-valid": ("verify", _verdict("UR1:DOC-GOOD")),
    "verify-revoked": ("verify", _verdict("UR1:DOC-REVOKED")), "letter": ("letter", letter),
    "fines": ("fines", fines), "complaint": ("complaint", complaint), "card": ("card", card),
    "pin": ("pin", pin), "cashier": ("cashier", cashier),
    "cashier-end-of-day": ("cashier", cashier_end_of_day), "technician": ("technician", technician),
    "out-of-service": ("out_of_service", out_of_service),
}


def reach(h: Any, state: str, lang: str, large: bool = False, contrast: bool = False) -> None:
    """A clean kiosk (fresh services and session) in the look asked for, then the state."""
    app = h.app
    app.wipe()
    app.set_out_of_service(False)
    app.services = h.services = FixtureServices()
    app.lang, app.large_text, app.high_contrast = lang, large, contrast
    assert app.strip is not None
    app.strip.state = None  # the new services' strip
    app.rebuild()
    screen, setup = STATES[state]
    setup(h)
    app.strip.state = None  # the strip as after the setup (its 60 s poll comes at any moment)
    app.strip.refresh()
    h.frames(3)
    assert h.screen == screen, f"{state}: on {h.screen}, not {screen}"


# -- clipped text ---------------------------------------------------------------
def _core(w: Any, text: str, width: float | None) -> tuple[float, float]:
    """The size `text` needs in label `w`'s font, wrapped at `width` (None: one line)."""
    from kivy.uix.label import Label

    probe = Label(text=text, font_name=w.font_name, font_size=w.font_size, bold=w.bold, italic=w.italic,
                  padding=w.padding, markup=w.markup, line_height=w.line_height, halign=w.halign,
                  text_size=(width, None))
    probe.texture_update()
    return float(probe.texture_size[0]), float(probe.texture_size[1])


def clipped_labels(root: Any) -> list[str]:
    """Every label (buttons too) under `root` whose words do not fit its box: the text
    laid out at the label's own wrap width needs more height than the box has (Kivy
    draws it past the edge, or drops the lines when the height is fixed), one line
    is wider than the box, or a word is wider than the wrap width (Kivy then breaks
    it between letters). Empty texts and hidden widgets are skipped."""
    from kivy.uix.label import Label

    found = []
    for w in root.walk(restrict=True):
        if not isinstance(w, Label) or not w.text.strip() or w.opacity == 0 or w.width <= 1:
            continue
        wrap, tall = w.text_size
        box_h = w.height if tall is None else min(w.height, tall)  # Kivy drops lines past text_size
        need_w, need_h = _core(w, w.text, wrap)
        where = f"{getattr(w, 'kid', '') or type(w).__name__} {w.text[:40]!r}"
        if need_h > box_h + 1:
            found.append(f"{where}: text {need_h:.0f} px high in a {box_h:.0f} px box")
        elif need_w > w.width + 1:
            found.append(f"{where}: text {need_w:.0f} px wide in a {w.width:.0f} px box")
        elif wrap is not None:
            wide = [word for word in w.text.split() if _core(w, word, None)[0] > wrap + 1]
            if wide:
                found.append(f"{where}: the word {wide[0]!r} is wider than its {wrap:.0f} px line "
                             "(broken between letters)")
    return found


# -- goldens --------------------------------------------------------------------
def shrink(path: Path) -> Image.Image:
    """The golden's form of a screenshot: GOLDEN_WIDTH px wide, a palette of colours."""
    img = Image.open(path).convert("RGB")
    img = img.resize((GOLDEN_WIDTH, round(img.height * GOLDEN_WIDTH / img.width)), Image.Resampling.LANCZOS)
    return img.quantize(GOLDEN_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def golden_name(state: str, lang: str, variant: str) -> str:
    return f"{state}-{lang}" + ("" if variant == "normal" else f"-{variant}")


def check_golden(shot: Path, name: str, max_mean: float = 1.5, max_tile: float = 6.0) -> str:
    """'' when the shrunk screenshot matches tests/golden/ui/screens/<name>.png within the
    tolerance of `ui_harness.compare_golden`, else why not (UR_REGEN_GOLDEN=1 writes it)."""
    golden = SCREENS_DIR / f"{name}.png"
    small = shrink(shot)
    if os.environ.get("UR_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        small.save(golden, optimize=True)
        return ""
    if not golden.exists():
        return f"{name}: no golden image {golden.relative_to(GOLDEN_DIR.parent.parent.parent)}"
    a, b = small.convert("RGB"), Image.open(golden).convert("RGB")
    if a.size != b.size:
        return f"{name}: size {a.size} differs from the golden's {b.size}"
    diff = ImageChops.difference(a, b).convert("L")
    mean = ImageStat.Stat(diff).mean[0]
    worst = diff.resize((max(1, a.width // 16), max(1, a.height // 16)), Image.Resampling.BOX).getextrema()[1]
    if mean > max_mean or worst > max_tile:
        out = shot.with_name(f"{name}-diff.png")
        diff.point(lambda v: min(255, v * 4)).save(out)
        return f"{name}: differs (mean {mean:.2f} > {max_mean} or worst 16px tile {worst} > {max_tile}); diff: {out}"
    return ""


CASES = [(variant, lang) for variant, langs in VARIANTS.items() for lang in langs]


@pytest.mark.parametrize(("variant", "lang"), CASES, ids=[f"{v}-{lg}" for v, lg in CASES])
def test_every_screen_matches_its_golden(variant: str, lang: str, tmp_path: Path) -> None:
    h = Harness(FixtureServices(), lang=lang)
    problems = []
    for state in STATES:
        reach(h, state, lang, large=variant == "large", contrast=variant == "contrast")
        name = golden_name(state, lang, variant)
        problems.append(check_golden(h.screenshot(tmp_path / f"{name}.png"), name))
    problems = [p for p in problems if p]
    assert not problems, f"{len(problems)} of {len(STATES)} screens:\n" + "\n".join(problems) + \
        "\n(after a change to the look: UR_REGEN_GOLDEN=1, then look at the images before committing)"


def test_no_golden_is_left_over() -> None:
    """Every image in the folder belongs to a screen state here (a renamed state's old
    golden would otherwise stay in the repository unchecked)."""
    wanted = {f"{golden_name(s, lang, v)}.png" for v, langs in VARIANTS.items() for lang in langs for s in STATES}
    have = {p.name for p in SCREENS_DIR.glob("*.png")}
    assert have <= wanted, sorted(have - wanted)
    assert wanted <= have, f"missing goldens: {sorted(wanted - have)}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_label_is_clipped_at_large_text(lang: str) -> None:
    h = Harness(FixtureServices(), lang=lang)
    problems = []
    for state in STATES:
        reach(h, state, lang, large=True)
        problems += [f"{state}: {p}" for p in clipped_labels(h.root)]
    assert not problems, f"{len(problems)} clipped labels at large text ({lang}):\n" + "\n".join(problems)


def test_the_clip_check_finds_a_clipped_label() -> None:
    """The check above can fail: a button too small for its words, a one-line label too
    narrow for its text, a word wider than its line; and a label that fits passes."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    Harness(FixtureServices())  # the window and the shaping text provider
    box = BoxLayout()
    tight = Button(text="Verify a document now", font_size=30, size_hint=(None, None), size=(120, 60))
    tight.text_size = (104, None)
    narrow = Label(text="Queued: 12", font_size=30, size_hint=(None, None), size=(60, 60))
    word = Label(text="Listen", font_size=30, size_hint=(None, None), size=(70, 400))
    word.text_size = (40, None)
    fits = Label(text="OK", font_size=20, size_hint=(None, None), size=(200, 60))
    fits.text_size = (200, None)
    for w in (tight, narrow, word, fits):
        box.add_widget(w)
    found = clipped_labels(box)
    assert len(found) == 3, found
    assert "px high" in found[0] and "px wide" in found[1] and "'Listen'" in found[2], found
