"""The revocation status list: which status indexes are revoked, root-signed.

Format 2 (written since issue 18): the revoked indexes as a Golomb-Rice code of
their gaps (contract/rice_code.py), with the Rice parameter `k` and the number
of revoked indexes `n` in the signed header. 10 million documents with 1%
revoked take about 101 KB, within 1% of the entropy limit; the zlib bitmap of
format 1 took 136 KiB. A kiosk answers `is_revoked` from the code itself, with
memory bounded by the code plus 16 bytes per 64 revoked indexes (about 126 KB
for that list), never a bitmap of `size` bits.

Format 1 (one bit per document, zlib, as in the IETF Token Status List draft)
is still read, so kiosks keep working while central and kiosks are upgraded
in either order; it expands to size/8 bytes (capped by MAX_SIZE).

`size` is how many indexes were allocated when the list was made; a document
newer than the list may carry a larger index. `next_update` tells a kiosk
when the list stops being trustworthy (STALE).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cbor2

from contract import cose_sign1
from contract.rice_code import RiceError, RiceSet
from contract.trust_list import ListError, field_int, open_signed

FORMAT = 2
MAX_SIZE = 1 << 30  # indexes; 128 MiB of bits, far above any real registry


@dataclass(frozen=True)
class Bitmap:
    """Format 1's revoked set: bit i (byte i // 8, least significant bit first)."""

    bits: bytes

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and bool(self.bits[index >> 3] >> (index & 7) & 1)

    def __len__(self) -> int:
        return sum(bin(b).count("1") for b in self.bits)

    def __iter__(self) -> Iterator[int]:
        for i, b in enumerate(self.bits):
            while b:
                low = b & -b
                yield i * 8 + low.bit_length() - 1
                b ^= low


@dataclass(frozen=True)
class StatusList:
    seq: int
    issued_at: int
    next_update: int
    size: int
    revoked: RiceSet | Bitmap

    def is_revoked(self, index: int) -> bool:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return index in self.revoked

    def revoked_count(self) -> int:
        return len(self.revoked)


def build(revoked: Iterable[int], size: int, seq: int, issued_at: int, next_update: int) -> StatusList:
    idx = sorted(set(revoked))
    if idx and not (0 <= idx[0] and idx[-1] < size):
        bad = idx[0] if idx[0] < 0 else idx[-1]
        raise ListError(f"revoked index {bad} outside 0..{size - 1}")
    return StatusList(seq, issued_at, next_update, size, RiceSet.build(idx, size))


def encode(sl: StatusList, private_key: cose_sign1.Signer, kid: bytes) -> bytes:
    """Sign `sl` in format 2 (a format-1 list read from elsewhere is re-coded)."""
    rs = sl.revoked if isinstance(sl.revoked, RiceSet) else RiceSet.build(sl.revoked, sl.size)
    body = {"v": FORMAT, "seq": sl.seq, "iat": sl.issued_at, "next": sl.next_update, "size": sl.size,
            "n": rs.count, "k": rs.k, "gaps": rs.data}
    # Big lists exceed the COSE size cap used for QR payloads; open_signed allows it.
    return cose_sign1.sign(cbor2.dumps(body, canonical=True), private_key, kid)


def decode(data: bytes, root_public: bytes) -> StatusList:
    """Check the root signature and the whole list; ListError names what is wrong."""
    body = open_signed(data, root_public, "status list", formats=(1, FORMAT))
    size = field_int(body, "size")
    assert size is not None
    if size > MAX_SIZE:
        raise ListError(f"status list: size {size} exceeds {MAX_SIZE}")
    seq, iat, nxt = field_int(body, "seq"), field_int(body, "iat"), field_int(body, "next")
    assert seq is not None and iat is not None and nxt is not None
    if body["v"] == 1:
        return StatusList(seq, iat, nxt, size, _bitmap_v1(body, size))
    n, k = field_int(body, "n"), field_int(body, "k")
    assert n is not None and k is not None
    gaps = body.get("gaps")
    if not isinstance(gaps, bytes):
        raise ListError("status list: 'gaps' must be a byte string")
    try:
        return StatusList(seq, iat, nxt, size, RiceSet.parse(gaps, size, n, k))
    except RiceError as e:
        raise ListError(f"status list: revoked indexes unreadable: {e}") from None


def _bitmap_v1(body: dict[str, object], size: int) -> Bitmap:
    """Format 1: decompression is bounded by `size`, so a crafted list cannot expand without limit."""
    packed = body.get("bits")
    if not isinstance(packed, bytes):
        raise ListError("status list: 'bits' must be a byte string")
    want = (size + 7) // 8
    d = zlib.decompressobj()
    try:
        bits = d.decompress(packed, want + 1)
    except zlib.error as e:
        raise ListError(f"status list: broken zlib data ({e})") from None
    if len(bits) != want or d.unconsumed_tail or not d.eof or d.unused_data:
        raise ListError(f"status list: bit string does not match size {size} (or has trailing data)")
    return Bitmap(bits)


def encode_v1(sl: StatusList, private_key: cose_sign1.Signer, kid: bytes) -> bytes:
    """Format 1 as central wrote it before format 2: for rollout tests and the size comparison."""
    bits = bytearray((sl.size + 7) // 8)
    for i in sl.revoked:
        bits[i >> 3] |= 1 << (i & 7)
    body = {"v": 1, "seq": sl.seq, "iat": sl.issued_at, "next": sl.next_update, "size": sl.size,
            "bits": zlib.compress(bytes(bits), 9)}
    return cose_sign1.sign(cbor2.dumps(body, canonical=True), private_key, kid)
