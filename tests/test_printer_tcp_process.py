"""`ur-kiosk emulate printer --tcp PORT` as a real process (issue 17): python-escpos, a
client nobody here wrote, prints text and an EAN-13 (GS k) over raw TCP, and zbar,
a decoder nobody here wrote, reads the bar code back from the PNG the process saved."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from escpos.printer import Network
from PIL import Image
from pyzbar.pyzbar import decode

REPO = Path(__file__).resolve().parent.parent


def _receipt(path: Path) -> Image.Image:
    """The PNG once the process has finished writing it (bounded wait)."""
    tick = threading.Event()
    for _ in range(400):
        if path.exists():
            try:
                with Image.open(path) as im:
                    im.load()
                    return im.copy()
            except OSError:
                pass  # still being written
        tick.wait(0.025)
    raise AssertionError(f"the emulator process saved no receipt at {path}")


def test_emulate_printer_tcp_process_prints_python_escpos_barcode(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "emulate", "printer", "--tcp", "0",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("tcp://127.0.0.1:"), url + (proc.stderr.read() if proc.stderr else "")
        p = Network("127.0.0.1", int(url.rsplit(":", 1)[1]), profile="TM-T20II")
        p.text("UR KIOSK TEST\n")
        p.barcode("4006381333931", "EAN13")
        p.cut()
        p.close()
        img = _receipt(tmp_path / "receipt-0001.png")
    finally:
        proc.terminate()
        proc.wait(10)
    codes = [(c.type, c.data) for c in decode(img.convert("L"))]
    assert codes == [("EAN13", b"4006381333931")]
    assert img.height > 100  # the text line and the bars, not an empty cut
