"""An ESC/POS printer on the far end of a pseudo-terminal, with fault knobs.

It reuses the cores from the printer's side: `RealtimeScanner` answers DLE EOT
wherever it appears (as real printers do, even inside images), `EscPosDecoder`
reads the job, `Paper` draws it, and every cut receipt is saved as a PNG so a
technician can see exactly what would print.

Fault knobs (`set_fault`): any PrinterState a printer reports itself
(paper_end, cover_open, ...), `dead` (power off: no answers, data lost) and
`STATE@N` / `dead@N` (the fault strikes after N more printed lines, i.e. mid-receipt;
`paper_out_after=N` is `paper_end@N`).
While offline the printer holds what it receives; DLE ENQ 2 clears it and a
return to ready prints it, like the Epson models do.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from pathlib import Path

from PIL import Image

from kiosk.devices.emulator_host import serve_clients
from kiosk.devices.escpos_decoder import (
    Cut,
    EscPosDecodeError,
    EscPosDecoder,
    LineFeed,
    Raster,
    Unknown,
)
from kiosk.devices.escpos_status import (
    ENQ,
    EOT,
    PrinterState,
    PrinterStatus,
    RealtimeScanner,
    encode_reply,
    status_for,
)
from kiosk.devices.receipt_image import Paper, code_pages_of

log = logging.getLogger(__name__)
HOLD_LIMIT = 256 * 1024

FAULTS = ["ready", "paper_near_end", "paper_end", "cover_open", "cutter_error",
          "unrecoverable_error", "auto_recoverable_error", "offline", "dead", "STATE@N", "dead@N"]


class PrinterEmulator:
    """Bytes in (`handle`), reply bytes out; `serve(fd)` runs it on a pty master."""

    def __init__(self, width_dots: int = 576, out_dir: Path | str | None = None,
                 model: str = "default") -> None:
        self.width = width_dots
        self.code_pages = code_pages_of(model)
        self.out_dir = Path(out_dir) if out_dir else None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.status = PrinterStatus()
        self.powered = True
        self.fault_after: tuple[int, str] | None = None
        self._lines = 0
        self.held = bytearray()
        self.receipts: list[Image.Image] = []
        self.receipt_texts: list[list[str]] = []
        self.partials: list[Image.Image] = []
        self.decode_errors: list[str] = []
        self.unknown_commands: list[str] = []
        self.status_requests = 0
        self._reset_engine()

    def _reset_engine(self) -> None:
        self.scanner = RealtimeScanner()
        self.decoder = EscPosDecoder()
        self.paper = Paper(self.width, code_pages=self.code_pages)

    # -- knobs --------------------------------------------------------------
    def set_fault(self, fault: str) -> None:
        """One knob: a state name, 'dead', 'ready' or 'paper_out_after=N'."""
        with self._lock:
            name = fault.strip().lower().replace("-", "_")
            if name.startswith("paper_out_after="):
                name = "paper_end@" + name.split("=", 1)[1]
            if "@" in name:
                what, _, n = name.partition("@")
                if what != "dead":
                    PrinterState(what)  # refuse unknown names now, not mid-job
                try:
                    self.fault_after = (int(n), what)
                except ValueError:
                    raise ValueError(f"fault {fault!r}: after '@' comes a line count") from None
                self._lines = 0
                return
            if name == "dead":
                self.powered = False
                return
            if name in ("power_on", "alive"):
                self.power_cycle()
                return
            state = PrinterState(name)
            self.status = status_for(state)
            if state.can_print and self.held:
                data, self.held = bytes(self.held), bytearray()
                self._print(data)

    def power_cycle(self) -> None:
        """Power back on: everything in the buffers and on the half-printed page is lost."""
        with self._lock:
            if not self.paper.blank:
                self.partials.append(self.paper.image())
            self.powered = True
            self.held.clear()
            self.status = PrinterStatus()
            self.fault_after = None
            self._reset_engine()

    # -- the wire -------------------------------------------------------------
    def handle(self, data: bytes) -> bytes:
        with self._lock:
            if not self.powered:
                return b""
            replies = bytearray()
            start = 0
            for end, kind, n in self.scanner.feed(data):
                self._job_bytes(data[start:end])
                start = end
                if kind == EOT:
                    self.status_requests += 1
                    replies.append(encode_reply(n, self.status))
                elif kind == ENQ and n == 2:
                    self.held.clear()
                    self.decoder.reset()
            self._job_bytes(data[start:])
            return bytes(replies)

    def _job_bytes(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self.status.state.can_print:
            if len(self.held) + len(chunk) <= HOLD_LIMIT:
                self.held += chunk
            return
        self._print(chunk)

    def _print(self, chunk: bytes) -> None:
        try:
            events = self.decoder.receive_data(chunk)
        except EscPosDecodeError as err:
            self.decode_errors.append(str(err))
            log.warning("printer emulator: %s", err)
            self.decoder.reset()
            return
        for e in events:
            if isinstance(e, Unknown):
                self.unknown_commands.append(e.reason)
                log.warning("printer emulator: %s (skipped, marked on the receipt)", e.reason)
            if not self.powered or not self.status.state.can_print:
                # Paper ran out mid-chunk: the rest of this chunk is dropped, as if
                # DLE ENQ 2 had come (our driver always sends it after a fault).
                break
            before = len(self.paper.finished)
            self.paper.apply(e)
            if isinstance(e, LineFeed | Raster):
                self._count_line()
            if isinstance(e, Cut) and len(self.paper.finished) > before:
                self._finish()

    def _count_line(self) -> None:
        if self.fault_after is None:
            return
        self._lines += 1
        n, what = self.fault_after
        if self._lines < n:
            return
        self.fault_after = None
        if what == "dead":
            self.powered = False
            return
        self.status = status_for(PrinterState(what))
        if what == PrinterState.PAPER_END:
            if not self.paper.blank:
                self.partials.append(self.paper.image())
            self.paper = Paper(self.width, code_pages=self.code_pages)  # new roll: the torn-off part is in `partials`

    def _finish(self) -> None:
        img = self.paper.finished.pop()
        self.receipts.append(img)
        self.receipt_texts.append(list(self.paper.last_job_text))
        if self.out_dir:
            path = self.out_dir / f"receipt-{len(self.receipts):04d}.png"
            img.save(path)
            log.info("printer emulator: receipt saved to %s", path)

    # -- pty loop ---------------------------------------------------------------
    def serve(self, fd: int, stop: threading.Event) -> None:
        """Read the pty master until `stop` is set; answer what a printer answers."""
        while not stop.is_set():
            try:
                r, _, _ = select.select([fd], [], [], 0.05)
                if not r:
                    continue
                data = os.read(fd, 65536)
            except OSError:
                # No slave open right now (driver closed the port): keep waiting.
                stop.wait(0.05)
                continue
            if not data:
                stop.wait(0.05)
                continue
            reply = self.handle(data)
            if reply:
                try:
                    os.write(fd, reply)
                except OSError:
                    pass

    def serve_socket(self, listener: socket.socket, stop: threading.Event) -> None:
        """Raw TCP like a network printer's port 9100: one client at a time, the job
        and the DLE EOT status queries on the same connection."""

        def serve_one(conn: socket.socket) -> None:
            conn.settimeout(0.1)
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                reply = self.handle(data)
                if reply:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

        serve_clients(listener, stop, 0.1, serve_one)

    def start_tcp_thread(self, host: str = "127.0.0.1", port: int = 0) -> tuple[threading.Thread, threading.Event, int]:
        listener = socket.create_server((host, port))
        stop = threading.Event()

        def run() -> None:
            with listener:
                self.serve_socket(listener, stop)

        t = threading.Thread(target=run, daemon=True, name="printer-emulator-tcp")
        t.start()
        return t, stop, listener.getsockname()[1]

    def start_thread(self, fd: int) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        t = threading.Thread(target=self.serve, args=(fd, stop), daemon=True,
                             name="printer-emulator")
        t.start()
        return t, stop
