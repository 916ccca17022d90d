"""Find private keys in raw file bytes, without knowing them.

Keys made in the token are never seen by the test, so the scan works from the
public keys: every 32-byte window of the file that looks random is tried as an
Ed25519 seed and as a P-256 scalar, and a hit is a window whose public key is
one of the given ones. Windows with several zero bytes, only printable
characters or fewer than 20 distinct byte values are skipped: a random 32-byte
key looks like that with a probability below 1e-8, and skipping them keeps the
scan short (free pages, text and integers are most of a database file). PEM and PKCS#8 markers
are looked for as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

WINDOW = 32
MIN_DISTINCT = 20  # 32 random bytes have fewer distinct values with a probability below 1e-8
MARKERS = (b"PRIVATE KEY", bytes.fromhex("302e020100300506032b657004220420"),  # PKCS#8 Ed25519
           bytes.fromhex("06072a8648ce3d0201"))  # id-ecPublicKey, as in a PKCS#8/SEC1 EC key
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _candidates(data: bytes) -> np.ndarray:
    a = np.frombuffer(data, dtype=np.uint8)
    if len(a) < WINDOW:
        return np.zeros(0, dtype=np.int64)
    zero = np.concatenate([[0], np.cumsum(a == 0)])
    printable = np.concatenate([[0], np.cumsum((a >= 0x20) & (a < 0x7F))])
    zeros = zero[WINDOW:] - zero[:-WINDOW]
    prints = printable[WINDOW:] - printable[:-WINDOW]
    idx = np.nonzero((zeros < 4) & (prints < WINDOW))[0]
    # Distinct byte values: ~30 in random bytes, far fewer in UTF-8 text (Arabic letters
    # share two lead bytes) or counters.
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(a, WINDOW)[idx], axis=1)
    distinct = 1 + np.count_nonzero(np.diff(windows, axis=1), axis=1)
    return idx[distinct >= MIN_DISTINCT]


def files_of(db_path: Path) -> list[Path]:
    """A SQLite database and whichever of its journal files exist."""
    return [p for p in (db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm", "-journal")))
            if p.exists()]


def find_private_keys(paths: Iterable[Path], ed25519_publics: Iterable[bytes],
                      p256_publics: Iterable[bytes] = ()) -> list[str]:
    """Where a private key for one of the public keys (raw Ed25519, uncompressed
    P-256 points) or a private-key marker sits in the files; empty when none."""
    eds = set(ed25519_publics)
    ecs = set(p256_publics)
    found = []
    for path in paths:
        data = path.read_bytes()
        for m in MARKERS:
            if m in data:
                found.append(f"{path.name}: marker {m[:16]!r} at {data.index(m)}")
        for i in _candidates(data):
            w = data[i:i + WINDOW]
            if eds:
                pub = Ed25519PrivateKey.from_private_bytes(w).public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                if pub in eds:
                    found.append(f"{path.name}: Ed25519 key for {pub.hex()[:16]} at {i}")
            if ecs:
                d = int.from_bytes(w, "big")
                if 0 < d < _P256_ORDER:
                    point = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_bytes(
                        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
                    if point in ecs:
                        found.append(f"{path.name}: P-256 key at {i}")
    return found
