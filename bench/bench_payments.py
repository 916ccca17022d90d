"""Payments: time from "pay" to a printed receipt, split into terminal time, journal
writes (each a synchronous=FULL SQLite commit), receipt-code signing and printing.

Terminal: ZVT emulator on a pty, driver at 115200 baud, card time 0 (so "terminal"
is pure protocol overhead); printer: ESC/POS emulator on a pty at 115200. A pty has no
line speed, so the wire time those bytes need on a real 115200 line is computed
beside the measured figures (terminal 8N2 = 11 bits/byte, printer 8N1 = 10).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.table import print_table
from kiosk.devices.printer_driver import EscPosPrinter
from kiosk.devices.receipt import ReceiptProfile, load_template, render_receipt
from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import receipt_code
from kiosk.payments.print_journal import PrintJournal, PrintSpooler
from kiosk.payments.receipts import TEMPLATE, PaymentReceipts, receipt_data
from kiosk.payments.service import PaymentService
from tests import support
from tests.payment_fixtures import enrolled_store, terminal

ROUNDS = 40
PROFILE = ReceiptProfile(width_dots=576, native_qr=True)


class Clock:
    """Adds up the time spent inside wrapped calls, per category, for the current payment."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.n: dict[str, int] = {}
        self.inside: str | None = None

    def reset(self) -> None:
        self.t, self.n = {}, {}

    def add(self, what: str, dt: float) -> None:
        self.t[what] = self.t.get(what, 0.0) + dt
        self.n[what] = self.n.get(what, 0) + 1

    def wrap(self, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            outer, self.inside = self.inside, what
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.add(what, time.perf_counter() - t)
                self.inside = outer
        return timed


def main() -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp, support.printer_emulator(576) as (emu, p), \
            terminal(Knobs(card_delay_s=0.0), baudrate=115200) as (h, factory):
        store, ident = enrolled_store(Path(tmp) / "k")
        tx = store.tx

        @contextmanager
        def timed_tx() -> Iterator[Any]:
            t = time.perf_counter()
            with tx() as s:
                yield s
            # Journal writes of the payment itself; print-job bookkeeping counts as printing.
            if clock.inside != "printing":
                clock.add("journal writes", time.perf_counter() - t)
        store.tx = timed_tx  # type: ignore[method-assign]  # the bench times the journal by wrapping its method

        def open_terminal() -> Any:
            drv = factory()
            for name in ("authorize", "totals"):
                setattr(drv, name, clock.wrap("terminal", getattr(drv, name)))
            return drv
        drv = EscPosPrinter(p.device, 115200, status_timeout=0.5)
        receipts = PaymentReceipts(PrintSpooler(PrintJournal(store), drv, PROFILE), PrintJournal(store), ident)
        receipts.issue = clock.wrap("printing", receipts.issue)  # type: ignore[method-assign]  # the bench times printing by wrapping its method
        receipt_code.sign_compact_receipt = clock.wrap("receipt code (Ed25519 UR1)", receipt_code.sign_compact_receipt)
        svc = PaymentService(store, ident, open_terminal, receipts=receipts)
        svc.pay("fine:F-0600")  # warm-up: imports, first totals, fonts
        link = h.emulator.link
        totals: list[float] = []
        parts: dict[str, list[float]] = {}
        commits: list[int] = []
        b0 = link.bytes_in + link.bytes_out
        for i in range(1, ROUNDS + 1):
            clock.reset()
            t = time.perf_counter()
            r = svc.pay(f"fine:F-{i:04d}")
            totals.append(time.perf_counter() - t)
            assert r.paid, r.message
            for k, v in clock.t.items():
                parts.setdefault(k, []).append(v)
            commits.append(clock.n.get("journal writes", 0))
        zvt_bytes = (link.bytes_in + link.bytes_out - b0) / ROUNDS
        row = svc.get(r.payment_id)
        printed = len(render_receipt(load_template(TEMPLATE), receipt_data(row, ident, "citizen"), PROFILE))
        drv.close()
        store.close()

    def med(xs: list[float]) -> float:
        return statistics.median(xs) * 1000

    def p90(xs: list[float]) -> float:
        return sorted(xs)[int(len(xs) * 0.9) - 1] * 1000
    other = [t - sum(v[i] for v in parts.values()) for i, t in enumerate(totals)]
    rows: list[tuple[object, ...]] = [
        ("pay -> printed receipt (total)", med(totals), "ms median", "-", f"p90 {p90(totals):.1f} ms, "
         f"{ROUNDS} payments"),
    ]
    for name in ("terminal", "journal writes", "receipt code (Ed25519 UR1)", "printing"):
        xs = parts.get(name, [0.0])
        note = {"terminal": "06 01 round trip over the pty (card time 0)",
                "journal writes": f"{statistics.median(commits):.0f} FULL-sync commits per payment",
                "printing": "render + ESC/POS to the emulator + print journal",
                }.get(name, "")
        rows.append((f"  {name}", med(xs), "ms median", "-", f"p90 {p90(xs):.1f} ms; {note}".rstrip("; ")))
    rows.append(("  other (fee lookup, state machine, outbox seal)", med(other), "ms median", "-", ""))
    rows.append(("terminal bytes per payment", zvt_bytes, "bytes", "-", "frames, ACKs, two receipt copies"))
    rows.append(("  wire time at 115200 8N2", zvt_bytes * 11 / 115200 * 1000, "ms", "-", "computed; real line adds this"))
    rows.append(("receipt bytes (ESC/POS)", printed, "bytes", "-", "citizen copy, text + native QR"))
    rows.append(("  wire time at 115200 8N1", printed * 10 / 115200 * 1000, "ms", "-",
                 "computed; plus paper feed time on a real printer"))
    print_table("payments: pay -> printed receipt (ZVT + ESC/POS emulators on ptys, 115200 baud)", rows,
                ("figure", "value", "unit", "goal", "baseline/notes"))


if __name__ == "__main__":
    main()
