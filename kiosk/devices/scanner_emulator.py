"""A serial QR scanner on a pseudo-terminal, reachable through a stable link path.

The link (like udev's /dev/serial/by-id/...) points at the current pty; `unplug()`
closes the pty (the driver sees the device vanish) and `plug()` makes a new one
behind the same link, which is how a USB scanner re-enumerates. The emulator
frames codes with the same core the driver parses, and answers configuration
frames in the Honeywell or Zebra SSI dialect.
"""

from __future__ import annotations

import os
import pty
import select
import threading
import time
import tty
from pathlib import Path

from kiosk.devices import scanner_config as sc
from kiosk.devices.scanner_framing import ScannedCode, ScannerFraming

HONEYWELL_MENU_OK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class ScannerEmulator:
    def __init__(self, link: Path | str, *, terminator: str = "cr", stx: bool = False,
                 aim: bool = True, prefix: bytes = b"", dialect: str = "honeywell") -> None:
        self.link = Path(link)
        self.terminator, self.stx, self.aim, self.prefix = terminator, stx, aim, prefix
        self.dialect = dialect
        self.settings: dict[str, str] = {}
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._slave: int | None = None
        self._buf = bytearray()

    @property
    def plugged(self) -> bool:
        return self._fd is not None

    def plug(self) -> str:
        with self._lock:
            if self._fd is None:
                self._fd, self._slave = pty.openpty()
                tty.setraw(self._fd)
                tty.setraw(self._slave)
                tmp = self.link.with_name(self.link.name + ".new")
                if tmp.is_symlink() or tmp.exists():
                    tmp.unlink()
                tmp.symlink_to(os.ttyname(self._slave))
                tmp.replace(self.link)
            return str(self.link)

    def unplug(self) -> None:
        with self._lock:
            for fd in (self._fd, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._fd = self._slave = None
            if self.link.is_symlink():
                self.link.unlink()
            self._buf.clear()

    def write(self, raw: bytes, split: int | None = None, pause: float = 0.005) -> None:
        """Raw bytes onto the wire, optionally `split` bytes at a time (partial lines)."""
        step = split or len(raw) or 1
        for i in range(0, len(raw), step):
            with self._lock:
                if self._fd is None:
                    raise OSError("scanner is unplugged")
                os.write(self._fd, raw[i:i + step])
            if split:
                time.sleep(pause)

    def scan(self, data: bytes | str, symbology: str | None = "]Q1",
             split: int | None = None) -> None:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        frame = ScannerFraming.send(ScannedCode(payload, symbology if self.aim else None),
                                    terminator=self.terminator, stx=self.stx, prefix=self.prefix)
        self.write(frame, split)

    # -- configuration replies ---------------------------------------------------
    def handle(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        if self.dialect == "honeywell":
            while b"." in self._buf:
                frame, _, rest = bytes(self._buf).partition(b".")
                self._buf = bytearray(rest)
                try:
                    cmd = sc.honeywell_parse_command(frame + b".")
                except sc.ScannerConfigError:
                    continue
                ok = len(cmd) >= 3 and all(c in HONEYWELL_MENU_OK for c in cmd)
                if ok:
                    self.settings[cmd[:6]] = cmd[6:]
                out += sc.HONEYWELL_PREFIX + cmd.encode() + bytes([sc.ACK if ok else sc.ENQ]) + b"."
        else:
            while self._buf and len(self._buf) >= self._buf[0] + 2:
                n = self._buf[0] + 2
                frame, self._buf = bytes(self._buf[:n]), self._buf[n:]
                try:
                    params = sc.ssi_params(sc.ssi_decode(frame))
                except sc.ScannerConfigError:
                    out += sc.ssi_encode(sc.SsiPacket(sc.SSI_CMD_NAK, sc.SSI_DECODER, 0, b"\x01"))
                    self._buf.clear()
                    continue
                self.settings.update({str(k): str(v) for k, v in params.items()})
                out += sc.ssi_encode(sc.SsiPacket(sc.SSI_CMD_ACK, sc.SSI_DECODER, 0, b""))
            if len(self._buf) > 1024:
                self._buf.clear()
        return bytes(out)

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            fd = self._fd
            if fd is None:
                stop.wait(0.05)
                continue
            try:
                r, _, _ = select.select([fd], [], [], 0.05)
                data = os.read(fd, 4096) if r else b""
            except OSError:
                stop.wait(0.05)
                continue
            if data:
                reply = self.handle(data)
                if reply:
                    try:
                        self.write(reply)
                    except OSError:
                        pass

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        t = threading.Thread(target=self.serve, args=(stop,), daemon=True, name="scanner-emulator")
        t.start()
        return t, stop
