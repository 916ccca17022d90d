"""The QR scanner as a device kind: emulate / test / diagnose / apply_settings.

One kind, two interfaces (profile `scanner.interface`): a serial scanner in COM
mode, or a camera (device index or video file) decoded with zbar.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from contract.errors import UrError
from kiosk.devices.camera_scanner import CameraError, CameraScanner
from kiosk.devices.emulator_host import control_from_stdin, stop_on_signals
from kiosk.devices.scanner_config import ScannerConfigError
from kiosk.devices.scanner_driver import READY, SerialScanner
from kiosk.devices.scanner_emulator import ScannerEmulator
from kiosk.devices.scanner_framing import ScannedCode


def _settings(profile: dict[str, Any]) -> dict[str, Any]:
    return dict(profile.get("scanner") or {})


def open_scanner(profile: dict[str, Any], port: str) -> SerialScanner:
    if not port:
        raise UrError("scanner: no port given (device path, socket://... or rfc2217://...)")
    s = dict(profile.get("serial") or {})
    sc = _settings(profile)
    return SerialScanner(port, int(s.get("baudrate", 9600)), bytesize=int(s.get("bytesize", 8)),
                         parity=str(s.get("parity", "N")), stopbits=s.get("stopbits", 1),
                         rtscts=s.get("flow_control") == "rtscts", aim=bool(sc.get("aim", True)),
                         prefix=str(sc.get("prefix", "")).encode("latin-1"),
                         max_line=int(sc.get("max_line", 8192)))


def _is_camera(profile: dict[str, Any]) -> bool:
    return _settings(profile).get("interface") == "camera"


def _camera_source(profile: dict[str, Any], port: str) -> int | str:
    return port or (profile.get("camera") or {}).get("device", 0)


def codes(profile: dict[str, Any], port: str, stop: threading.Event) -> Iterator[ScannedCode]:
    """One stream of ScannedCode events, whichever interface the profile names.

    Serial: reopens after unplug and keeps going. Camera: ends when the source
    ends (a video file) or cannot be opened (CameraError).
    """
    if _is_camera(profile):
        cam_s = profile.get("camera") or {}
        cam = CameraScanner(_camera_source(profile, port), max_fps=float(cam_s.get("max_fps", 10)),
                            max_width=int(cam_s.get("max_width", 640)))
        yield from cam.codes(stop)
        return
    drv = open_scanner(profile, port)
    try:
        while not stop.is_set():
            yield from drv.poll(0.1)
    finally:
        drv.close()


def diagnose(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Can the port (or camera) be opened and read right now?"""
    if _is_camera(profile):
        import cv2  # 0.10-0.14 s on top of numpy (python -X importtime): only with a camera

        src = _camera_source(profile, port)
        cap = cv2.VideoCapture(int(src) if str(src).isdigit() else src)
        try:
            ok = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
        return {"ok": bool(ok), "state": "ready" if ok else "unavailable",
                "details": {"source": src}}
    drv = open_scanner(profile, port)
    try:
        drv.poll(0.05)
        ok = drv.state == READY
        return {"ok": ok, "state": drv.state,
                "details": {"port": port, **({} if ok else {"error": drv.last_error})}}
    finally:
        drv.close()


def test(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Wait for one scanned code (timeout: profile 'test_timeout_s', default 10 s)."""
    timeout = float(profile.get("test_timeout_s", 10))
    deadline = time.monotonic() + timeout
    if _is_camera(profile):
        cam_s = profile.get("camera") or {}
        src = _camera_source(profile, port)
        cam = CameraScanner(src, max_fps=float(cam_s.get("max_fps", 10)),
                            max_width=int(cam_s.get("max_width", 640)))
        stop = threading.Event()
        timer = threading.Timer(timeout, stop.set)  # codes() checks `stop` every frame
        timer.start()
        try:
            for code in cam.codes(stop):
                return {"ok": True, "state": "ready",
                        "details": {"source": src, "code": code.data.decode("utf-8", "replace")}}
        except CameraError as e:
            return {"ok": False, "state": "unavailable", "details": {"error": str(e)}}
        finally:
            timer.cancel()
        return {"ok": False, "state": "no_scan", "details": {"source": src,
                "frames": cam.frames_read}}
    drv = open_scanner(profile, port)
    try:
        while time.monotonic() < deadline:
            for code in drv.poll(0.1):
                return {"ok": True, "state": "ready", "details": {
                    "port": port, "code": code.data.decode("utf-8", "replace"),
                    "symbology": code.symbology}}
        state = "no_scan" if drv.state == READY else drv.state
        return {"ok": False, "state": state, "details": {
            "port": port, "message": f"no code scanned within {timeout:g}s",
            **({"error": drv.last_error} if drv.last_error else {})}}
    finally:
        drv.close()


def apply_settings(profile: dict[str, Any], port: str) -> dict[str, Any]:
    sc = _settings(profile)
    fw = profile.get("firmware") or {}
    drv = open_scanner(profile, port)
    try:
        if sc.get("dialect") == "honeywell" and fw.get("honeywell_commands"):
            applied = drv.apply_honeywell(list(fw["honeywell_commands"]))
        elif sc.get("dialect") == "zebra" and fw.get("ssi_params"):
            applied = drv.apply_ssi({int(k): int(v) for k, v in fw["ssi_params"].items()})
        else:
            raise UrError("this scanner profile has no firmware settings to apply")
    except ScannerConfigError as e:
        return {"ok": False, "state": "refused", "details": {"port": port, "error": str(e)}}
    finally:
        drv.close()
    return {"ok": True, "state": "ready", "details": {"port": port, "applied": applied}}


def emulate(options: dict[str, str], ready: Callable[[str], None]) -> None:
    """Options: terminator (cr|lf|crlf), stx, aim, prefix, dialect (honeywell|zebra),
    link (stable path; default in a temp dir), scan (a code sent every `interval` s),
    fault (split: send byte by byte), stdin=1 (each line is a code; '!unplug', '!plug')."""
    known = {"terminator", "stx", "aim", "prefix", "dialect", "link", "scan", "interval",
             "fault", "stdin", "out"}
    unknown = set(options) - known
    if unknown:
        raise UrError(f"scanner emulator has no option(s) {', '.join(sorted(unknown))}")
    faults = set(filter(None, (options.get("fault") or "").split(",")))
    if faults - {"split", "garbage"}:
        raise UrError(f"unknown scanner fault(s) {', '.join(sorted(faults - {'split', 'garbage'}))}"
                      " (known: split, garbage)")
    link = Path(options.get("link") or Path(tempfile.mkdtemp(prefix="ur-scanner-")) / "scanner")
    yes = ("1", "true", "yes")
    emu = ScannerEmulator(link, terminator=options.get("terminator", "cr"),
                          stx=options.get("stx", "0") in yes, aim=options.get("aim", "1") in yes,
                          prefix=options.get("prefix", "").encode(),
                          dialect=options.get("dialect", "honeywell"))
    split = 1 if "split" in faults else None

    def control(line: str) -> str:
        if line == "!unplug":
            emu.unplug()
            return "ok unplugged"
        if line == "!plug":
            return f"ok plugged {emu.plug()}"
        if "garbage" in faults:
            emu.write(b"\x00\xff garbage \x1b\r")
        emu.scan(line, split=split)
        return "ok scanned"

    emu.plug()
    with stop_on_signals() as stop:
        thread, serve_stop = emu.start_thread()
        if options.get("stdin") == "1":
            control_from_stdin(control, stop)
        ready(str(link))
        try:
            interval = float(options.get("interval", 2))
            while not stop.wait(interval if options.get("scan") else 0.2):
                if options.get("scan") and emu.plugged:
                    try:
                        control(options["scan"])
                    except OSError:
                        pass
        finally:
            serve_stop.set()
            thread.join(2)
            emu.unplug()
