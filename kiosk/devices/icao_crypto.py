"""The cipher primitives of ICAO 9303 Basic Access Control (Doc 9303 Part 11, 9.7).

All block-cipher work is done by the `cryptography` library: two-key 3DES in CBC
mode with a zero IV, and single DES (3DES with one 8-byte key, K1 = K2 = K3) for
the ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") that BAC and its secure
messaging use. Nothing here implements a cipher; this module only chains the
library's block operations the way the standard prescribes.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

BLOCK = 8
ZERO_IV = bytes(BLOCK)
ENC = 1  # key derivation counter c for the encryption key (Part 11, 9.7.1)
MAC = 2  # ... and for the MAC key


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 0x80 then zeros up to the block size."""
    data = data + b"\x80"
    return data + bytes(-len(data) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Undo `pad`; a missing 0x80 marker is a ValueError (the data was not padded)."""
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise ValueError("padding marker 0x80 missing")
    return stripped[:-1]


def adjust_parity(key: bytes) -> bytes:
    """DES keys carry odd parity in each byte's lowest bit; the worked examples print
    keys that way (the cipher ignores the parity bit)."""
    out = bytearray()
    for b in key:
        high = b & 0xFE
        out.append(high | (bin(high).count("1") % 2 == 0))
    return bytes(out)


def derive_key(seed: bytes, counter: int) -> bytes:
    """K = the first 16 bytes of SHA-1(seed || c), parity adjusted (Part 11, 9.7.1.1)."""
    digest = hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()
    return adjust_parity(digest[:16])


def _full(key: bytes) -> TripleDES:
    """Keys are given to the library as 24 bytes: single DES as K|K|K, two-key 3DES as
    K1|K2|K1 (it deprecates the short forms)."""
    full = {8: key * 3, 16: key + key[:8], 24: key}.get(len(key))
    if full is None:
        raise ValueError(f"DES key of {len(key)} bytes (8, 16 or 24 expected)")
    return TripleDES(full)


def _cbc(key: bytes, data: bytes, forward: bool) -> bytes:
    c = Cipher(_full(key), modes.CBC(ZERO_IV))
    ctx = c.encryptor() if forward else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def _ecb(key: bytes, block: bytes, forward: bool) -> bytes:
    c = Cipher(_full(key), modes.ECB())
    ctx = c.encryptor() if forward else c.decryptor()
    return ctx.update(block) + ctx.finalize()


def encrypt(key: bytes, data: bytes) -> bytes:
    """3DES-CBC with a zero IV over block-aligned data (the caller pads)."""
    return _cbc(key, data, True)


def decrypt(key: bytes, data: bytes) -> bytes:
    if len(data) % BLOCK:
        raise ValueError(f"cryptogram of {len(data)} bytes is not a multiple of {BLOCK}")
    return _cbc(key, data, False)


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES over already padded data.

    Single DES CBC with Ka over every block, then the last chaining value is
    decrypted with Kb and encrypted with Ka again.
    """
    if len(key) != 16 or len(data) % BLOCK or not data:
        raise ValueError("retail MAC needs a 16-byte key and non-empty block-aligned data")
    ka, kb = key[:8], key[8:]
    chained = _cbc(ka, data, True)[-BLOCK:]
    return _ecb(ka, _ecb(kb, chained, False), True)
