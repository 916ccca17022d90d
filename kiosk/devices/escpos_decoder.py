"""ESC/POS byte stream -> events: the printer's side of the wire (sans-I/O).

The emulator feeds every byte it receives through `EscPosDecoder.receive_data`
and turns the events into a picture of the paper (receipt_image). A command we
do not know becomes an `Unknown` event (its first bytes skipped), so the rest of
the receipt still prints, as on a real printer. A declared length over the limit
is an `EscPosDecodeError`, after which the decoder is in an error state until
`reset()`.
The buffer is bounded: a command that declares more data than
`max_buffer_size` is refused instead of being buffered.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import UrError

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C


class EscPosDecodeError(UrError):
    """The byte stream is not ESC/POS this printer understands."""


@dataclass(frozen=True)
class Init:
    pass


@dataclass(frozen=True)
class Text:
    data: bytes


@dataclass(frozen=True)
class LineFeed:
    pass


@dataclass(frozen=True)
class Align:
    where: int  # 0 left, 1 center, 2 right


@dataclass(frozen=True)
class PrintMode:
    mode: int  # ESC ! n bits


@dataclass(frozen=True)
class CharSize:
    size: int  # GS ! n


@dataclass(frozen=True)
class Bold:
    on: bool


@dataclass(frozen=True)
class CodePage:
    page: int


@dataclass(frozen=True)
class FeedLines:
    lines: int


@dataclass(frozen=True)
class FeedDots:
    dots: int


@dataclass(frozen=True)
class Raster:
    width_bytes: int
    rows: int
    data: bytes
    mode: int = 0


@dataclass(frozen=True)
class QrParam:
    fn: int
    value: bytes


@dataclass(frozen=True)
class QrStore:
    data: bytes


@dataclass(frozen=True)
class QrPrint:
    pass


@dataclass(frozen=True)
class Cut:
    partial: bool


@dataclass(frozen=True)
class StatusRequest:
    n: int


@dataclass(frozen=True)
class RecoveryRequest:
    n: int


@dataclass(frozen=True)
class AutoStatusBack:
    mask: int


@dataclass(frozen=True)
class Ignored:
    command: bytes


@dataclass(frozen=True)
class Barcode:
    """GS k: m 0..6 (form A, data ends with NUL) or 65..79 (form B, length byte)."""

    m: int
    data: bytes


@dataclass(frozen=True)
class BarcodeParam:
    """GS h (height dots), GS w (module width), GS H (text position), GS f (text font)."""

    command: int
    value: int


@dataclass(frozen=True)
class Unknown:
    """A command this printer does not know: skipped, the rest still prints, and the
    paper marks the place (a real printer would print garbage or nothing there)."""

    command: bytes
    reason: str


class UnknownCommand(EscPosDecodeError):
    """Raised inside the decoder for a command it does not know; `skip` bytes are
    dropped and an `Unknown` event is given instead of failing the stream."""

    def __init__(self, reason: str, skip: int) -> None:
        super().__init__(reason)
        self.skip = skip


Event = (Init | Text | LineFeed | Align | PrintMode | CharSize | Bold | CodePage | FeedLines
         | FeedDots | Raster | QrParam | QrStore | QrPrint | Cut | StatusRequest
         | RecoveryRequest | AutoStatusBack | Ignored | Barcode | BarcodeParam | Unknown)

# ESC x n commands with exactly one parameter byte that we accept and ignore
# (underline, line spacing, character set, rotation, upside-down, font).
# GS ( X pL pH ... families we accept: k (2-D codes), E (user setup / memory
# switches), K (print control), L (graphics), A/C/D/H (misc). Only k is drawn.
_GS_PAREN_KNOWN = set(b"kEKLACDH")
_ESC_ONE_IGNORED = {0x2D, 0x33, 0x52, 0x56, 0x7B, 0x4D, 0x47, 0x20}


class _Incomplete(Exception):
    pass


class EscPosDecoder:
    def __init__(self, max_buffer_size: int = 1 << 20) -> None:
        self.max_buffer_size = max_buffer_size
        self._buf = bytearray()
        self._error: str | None = None

    def reset(self) -> None:
        self._buf.clear()
        self._error = None

    @property
    def pending(self) -> int:
        return len(self._buf)

    def receive_data(self, data: bytes) -> list[Event]:
        if self._error is not None:
            raise EscPosDecodeError(f"decoder is in error state: {self._error}")
        self._buf += data
        events: list[Event] = []
        pos = 0
        try:
            while pos < len(self._buf):
                try:
                    ev, pos = self._one(pos)
                except _Incomplete:
                    break
                except UnknownCommand as u:
                    ev = Unknown(bytes(self._buf[pos:pos + u.skip]), str(u))
                    pos += u.skip
                if ev is not None:
                    events.append(ev)
        except EscPosDecodeError as e:
            self._error = str(e)
            del self._buf[:]
            raise
        del self._buf[:pos]
        if len(self._buf) > self.max_buffer_size:
            self._error = "buffer limit exceeded"
            self._buf.clear()
            raise EscPosDecodeError(
                f"an incomplete command holds more than {self.max_buffer_size} bytes")
        return events

    def _need(self, pos: int, n: int) -> bytes:
        if pos + n > len(self._buf):
            raise _Incomplete
        return bytes(self._buf[pos:pos + n])

    def _declared(self, n: int, what: str) -> None:
        if n > self.max_buffer_size:
            raise EscPosDecodeError(f"{what} declares {n} bytes, more than the "
                                    f"{self.max_buffer_size}-byte limit")

    def _one(self, pos: int) -> tuple[Event | None, int]:
        b = self._buf[pos]
        if b >= 0x20 and b != 0x7F:
            end = pos
            while end < len(self._buf) and self._buf[end] >= 0x20 and self._buf[end] != 0x7F:
                end += 1
            return Text(bytes(self._buf[pos:end])), end
        if b == 0x0A:
            return LineFeed(), pos + 1
        if b in (0x0D, 0x00, 0x09):
            return None, pos + 1
        if b == ESC:
            return self._esc(pos)
        if b == GS:
            return self._gs(pos)
        if b == DLE:
            c, n = self._need(pos, 3)[1:]
            if c == 0x04:
                if not 1 <= n <= 4:
                    raise EscPosDecodeError(f"DLE EOT {n}: status request must be 1..4")
                return StatusRequest(n), pos + 3
            if c == 0x05:
                return RecoveryRequest(n), pos + 3
            raise UnknownCommand(f"unknown real-time command DLE 0x{c:02x}", 2)
        raise UnknownCommand(f"unexpected control byte 0x{b:02x}", 1)

    def _esc(self, pos: int) -> tuple[Event | None, int]:
        c = self._need(pos, 2)[1]
        if c == 0x40:
            return Init(), pos + 2
        if c == 0x32:
            return Ignored(b"\x1b2"), pos + 2
        n = self._need(pos, 3)[2]
        if c == 0x61:
            if n not in (0, 1, 2, 48, 49, 50):
                raise UnknownCommand(f"ESC a {n}: alignment must be 0..2", 3)
            return Align(n % 48), pos + 3
        if c == 0x21:
            return PrintMode(n), pos + 3
        if c == 0x45:
            return Bold(bool(n & 1)), pos + 3
        if c == 0x74:
            return CodePage(n), pos + 3
        if c == 0x64:
            return FeedLines(n), pos + 3
        if c == 0x4A:
            return FeedDots(n), pos + 3
        if c in _ESC_ONE_IGNORED:
            return Ignored(bytes([ESC, c, n])), pos + 3
        raise UnknownCommand(f"unknown command ESC 0x{c:02x}", 2)

    def _gs(self, pos: int) -> tuple[Event | None, int]:
        c = self._need(pos, 2)[1]
        if c == 0x76:  # GS v 0 m xL xH yL yH d1..dk
            hdr = self._need(pos, 8)
            if hdr[2] != 0x30:
                raise EscPosDecodeError(f"GS v 0x{hdr[2]:02x}: only GS v 0 raster is known")
            m = hdr[3]
            if m not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise EscPosDecodeError(f"GS v 0 mode {m} is not 0..3")
            wb = hdr[4] | hdr[5] << 8
            rows = hdr[6] | hdr[7] << 8
            if wb == 0 or rows == 0:
                raise EscPosDecodeError("GS v 0 raster with zero width or height")
            self._declared(wb * rows, "GS v 0 raster")
            data = self._need(pos + 8, wb * rows)
            return Raster(wb, rows, data, m % 48), pos + 8 + wb * rows
        if c == 0x28:  # GS ( k pL pH cn fn ...
            hdr = self._need(pos, 5)
            if hdr[2] not in _GS_PAREN_KNOWN:
                raise UnknownCommand(f"GS ( 0x{hdr[2]:02x} is not a command this printer knows", 3)
            size = hdr[3] | hdr[4] << 8
            if size < 2:
                raise EscPosDecodeError(f"GS ( k length {size} is shorter than cn fn")
            self._declared(size, "GS ( k")
            body = self._need(pos + 5, size)
            end = pos + 5 + size
            if hdr[2] != 0x6B:  # settings (GS ( E ...), graphics, etc.: accepted, not drawn
                return Ignored(bytes(self._buf[pos:end])), end
            cn, fn, params = body[0], body[1], body[2:]
            if cn != 49:
                return Ignored(bytes(self._buf[pos:end])), end
            if fn == 80:
                if not params or params[0] != 48:
                    raise EscPosDecodeError("GS ( k store QR data needs m = 48")
                return QrStore(params[1:]), end
            if fn == 81:
                return QrPrint(), end
            if fn in (65, 67, 69):
                if not params:
                    raise EscPosDecodeError(f"GS ( k fn {fn} has no parameter")
                return QrParam(fn, params), end
            return Ignored(bytes(self._buf[pos:end])), end
        if c == 0x56:  # GS V m [n]
            m = self._need(pos, 3)[2]
            if m in (0, 1, 48, 49):
                return Cut(partial=m in (1, 49)), pos + 3
            if m in (65, 66):
                self._need(pos, 4)
                return Cut(partial=m == 66), pos + 4
            raise UnknownCommand(f"GS V {m}: unknown cut mode", 3)
        if c == 0x21:
            return CharSize(self._need(pos, 3)[2]), pos + 3
        if c == 0x61:
            return AutoStatusBack(self._need(pos, 3)[2]), pos + 3
        if c in (0x48, 0x66, 0x68, 0x77):  # bar code: HRI position, HRI font, height, width
            return BarcodeParam(c, self._need(pos, 3)[2]), pos + 3
        if c == 0x42:  # reverse printing
            return Ignored(self._need(pos, 3)), pos + 3
        if c == 0x6B:  # GS k m ...
            m = self._need(pos, 3)[2]
            if m <= 6:
                end = self._buf.find(0, pos + 3)
                if end < 0:
                    if len(self._buf) - pos > 255 + 3:
                        raise UnknownCommand("GS k form A without its NUL within 255 bytes", 3)
                    raise _Incomplete
                return Barcode(m, bytes(self._buf[pos + 3:end])), end + 1
            if 65 <= m <= 79:
                n = self._need(pos, 4)[3]
                return Barcode(m, self._need(pos + 4, n)), pos + 4 + n
            raise UnknownCommand(f"GS k {m}: unknown bar code system", 3)
        raise UnknownCommand(f"unknown command GS 0x{c:02x}", 2)
