"""The message catalogue is complete in Arabic, Kurdish (Sorani) and English, the .po
parser refuses malformed files, and the shipped font draws every character used."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageFont, features

from contract.errors import UrError
from kiosk import i18n, ui_services
from kiosk.screens import keyboard, theme

SCREENS = Path(i18n.__file__).resolve().parent / "screens"
ARABIC = re.compile(r"[\u0600-\u06FF]")
LATIN = re.compile(r"[A-Za-z]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_keys() -> set[str]:
    """Every literal message key in the screen code, and every key built from a
    value set the service contract defines (kind.*, status.*, verdict.* ...)."""
    keys: set[str] = set()
    for py in SCREENS.glob("*.py"):
        src = py.read_text()
        keys |= set(re.findall(r'\bt\(\s*"([a-z_]+\.[a-zA-Z_.]+)"', src))
        keys |= set(re.findall(r'_key\s*=\s*"([a-z_]+\.[a-z_.]+)"', src))
        keys |= set(re.findall(r'\(\s*"\w+",\s*"([a-z]+\.[a-z_]+)"\s*\)', src))  # (name, key) tiles
        keys |= set(re.findall(r'"\w+":\s*"([a-z]+\.[a-z_]+)"', src))  # CAPTIONS
    keys |= {f"kind.{k}" for k in ui_services.KINDS}
    keys |= {f"hint.{t}" for t in ui_services.FIELD_TYPES}
    keys |= {f"hint.{t}" for t in ("tracking", "latin", "pin")}
    keys |= set(ui_services.ERROR_KEYS) | set(ui_services.PRINT_PROBLEMS)
    keys |= {f"pay.stage.{s}" for s in (*ui_services.PAY_STAGES, "starting")}
    keys |= {f"status.{s}" for s in ui_services.TRACK_STATUSES}
    keys |= {f"verdict.{v}" for v in ui_services.VERDICTS}
    keys |= {f"verdict.{v}.help" for v in ui_services.VERDICTS}
    keys |= {f"letter.status.{s}" for s in ui_services.LETTER_STATUSES}
    keys |= {f"strip.paper.{p}" for p in ui_services.PAPER_STATES}
    keys |= {f"device.{d}" for d in ui_services.DEVICES}
    keys |= {f"device.state.{s}" for s in ui_services.DEVICE_STATES}
    keys |= {f"complaint.cat.{c}" for c in ui_services.COMPLAINT_CATEGORIES}
    keys |= {f"pin.role.{r}" for r in ("cashier", "technician")}
    keys |= {f"cashier.{h}_done" for h in ("void", "refund")}
    return keys


def test_raqm_is_available_for_arabic_shaping() -> None:
    # Kivy's PIL text provider shapes Arabic/Sorani only through raqm (libfribidi0).
    assert features.check("raqm"), "Pillow has no raqm: install libfribidi0"


def test_code_scan_finds_keys() -> None:
    keys = used_keys()
    # The scan itself must work, or the completeness test below proves nothing.
    for k in ("home.title", "nav.back", "catalogue.search", "pay.stage.unknown", "track.number"):
        assert k in keys


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_used_key_is_translated(lang: str) -> None:
    po = i18n.parse_po(i18n.po_path(lang).read_text(encoding="utf-8"), str(i18n.po_path(lang)))
    missing = sorted(used_keys() - set(po.entries))
    assert not missing, f"{lang}: missing translations: {missing}"
    empty = sorted(k for k, e in po.entries.items() if not e.msgstr.strip() or e.fuzzy)
    assert not empty, f"{lang}: empty or fuzzy translations: {empty}"


def test_all_languages_have_the_same_keys_and_placeholders() -> None:
    cats = {lang: i18n.catalogue(lang) for lang in i18n.LANGS}
    en = cats["en"]
    for lang, cat in cats.items():
        assert set(cat) == set(en), f"{lang} differs from en: {sorted(set(cat) ^ set(en))}"
        for k, text in cat.items():
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[k])), (lang, k, text)


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
    assert i18n.tr("service.duration", "en", n=7) == "Expected duration: 7 days"
    ar = i18n.tr("track.as_of", "ar", at="2026-05-01 10:06")
    assert "\u20662026-05-01 10:06\u2069" in ar  # kept left-to-right inside Arabic
    assert i18n.tr("no.such.key", "en") == "no.such.key"
    with pytest.raises(UrError, match="unknown language"):
        i18n.tr("nav.home", "fr")


@pytest.mark.parametrize("bad, why", [
    ('msgid "a"\n', "has no msgstr"),
    ('msgstr "x"\n', "msgstr without a msgid"),
    ('msgid "a"\nmsgstr "x"\n\nmsgid "a"\nmsgstr "y"\n', "repeated"),
    ('msgid "a"\nmsgid_plural "b"\nmsgstr[0] "x"\n', "plural"),
    ('msgid "a"\nmsgstr x\n', "expected a quoted string"),
    ('msgid "a"\nmsgstr "x\n', "expected a quoted string"),
    ('hello\n', "unexpected line"),
    ('"orphan"\n', "continuation string outside an entry"),
])
def test_po_parser_rejects_malformed_files(bad: str, why: str) -> None:
    with pytest.raises(UrError, match=why) as e:
        i18n.parse_po(bad, "x.po")
    assert str(e.value).startswith("x.po:")


def test_po_parser_reads_continuations_fuzzy_and_escapes() -> None:
    po = i18n.parse_po('# c\nmsgid ""\nmsgstr "H\\n"\n\n#, fuzzy\nmsgid "k"\nmsgstr "a"\n"b \\"q\\""\n', "t.po")
    assert po.header == "H\n"
    assert po.entries["k"].msgstr == 'ab "q"' and po.entries["k"].fuzzy


def test_font_draws_every_character_the_screens_use() -> None:
    chars = set("".join(t for lang in i18n.LANGS for t in i18n.catalogue(lang).values()))
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

PO_PIECES = st.sampled_from(['msgid "', 'msgstr "', '"', "#, fuzzy", "# c", "\n", "\\", "\\n", "\\x4",
                             '"a"', "msgctxt", "msgstr[0]", " ", "ێ", "{n}", '\\"'])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(PO_PIECES, max_size=40).map("".join)))
def test_po_parser_never_crashes_on_garbage(text: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes warn in literal_eval
        try:
            po = i18n.parse_po(text, "fuzz.po")
        except UrError as e:
            assert str(e).startswith("fuzz.po")
        else:
            assert all(isinstance(k, str) and isinstance(v.msgstr, str) for k, v in po.entries.items())
