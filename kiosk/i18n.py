"""The kiosk's message catalogue: gettext .po files for Arabic, Kurdish (Sorani) and English.

Every string a screen shows comes from here, looked up by a stable key (the
msgid, e.g. `home.title`); English is a translation like the others, so a
missing English text is caught the same way as a missing Arabic one. The .po
files are read by a small parser (no compiled .mo needed on the kiosk); a
malformed file is rejected naming the file and line. Arabic and Kurdish are
written right to left and the screens mirror their layout.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from contract.errors import UrError

LANGS: tuple[str, ...] = ("ar", "ckb", "en")
RTL_LANGS: frozenset[str] = frozenset({"ar", "ckb"})
DEFAULT_LANG = "ar"
LANG_NAMES: dict[str, str] = {"ar": "العربية", "ckb": "کوردی", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "kiosk"


def is_rtl(lang: str) -> bool:
    return lang in RTL_LANGS


@dataclass
class Entry:
    msgid: str
    msgstr: str
    fuzzy: bool = False
    line: int = 0


@dataclass
class PoFile:
    path: str
    entries: dict[str, Entry] = field(default_factory=dict)
    header: str = ""


def _unquote(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise UrError(f"{where}: expected a quoted string, got {token[:40]!r}")
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError) as e:
        raise UrError(f"{where}: bad string literal ({e.__class__.__name__})") from None
    if not isinstance(value, str):
        raise UrError(f"{where}: expected a string")
    return value


def parse_po(text: str, path: str = "<po>") -> PoFile:
    """Parse the subset of gettext .po the kiosk uses: msgid/msgstr, continuation
    lines, comments and the `#, fuzzy` flag. Plural forms and contexts are refused
    (the kiosk has none) rather than silently misread."""
    po = PoFile(path=path)
    msgid: str | None = None
    msgstr: str | None = None
    current: str | None = None
    fuzzy = False
    start = 0

    def flush() -> None:
        nonlocal msgid, msgstr, fuzzy, current
        if msgid is None:
            return
        if msgstr is None:
            raise UrError(f"{path}:{start}: msgid {msgid!r} has no msgstr")
        if msgid == "":
            po.header = msgstr
        elif msgid in po.entries:
            raise UrError(f"{path}:{start}: msgid {msgid!r} repeated (first at line {po.entries[msgid].line})")
        else:
            po.entries[msgid] = Entry(msgid, msgstr, fuzzy, start)
        msgid = msgstr = current = None
        fuzzy = False

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{path}:{n}"
        if not line:
            flush()
            continue
        if line.startswith("#"):
            if msgid is not None and msgstr is not None:
                flush()
            if line.startswith("#,") and "fuzzy" in [f.strip() for f in line[2:].split(",")]:
                fuzzy = True
            continue
        if line.startswith("msgid "):
            if msgid is not None:
                flush()
            msgid, current, start = _unquote(line[6:], where), "msgid", n
        elif line.startswith("msgstr "):
            if msgid is None or current != "msgid":
                raise UrError(f"{where}: msgstr without a msgid before it")
            msgstr, current = _unquote(line[7:], where), "msgstr"
        elif line.startswith('"'):
            piece = _unquote(line, where)
            if current == "msgid" and msgid is not None:
                msgid += piece
            elif current == "msgstr" and msgstr is not None:
                msgstr += piece
            else:
                raise UrError(f"{where}: continuation string outside an entry")
        elif line.startswith(("msgctxt", "msgid_plural", "msgstr[")):
            raise UrError(f"{where}: contexts and plural forms are not used by the kiosk catalogue")
        else:
            raise UrError(f"{where}: unexpected line {line[:40]!r}")
    flush()
    return po


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid -> translated text for `lang` (fuzzy and empty entries left out)."""
    if lang not in LANGS:
        raise UrError(f"unknown language {lang!r} (expected one of {', '.join(LANGS)})")
    path = po_path(lang)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UrError(f"message catalogue for {lang} not readable: {path}: {e.strerror}") from None
    po = parse_po(text, str(path))
    return {k: e.msgstr for k, e in po.entries.items() if e.msgstr and not e.fuzzy}


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


def tr(key: str, lang: str, **params: object) -> str:
    """The text for `key` in `lang`, with {placeholders} filled (data values kept
    left-to-right inside Arabic and Kurdish text). A key missing from the catalogue
    shows as the key itself (and the catalogue test fails on it)."""
    text = catalogue(lang).get(key, key)
    if params:
        try:
            return text.format(**{k: isolate(v, lang) for k, v in params.items()})
        except (KeyError, IndexError, ValueError):
            return text
    return text


def money(amount: int, lang: str) -> str:
    """Whole Iraqi dinars with thousands separators, e.g. `25,000 IQD` / `25,000 د.ع`."""
    return tr("money.iqd", lang, amount=f"{amount:,}")
