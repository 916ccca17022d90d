"""Arabic through the printer's own code page (CP864) instead of a shaped bitmap.

Why: a bitmap line is 20-50 times the bytes of a text line, which matters on 9600
baud serial printers; CP864 is the one Arabic code page with contextual letter
forms, so text printed in it joins. The printer neither shapes nor reorders, so
the line is shaped and put in visual order here by GNU FriBidi (libfribidi0,
through ctypes), then encoded with Python's cp864 codec. CP864 lacks some forms
(most final and medial ones): those print as the nearest form it has (final ->
isolated, medial -> initial), as CP864 printers do. Vowel marks are dropped.
A line with a letter CP864 cannot print at all (Kurdish ڕ ێ ۆ ە ڵ, alef with
hamza below ...) gives None: the caller prints that line as a bitmap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import textwrap
import unicodedata
from functools import lru_cache

from contract.errors import UrError

CODEC = "cp864"
_FALLBACK = {"<final>": ("<isolated>",), "<medial>": ("<initial>", "<isolated>"), "<initial>": ("<isolated>",)}
_PAR_ON = 0x00000110  # FRIBIDI_PAR_ON: paragraph direction from its first strong letter


@lru_cache(maxsize=1)
def _fribidi() -> ctypes.CDLL:
    name = ctypes.util.find_library("fribidi") or "libfribidi.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise UrError(f"GNU FriBidi (Debian libfribidi0) is needed for code-page Arabic: {e}") from None
    lib.fribidi_log2vis.restype = ctypes.c_int
    return lib


def visual(text: str) -> str:
    """Shaped (presentation forms) and in visual order, left to right as printed."""
    n = len(text)
    if n == 0:
        return ""
    src = (ctypes.c_uint32 * n)(*map(ord, text))
    dst = (ctypes.c_uint32 * n)()
    base = ctypes.c_uint32(_PAR_ON)
    if not _fribidi().fribidi_log2vis(src, n, ctypes.byref(base), dst, None, None, None):
        raise UrError("FriBidi could not lay out the line")
    return "".join(chr(c) for c in dst)


@lru_cache(maxsize=1)
def _forms() -> dict[tuple[str, str], str]:
    """(form tag, base letters) -> presentation form, from the Unicode database."""
    out: dict[tuple[str, str], str] = {}
    for cp in list(range(0xFB50, 0xFE00)) + list(range(0xFE70, 0xFF00)):
        tag, _, rest = unicodedata.decomposition(chr(cp)).partition(" ")
        if tag.startswith("<"):
            out.setdefault((tag, rest), chr(cp))
    return out


def _char(ch: str) -> bytes | None:
    try:
        return ch.encode(CODEC)
    except UnicodeEncodeError:
        pass
    tag, _, rest = unicodedata.decomposition(ch).partition(" ")
    for alt in _FALLBACK.get(tag, ()):
        form = _forms().get((alt, rest))
        if form is not None:
            try:
                return form.encode(CODEC)
            except UnicodeEncodeError:
                continue
    return None


def encode_line(text: str) -> bytes | None:
    """One printed line in CP864, or None when a letter has no CP864 form."""
    out = bytearray()
    for ch in visual(text):
        if unicodedata.category(ch) == "Mn":  # vowel marks: CP864 has no combining marks
            continue
        b = _char(ch)
        if b is None:
            return None
        out += b
    return bytes(out)


def encode_lines(text: str, columns: int) -> list[bytes] | None:
    """The text wrapped to `columns` (in logical order, then each line laid out), or None."""
    out: list[bytes] = []
    for line in textwrap.wrap(text, columns) or [""]:
        b = encode_line(line)
        if b is None:
            return None
        out.append(b)
    return out
