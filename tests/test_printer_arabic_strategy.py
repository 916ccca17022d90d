"""The kiosk's Arabic print strategy (issue 17): CP864 text when the profile allows it
and the capability database lists CP864 for the model, else a shaped bitmap; per
line, a line CP864 cannot print (Kurdish letters) is a bitmap. The printed bytes go
through the printer emulator, which decodes ESC t 37 with the model's own table."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from contract.errors import ValidationError
from firmware_config import profiles as fp
from kiosk.devices import receipt as r
from kiosk.devices.printer_emulator import PrinterEmulator

RASTER = b"\x1dv0"  # GS v 0


def _profile(model: str, arabic: str) -> Any:
    return fp.parse_profile({"model": "x", "kind": "printer", "capability_model": model,
                             "printer": {"arabic": arabic}})


@pytest.mark.parametrize("model, arabic, page", [
    ("TM-T20II", "auto", 37), ("TM-T20II", "code_page", 37), ("TM-T20II", "bitmap", None),
    ("TM-T88IV", "auto", None), ("TM-T88IV", "bitmap", None),
])
def test_strategy_from_capability_database_and_profile(model: str, arabic: str, page: int | None) -> None:
    assert _profile(model, arabic).resolved()["arabic_code_page"] == page


def test_forcing_code_page_on_a_model_without_cp864_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        _profile("TM-T88IV", "code_page")
    assert "lists no CP864" in str(e.value.problems)


def test_shipped_profiles_keep_bitmaps() -> None:
    assert fp.load_profile("epson_tm_t20ii_80mm").resolved()["arabic_code_page"] is None


def _print(profile: r.ReceiptProfile) -> tuple[bytes, list[str]]:
    data = r.sample_data()
    stream = r.render_receipt(r.load_template("payment"), data, profile)
    emu = PrinterEmulator(profile.width_dots, model="TM-T20II")
    emu.handle(stream)
    assert len(emu.receipts) == 1
    return stream, emu.receipt_texts[0]


def test_arabic_lines_print_as_cp864_text_and_read_back() -> None:
    data = r.sample_data()
    profile = r.ReceiptProfile.from_mapping(fp.profile_dict(_profile("TM-T20II", "auto")))
    assert profile.arabic_code_page == 37
    stream, texts = _print(profile)
    # the Arabic office line was sent as text in page 37 and the emulator, decoding page 37
    # with the model's table, holds it in visual order with contextual forms
    logical = [unicodedata.normalize("NFKC", t)[::-1].strip() for t in texts]
    assert data["office_ar"] in logical
    assert any(any(0xFE70 <= ord(c) <= 0xFEFF for c in t) for t in texts)
    assert b"\x1bt\x25" in stream  # ESC t 37
    # Kurdish has letters CP864 lacks: those lines are still bitmaps
    assert RASTER in stream
    assert not any("ڕ" in t or "ێ" in t for t in texts)
    bitmap_stream, _ = _print(r.ReceiptProfile.from_mapping(fp.profile_dict(_profile("TM-T20II", "bitmap"))))
    assert bitmap_stream.count(RASTER) > stream.count(RASTER)


def test_code_page_line_restores_the_profiles_page() -> None:
    profile = r.ReceiptProfile(arabic_code_page=37, code_page=16)
    block = r._text_blocks(r._Block(type="text", align="auto"), "مديرية المرور العامة", profile)
    assert len(block) == 1 and b"\x1bt\x25" in block[0] and block[0].rstrip(b"\x1b!\x00").endswith(b"\x1bt\x10")
    assert RASTER not in block[0]
