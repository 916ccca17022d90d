"""Screenshots of key screens in Arabic, Kurdish and English against golden images
(tolerance; UR_REGEN_GOLDEN=1 rewrites them), and a check that the text the kiosk
draws is shaped: Arabic and Sorani letters joined and in right-to-left order."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from kiosk.screens.theme import FONT_REGULAR
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness, compare_golden


def _ink(img: Image.Image, size: tuple[int, int] = (240, 60)) -> Image.Image:
    """Dark-on-light or light-on-dark glyphs -> a normalised ink mask of fixed size."""
    g = img.convert("L")
    box = g.getbbox()
    assert box, "nothing drawn"
    return g.crop(box).resize(size)


def _reference(text: str, engine: ImageFont.Layout) -> Image.Image:
    font = ImageFont.truetype(str(FONT_REGULAR), 48, layout_engine=engine)
    img = Image.new("L", (900, 120), 0)
    ImageDraw.Draw(img).text((10, 20), text, font=font, fill=255)
    return img


@pytest.mark.parametrize("text", ["مرحبا بكم في بوابة أور", "بەخێربێن بۆ دەروازەی ئوور", "ڵێڕەۆ ڤگچ"])
def test_kivy_text_is_shaped_like_raqm_not_like_unshaped_text(text: str) -> None:
    Harness(FixtureServices())  # window + PIL text provider
    from kivy.core.text import Label as CoreLabel

    lab = CoreLabel(text=text, font_name=str(FONT_REGULAR), font_size=48)
    lab.refresh()
    tex = lab.texture
    # The PIL provider draws white glyphs and puts the ink in the alpha channel,
    # rows top-down (the texture's uv flip is applied when it is drawn).
    mine = _ink(Image.frombytes("RGBA", tex.size, tex.pixels).getchannel("A"))
    shaped = _ink(_reference(text, ImageFont.Layout.RAQM))
    unshaped = _ink(_reference(text, ImageFont.Layout.BASIC))
    d_shaped = sum(ImageStat.Stat(ImageChops.difference(mine, shaped)).mean)
    d_unshaped = sum(ImageStat.Stat(ImageChops.difference(mine, unshaped)).mean)
    assert d_shaped < 0.5 * d_unshaped, (d_shaped, d_unshaped)


def journey_shots(tmp: Path, lang: str) -> dict[str, Path]:
    svc = FixtureServices()
    h = Harness(svc, lang=lang)
    shots = {"home": h.screenshot(tmp / f"home-{lang}.png")}
    h.app.session.service_id = "passport-ordinary"
    h.app.go("service")
    shots["service"] = h.screenshot(tmp / f"service-{lang}.png")
    h.tap("service.apply")
    h.tap("field.full_name")
    h.type("عەلی" if lang == "ckb" else "علي")
    h.tap("field.mobile")
    h.type("0770")
    h.tap("apply.next")
    shots["form-errors"] = h.screenshot(tmp / f"form-{lang}.png")
    return shots


@pytest.mark.parametrize("lang", ["ar", "ckb", "en"])
def test_key_screens_match_golden_images(lang: str, tmp_path: Path) -> None:
    for name, shot in journey_shots(tmp_path, lang).items():
        compare_golden(shot, f"{name}-{lang}")


def test_receipt_and_verdict_match_golden_images(tmp_path: Path) -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="ckb")
    from kiosk.screens.citizen import start_payment

    start_payment(h.app, "KSK1-000001", 91_000, back="home")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="approval")
    h.tap("pay.receipt")
    compare_golden(h.screenshot(tmp_path / "receipt.png"), "receipt-ckb")
    h.app.wipe()
    h.tap("home.verify")
    svc.scans.append("UR1:DOC-GOOD")
    h.wait(lambda: "verify.verdict" in h.ids(), what="verdict")
    compare_golden(h.screenshot(tmp_path / "verify.png"), "verify-ckb")
