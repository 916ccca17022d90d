"""The one uplink envelope: what a kiosk publishes and central ingests.

Wire form (CBOR): `[version, body, signature]`, where `body` is the CBOR
encoding of a map {k: kiosk id, m: message id (16 bytes, UUIDv7), s: stream,
q: per-kiosk-per-stream sequence, t: HLC timestamp, p: payload map} and
`signature` is Ed25519 over `body` with the kiosk's enrollment key. Signing
the exact body bytes (not a re-encoding) keeps verification independent of
CBOR canonicalisation.

Strict: the envelope and its body are each exactly one CBOR item; trailing
bytes make the message junk (`malformed`), even after a genuine envelope.

`open_unverified` is a pure parser: any bytes in, an `Envelope` or an `EnvelopeError`
with a short machine code (counted by central) and a message naming the fault.
"""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from contract import cbor_strict
from contract.errors import CodedError, UrError

VERSION = 1
MAX_ENVELOPE_BYTES = 256 * 1024
STREAM_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class EnvelopeError(CodedError):
    """`code` is one of: malformed, version, oversize, field, signature, unknown_kiosk, topic."""


@dataclass(frozen=True)
class Envelope:
    kiosk_id: str
    message_id: str
    stream: str
    seq: int
    hlc: int
    payload: Mapping[str, Any] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        return cbor2.dumps(
            {
                "k": self.kiosk_id,
                "m": uuid.UUID(self.message_id).bytes,
                "s": self.stream,
                "q": self.seq,
                "t": self.hlc,
                "p": dict(self.payload),
            },
            canonical=True,
        )


def seal(env: Envelope, key: Ed25519PrivateKey) -> bytes:
    body = env.body_bytes()
    return cbor2.dumps([VERSION, body, key.sign(body)])


_LEAVES = frozenset({str, int, bytes, float, bool, type(None)})


def _thaw(v: Any) -> Any:
    """cbor2 6.x returns tuples / frozendicts; business code wants plain types.
    (Leaves are passed through without a call: this runs for every uplink message.)"""
    if isinstance(v, Mapping):
        return {(k if type(k) in _LEAVES else _thaw(k)): (x if type(x) in _LEAVES else _thaw(x))
                for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [x if type(x) in _LEAVES else _thaw(x) for x in v]
    return v


def _loads(data: bytes, what: str) -> Any:
    """Exactly one CBOR item filling `data`: cbor2.loads stops after the first
    item, so `envelope + 00 ff` used to pass as the envelope; the position
    after decoding is what refuses the trailing bytes."""
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except Exception as e:  # noqa: BLE001 - cbor2 raises several types for junk
        raise EnvelopeError("malformed", f"{what} is not valid CBOR ({type(e).__name__})") from None
    if fp.tell() != len(data):
        raise EnvelopeError("malformed", f"{len(data) - fp.tell()} trailing bytes after the {what}")
    return value


def _outer(data: bytes) -> Any:
    """The outer array with the strict reader (bounded lengths, no indefinite
    items, nothing after it): it is small, and its byte strings are sliced, not
    trusted for their declared length."""
    try:
        return cbor_strict.loads(data, max_depth=1)
    except cbor_strict.CborError as e:
        raise EnvelopeError("malformed", f"envelope: {e}") from None


def open_unverified(data: bytes) -> tuple[Envelope, bytes, bytes]:
    """Parse without checking the signature (the caller needs the kiosk id to
    find the key). Returns (envelope, body bytes, signature)."""
    if not isinstance(data, (bytes, bytearray)):
        raise EnvelopeError("malformed", "envelope must be bytes")
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("oversize", f"{len(data)} bytes > {MAX_ENVELOPE_BYTES}")
    outer = _outer(bytes(data))
    if not isinstance(outer, (list, tuple)) or len(outer) != 3:
        raise EnvelopeError("malformed", "envelope must be a 3-element array [version, body, signature]")
    version, body, sig = outer
    if version != VERSION:
        raise EnvelopeError("version", f"unsupported envelope version {version!r} (expected {VERSION})")
    if not isinstance(body, bytes) or not isinstance(sig, bytes):
        raise EnvelopeError("malformed", "body and signature must be byte strings")
    if len(sig) != 64:
        raise EnvelopeError("signature", f"signature is {len(sig)} bytes, expected 64")
    try:
        m = _thaw(_loads(body, "body"))
    except TypeError:  # e.g. a map used as a map key
        raise EnvelopeError("malformed", "body has unhashable map keys") from None
    if not isinstance(m, dict):
        raise EnvelopeError("malformed", "body must be a map")
    env = Envelope(
        kiosk_id=_field(m, "k", str),
        message_id=_message_id(m),
        stream=_field(m, "s", str),
        seq=_field(m, "q", int),
        hlc=_field(m, "t", int),
        payload=_field(m, "p", dict),
    )
    if not env.kiosk_id or len(env.kiosk_id) > 64 or "/" in env.kiosk_id:
        raise EnvelopeError("field", f"bad kiosk id {env.kiosk_id!r}")
    if not env.stream or len(env.stream) > 32 or not set(env.stream) <= STREAM_CHARS:
        raise EnvelopeError("field", f"bad stream name {env.stream!r}")
    if env.seq < 1 or env.hlc < 0:
        raise EnvelopeError("field", f"sequence {env.seq} / hlc {env.hlc} out of range")
    return env, body, sig


def _field(m: dict[str, Any], key: str, typ: type) -> Any:
    v = m.get(key)
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise EnvelopeError("field", f"field {key!r} must be {typ.__name__}, got {type(v).__name__}")
    return v


def _message_id(m: dict[str, Any]) -> str:
    v = m.get("m")
    if not isinstance(v, bytes) or len(v) != 16:
        raise EnvelopeError("field", "field 'm' (message id) must be 16 bytes")
    return str(uuid.UUID(bytes=v))


def verify(body: bytes, sig: bytes, public_key: VerifyKey) -> None:
    """Check a kiosk's signature with libsodium (PyNaCl): the same Ed25519 as the
    kiosk's signer (cryptography), but verification takes ~60 µs here against
    OpenSSL's ~155, and central verifies every message it ingests. libsodium is
    also the stricter of the two (it refuses non-canonical and small-order
    encodings), which a verifier may be."""
    try:
        public_key.verify(body, sig)
    except (BadSignatureError, ValueError):
        raise EnvelopeError("signature", "signature does not verify with the kiosk's key") from None


@functools.lru_cache(maxsize=4096)
def public_key_from_hex(text: str) -> VerifyKey:
    """Cached: central looks up the same few kiosks' keys for every message."""
    try:
        raw = bytes.fromhex(text)
        if len(raw) != 32:
            raise ValueError(len(raw))
        return VerifyKey(raw)
    except (ValueError, TypeError):
        raise UrError(f"not an Ed25519 public key (64 hex digits): {text[:20]!r}") from None


def private_key_from_hex(text: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    except ValueError:
        raise UrError("not an Ed25519 private key (64 hex digits)") from None


def raw_public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ).hex()


def raw_private_hex(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()


def thaw(v: Any) -> Any:
    """Public alias of the tuple/frozendict -> list/dict conversion."""
    return _thaw(v)
