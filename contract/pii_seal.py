"""Personal data sealed to central: what a broker operator must never read.

Uplink envelopes are signed, not encrypted, and the broker (and whoever runs
it, or taps a plain-TCP link) sees every payload. Payloads of the streams that
carry citizens' personal data (`SEALED_STREAMS`: form fields with names,
national ids, mobiles, birth dates; complaint texts and contacts; corrected
forms) are therefore sealed to central's X25519 public key, which the kiosk
pinned at enrollment. Nothing else on the wire is personal: payments carry
amounts, fee references, station and operator ids; heartbeats carry counters.

The seal is an HPKE-like one-shot box (base mode, no sender authentication:
the Ed25519 envelope signature already says which kiosk sent it):

    blob = version (1 byte, 1) | kid (8) | ephemeral X25519 public key (32)
           | salt (16, random) | AES-256-GCM ciphertext with its 16-byte tag

    shared     = X25519(ephemeral private, central public)
    key, nonce = HKDF-SHA256(shared, salt, info = LABEL | kid | ephemeral
                             public | central public, 44 bytes) -> 32 + 12
    aad        = version | kid | ephemeral public | salt | context

`kid` (the first 8 bytes of SHA-256 over the public key) says which of
central's keys opens it, so a key can be replaced while old messages wait in
outboxes. `context` binds the blob to the kiosk id, the stream and the
envelope's message id: a blob copied into another message (or another kiosk's
message) does not open. The plaintext is the canonical CBOR of the payload
map; the reader is `contract.cbor_strict` (bounded, no floats, no duplicate
keys).

Decision: a sealing process reuses its ephemeral key for a while
(`EPHEMERAL_USES` messages or `EPHEMERAL_SECONDS`, in memory only, never
stored), and every blob has its own random 128-bit salt, so key and nonce are
still fresh per message. Why: the X25519 exchange is most of the cost of
opening, and central's private key is meant to sit in a token where one
exchange takes the better part of a millisecond; with reuse central does one
exchange per kiosk process and interval and keeps the shared secret in memory.
What reuse gives up is small: the ephemeral private key opens only the
messages that same kiosk process sealed (and had in the clear) in that
interval.

Pure: bytes in, bytes out. Where the private key lives is the caller's
business: opening takes a `Recipient`, anything that can do the X25519
exchange for one key (software key here; a token could do it too).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contract import cbor_strict
from contract.errors import UrError

VERSION = 1
KID_BYTES = 8
KEY_BYTES = 32
SALT_BYTES = 16
TAG_BYTES = 16
HEADER_BYTES = 1 + KID_BYTES + KEY_BYTES + SALT_BYTES
MIN_BLOB_BYTES = HEADER_BYTES + TAG_BYTES
# An envelope is at most 256 KiB (contract.envelope); a sealed payload stays well inside.
MAX_BLOB_BYTES = 192 * 1024
MAX_DEPTH = 6  # payload map -> fields map -> value: a few levels are all that is used
LABEL = b"ur/v1 pii-seal"
EPHEMERAL_USES = 10_000
EPHEMERAL_SECONDS = 600.0

# The uplink streams whose payloads are sealed (the kiosk seals them all when
# it has central's key; central opens whatever arrives sealed).
SEALED_STREAMS = frozenset({"applications", "complaints", "corrections"})
# A sealed payload is the map {SEALED_FIELD: blob} and nothing else.
SEALED_FIELD = "sealed"


class SealError(UrError):
    """A sealed payload that cannot be opened. `code`: `malformed` (not a blob
    of this format), `key` (sealed to a key the opener does not hold), `open`
    (tag check failed: tampered, or bound to another message), `content` (opened,
    but not a CBOR map); and central's policy adds `clear` (not sealed where it
    must be, central/pii_key.py)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"sealed payload: {message}")


class Recipient(Protocol):
    """One of central's sealing keys: its raw public key, and the exchange."""

    @property
    def public_raw(self) -> bytes: ...

    def exchange(self, peer_public_raw: bytes) -> bytes:
        """The X25519 shared secret with `peer_public_raw`; ValueError if the
        peer key is unusable (low order)."""
        ...


class SoftwareRecipient:
    """A Recipient whose private key is in this process's memory."""

    def __init__(self, private: X25519PrivateKey) -> None:
        self._private = private
        self.public_raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def exchange(self, peer_public_raw: bytes) -> bytes:
        return self._private.exchange(X25519PublicKey.from_public_bytes(peer_public_raw))


def key_id(public_raw: bytes) -> bytes:
    """The 8-byte id of a sealing public key (in every blob sealed to it)."""
    return hashlib.sha256(public_raw).digest()[:KID_BYTES]


def public_key_from_hex(text: str) -> bytes:
    """Raw X25519 public key from the 64 hex digits a bundle carries."""
    try:
        raw = bytes.fromhex(text.strip())
    except (ValueError, AttributeError):
        raise UrError("central's sealing key (pii_public_key) must be hex") from None
    if len(raw) != KEY_BYTES:
        raise UrError(f"central's sealing key (pii_public_key) must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def context(kiosk_id: str, stream: str, message_id: str) -> bytes:
    """What a blob is bound to (part of the associated data)."""
    return cbor2.dumps([kiosk_id, stream, message_id])


def _schedule(shared: bytes, salt: bytes, kid: bytes, eph: bytes, recipient: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(hashes.SHA256(), 44, salt=salt, info=LABEL + kid + eph + recipient).derive(shared)
    return okm[:32], okm[32:]


@dataclass
class _Ephemeral:
    public: bytes
    shared: bytes
    made: float
    uses: int = 0


# Sealing side: the current ephemeral key per recipient (see the module docstring).
_EPHEMERAL: dict[bytes, _Ephemeral] = {}
_EPHEMERAL_LOCK = threading.Lock()


def _ephemeral(recipient_public: bytes, fresh: bool) -> tuple[bytes, bytes]:
    """(ephemeral public key, shared secret) to seal one more message with."""
    with _EPHEMERAL_LOCK:
        cur = _EPHEMERAL.get(recipient_public)
        now = time.monotonic()
        if fresh or cur is None or cur.uses >= EPHEMERAL_USES or now - cur.made >= EPHEMERAL_SECONDS:
            eph_key = X25519PrivateKey.generate()
            try:
                shared = eph_key.exchange(X25519PublicKey.from_public_bytes(recipient_public))
            except ValueError:  # a low-order point: no secret can be agreed with it
                raise UrError("central's sealing key is not a usable X25519 public key") from None
            cur = _Ephemeral(eph_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                               serialization.PublicFormat.Raw), shared, now)
            _EPHEMERAL[recipient_public] = cur
        cur.uses += 1
        return cur.public, cur.shared


def seal(recipient_public: bytes, plaintext: bytes, bound_to: bytes, fresh: bool = False) -> bytes:
    """Encrypt `plaintext` so only the holder of `recipient_public`'s private key
    opens it, and only together with the same `bound_to` bytes (`fresh`: a new
    ephemeral key for this blob alone)."""
    if len(recipient_public) != KEY_BYTES:
        raise UrError(f"sealing key must be {KEY_BYTES} bytes, got {len(recipient_public)}")
    eph, shared = _ephemeral(bytes(recipient_public), fresh)
    kid = key_id(recipient_public)
    salt = os.urandom(SALT_BYTES)
    header = bytes([VERSION]) + kid + eph + salt
    key, nonce = _schedule(shared, salt, kid, eph, recipient_public)
    return header + AESGCM(key).encrypt(nonce, plaintext, header + bound_to)


def blob_kid(blob: bytes) -> bytes:
    """Check the blob's framing and return its key id (SealError `malformed`)."""
    if not isinstance(blob, (bytes, bytearray)):
        raise SealError("malformed", f"blob must be bytes, got {type(blob).__name__}")
    if len(blob) < MIN_BLOB_BYTES:
        raise SealError("malformed", f"{len(blob)} bytes is shorter than the {MIN_BLOB_BYTES}-byte minimum")
    if len(blob) > MAX_BLOB_BYTES:
        raise SealError("malformed", f"{len(blob)} bytes is more than the {MAX_BLOB_BYTES}-byte maximum")
    if blob[0] != VERSION:
        raise SealError("malformed", f"format version {blob[0]} is not supported (expected {VERSION})")
    return bytes(blob[1:1 + KID_BYTES])


def open_sealed(blob: bytes, bound_to: bytes, find: Callable[[bytes], Recipient | None]) -> bytes:
    """The plaintext of `blob`, opened with the key `find(kid)` returns."""
    kid = blob_kid(blob)
    blob = bytes(blob)
    recipient = find(kid)
    if recipient is None:
        raise SealError("key", f"sealed to key {kid.hex()}, which is not held here")
    if key_id(recipient.public_raw) != kid:
        raise SealError("key", f"the key found for {kid.hex()} has another id")
    eph = blob[1 + KID_BYTES:1 + KID_BYTES + KEY_BYTES]
    salt = blob[1 + KID_BYTES + KEY_BYTES:HEADER_BYTES]
    try:
        shared = recipient.exchange(eph)
    except ValueError:  # low-order or otherwise unusable ephemeral key
        raise SealError("open", "the ephemeral key is not a usable X25519 public key") from None
    key, nonce = _schedule(shared, salt, kid, eph, recipient.public_raw)
    try:
        return AESGCM(key).decrypt(nonce, blob[HEADER_BYTES:], blob[:HEADER_BYTES] + bound_to)
    except InvalidTag:
        raise SealError("open", "does not open: tampered with, or sealed for another message") from None


def is_sealed(payload: Mapping[str, Any]) -> bool:
    """Whether a payload arrived in sealed form (else it is the clear, older form)."""
    return SEALED_FIELD in payload


def seal_payload(payload: Mapping[str, Any], recipient_public: bytes, kiosk_id: str, stream: str,
                 message_id: str) -> dict[str, Any]:
    """The payload map a kiosk puts in its envelope instead of `payload`."""
    plain = cbor2.dumps(dict(payload), canonical=True)
    try:
        cbor_strict.loads(plain, MAX_DEPTH)  # what central will accept: refuse here, not there
    except cbor_strict.CborError as e:
        raise UrError(f"payload cannot be sealed: {e}") from None
    return {SEALED_FIELD: seal(recipient_public, plain, context(kiosk_id, stream, message_id))}


def open_payload(payload: Mapping[str, Any], find: Callable[[bytes], Recipient | None], kiosk_id: str,
                 stream: str, message_id: str) -> dict[str, Any]:
    """The clear payload map of a sealed payload (SealError naming the fault)."""
    if set(payload) != {SEALED_FIELD}:
        extra = sorted(str(k) for k in payload if k != SEALED_FIELD)[:5]
        raise SealError("malformed", f"a sealed payload holds only {SEALED_FIELD!r}, also found {extra}")
    plain = open_sealed(payload[SEALED_FIELD], context(kiosk_id, stream, message_id), find)
    try:
        inner = cbor_strict.loads(plain, MAX_DEPTH)
    except cbor_strict.CborError as e:
        raise SealError("content", f"opened, but the content is not acceptable CBOR: {e}") from None
    if not isinstance(inner, dict) or not all(isinstance(k, str) for k in inner):
        raise SealError("content", "opened, but the content is not a map with text keys")
    return inner
