"""The receipt printer as a device kind: emulate / test / diagnose / apply_settings.

Profiles are the dicts `firmware_config.profiles.profile_dict` makes: a `serial`
table (pyserial settings) and a `printer` table already merged with the
python-escpos capability database.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.errors import UrError
from kiosk.devices import escpos_commands as cmd
from kiosk.devices.emulator_host import control_from_stdin, pty_master, stop_on_signals
from kiosk.devices.escpos_status import STATE_MESSAGES, PrinterState
from kiosk.devices.printer_driver import EscPosPrinter, PrinterUnavailable
from kiosk.devices.printer_emulator import FAULTS, PrinterEmulator
from kiosk.devices.receipt import ReceiptProfile, parse_template, render_receipt_blocks


def _serial(profile: dict[str, Any]) -> dict[str, Any]:
    s = dict(profile.get("serial") or {})
    flow = s.get("flow_control", "none")
    return dict(baudrate=int(s.get("baudrate", 9600)), bytesize=int(s.get("bytesize", 8)),
                parity=str(s.get("parity", "N")), stopbits=s.get("stopbits", 1),
                rtscts=flow == "rtscts", xonxoff=flow == "xonxoff")


def open_printer(profile: dict[str, Any], port: str) -> EscPosPrinter:
    if not port:
        raise UrError("printer: no port given (device path, socket://... or rfc2217://...)")
    status = bool((profile.get("printer") or {}).get("status", True))
    return EscPosPrinter(port, status_supported=status, **_serial(profile))


TEST_PAGE = parse_template({"name": "test_page", "blocks": [
    {"type": "text", "text": "Ur Kiosk printer test", "align": "center", "size": "double"},
    {"type": "text", "text": "{model}", "align": "center"},
    {"type": "text", "text": "{width} dots, QR {qr}, cutter {cutter}", "align": "center"},
    {"type": "rule"},
    {"type": "text", "text": "اختبار الطابعة ١٢٣", "align": "center"},
    {"type": "text", "text": "تاقیکردنەوەی چاپکەر ێ ڵ ە ڕ ۆ", "align": "center"},
    {"type": "text", "text": "Printer test 0123456789", "align": "center"},
    {"type": "qr", "data": "UR1:PRINTER-TEST"},
    {"type": "cut"},
]})


def _state_result(state: PrinterState, details: dict[str, Any]) -> dict[str, Any]:
    return {"ok": state.can_print, "state": state.value,
            "details": {"message": STATE_MESSAGES[state], **details}}


def diagnose(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Status flags (DLE EOT 1..4) without printing anything."""
    with open_printer(profile, port) as p:
        try:
            st = p.status()
        except PrinterUnavailable as e:
            return _state_result(e.state, {"port": port, "error": str(e)})
    flags = {k: v for k, v in st.__dict__.items() if v}
    return _state_result(st.state, {"port": port, "flags": flags})


def test(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Status, then a trilingual test page with a QR code, then status again."""
    rp = ReceiptProfile.from_mapping(profile)
    data = {"model": str(profile.get("model", "?")), "width": rp.width_dots,
            "qr": "native" if rp.native_qr else "bitmap", "cutter": "yes" if rp.cutter else "no"}
    blocks = render_receipt_blocks(TEST_PAGE, data, rp)
    # A bar code before the cut: the printer's own GS k (EAN-13 of a GS1 test number).
    blocks[-1:-1] = [cmd.align("center") + cmd.barcode(b"4006381333931") + cmd.LF + cmd.align("left")]
    with open_printer(profile, port) as p:
        try:
            st = p.print_blocks(blocks)
        except PrinterUnavailable as e:
            return _state_result(e.state, {"port": port, "error": str(e), "printed": False})
    return _state_result(st.state, {"port": port, "printed": True,
                                    "bytes": sum(len(b) for b in blocks)})


def apply_settings(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Send the profile's firmware commands, then check the printer still answers."""
    cmds = (profile.get("firmware") or {}).get("commands") or []
    if not cmds:
        raise UrError("this printer profile has no firmware.commands to apply")
    sent = []
    with open_printer(profile, port) as p:
        try:
            for c in cmds:
                p.write(bytes.fromhex(c["hex"]))
                sent.append(c["name"])
            st = p.status()
        except PrinterUnavailable as e:
            return _state_result(e.state, {"port": port, "applied": sent, "error": str(e)})
    return _state_result(st.state, {"port": port, "applied": sent})


def emulate(options: dict[str, str], ready: Callable[[str], None]) -> None:
    """Options: width (dots, 576), fault (comma list, see FAULTS), out (PNG dir),
    stdin=1 (read 'fault NAME' / 'power' lines on stdin), model (capability model whose
    code pages it knows, default python-escpos's "default"), tcp=PORT (raw TCP like a
    network printer's 9100 instead of a pty; 0 = any free port)."""
    unknown = set(options) - {"width", "fault", "out", "stdin", "tcp", "model"}
    if unknown:
        raise UrError(f"printer emulator has no option(s) {', '.join(sorted(unknown))}")
    try:
        width = int(options.get("width", 576))
    except ValueError:
        raise UrError(f"width {options['width']!r} is not a number of dots") from None
    emu = PrinterEmulator(width, Path(options["out"]) if options.get("out") else None,
                          model=options.get("model", "default"))
    for f in filter(None, (options.get("fault") or "").split(",")):
        try:
            emu.set_fault(f)
        except ValueError:
            raise UrError(f"unknown printer fault {f!r} (known: {', '.join(FAULTS)})") from None

    def control(line: str) -> str:
        cmd, _, arg = line.partition(" ")
        if cmd == "fault":
            emu.set_fault(arg)
            return f"ok fault {arg}"
        if cmd == "power":
            emu.power_cycle()
            return "ok power"
        if cmd == "receipts":
            return f"receipts {len(emu.receipts)}"
        return f"error: unknown command {cmd!r} (fault NAME | power | receipts)"

    if options.get("tcp") is not None:
        try:
            listener = socket.create_server(("127.0.0.1", int(options["tcp"])))
        except (ValueError, OSError) as e:
            raise UrError(f"--tcp {options['tcp']!r}: cannot listen there: {e}") from None
        with listener, stop_on_signals() as stop:
            if options.get("stdin") == "1":
                control_from_stdin(control, stop)
            ready(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
            emu.serve_socket(listener, stop)
        return
    with pty_master() as (fd, path), stop_on_signals() as stop:
        if options.get("stdin") == "1":
            control_from_stdin(control, stop)
        ready(path)
        emu.serve(fd, stop)
