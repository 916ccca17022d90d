"""Hybrid logical clock (Kulkarni et al.): wall-clock-like, but never goes back.

A timestamp is one int: milliseconds << 16 | logical counter. Pure: callers pass
the physical time in, so tests can set clocks hours wrong. Order of messages is
decided by per-stream sequence numbers; the HLC is for audit and skew alarms.
"""

from __future__ import annotations

from dataclasses import dataclass

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def pack(ms: int, logical: int) -> int:
    return (ms << LOGICAL_BITS) | (logical & LOGICAL_MASK)


def physical_ms(ts: int) -> int:
    return ts >> LOGICAL_BITS


@dataclass
class HLC:
    last: int = 0

    def now(self, wall_ms: int) -> int:
        """Timestamp for a local event at wall time `wall_ms`."""
        last_ms, last_l = self.last >> LOGICAL_BITS, self.last & LOGICAL_MASK
        if wall_ms > last_ms:
            self.last = pack(wall_ms, 0)
        elif last_l < LOGICAL_MASK:
            self.last = pack(last_ms, last_l + 1)
        else:
            # Counter full (65,536 events within one millisecond of a clock that is
            # behind): carry into the physical part, as an overflowing digit would,
            # instead of wrapping to 0 and going back in time. The encoding is
            # unchanged, so every value ever sent still reads the same; the HLC
            # runs at most 1 ms ahead of the clock per 65,536 such events.
            self.last = pack(last_ms + 1, 0)
        return self.last
