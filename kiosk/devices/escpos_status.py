"""ESC/POS real-time status (DLE EOT 1..4): the sans-I/O core both sides share.

Why a core of its own: the driver (asking) and the emulator (answering) must agree
bit for bit, and a fuzzer must be able to throw any byte at the parser. Nothing
here touches a port, a clock or a thread.

Status byte shape (Epson-compatible): `0xx1xx10b` -- bits 1 and 4 set, bits 0 and
7 clear. Bit meanings follow Epson's DLE EOT reference (n=1 printer, 2 offline
cause, 3 error cause, 4 paper sensor); see the constants below.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from contract.errors import UrError

DLE = 0x10
EOT = 0x04
ENQ = 0x05

#: The request the host sends for status n (1 printer, 2 offline cause,
#: 3 error cause, 4 paper sensor).
QUERIES = {n: bytes([DLE, EOT, n]) for n in (1, 2, 3, 4)}
QUERY_ALL = b"".join(QUERIES[n] for n in (1, 2, 3, 4))

_FIXED_MASK = 0b1001_0011
_FIXED_BITS = 0b0001_0010


class StatusError(UrError):
    """A status reply that is not a DLE EOT answer (wrong shape or length)."""


class PrinterState(enum.StrEnum):
    """What the person at the kiosk (and central) is told, one word each."""

    READY = "ready"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_END = "paper_end"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    UNRECOVERABLE_ERROR = "unrecoverable_error"
    AUTO_RECOVERABLE_ERROR = "auto_recoverable_error"
    OFFLINE = "offline"
    NO_RESPONSE = "no_response"

    @property
    def can_print(self) -> bool:
        return self in (PrinterState.READY, PrinterState.PAPER_NEAR_END)


#: Short texts the screen shows; keys are PrinterState values.
STATE_MESSAGES: dict[PrinterState, str] = {
    PrinterState.READY: "Printer ready",
    PrinterState.PAPER_NEAR_END: "Printer paper is running low",
    PrinterState.PAPER_END: "Printer is out of paper",
    PrinterState.COVER_OPEN: "Printer cover is open",
    PrinterState.CUTTER_ERROR: "Printer cutter is jammed",
    PrinterState.UNRECOVERABLE_ERROR: "Printer has a hardware fault",
    PrinterState.AUTO_RECOVERABLE_ERROR: "Printer is recovering (e.g. head too hot)",
    PrinterState.OFFLINE: "Printer is offline",
    PrinterState.NO_RESPONSE: "Printer does not answer (unplugged or off)",
}


@dataclass(frozen=True)
class PrinterStatus:
    """The four status bytes decoded into flags."""

    offline: bool = False
    drawer_high: bool = False
    cover_open: bool = False
    feed_button: bool = False
    stopped_paper_end: bool = False
    error: bool = False
    recoverable_error: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    paper_near_end: bool = False
    paper_end: bool = False

    @property
    def state(self) -> PrinterState:
        """One state, most serious first (a jammed cutter matters more than paper)."""
        if self.unrecoverable_error:
            return PrinterState.UNRECOVERABLE_ERROR
        if self.cutter_error:
            return PrinterState.CUTTER_ERROR
        if self.auto_recoverable_error:
            return PrinterState.AUTO_RECOVERABLE_ERROR
        if self.cover_open:
            return PrinterState.COVER_OPEN
        if self.paper_end or self.stopped_paper_end:
            return PrinterState.PAPER_END
        if self.offline or self.error or self.recoverable_error:
            return PrinterState.OFFLINE
        if self.paper_near_end:
            return PrinterState.PAPER_NEAR_END
        return PrinterState.READY


def check_shape(n: int, byte: int) -> None:
    if not 0 <= byte <= 255 or byte & _FIXED_MASK != _FIXED_BITS:
        raise StatusError(
            f"status byte for DLE EOT {n} is 0x{byte & 0xFF:02x}, not of the form 0xx1xx10b"
        )


def decode_status(replies: bytes) -> PrinterStatus:
    """Decode the four reply bytes to DLE EOT 1, 2, 3, 4 (in that order)."""
    if len(replies) != 4:
        raise StatusError(f"expected 4 status bytes (DLE EOT 1..4), got {len(replies)}")
    for n, b in zip((1, 2, 3, 4), replies, strict=True):
        check_shape(n, b)
    s1, s2, s3, s4 = replies
    return PrinterStatus(
        drawer_high=bool(s1 & 0x04),
        offline=bool(s1 & 0x08),
        cover_open=bool(s2 & 0x04),
        feed_button=bool(s2 & 0x08),
        stopped_paper_end=bool(s2 & 0x20),
        error=bool(s2 & 0x40),
        recoverable_error=bool(s3 & 0x04),
        cutter_error=bool(s3 & 0x08),
        unrecoverable_error=bool(s3 & 0x20),
        auto_recoverable_error=bool(s3 & 0x40),
        paper_near_end=bool(s4 & 0x0C),
        paper_end=bool(s4 & 0x60),
    )


def encode_reply(n: int, st: PrinterStatus) -> int:
    """The byte a printer in status `st` answers to DLE EOT n (emulator side)."""
    b = _FIXED_BITS
    if n == 1:
        b |= (0x04 if st.drawer_high else 0) | (0x08 if st.offline else 0)
    elif n == 2:
        b |= (0x04 if st.cover_open else 0) | (0x08 if st.feed_button else 0)
        b |= (0x20 if st.stopped_paper_end else 0) | (0x40 if st.error else 0)
    elif n == 3:
        b |= (0x04 if st.recoverable_error else 0) | (0x08 if st.cutter_error else 0)
        b |= (0x20 if st.unrecoverable_error else 0) | (0x40 if st.auto_recoverable_error else 0)
    elif n == 4:
        b |= (0x0C if st.paper_near_end else 0) | (0x60 if st.paper_end else 0)
    else:
        raise StatusError(f"DLE EOT {n} is not a status request this core answers (1..4)")
    return b


def status_for(state: PrinterState) -> PrinterStatus:
    """The flags a printer sets when it is in `state` (emulator fault knobs use this)."""
    flags: dict[PrinterState, dict[str, bool]] = {
        PrinterState.READY: {},
        PrinterState.PAPER_NEAR_END: {"paper_near_end": True},
        PrinterState.PAPER_END: {"paper_end": True, "paper_near_end": True,
                                 "stopped_paper_end": True, "offline": True},
        PrinterState.COVER_OPEN: {"cover_open": True, "offline": True},
        PrinterState.CUTTER_ERROR: {"cutter_error": True, "error": True, "offline": True},
        PrinterState.UNRECOVERABLE_ERROR: {"unrecoverable_error": True, "error": True,
                                           "offline": True},
        PrinterState.AUTO_RECOVERABLE_ERROR: {"auto_recoverable_error": True, "error": True,
                                              "offline": True},
        PrinterState.OFFLINE: {"offline": True},
    }
    if state not in flags:
        raise StatusError(f"a printer cannot report state {state.value!r} itself")
    return PrinterStatus(**flags[state])


class RealtimeScanner:
    """Finds DLE EOT n and DLE ENQ n (n = 1..4) in a raw byte stream, across chunks.

    A real printer acts on these bytes wherever they appear -- even inside raster
    image data. The emulator uses this to answer like a printer; the driver feeds
    everything it writes through its own copy so it knows how many reply bytes to
    expect (and can drop the spurious ones that image data provoked).
    `feed` returns (offset just after the command in this chunk, EOT|ENQ, n).
    """

    def __init__(self) -> None:
        self._state = 0  # 0: idle, 1: saw DLE, 2: saw DLE EOT, 3: saw DLE ENQ

    def feed(self, data: bytes) -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []
        st = self._state
        for i, b in enumerate(data):
            if st == 0:
                st = 1 if b == DLE else 0
            elif st == 1:
                st = 2 if b == EOT else 3 if b == ENQ else (1 if b == DLE else 0)
            else:
                if 1 <= b <= 4:
                    found.append((i + 1, EOT if st == 2 else ENQ, b))
                    st = 0
                else:
                    st = 1 if b == DLE else 0
        self._state = st
        return found

    def status_requests(self, data: bytes) -> int:
        """How many DLE EOT n requests (each answered by one byte) `data` carries."""
        return sum(1 for _, c, _ in self.feed(data) if c == EOT)


#: DLE ENQ 2: recover from an error after clearing the receive and print buffers.
CLEAR_BUFFERS = bytes([DLE, ENQ, 2])
