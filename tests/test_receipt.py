"""Receipt rendering: shaping (raqm), fonts, text-vs-raster choice, QR both ways,
golden images of what the emulator prints, and fuzzing of the stream decoder.

Golden images live in tests/golden/. After an intended change of the layout,
regenerate them with:  UR_UPDATE_GOLDEN=1 PYTHONPATH=. python -m pytest tests/test_receipt.py
and look at the new PNGs before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import PIL.features
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pyzbar import pyzbar

from contract.errors import UrError, ValidationError
from kiosk.devices import escpos_commands as cmd
from kiosk.devices import escpos_decoder as dec
from kiosk.devices import receipt as r
from kiosk.devices.receipt_image import render_stream

GOLDEN = Path(__file__).parent / "golden"
P80 = r.ReceiptProfile(width_dots=576, native_qr=True, cutter=True)
P58 = r.ReceiptProfile(width_dots=384, native_qr=False, cutter=False)


def test_pillow_has_raqm() -> None:
    assert PIL.features.check("raqm"), "Pillow without raqm cannot shape Arabic/Kurdish"


@pytest.mark.parametrize("ch", ["ێ", "ڵ", "ە", "ڕ", "ۆ", "ع", "A", "7"])
def test_font_covers_sorani_arabic_and_latin(ch: str) -> None:
    f = r.font(24)
    missing = bytes(f.getmask("\ue000"))  # a private-use code point: the .notdef box
    assert bytes(f.getmask(ch)) != missing, f"{ch!r} renders as .notdef"


def test_arabic_is_shaped_not_isolated_letters() -> None:
    joined = r.shape_line("بغداد", 24)
    from PIL import ImageFont

    basic = ImageFont.truetype(r.FONT_CANDIDATES[0], 24, layout_engine=ImageFont.Layout.BASIC)
    lft, _, rr, _ = basic.getbbox("بغداد")
    assert joined.width != rr - lft  # raqm picks contextual forms, basic layout does not


def test_text_or_raster_per_line() -> None:
    t = r.parse_template({"name": "t", "blocks": [
        {"type": "text", "text": "Total 25,000 IQD"},
        {"type": "text", "text": "{ar}"},
    ]})
    blocks = r.render_receipt_blocks(t, {"ar": "المجموع ٢٥٠٠٠"}, P80)
    assert any(b"Total 25,000 IQD\n" in b for b in blocks)
    rasters = [b for b in blocks if b"\x1dv0" in b]
    assert len(rasters) == 1
    assert blocks[-1].startswith(cmd.align("right"))  # RTL lines default to the right


def test_native_qr_only_when_the_profile_allows() -> None:
    t = r.load_template("payment")
    native = r.render_receipt(t, r.sample_data(), P80)
    bitmap = r.render_receipt(t, r.sample_data(), P58)
    assert b"\x1d(k" in native and b"\x1d(k" not in bitmap
    assert b"\x1dv0\x03" in bitmap  # even module size: half-scale bitmap in quadruple mode
    assert b"\x1dVA" in native and b"\x1dV" not in bitmap  # 58 mm model has no cutter


@pytest.mark.parametrize("profile", [P80, P58], ids=["80mm-native-qr", "58mm-bitmap-qr"])
def test_printed_qr_decodes_to_the_data(profile: r.ReceiptProfile) -> None:
    data = r.sample_data()
    img = render_stream(r.render_receipt(r.load_template("payment"), data, profile),
                        profile.width_dots)[0]
    found = pyzbar.decode(img)
    assert [f.data.decode() for f in found] == [data["qr"]]


def test_bitmap_qr_has_whole_dots_per_module() -> None:
    img = r.qr_matrix_image("UR1:TEST", "M", 5)
    n = img.width // 5
    assert img.width == n * 5
    a = np.asarray(img)
    assert (a[::5, ::5].repeat(5, 0).repeat(5, 1) == a).all()


def test_missing_placeholder_and_bad_template_are_named() -> None:
    t = r.load_template("payment")
    data = r.sample_data()
    del data["fee"]
    with pytest.raises(UrError, match=r"\{fee\}"):
        r.render_receipt(t, data, P80)
    with pytest.raises(ValidationError, match=r"blocks.0.type"):
        r.parse_template({"name": "x", "blocks": [{"type": "banner"}]})


# Fraction of dots that may differ: FreeType/raqm versions move a few edge dots;
# changing two digits of the total moves about 0.07 % (see the test below).
TOLERANCE = 0.0002


def _diff_fraction(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 1.0
    x = np.asarray(a.convert("L")) < 128
    y = np.asarray(b.convert("L")) < 128
    return float((x != y).mean())


@pytest.mark.parametrize("name,profile,reprint", [
    ("payment_80mm", P80, False),
    ("payment_58mm", P58, False),
    ("payment_80mm_reprint", P80, True),
])
def test_golden_receipt(name: str, profile: r.ReceiptProfile, reprint: bool) -> None:
    stream = r.render_receipt(r.load_template("payment"), r.sample_data(), profile, reprint)
    img = render_stream(stream, profile.width_dots)[-1]
    path = GOLDEN / f"{name}.png"
    if os.environ.get("UR_UPDATE_GOLDEN") == "1" or not path.exists():
        if not os.environ.get("UR_UPDATE_GOLDEN"):
            pytest.fail(f"golden image {path} is missing; run with UR_UPDATE_GOLDEN=1")
        GOLDEN.mkdir(exist_ok=True)
        img.save(path)
    golden = Image.open(path)
    assert _diff_fraction(img, golden) <= TOLERANCE, f"{name} differs from {path}"


def test_golden_comparison_can_fail() -> None:
    stream = r.render_receipt(r.load_template("payment"), r.sample_data(), P80)
    img = render_stream(stream, 576)[0]
    other = dict(r.sample_data(), total="99,000 IQD")
    img2 = render_stream(r.render_receipt(r.load_template("payment"), other, P80), 576)[0]
    assert _diff_fraction(img, img2) > TOLERANCE


# -- fuzzing the emulator's decoder ---------------------------------------------

def _decode_all(data: bytes, chunk: int) -> None:
    d = dec.EscPosDecoder(max_buffer_size=4096)
    from kiosk.devices.receipt_image import Paper

    paper = Paper(384)
    for i in range(0, len(data), chunk):
        try:
            for e in d.receive_data(data[i:i + chunk]):
                paper.apply(e)
        except dec.EscPosDecodeError:
            d.reset()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_fuzz_random_streams_only_typed_errors(data: bytes, chunk: int) -> None:
    _decode_all(data, chunk)


_VALID = r.render_receipt(r.parse_template({"name": "f", "blocks": [
    {"type": "text", "text": "Hello 123", "size": "double"},
    {"type": "text", "text": "سلاو"},
    {"type": "qr", "data": "UR1:ABC"},
    {"type": "cut"},
]}), {}, P80)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=8),
       st.integers(1, 200))
def test_fuzz_mutated_receipts_only_typed_errors(muts: list[tuple[int, int]], chunk: int) -> None:
    data = bytearray(_VALID)
    for pos, val in muts:
        data[pos] = val
    _decode_all(bytes(data), chunk)


def test_decoder_bounds_declared_lengths() -> None:
    d = dec.EscPosDecoder(max_buffer_size=1000)
    with pytest.raises(dec.EscPosDecodeError, match="limit"):
        d.receive_data(b"\x1dv0\x00\xff\x00\xff\x00")
    with pytest.raises(dec.EscPosDecodeError, match="error state"):
        d.receive_data(b"A")
    d.reset()
    assert d.receive_data(b"A\n") == [dec.Text(b"A"), dec.LineFeed()]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=120),
                          st.sampled_from(["", "ready", "paper_end", "cover_open", "dead",
                                           "power_on", "paper_end@2"])), max_size=6))
def test_fuzz_emulator_never_raises_and_answers_every_status_request(
        steps: list[tuple[bytes, str]]) -> None:
    from kiosk.devices.escpos_status import RealtimeScanner
    from kiosk.devices.printer_emulator import PrinterEmulator

    emu = PrinterEmulator(384)
    for data, fault in steps:
        if fault:
            emu.set_fault(fault)
        powered = emu.powered
        reply = emu.handle(_VALID[:40] + data)
        expected = RealtimeScanner().status_requests(_VALID[:40] + data) if powered else 0
        # A fresh scanner may miss a request split across calls; never more than that.
        if not powered:
            assert reply == b""
        else:
            assert len(reply) in (expected, expected + 1)
        for b in reply:
            assert b & 0x93 == 0x12
