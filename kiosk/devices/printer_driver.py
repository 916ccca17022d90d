"""Thin pyserial driver for an ESC/POS receipt printer.

Why it is shaped like this: the printer answers DLE EOT wherever those bytes
appear, even inside image data, so the driver runs everything it writes
through the same `RealtimeScanner` the emulator uses, knows how many reply
bytes are owed, and keeps only the last four (the answers to its own query).
Every wait is bounded (read timeout, write timeout) so a dead or unplugged
printer costs seconds, never a hung kiosk.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

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


class EscPosPrinter:
    """One printer on one port (device path, pty, socket://, rfc2217://)."""

    def __init__(self, port: str, baudrate: int = 9600, *, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1, rtscts: bool = False,
                 xonxoff: bool = False, status_timeout: float = 1.0,
                 write_timeout: float = 2.0) -> None:
        self.port = port
        self.settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity,
                             stopbits=stopbits, rtscts=rtscts, xonxoff=xonxoff)
        self.status_timeout = status_timeout
        self.write_timeout = write_timeout
        self._ser: serial.SerialBase | None = None
        self._scan = RealtimeScanner()
        self._owed = 0  # status reply bytes the printer owes us
        self._since_query = 0  # bytes written since the last status query

    # -- port -------------------------------------------------------------
    def open(self) -> None:
        if self._ser is not None:
            return
        try:
            self._ser = serial.serial_for_url(self.port, timeout=0.05,
                                              write_timeout=self.write_timeout,
                                              **self.settings)
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
        self.write(QUERY_ALL)
        assert self._ser is not None
        baud = int(self.settings["baudrate"])
        timeout = self.status_timeout + self._since_query * 10 / max(baud, 1)
        self._since_query = 0
        deadline = time.monotonic() + min(timeout, 4.0)
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
        for blk in blocks:
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
