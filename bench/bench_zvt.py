"""ZVT: one authorization round trip (06 01 -> 06 0F with receipts) against the emulator.

A pseudo-terminal moves bytes at memory speed whatever baud rate is set, so the
table gives the measured protocol round trip over a pty and, separately, the time
the same bytes need on a real 8N2 line (11 bits per byte) at 9600 and 115200 baud.
The emulator's "card" time is set to 0, so this is pure ECR<->terminal overhead.
"""

from __future__ import annotations

import statistics
import time

from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.devices.zvt_emulator import Knobs, run_in_thread
from tests.support import PtyPair

ROUNDS = 30


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    for baud in (9600, 115200):
        pty = PtyPair()
        try:
            with run_in_thread(pty.fd, Knobs(card_delay_s=0.0)) as emu, ZvtDriver(
                pty.device, baudrate=baud, timeout=10, ack_timeout=1.0
            ) as drv:
                drv.register()
                times = []
                link = emu.emulator.link
                b0 = link.bytes_in + link.bytes_out
                for _ in range(ROUNDS):
                    t = time.perf_counter()
                    r = drv.authorize(25000)
                    times.append(time.perf_counter() - t)
                    assert r.approved
                per_tx = (link.bytes_in + link.bytes_out - b0) / ROUNDS
        finally:
            pty.close()
        wire_ms = per_tx * 11 / baud * 1000
        rows.append((f"auth round trip over pty, baud set {baud}", f"{statistics.median(times) * 1000:.1f}",
                     "ms (median)", "-", f"p90 {sorted(times)[int(ROUNDS * 0.9) - 1] * 1000:.1f} ms, {ROUNDS} rounds"))
        rows.append((f"bytes per authorization ({baud})", f"{per_tx:.0f}", "bytes", "-",
                     "both directions: frames, ACK bytes, 2 receipt copies"))
        rows.append((f"wire time at {baud} baud 8N2", f"{wire_ms:.0f}", "ms", "-",
                     "computed: bytes x 11 bits / baud (pty has no line speed)"))
    w = [max(len(r[i]) for r in rows + [("figure", "value", "unit", "goal", "baseline/notes")]) for i in range(5)]
    head = ("figure", "value", "unit", "goal", "baseline/notes")
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    for row in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(row)))


if __name__ == "__main__":
    main()
