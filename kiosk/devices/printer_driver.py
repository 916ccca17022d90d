"""Thin pyserial driver for an ESC/POS receipt printer.

Why it is shaped like this: the printer answers DLE EOT wherever those bytes
appear, even inside image data, so the driver runs everything it writes
through the same `RealtimeScanner` the emulator uses, knows how many reply
bytes are owed, and keeps only the last four (the answers to its own query).
Every wait is bounded (read timeout, write timeout) so a dead or unplugged
printer costs seconds, never a hung kiosk.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Sequence
from typing import Any

import serial

from contract.errors import UrError
from kiosk.devices.escpos_status import (
    CLEAR_BUFFERS,
    QUERY_ALL,
    PrinterState,
    PrinterStatus,
    RealtimeScanner,
    StatusError,
    decode_status,
)


class PrinterUnavailable(UrError):
    """The printer cannot print now; `state` says why (shown to the person)."""

    def __init__(self, state: PrinterState, detail: str = "") -> None:
        self.state = state
        super().__init__(f"printer {state.value}" + (f": {detail}" if detail else ""))


RASTER = b"\x1dv0"


def split_raster(block: bytes, max_bytes: int) -> list[bytes]:
    """Split a `[prefix] GS v 0 ...` block into several rasters of at most ~max_bytes.

    Consecutive rasters print as one picture, and the driver may ask for status
    between them: at 9600 baud a 576-dot band of 256 rows would be 19 s on the
    wire with no chance to notice a dead printer. Other blocks pass unchanged.
    """
    at = block.find(RASTER)
    if at < 0 or len(block) <= max_bytes or at + 8 > len(block):
        return [block]
    prefix, hdr = block[:at], block[at:at + 8]
    mode, wb, rows = hdr[3], hdr[4] | hdr[5] << 8, hdr[6] | hdr[7] << 8
    data = block[at + 8:]
    if wb == 0 or len(data) != wb * rows or mode not in (0, 1, 2, 3):
        return [block]
    step = max(1, max_bytes // wb)
    out = []
    for top in range(0, rows, step):
        n = min(step, rows - top)
        out.append(prefix + bytes([0x1D, 0x76, 0x30, mode, wb & 0xFF, wb >> 8, n & 0xFF, n >> 8])
                   + data[top * wb:(top + n) * wb])
    return out


class FilePort:
    """A printer that is a device file: the kernel's USB printer class (usblp,
    /dev/usb/lp0) is written like a file, and on bidirectional printers the status
    bytes are read back from the same file. No termios: it is not a tty. Offers the
    few pyserial calls the driver uses, every wait bounded."""

    def __init__(self, path: str, timeout: float = 0.05) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def _need(self) -> int:
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        return self._fd

    def write(self, data: bytes) -> int:
        fd, view, deadline = self._need(), memoryview(data), time.monotonic() + 2.0
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                n = 0
            view = view[n:]
            if view:
                if time.monotonic() > deadline:
                    raise serial.SerialTimeoutException(f"write to {self.path} timed out")
                select.select([], [fd], [], 0.05)
        return len(data)

    def read(self, n: int = 1) -> bytes:
        fd = self._need()
        r, _, _ = select.select([fd], [], [], self.timeout)
        if not r:
            return b""
        try:
            return os.read(fd, n)
        except BlockingIOError:
            return b""

    @property
    def in_waiting(self) -> int:
        return 0

    def reset_input_buffer(self) -> None:
        while self.read(4096):
            pass

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def open_port(port: str, timeout: float, write_timeout: float, **settings: Any) -> Any:
    """tcp://host:port (raw TCP 9100, status on the same socket), usb:PATH or a
    /dev/usb/lp* path (usblp device file), else a pyserial port or URL."""
    if port.startswith("tcp://"):
        return serial.serial_for_url("socket://" + port[len("tcp://"):], timeout=timeout,
                                     write_timeout=write_timeout)
    if port.startswith("usb:") or port.startswith("/dev/usb/lp"):
        return FilePort(port.removeprefix("usb:"), timeout)
    return serial.serial_for_url(port, timeout=timeout, write_timeout=write_timeout, **settings)


class EscPosPrinter:
    """One printer on one port (device path, pty, tcp://host:9100, usb:/dev/usb/lp0,
    socket://, rfc2217://).

    `status_supported=False` is for models without DLE EOT: jobs are then sent
    blind and the state is only what the port itself can tell (open or not).
    """

    def __init__(self, port: str, baudrate: int = 9600, *, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1, rtscts: bool = False,
                 xonxoff: bool = False, status_timeout: float = 1.0,
                 write_timeout: float = 1.5, status_supported: bool = True) -> None:
        self.port = port
        self.status_supported = status_supported
        # About one second of wire time per block, so status comes often enough.
        self.max_block_bytes = max(512, baudrate // 10)
        self.settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity,
                             stopbits=stopbits, rtscts=rtscts, xonxoff=xonxoff)
        self.status_timeout = status_timeout
        self.write_timeout = write_timeout
        self._ser: Any = None  # a pyserial port or a FilePort
        self._scan = RealtimeScanner()
        self._owed = 0  # status reply bytes the printer owes us
        self._since_query = 0  # bytes written since the last status query

    # -- port -------------------------------------------------------------
    def open(self) -> None:
        if self._ser is not None:
            return
        try:
            self._ser = open_port(self.port, 0.05, self.write_timeout, **self.settings)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PrinterUnavailable(PrinterState.NO_RESPONSE, f"cannot open {self.port}: {e}") from None
        self._scan = RealtimeScanner()
        self._owed = 0

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
        self._ser = None

    def __enter__(self) -> EscPosPrinter:
        return self  # the port opens lazily on first use, so errors become states

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, detail: str) -> PrinterUnavailable:
        self.close()  # reopened on next use: the cable may come back
        return PrinterUnavailable(PrinterState.NO_RESPONSE, detail)

    def write(self, data: bytes) -> None:
        self.open()
        assert self._ser is not None
        try:
            self._ser.write(data)
        except serial.SerialTimeoutException:
            raise self._fail(f"write to {self.port} timed out") from None
        except (serial.SerialException, OSError) as e:
            raise self._fail(f"write to {self.port} failed: {e}") from None
        self._owed += self._scan.status_requests(data)
        self._since_query += len(data)

    # -- status -----------------------------------------------------------
    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1..4 and decode; PrinterUnavailable(NO_RESPONSE) on silence."""
        if not self.status_supported:
            self.open()
            return PrinterStatus()
        self.write(QUERY_ALL)
        assert self._ser is not None
        baud = int(str(self.settings["baudrate"]))
        timeout = self.status_timeout + self._since_query * 10 / max(baud, 1)
        self._since_query = 0
        timeout = min(timeout, 3.0)  # with write_timeout: a dead printer costs < 5 s
        deadline = time.monotonic() + timeout
        got = bytearray()
        try:
            while len(got) < self._owed and time.monotonic() < deadline:
                got += self._ser.read(self._owed - len(got))
        except (serial.SerialException, OSError) as e:
            raise self._fail(f"read from {self.port} failed: {e}") from None
        if len(got) < self._owed:
            self._owed = 0
            self._ser.reset_input_buffer()
            raise PrinterUnavailable(PrinterState.NO_RESPONSE,
                                     f"no status reply within {timeout:.1f}s")
        self._owed = 0
        try:
            return decode_status(bytes(got[-4:]))
        except StatusError as e:
            self._ser.reset_input_buffer()
            raise PrinterUnavailable(PrinterState.NO_RESPONSE, f"garbled status: {e}") from None

    def state(self) -> PrinterState:
        try:
            return self.status().state
        except PrinterUnavailable as e:
            return e.state

    # -- printing ---------------------------------------------------------
    def print_blocks(self, blocks: Sequence[bytes]) -> PrinterStatus:
        """Send a job block by block, checking status before, between and after.

        Raises PrinterUnavailable(state) as soon as the printer cannot go on; then
        it also tells the printer to drop what it buffered (DLE ENQ 2), so a
        half-sent receipt never finishes by itself after paper is loaded.
        """
        st = self.status()
        if not st.state.can_print:
            raise PrinterUnavailable(st.state)
        for big in blocks:
            for blk in split_raster(big, self.max_block_bytes):
                self.write(blk)
                st = self.status()
                if not st.state.can_print:
                    self._abandon()
                    raise PrinterUnavailable(st.state, "while printing")
        return st

    def _abandon(self) -> None:
        try:
            self.write(CLEAR_BUFFERS)
        except PrinterUnavailable:
            pass
