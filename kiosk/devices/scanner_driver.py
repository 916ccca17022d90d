"""Thin pyserial driver for a QR scanner in serial ("COM port") mode.

Why reopen: USB scanners in CDC mode vanish when unplugged and come back at
the same udev path (/dev/serial/by-id/...). The driver treats any port error
as "disconnected", drops the half line, and tries to reopen the same path
every `reopen_interval` seconds; scans simply resume when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import serial

from kiosk.devices import scanner_config as sc
from kiosk.devices.scanner_framing import Dropped, ScannedCode, ScannerFraming

log = logging.getLogger(__name__)

READY, DISCONNECTED = "ready", "disconnected"


class SerialScanner:
    def __init__(self, port: str, baudrate: int = 9600, *, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1, rtscts: bool = False,
                 aim: bool = True, prefix: bytes = b"", max_line: int = 8192,
                 reopen_interval: float = 0.5) -> None:
        self.port = port
        self.settings: dict[str, Any] = dict(baudrate=baudrate, bytesize=bytesize, parity=parity,
                             stopbits=stopbits, rtscts=rtscts)
        self.framing_opts = dict(aim=aim, prefix=prefix, max_line=max_line)
        self.reopen_interval = reopen_interval
        self.framing = ScannerFraming(**self.framing_opts)  # type: ignore[arg-type]  # the dict holds exactly ScannerFraming's typed arguments
        self._ser: serial.Serial | None = None
        self._next_open = 0.0
        self.state = DISCONNECTED
        self.last_error = ""
        self.dropped = 0
        self.reconnects = 0

    def _open(self) -> bool:
        if self._ser is not None:
            return True
        now = time.monotonic()
        if now < self._next_open:
            return False
        try:
            self._ser = serial.serial_for_url(self.port, timeout=0.1, write_timeout=2, **self.settings)
        except (serial.SerialException, OSError, ValueError) as e:
            self._next_open = now + self.reopen_interval
            self.last_error = str(e)
            return False
        if self.state == DISCONNECTED and self.reconnects >= 0:
            self.reconnects += 1
        self.state = READY
        self.framing = ScannerFraming(**self.framing_opts)  # type: ignore[arg-type]  # the dict holds exactly ScannerFraming's typed arguments
        return True

    def _lost(self, e: Exception) -> None:
        log.info("scanner on %s lost: %s", self.port, e)
        self.last_error = str(e)
        self.close()
        self._next_open = time.monotonic() + self.reopen_interval

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
        self._ser = None
        self.state = DISCONNECTED

    def poll(self, timeout: float = 0.1) -> list[ScannedCode]:
        """Codes completed within about `timeout` seconds (never blocks longer)."""
        if not self._open():
            time.sleep(min(timeout, max(0.0, self._next_open - time.monotonic())))
            return []
        assert self._ser is not None
        try:
            self._ser.timeout = timeout
            data = self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            return []
        out: list[ScannedCode] = []
        for ev in self.framing.receive_data(data):
            if isinstance(ev, Dropped):
                self.dropped += 1
                log.warning("scanner: %s", ev.reason)
            else:
                out.append(ev)
        return out

    def run(self, on_code: Callable[[ScannedCode], None], stop: threading.Event) -> None:
        while not stop.is_set():
            for c in self.poll(0.1):
                on_code(c)

    # -- configuration ------------------------------------------------------------
    def _exchange(self, frame: bytes, done: Callable[[bytes], bool], timeout: float) -> bytes:
        if not self._open():
            raise sc.ScannerConfigError(f"cannot open scanner port {self.port}: {self.last_error}")
        assert self._ser is not None
        try:
            self._ser.reset_input_buffer()
            self._ser.write(frame)
            got = bytearray()
            deadline = time.monotonic() + timeout
            self._ser.timeout = 0.05
            while time.monotonic() < deadline and not done(bytes(got)):
                got += self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            raise sc.ScannerConfigError(f"scanner port {self.port} failed: {e}") from None
        if not done(bytes(got)):
            raise sc.ScannerConfigError(f"no reply from the scanner within {timeout}s")
        return bytes(got)

    def apply_honeywell(self, commands: Sequence[str], timeout: float = 2.0) -> list[str]:
        results = []
        for c in commands:
            reply = self._exchange(sc.honeywell_command(c), lambda b: b.endswith(b"."), timeout)
            sc.honeywell_reply(reply)
            results.append(f"{c}: ack")
        return results

    def apply_ssi(self, params: dict[int, int], timeout: float = 2.0) -> list[str]:
        reply = self._exchange(sc.ssi_param_send(params),
                               lambda b: len(b) >= 2 and len(b) >= b[0] + 2, timeout)
        p = sc.ssi_decode(reply[: reply[0] + 2])
        if p.opcode == sc.SSI_CMD_NAK:
            raise sc.ScannerConfigError(f"scanner refused the parameters (NAK 0x{p.data[:1].hex()})")
        if p.opcode != sc.SSI_CMD_ACK:
            raise sc.ScannerConfigError(f"unexpected SSI reply opcode 0x{p.opcode:02x}")
        return [f"param {k}={v}: ack" for k, v in params.items()]
