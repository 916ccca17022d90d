"""Device figures: receipt bytes on the wire and transmit time (mixed text/bitmap
vs one full-width bitmap, the usual way POS systems print Arabic), status
round trip and print time over a real pty, and QR decode time per camera frame.

Run:  PYTHONPATH=. python -m bench.bench_devices
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import segno

from kiosk.devices import receipt as r
from kiosk.devices.camera_scanner import decode_frame
from kiosk.devices.printer_driver import EscPosPrinter
from tests.support import printer_emulator

BAUDS = (9600, 115200)


def _wire_seconds(n: int, baud: int) -> float:
    return n * 10 / baud  # 8N1: start + 8 data + stop bits per byte


def _qr_frame() -> np.ndarray:
    q = segno.make_qr("UR1:" + "A1B2C3D4" * 12, error="m")
    m = np.array([[0 if v else 255 for v in row] for row in q.matrix], np.uint8)
    m = np.pad(m, 4, constant_values=255).repeat(4, 0).repeat(4, 1)
    f = np.full((480, 640), 255, np.uint8)
    rng = np.random.default_rng(1)
    f = np.clip(f.astype(int) - rng.integers(0, 40, f.shape), 0, 255).astype(np.uint8)
    f[60:60 + m.shape[0], 120:120 + m.shape[1]] = m
    return f


def _time(fn, n: int) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    t = r.load_template("payment")
    data = r.sample_data()
    for label, prof in (("80mm native QR", r.ReceiptProfile(576, True, True, 6)),
                        ("58mm bitmap QR", r.ReceiptProfile(384, False, False, 5))):
        mixed = r.render_receipt(t, data, prof)
        full = b"".join(r.render_full_bitmap_blocks(t, data, prof))
        ratio = len(mixed) / len(full)
        rows.append((f"receipt bytes, text+shaped lines ({label})", f"{len(mixed)}", "B",
                     "<= 30% of full", f"full bitmap {len(full)} B"))
        rows.append((f"bytes vs full bitmap ({label})", f"{ratio * 100:.1f}", "%", "<= 30",
                     "trilingual receipt with QR"))
        for baud in BAUDS:
            rows.append((f"transmit @{baud} ({label})", f"{_wire_seconds(len(mixed), baud):.2f}",
                         "s", "", f"full bitmap {_wire_seconds(len(full), baud):.2f} s"))
        ms = _time(lambda prof=prof: r.render_receipt(t, data, prof), 5) * 1000
        rows.append((f"render receipt ({label})", f"{ms:.1f}", "ms", "", "Pillow+raqm, segno"))

    with printer_emulator(576) as (_emu, p):
        drv = EscPosPrinter(p.device, 115200)
        drv.status()
        rt = _time(drv.status, 50) * 1000
        rows.append(("status round trip DLE EOT 1..4 (pty)", f"{rt:.2f}", "ms", "",
                     "4 queries, 4 reply bytes"))
        blocks = r.render_receipt_blocks(t, data, r.ReceiptProfile(576, True))
        full_blocks = r.render_full_bitmap_blocks(t, data, r.ReceiptProfile(576, True))
        pm = _time(lambda: drv.print_blocks(blocks), 5) * 1000
        pf = _time(lambda: drv.print_blocks(full_blocks), 5) * 1000
        rows.append(("print receipt via pty incl. status per block", f"{pm:.0f}", "ms", "",
                     f"full bitmap {pf:.0f} ms; pty has no baud limit, emulator decodes+draws"))
        drv.close()

    frame = _qr_frame()
    assert decode_frame(frame), "bench frame must contain a readable QR"
    blank = np.full((480, 640), 255, np.uint8)
    d1 = _time(lambda: decode_frame(frame), 30) * 1000
    d0 = _time(lambda: decode_frame(blank), 30) * 1000
    rows.append(("QR decode per 640x480 frame (code present)", f"{d1:.2f}", "ms", "< 100",
                 "zbar binary mode, 4 px/module"))
    rows.append(("QR decode per 640x480 frame (no code)", f"{d0:.2f}", "ms", "", "zbar on an empty frame"))

    w = [max(len(x[i]) for x in rows + [("figure", "value", "unit", "goal", "baseline/notes")])
         for i in range(5)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(("figure", "value", "unit", "goal",
                                                           "baseline/notes"))))
    for row in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(row)))


if __name__ == "__main__":
    main()
