"""The message catalogue is consistent across Arabic, Kurdish (Sorani) and English
(completeness against the screens: tests/test_i18n_catalogue.py), and the shipped
font draws every character used."""

from __future__ import annotations

import re
import string

import pytest
from PIL import ImageFont, features

from contract.errors import UrError
from kiosk import i18n
from kiosk.screens import keyboard, theme

ARABIC = re.compile(r"[\u0600-\u06FF]")
LATIN = re.compile(r"[A-Za-z]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_raqm_is_available_for_arabic_shaping() -> None:
    # Kivy's PIL text provider shapes Arabic/Sorani only through raqm (libfribidi0).
    assert features.check("raqm"), "Pillow has no raqm: install libfribidi0"


def test_all_languages_have_the_same_keys_and_placeholders() -> None:
    cats = {lang: i18n.catalogue(lang) for lang in i18n.LANGS}
    en = cats["en"]
    for lang, cat in cats.items():
        assert set(cat) == set(en), f"{lang} differs from en: {sorted(set(cat) ^ set(en))}"
        assert set(i18n.plurals(lang)) == set(i18n.plurals("en")), lang
        for k, text in cat.items():
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[k])), (lang, k, text)
        for k, forms in i18n.plurals(lang).items():
            # a form may spell the count out ("يومان"), never add a placeholder English lacks
            allowed = set(PLACEHOLDER.findall(i18n.plurals("en")[k][-1]))
            for text in forms:
                assert set(PLACEHOLDER.findall(text)) <= allowed, (lang, k, text)
            assert "n" in PLACEHOLDER.findall(forms[-1]) or lang == "ar", (lang, k)


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_arabic_script_translations_are_not_english_left_in(lang: str) -> None:
    cat, en = i18n.catalogue(lang), i18n.catalogue("en")
    bad = [k for k, text in cat.items()
           if LATIN.search(PLACEHOLDER.sub("", text)) and not ARABIC.search(text)]
    same = [k for k, text in cat.items() if text == en[k] and (LATIN.search(text) or ARABIC.search(text))]
    assert not bad, f"{lang}: untranslated (Latin only): {bad}"
    assert not same, f"{lang}: identical to English: {same}"


def test_kurdish_is_sorani_not_arabic() -> None:
    # Sorani uses letters Arabic does not (ە ێ ڵ ۆ ڕ ی ک); a catalogue copied from
    # Arabic would pass the other checks.
    text = "".join(i18n.catalogue("ckb").values())
    for letter in "ەێڵۆڕیک":
        assert letter in text, f"Sorani letter {letter} never used in the ckb catalogue"
    ar_same = [k for k, v in i18n.catalogue("ckb").items() if v == i18n.catalogue("ar")[k] and ARABIC.search(v)]
    assert len(ar_same) <= 3, f"ckb texts identical to Arabic: {ar_same}"


def test_tr_fills_placeholders_and_isolates_numbers_in_rtl() -> None:
    assert i18n.tr("service.fee_total", "en", amount="7") == "Total: 7"
    ar = i18n.tr("track.as_of", "ar", at="2026-05-01 10:06")
    assert "\u20662026-05-01 10:06\u2069" in ar  # kept left-to-right inside Arabic
    assert i18n.tr("no.such.key", "en") == "no.such.key"
    with pytest.raises(UrError, match="unknown language"):
        i18n.tr("nav.home", "fr")


def test_font_draws_every_character_the_screens_use() -> None:
    chars = set("".join(t for lang in i18n.LANGS for t in i18n.catalogue(lang).values()))
    chars |= set("".join(f for lang in i18n.LANGS for forms in i18n.plurals(lang).values() for f in forms))
    for rows in keyboard.LAYOUTS.values():
        for r in rows:
            chars |= set("".join(k for k in r if len(k) == 1))
    chars |= set(keyboard.LABELS.values()) | set("".join(i18n.LANG_NAMES.values()))
    chars -= set(string.whitespace)
    font = ImageFont.truetype(str(theme.FONT_REGULAR), 40, layout_engine=ImageFont.Layout.BASIC)
    notdef = bytes(font.getmask("\ue000"))
    missing = sorted(c for c in chars if bytes(font.getmask(c)) == notdef)
    assert not missing, f"no glyph in {theme.FONT_REGULAR.name} for {missing}"


def test_keyboard_keys_are_pure_edits() -> None:
    assert keyboard.apply_key("سل", "ا") == "سلا"
    assert keyboard.apply_key("سلا", keyboard.BACK) == "سل"
    assert keyboard.apply_key("abc", keyboard.CLEAR) == ""
    assert keyboard.apply_key("ab", keyboard.SPACE) == "ab "
    assert keyboard.apply_key("12", "3", max_length=2) == "12"
    assert keyboard.apply_key("A", "B", lower=True) == "Ab"
    assert keyboard.layout_for("national_id", "ar") == "digits"
    assert keyboard.layout_for("arabic_text", "en") == "ar"
    assert keyboard.layout_for("text", "ckb") == "ckb"
    assert keyboard.layout_for("plate", "ar") == "en"
