"""Golomb-Rice coding of a sorted set of integers, queried without expanding it.

Why: a status list of 10 million documents with 1% revoked has an entropy of
H(0.01) x 10^7 bits (about 101 KB); a zlib-compressed bitmap takes 136 KiB.
Revocations are close to random, so the gaps between consecutive members are
close to geometric, and a Rice code of the gaps with parameter k near
log2(mean gap x ln 2) comes within about 1% of that limit.

Layout (MSB first): members m_0 < m_1 < ... give gaps g_j = m_j - m_{j-1} - 1
(with m_{-1} = -1); each gap is `g >> k` one-bits, a zero-bit and the k low
bits of g. The last byte is padded with zero-bits; nothing may follow.

Reading is strict and bounded: `RiceSet.parse` walks the whole stream once
(every member inside the universe, exactly `count` codes, zero padding, no
trailing bytes) and keeps a checkpoint (bit offset, preceding member) every
STRIDE members. A membership query bisects the checkpoints and decodes at most
STRIDE codes. Memory: the code bytes plus 16 bytes per STRIDE members, never a
bitmap of the universe (10M documents, 1% revoked: ~101 KB + 25 KB).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from contract.errors import UrError

STRIDE = 64  # members between checkpoints: a query decodes at most this many codes
MAX_K = 40  # a Rice parameter above this would mean a universe far beyond any registry


class RiceError(UrError):
    """A Rice-coded set is malformed (truncated, out of range, trailing data)."""


def gaps_of(members: Iterable[int]) -> list[int]:
    """Gaps of a strictly increasing sequence of non-negative members."""
    out, prev = [], -1
    for m in members:
        if m <= prev:
            raise RiceError(f"members must be strictly increasing and >= 0 (got {m} after {prev})")
        out.append(m - prev - 1)
        prev = m
    return out


def coded_bits(gaps: list[int], k: int) -> int:
    return len(gaps) * (k + 1) + sum(g >> k for g in gaps)


def best_k(gaps: list[int], universe: int) -> int:
    """The Rice parameter for this density: the estimate log2(mean gap x ln 2),
    then whichever of its neighbours codes these gaps in the fewest bits."""
    if not gaps:
        return 0
    mean = max(universe / len(gaps) - 1, 1.0)
    k0 = max(0, min(MAX_K, int(math.log2(mean * math.log(2)))))
    return min(range(max(0, k0 - 1), min(MAX_K, k0 + 1) + 1), key=lambda k: (coded_bits(gaps, k), k))


def encode(gaps: list[int], k: int) -> bytes:
    if not 0 <= k <= MAX_K:
        raise RiceError(f"Rice parameter {k} outside 0..{MAX_K}")
    out = bytearray()
    acc = n = 0
    low = (1 << k) - 1
    for g in gaps:
        q = g >> k
        while q >= 32:
            acc, n, q = (acc << 32) | 0xFFFFFFFF, n + 32, q - 32
            nb = n >> 3
            n -= nb << 3
            out += (acc >> n).to_bytes(nb, "big")
            acc &= (1 << n) - 1
        # q ones, the terminating zero, then the k low bits
        acc = (((acc << q) | ((1 << q) - 1)) << (k + 1)) | (g & low)
        n += q + k + 1
        if n >= 64:
            nb = n >> 3
            n -= nb << 3
            out += (acc >> n).to_bytes(nb, "big")
            acc &= (1 << n) - 1
    if n:
        pad = -n % 8
        out += (acc << pad).to_bytes((n + pad) >> 3, "big")
    return bytes(out)


class _Reader:
    """MSB-first bit reader over `data` from bit offset `bit`."""

    __slots__ = ("data", "p", "acc", "n")

    def __init__(self, data: bytes, bit: int) -> None:
        self.data, self.p = data, bit >> 3
        self.acc = self.n = 0
        skip = bit & 7
        if skip:
            self._refill()
            self.n -= skip
            self.acc &= (1 << self.n) - 1

    def _refill(self) -> bool:
        chunk = self.data[self.p:self.p + 8]
        if not chunk:
            return False
        self.p += len(chunk)
        self.acc = (self.acc << (8 * len(chunk))) | int.from_bytes(chunk, "big")
        self.n += 8 * len(chunk)
        return True

    def bit(self) -> int:
        return 8 * self.p - self.n

    def next_member(self, prev: int, k: int, universe: int) -> int:
        """Decode one gap and return the member after `prev`; RiceError when the
        stream ends early or the member falls outside the universe."""
        q = 0
        while True:
            if self.n == 0 and not self._refill():
                raise RiceError("truncated: the stream ends inside a code")
            inv = ~self.acc & ((1 << self.n) - 1)
            if inv == 0:  # all ones so far
                q += self.n
                self.acc = self.n = 0
                if prev + 1 + (q << k) >= universe:
                    raise RiceError(f"a member lies beyond the size {universe}")
                continue
            ones = self.n - inv.bit_length()
            q += ones
            self.n -= ones + 1
            self.acc &= (1 << self.n) - 1
            break
        while self.n < k:
            if not self._refill():
                raise RiceError("truncated: the stream ends inside a code")
        self.n -= k
        g = (q << k) | (self.acc >> self.n)
        self.acc &= (1 << self.n) - 1
        m = prev + 1 + g
        if m >= universe:
            raise RiceError(f"member {m} lies beyond the size {universe}")
        return m

    def rest_is_padding(self) -> bool:
        return self.p == len(self.data) and self.n < 8 and self.acc == 0


@dataclass(frozen=True)
class RiceSet:
    """A validated Rice-coded set over 0..universe-1 that answers membership in place."""

    universe: int
    count: int
    k: int
    data: bytes
    _cp_bit: array[int] = field(compare=False, repr=False)
    _cp_prev: array[int] = field(compare=False, repr=False)

    @classmethod
    def build(cls, members: Iterable[int], universe: int, k: int | None = None) -> RiceSet:
        gaps = gaps_of(sorted(set(members)))
        if gaps and sum(gaps) + len(gaps) > universe:
            raise RiceError(f"a member lies beyond the size {universe}")
        kk = best_k(gaps, universe) if k is None else k
        return cls.parse(encode(gaps, kk), universe, len(gaps), kk)

    @classmethod
    def parse(cls, data: bytes, universe: int, count: int, k: int) -> RiceSet:
        """Check the whole stream and index it; RiceError names what is wrong."""
        if not 0 <= k <= MAX_K:
            raise RiceError(f"Rice parameter {k} outside 0..{MAX_K}")
        if not 0 <= count <= universe:
            raise RiceError(f"count {count} outside 0..{universe}")
        if len(data) * 8 < count * (k + 1):
            raise RiceError(f"truncated: {len(data)} bytes cannot hold {count} codes with k={k}")
        cp_bit, cp_prev = array("q"), array("q")
        r, prev = _Reader(data, 0), -1
        for j in range(count):
            if j % STRIDE == 0:
                cp_bit.append(r.bit())
                cp_prev.append(prev)
            prev = r.next_member(prev, k, universe)
        if not r.rest_is_padding():
            raise RiceError("trailing data after the last code (or non-zero padding)")
        return cls(universe, count, k, bytes(data), cp_bit, cp_prev)

    def __len__(self) -> int:
        return self.count

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or self.count == 0:
            return False
        c = bisect_left(self._cp_prev, index) - 1  # last checkpoint whose preceding member < index
        if c < 0:
            return False
        r, prev = _Reader(self.data, self._cp_bit[c]), self._cp_prev[c]
        for _ in range(min(STRIDE, self.count - c * STRIDE)):
            prev = r.next_member(prev, self.k, self.universe)
            if prev >= index:
                return prev == index
        return False

    def __iter__(self) -> Iterator[int]:
        r, prev = _Reader(self.data, 0), -1
        for _ in range(self.count):
            prev = r.next_member(prev, self.k, self.universe)
            yield prev

    def memory_bytes(self) -> int:
        """What this set holds beyond a fixed overhead: the codes and the checkpoints."""
        return len(self.data) + self._cp_bit.itemsize * (len(self._cp_bit) + len(self._cp_prev))


def binary_entropy(p: float) -> float:
    """H(p) in bits: the least a set of density p can take per universe element."""
    return 0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
