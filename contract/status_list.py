"""The revocation status list: one bit per document, zlib-compressed, root-signed.

Bit `i` (byte i // 8, bit i % 8, least significant first, as in the IETF Token
Status List draft) is 1 when the document with status index `i` is revoked.
`size` is how many indexes were allocated when the list was made; a document
newer than the list may carry a larger index. `next_update` tells a kiosk
when the list stops being trustworthy (STALE). Decompression is bounded by
`size`, so a crafted list cannot expand without limit.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import cbor2

from contract import cose_sign1
from contract.trust_list import ListError, field_int, open_signed

MAX_SIZE = 1 << 30  # indexes; 128 MiB of bits, far above any real registry


@dataclass(frozen=True)
class StatusList:
    seq: int
    issued_at: int
    next_update: int
    size: int
    bits: bytes

    def is_revoked(self, index: int) -> bool:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return bool(self.bits[index >> 3] >> (index & 7) & 1)

    def revoked_count(self) -> int:
        return sum(bin(b).count("1") for b in self.bits)


def build(revoked: Iterable[int], size: int, seq: int, issued_at: int, next_update: int) -> StatusList:
    bits = bytearray((size + 7) // 8)
    for i in revoked:
        if not 0 <= i < size:
            raise ListError(f"revoked index {i} outside 0..{size - 1}")
        bits[i >> 3] |= 1 << (i & 7)
    return StatusList(seq, issued_at, next_update, size, bytes(bits))


def encode(sl: StatusList, private_key: cose_sign1.Signer, kid: bytes) -> bytes:
    body = {"v": 1, "seq": sl.seq, "iat": sl.issued_at, "next": sl.next_update, "size": sl.size,
            "bits": zlib.compress(sl.bits, 9)}
    # Big lists exceed the COSE size cap used for QR payloads; open_signed allows it.
    return cose_sign1.sign(cbor2.dumps(body, canonical=True), private_key, kid)


def decode(data: bytes, root_public: bytes) -> StatusList:
    body = open_signed(data, root_public, "status list")
    size = field_int(body, "size")
    assert size is not None
    if size > MAX_SIZE:
        raise ListError(f"status list: size {size} exceeds {MAX_SIZE}")
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
    seq, iat, nxt = field_int(body, "seq"), field_int(body, "iat"), field_int(body, "next")
    assert seq is not None and iat is not None and nxt is not None
    return StatusList(seq, iat, nxt, size, bits)
