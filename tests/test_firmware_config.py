"""Device profiles and device maps: shipped files load, capabilities come from
python-escpos, every error names file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.errors import UrError, ValidationError
from firmware_config import capabilities as caps
from firmware_config import profiles as fp

ZVT_SHAPE = """
model = "Generic ZVT terminal (serial)"
kind = "terminal"

[terminal]
port = "/dev/ttyUSB0"
baudrate = 9600
bytesize = 8
parity = "N"
stopbits = 2
password = "000000"
currency = 368
exponent = 0
timeout_s = 180
"""


def test_every_shipped_profile_loads() -> None:
    kinds = fp.list_profiles()
    assert not [k for k in kinds.values() if k.startswith("INVALID")], kinds
    assert {"epson_tm_t20ii_80mm", "generic_58mm", "honeywell_1400g_serial",
            "zebra_ds2208_serial", "usb_camera"} <= set(kinds)


def test_printer_capabilities_come_from_python_escpos() -> None:
    db = caps.capabilities("ZJ-5870")
    assert db["media"]["width"]["pixels"] == 384
    p58 = fp.load_profile("generic_58mm")
    assert isinstance(p58, fp.PrinterProfile)
    r = p58.resolved()
    assert (r["paper_width_dots"], r["native_qr"], r["cutter"]) == (384, False, False)
    p80 = fp.load_profile("epson_tm_t20ii_80mm")
    assert isinstance(p80, fp.PrinterProfile)
    assert p80.resolved()["native_qr"] is caps.summary("TM-T20II")["native_qr"] is True
    assert p80.resolved()["code_pages"][16] == "CP1252"


def test_override_wins_over_the_database(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('model="m"\nkind="printer"\ncapability_model="TM-T20II"\n'
                 '[printer]\nnative_qr=false\npaper_width_dots=512\n')
    r = fp.load_profile(f).resolved()  # type: ignore[union-attr]  # a valid file: load_profile returns a profile
    assert (r["native_qr"], r["paper_width_dots"], r["cutter"]) == (False, 512, True)


def test_zvt_terminal_profile_shape_validates(tmp_path: Path) -> None:
    f = tmp_path / "zvt_terminal_generic.toml"
    f.write_text(ZVT_SHAPE)
    p = fp.load_profile(f)
    assert isinstance(p, fp.TerminalProfile) and p.terminal.password == "000000"
    assert fp.validate_file(f)["kind"] == "terminal"
    f.write_text(ZVT_SHAPE.replace('password = "000000"', 'password = "12ab"'))
    with pytest.raises(ValidationError, match=r"zvt_terminal_generic.toml.*terminal.password.*6 digits"):
        fp.load_profile(f)


@pytest.mark.parametrize("body,field,reason", [
    ('model="m"\nkind="printer"\ncapability_model="NOPE"\n', "capability_model", "not in the python-escpos"),
    ('model="m"\nkind="printer"\ncapability_model="TM-T20II"\n[serial]\nbaudrate=1234\n', "serial.baudrate", "must be one of"),
    ('model="m"\nkind="printer"\ncapability_model="TM-T20II"\n[printer]\ncode_page=250\n', "(top)", "not a code page"),
    ('model="m"\nkind="printer"\ncapability_model="TM-T20II"\n[printer]\nwidth=5\n', "printer.width", "Extra inputs"),
    ('model="m"\nkind="scanner"\n[scanner]\nterminator="tab"\n', "scanner.terminator", "'cr'"),
    ('model="m"\nkind="scanner"\n[firmware]\nhoneywell_commands=["232BAD9"]\n', "(top)", "dialect = 'honeywell'"),
    ('model="m"\nkind="toaster"\n', "kind", "must be 'printer'"),
    ('model="m"\nkind="printer"\n[[firmware.commands]]\nname="x"\nhex="zz"\ncapability_model="TM-T20II"', "firmware.commands.0.hex", "hexadecimal"),
])
def test_errors_name_file_field_reason(tmp_path: Path, body: str, field: str, reason: str) -> None:
    f = tmp_path / "bad_profile.toml"
    f.write_text(body)
    with pytest.raises(ValidationError) as e:
        fp.load_profile(f)
    msg = str(e.value)
    assert "bad_profile.toml" in msg and field in msg and reason in msg, msg


def test_toml_syntax_error_is_named(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text("model = \n")
    with pytest.raises(ValidationError, match="broken.toml: not valid TOML"):
        fp.load_profile(f)
    with pytest.raises(UrError, match="no such file"):
        fp.load_profile(tmp_path / "none.toml")


def test_device_map(tmp_path: Path) -> None:
    ex = Path(fp.__file__).parent / "examples" / "kiosk_devices.toml"
    dm = fp.load_device_map(ex)
    assert set(dm.devices) == {"receipt_printer", "qr_scanner", "camera"}
    f = tmp_path / "map.toml"
    f.write_text('[devices.p]\nprofile="nope"\n[devices.s]\nprofile="usb_camera"\n'
                 '[devices.q]\nprofile="generic_58mm"\nport=""\n')
    with pytest.raises(ValidationError) as e:
        fp.load_device_map(f)
    assert "devices.p.profile" in str(e.value)
    assert "devices.s" not in str(e.value)  # a camera needs no port
    f.write_text('[devices.p]\nprofile="generic_58mm"\nspeed=3\n')
    with pytest.raises(ValidationError, match="devices.p.speed"):
        fp.load_device_map(f)
