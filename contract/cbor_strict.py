"""A strict, bounded CBOR reader for signed data that arrives from outside.

Why not cbor2.loads: hostile input must fail with a reason, never exhaust
memory (cbor2 trusts declared lengths, agronholm/cbor2#186), and duplicate map
keys, trailing bytes, indefinite lengths and deep nesting must be refused, not
silently accepted. Only what UR1, the trust list and the status list use is
supported: integers, byte/text strings, arrays, maps, tags, false/true/null.
Encoding stays with cbor2 (`dumps`), which produces the canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contract.errors import UrError

MAX_DEPTH = 8


class CborError(UrError):
    """The bytes are not acceptable CBOR; the message says where and why."""


@dataclass(frozen=True)
class Tag:
    number: int
    value: Any


class _Reader:
    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def _take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise CborError(
                f"declared length {n} exceeds the {len(self.data) - self.pos} bytes left at offset {self.pos}"
            )
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _arg(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        if info == 31:
            raise CborError(f"indefinite-length item at offset {self.pos - 1} is not allowed")
        raise CborError(f"reserved additional information {info} at offset {self.pos - 1}")

    def item(self, depth: int) -> Any:
        if depth > self.max_depth:
            raise CborError(f"nesting deeper than {self.max_depth} levels")
        if self.pos >= len(self.data):
            raise CborError("unexpected end of CBOR data")
        start = self.pos
        ib = self.data[self.pos]
        self.pos += 1
        major, info = ib >> 5, ib & 31
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info == 22:
                return None
            if info in (25, 26, 27):
                raise CborError(f"floating-point value at offset {start} is not allowed here")
            raise CborError(f"unsupported simple value {info} at offset {start}")
        arg = self._arg(info)
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self._take(arg)
        if major == 3:
            raw = self._take(arg)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CborError(f"text string at offset {start} is not valid UTF-8") from None
        if major == 4:
            if arg > len(self.data) - self.pos:
                raise CborError(f"array of {arg} items at offset {start} is longer than the input")
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            if 2 * arg > len(self.data) - self.pos:
                raise CborError(f"map of {arg} pairs at offset {start} is longer than the input")
            out: dict[Any, Any] = {}
            for _ in range(arg):
                kpos = self.pos
                k = self.item(depth + 1)
                if not isinstance(k, (int, str)) or isinstance(k, bool):
                    raise CborError(f"map key at offset {kpos} must be an integer or text")
                if k in out:
                    raise CborError(f"duplicate map key {k!r} at offset {kpos}")
                out[k] = self.item(depth + 1)
            return out
        # major == 6
        return Tag(arg, self.item(depth + 1))


def loads(data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode exactly one CBOR item that fills `data`; raise CborError otherwise."""
    if not isinstance(data, (bytes, bytearray)):
        raise CborError("CBOR input must be bytes")
    r = _Reader(bytes(data), max_depth)
    value = r.item(0)
    if r.pos != len(r.data):
        raise CborError(f"{len(r.data) - r.pos} trailing bytes after the CBOR item")
    return value
