"""QR scanner serial ("COM port") framing: the sans-I/O core for both sides.

Scanners in serial mode send each code as a line: an optional STX, an optional
custom prefix, an optional AIM symbology identifier (`]Q1` = QR), the data,
then CR, LF or CRLF. The data is bytes (binary QR survives the serial link,
unlike keyboard mode), lines may arrive split over many reads, and a peer
that never ends a line cannot grow the buffer past `max_line`.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import UrError

STX = 0x02
CR, LF = 0x0D, 0x0A


class ScannerProtocolError(UrError):
    """Bad framing settings or data that cannot be framed as a line."""


@dataclass(frozen=True)
class ScannedCode:
    data: bytes
    symbology: str | None = None  # AIM id, e.g. "]Q1"; None when the scanner sends none


@dataclass(frozen=True)
class Dropped:
    """A line was discarded (too long); the buffer resynchronised at the next end."""

    reason: str
    length: int


ScannerEvent = ScannedCode | Dropped

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}


class ScannerFraming:
    def __init__(self, *, aim: bool = True, prefix: bytes = b"", max_line: int = 8192) -> None:
        if max_line < 16:
            raise ScannerProtocolError("max_line must be at least 16 bytes")
        self.aim = aim
        self.prefix = prefix
        self.max_line = max_line
        self._buf = bytearray()
        self._after_cr = False
        self._discarding = False
        self._discarded = 0

    def receive_data(self, data: bytes) -> list[ScannerEvent]:
        events: list[ScannerEvent] = []
        for b in data:
            if self._after_cr and b == LF:
                self._after_cr = False
                continue  # CRLF is one line end
            self._after_cr = b == CR
            if b in (CR, LF):
                if self._discarding:
                    events.append(Dropped(f"line longer than {self.max_line} bytes",
                                          self._discarded))
                    self._discarding, self._discarded = False, 0
                elif self._buf:
                    ev = self._line(bytes(self._buf))
                    if ev is not None:
                        events.append(ev)
                self._buf.clear()
                continue
            if self._discarding:
                self._discarded += 1
                continue
            self._buf.append(b)
            if len(self._buf) > self.max_line:
                self._discarding, self._discarded = True, len(self._buf)
                self._buf.clear()
        return events

    def _line(self, line: bytes) -> ScannedCode | None:
        if line[:1] == bytes([STX]):
            line = line[1:]
        if self.prefix and line.startswith(self.prefix):
            line = line[len(self.prefix):]
        sym = None
        if self.aim and len(line) >= 3 and line[0] == 0x5D and 0x21 <= line[1] <= 0x7E:
            sym, line = line[:3].decode("latin-1"), line[3:]
        if not line:
            return None
        return ScannedCode(line, sym)

    # -- the scanner's side (emulator) -------------------------------------------
    @staticmethod
    def send(code: ScannedCode, *, terminator: str = "cr", stx: bool = False,
             prefix: bytes = b"") -> bytes:
        if terminator not in TERMINATORS:
            raise ScannerProtocolError(f"terminator {terminator!r} is not one of {sorted(TERMINATORS)}")
        if CR in code.data or LF in code.data:
            raise ScannerProtocolError("a code containing CR or LF cannot be sent in line mode")
        sym = (code.symbology or "").encode("latin-1")
        return (bytes([STX]) if stx else b"") + prefix + sym + code.data + TERMINATORS[terminator]
