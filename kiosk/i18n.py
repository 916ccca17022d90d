"""The kiosk's message catalogue: gettext for Arabic, Kurdish (Sorani) and English.

Every string a screen shows comes from here, looked up by a stable key (the
msgid, e.g. `home.title`); English is a translation like the others, so a
missing English text is caught the same way as a missing Arabic one. The
catalogues are ordinary gettext: `kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`,
extracted and compiled with Babel (`make i18n`, config `babel.cfg`), and the
compiled `.mo` files are shipped and read by the standard library's gettext at
run time. Counts go through `ntr` (gettext `ngettext`), so Arabic gets its six
CLDR plural forms (zero, one, two, few, many, other) and Kurdish and English two.
Arabic and Kurdish are written right to left and the screens mirror their layout.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from contract.errors import UrError

LANGS: tuple[str, ...] = ("ar", "ckb", "en")
RTL_LANGS: frozenset[str] = frozenset({"ar", "ckb"})
DEFAULT_LANG = "ar"
LANG_NAMES: dict[str, str] = {"ar": "العربية", "ckb": "کوردی", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "kiosk"
PLURAL_SUFFIX = ".plural"  # msgid_plural of a counted key: the key + this suffix


def N_(key: str) -> str:
    """Marks a message key kept in a variable (a screen's title key) for extraction;
    returns it unchanged: the lookup happens where the text is shown."""
    return key


def is_rtl(lang: str) -> bool:
    return lang in RTL_LANGS


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue for `lang` (a missing or damaged .mo is named, never a traceback)."""
    if lang not in LANGS:
        raise UrError(f"unknown language {lang!r} (expected one of {', '.join(LANGS)})")
    path = mo_path(lang)
    try:
        with path.open("rb") as f:
            return gettext.GNUTranslations(f)
    except FileNotFoundError:
        raise UrError(f"message catalogue for {lang} missing: {path} (run `make i18n`)") from None
    except OSError as e:  # gettext reports a bad magic number as OSError
        raise UrError(f"message catalogue for {lang} not readable: {path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError, IndexError) as e:
        raise UrError(f"message catalogue for {lang} damaged: {path}: {e}") from None


def catalogue(lang: str) -> dict[str, str]:
    """msgid -> translated text for `lang`, singular messages only (what the .mo holds)."""
    cat = translations(lang)._catalog  # type: ignore[attr-defined]  # gettext keeps no public view
    return {k: v for k, v in cat.items() if isinstance(k, str) and k}


def plurals(lang: str) -> dict[str, tuple[str, ...]]:
    """msgid -> its plural forms, in the order of the catalogue's Plural-Forms rule."""
    cat = translations(lang)._catalog  # type: ignore[attr-defined]  # gettext keeps no public view
    forms: dict[str, dict[int, str]] = {}
    for k, v in cat.items():
        if isinstance(k, tuple):
            forms.setdefault(k[0], {})[k[1]] = v
    return {k: tuple(v[i] for i in sorted(v)) for k, v in forms.items()}


LRI, PDI = "\u2066", "\u2069"


def has_arabic_script(text: str) -> bool:
    return any("\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" for c in text)


def isolate(value: object, lang: str) -> str:
    """`value` as a left-to-right island inside right-to-left text.

    By the Unicode bidi rules, digits after an Arabic letter become Arabic numbers
    and a hyphen between them is not kept inside the number, so "2026-05-01"
    shows as "01-05-2026" in an Arabic sentence. Dates, tracking and receipt
    numbers are therefore wrapped in LRI ... PDI (which draw nothing).
    """
    text = str(value)
    if lang in RTL_LANGS and text and not has_arabic_script(text):
        return LRI + text + PDI
    return text


def _fill(text: str, lang: str, params: dict[str, object]) -> str:
    if not params:
        return text
    try:
        return text.format(**{k: isolate(v, lang) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return text


def tr(key: str, lang: str, **params: object) -> str:
    """The text for `key` in `lang`, with {placeholders} filled (data values kept
    left-to-right inside Arabic and Kurdish text). A key missing from the catalogue
    shows as the key itself (and the catalogue test fails on it)."""
    return _fill(translations(lang).gettext(key), lang, params)


def ntr(key: str, n: int, lang: str, **params: object) -> str:
    """The text for a count: gettext `ngettext` picks the plural form of `n` by the
    catalogue's CLDR rule; `{n}` is filled with the count."""
    return _fill(translations(lang).ngettext(key, key + PLURAL_SUFFIX, n), lang, {"n": n, **params})


def money(amount: int, lang: str) -> str:
    """Whole Iraqi dinars with thousands separators, e.g. `25,000 IQD` / `25,000 د.ع`."""
    return tr("money.iqd", lang, amount=f"{amount:,}")
