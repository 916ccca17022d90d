"""The kiosk's at-rest cipher: AES-256-GCM over personal data and the outbox.

Why: kiosks can be stolen, so applications, complaints and the outbox are
encrypted under the data key in `secrets/` (the sealed partition on
hardware). Fernet did this with AES-CBC + HMAC-SHA256 and base64, and its
decryption was about 7% of a kiosk's CPU during a replay (issue 18). AES-GCM
(hardware AES) does both jobs in one pass and is stored as raw bytes:
nonce (12) || ciphertext || tag (16), 28 bytes over the plaintext.

The associated data names the row (table and primary key): a ciphertext copied
into another row or table does not open, so someone with the disk but not the
key cannot swap one citizen's application fields for another's.

Key: the same `secrets/data.key` as before (32 random bytes, urlsafe base64;
stores keep the key they have). The AES key is HKDF-SHA256 of it, so the same
bytes never key two algorithms (the store migration reads the Fernet rows with
the raw key and writes GCM rows with the derived one). Rotation is unchanged:
one data key per enrollment, made at `install`, replaced only with the store
on re-enrollment. Nonces are random 96-bit: a kiosk writes far fewer than the
2^32 messages NIST SP 800-38D allows under one key.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contract.errors import UrError

KEY_FILE = "data.key"  # in the store's secrets/
NONCE = 12
TAG = 16
_INFO = b"ur-kiosk at-rest AES-256-GCM v1"
_AD = b"ur-kiosk/at-rest/1\0"


class AtRestError(UrError):
    """A stored ciphertext does not open (wrong key, damaged, or moved from another row)."""


def new_key_file() -> bytes:
    """The content of a new data.key: 32 random bytes, urlsafe base64 (Fernet's key format)."""
    return base64.urlsafe_b64encode(os.urandom(32))


def key_path(store_dir: Path) -> Path:
    return store_dir / "secrets" / KEY_FILE


class DataKey:
    """Seals and opens one row's column under the kiosk's data key."""

    def __init__(self, key_file: bytes) -> None:
        try:
            raw = base64.urlsafe_b64decode(key_file.strip())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise UrError(f"kiosk {KEY_FILE} is not 32 bytes of urlsafe base64")
        self._raw = key_file.strip()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw)
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, store_dir: Path) -> DataKey:
        return cls(key_path(store_dir).read_bytes())

    @staticmethod
    def _ad(table: str, row: str) -> bytes:
        return _AD + table.encode() + b"\0" + row.encode()

    def seal(self, plaintext: bytes, table: str, row: str) -> bytes:
        """Ciphertext of `plaintext` for column data of row `row` (its primary key) in `table`."""
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, self._ad(table, row))

    def open(self, blob: bytes, table: str, row: str) -> bytes:
        if len(blob) < NONCE + TAG:
            raise AtRestError(f"encrypted data of {table} row {row} is truncated ({len(blob)} bytes)")
        try:
            return self._aead.decrypt(blob[:NONCE], blob[NONCE:], self._ad(table, row))
        except InvalidTag:
            raise AtRestError(f"encrypted data of {table} row {row} does not open: another kiosk's key, "
                              "damaged, or copied from another row") from None

    def open_fernet(self, token: bytes, table: str, row: str) -> bytes:
        """A row as the kiosk stored it before AES-GCM (store migration 0003 only)."""
        try:
            return Fernet(self._raw).decrypt(token)
        except InvalidToken:
            raise AtRestError(f"{table} row {row}: not a Fernet token of this kiosk's data key") from None

    def seal_fernet(self, plaintext: bytes) -> bytes:
        """The Fernet form (store migration 0003's downgrade only)."""
        return Fernet(self._raw).encrypt(plaintext)
