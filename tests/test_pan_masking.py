"""mask_pan hides card numbers however they are grouped: dots, dashes, double
spaces, tabs, no-break and zero-width spaces, slashes, mixed, with text or other
digits around them (issue: `4111.1111.1111.1111` and double-spaced numbers
survived). Hypothesis draws the number, its grouping and its separators."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kiosk.devices.zvt_driver import mask_pan

SEPARATORS = [" ", "  ", "   ", "\t", ".", "-", "--", " - ", "/", "_", ",", "\u00a0", "\u2009", "\u200b",
              "\u2013", "\u2014", "|", "·", "\u202f", "\u3000", "'", ". ", "(", ")"]
STRIP = re.compile(r"[^0-9*]")
CONTEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz :=\n", max_size=12)


@st.composite
def grouped_pan(draw: st.DrawFn) -> tuple[str, str]:
    """(digits, the digits as printed: groups of 1-6 joined by 0-3 separator characters)."""
    digits = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=13, max_size=19)))
    out, i = [], 0
    while i < len(digits):
        n = draw(st.integers(1, 6))
        out.append(digits[i:i + n])
        i += n
        if i < len(digits):
            sep = draw(st.sampled_from(["", *SEPARATORS]))
            out.append(sep)
    return digits, "".join(out)


def _masked_digits(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


@settings(max_examples=400, deadline=None)
@given(grouped_pan(), CONTEXT, CONTEXT)
@example(("4111111111111111", "4111.1111.1111.1111"), "", "")
@example(("4111111111111111", "4111  1111  1111  1111"), "card ", " ok")
@example(("4111111111111111", "4111\u200b1111\u200b1111\u200b1111"), "", "")
def test_no_run_of_13_to_19_grouped_digits_survives(pan: tuple[str, str], before: str, after: str) -> None:
    digits, shown = pan
    text = before + shown + after
    masked = mask_pan(text) or ""
    print(repr(text), "->", repr(masked))
    # Only the number's digits can be left around it (the context has none): first 6 and
    # last 4, each hidden one a '*', and no separator-joined run of 11+ digits anywhere.
    assert STRIP.sub("", masked) == _masked_digits(digits)
    assert not re.search(r"\d{11,}", STRIP.sub("", masked).replace("*", " "))
    # Nothing but the hidden digits changed: the layout of the line stays readable.
    assert len(masked) == len(text)
    assert re.sub(r"\d", "#", masked.replace("*", "#")) == re.sub(r"\d", "#", text)


@settings(max_examples=200, deadline=None)
@given(grouped_pan(), grouped_pan())
def test_a_card_number_beside_other_digits_is_masked_too(pan: tuple[str, str], other: tuple[str, str]) -> None:
    """A number run longer than 19 digits (a PAN with a receipt number after it) is
    no excuse to leave it whole."""
    text = pan[1] + " " + other[1]
    masked = mask_pan(text) or ""
    assert pan[0] not in STRIP.sub("", masked)
    assert not re.search(r"\d{11,}", STRIP.sub("", masked).replace("*", " "))


def test_receipt_lines_that_are_not_card_numbers_are_left_alone() -> None:
    for line in ("TRACE 000001  RECEIPT 0001", "02.12.2026 14:33:12", "BETRAG EUR 1.234,56",
                 "TID 52500001  TRACE 000123", "Terminal-ID: 52500001"):
        assert mask_pan(line) == line
    assert mask_pan(None) is None
