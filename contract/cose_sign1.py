"""COSE_Sign1 (RFC 9052 section 4.2) with Ed25519 (alg -8, RFC 9053 section 2.2).

Pure: bytes in, a parsed structure or signed bytes out. The protected header
carries alg and kid; a kid only in the unprotected header is refused and, when
both carry one, the protected value wins (as the EU DCC rules CO21/CO22 say).
Structure checks accept any sequence/mapping, so values decoded by cbor2 6.x
(tuples, frozendicts) work as well as lists and dicts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import cbor_strict
from contract.errors import UrError

COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
H_ALG, H_CRIT, H_KID = 1, 2, 4
KID_LEN = 8
SIG_LEN = 64
MAX_MESSAGE = 4096


class CoseError(UrError):
    """The COSE structure or its headers are not acceptable."""


@dataclass(frozen=True)
class Sign1:
    protected_raw: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes:
        return bytes(self.protected[H_KID])


class Signer(Protocol):
    """What signing needs of a key: an in-process Ed25519PrivateKey, or central's
    key that signs inside the PKCS#11 token (central.hsm.Ed25519TokenKey)."""

    def sign(self, data: bytes, /) -> bytes: ...


def sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def sign(payload: bytes, private_key: Signer, kid: bytes, tagged: bool = True) -> bytes:
    """A COSE_Sign1 message over `payload` with alg EdDSA and `kid` protected."""
    if len(kid) != KID_LEN:
        raise CoseError(f"kid must be {KID_LEN} bytes, got {len(kid)}")
    protected_raw = cbor2.dumps({H_ALG: ALG_EDDSA, H_KID: kid}, canonical=True)
    signature = private_key.sign(sig_structure(protected_raw, payload))
    body = [protected_raw, {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, body) if tagged else body)


def _tag_parts(obj: Any) -> tuple[int, Any] | None:
    if isinstance(obj, cbor_strict.Tag):
        return obj.number, obj.value
    if isinstance(obj, cbor2.CBORTag):
        return obj.tag, obj.value
    return None


def from_object(obj: Any) -> Sign1:
    """Check a decoded CBOR value is a tagged COSE_Sign1 we accept."""
    tag = _tag_parts(obj)
    if tag is None:
        raise CoseError("not a tagged COSE_Sign1 message (CBOR tag 18 missing)")
    number, arr = tag
    if number != COSE_SIGN1_TAG:
        raise CoseError(f"CBOR tag {number} is not COSE_Sign1 ({COSE_SIGN1_TAG})")
    if isinstance(arr, (str, bytes)) or not isinstance(arr, Sequence):
        raise CoseError("COSE_Sign1 must be an array")
    if len(arr) != 4:
        raise CoseError(f"COSE_Sign1 array has {len(arr)} elements, expected 4")
    protected_raw, unprotected, payload, signature = arr
    if not isinstance(protected_raw, (bytes, bytearray)) or not protected_raw:
        raise CoseError("protected header must be a non-empty byte string")
    if not isinstance(unprotected, Mapping):
        raise CoseError("unprotected header must be a map")
    if payload is None:
        raise CoseError("detached payload is not supported")
    if not isinstance(payload, (bytes, bytearray)):
        raise CoseError("payload must be a byte string")
    if not isinstance(signature, (bytes, bytearray)):
        raise CoseError("signature must be a byte string")
    try:
        protected = cbor_strict.loads(bytes(protected_raw))
    except cbor_strict.CborError as e:
        raise CoseError(f"protected header: {e}") from None
    if not isinstance(protected, Mapping):
        raise CoseError("protected header must encode a map")
    if H_CRIT in protected or H_CRIT in unprotected:
        raise CoseError("critical header parameters (crit) are not supported")
    alg = protected.get(H_ALG)
    if alg is None:
        raise CoseError("algorithm missing from the protected header")
    if alg != ALG_EDDSA:
        raise CoseError(f"unsupported algorithm {alg!r} (only EdDSA/Ed25519, -8)")
    if H_ALG in unprotected and unprotected[H_ALG] != alg:
        raise CoseError("unprotected alg differs from the protected alg")
    if H_KID not in protected:
        if H_KID in unprotected:
            raise CoseError("kid only in the unprotected header (must be protected)")
        raise CoseError("kid missing from the protected header")
    kid = protected[H_KID]
    if not isinstance(kid, (bytes, bytearray)) or len(kid) != KID_LEN:
        raise CoseError(f"kid must be a {KID_LEN}-byte string")
    if len(signature) != SIG_LEN:
        raise CoseError(f"Ed25519 signature must be {SIG_LEN} bytes, got {len(signature)}")
    return Sign1(bytes(protected_raw), protected, unprotected, bytes(payload), bytes(signature))


def kid_of(public_key: bytes) -> bytes:
    """kid = first 8 bytes of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).digest()[:KID_LEN]


def parse(data: bytes, max_size: int = MAX_MESSAGE) -> Sign1:
    """Decode and structurally check a COSE_Sign1 message (no signature check)."""
    if len(data) > max_size:
        raise CoseError(f"COSE message of {len(data)} bytes is larger than {max_size}")
    try:
        obj = cbor_strict.loads(data)
    except cbor_strict.CborError as e:
        raise CoseError(f"CBOR: {e}") from None
    return from_object(obj)


def signature_ok(msg: Sign1, public_key: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            msg.signature, sig_structure(msg.protected_raw, msg.payload))
        return True
    except (InvalidSignature, ValueError):
        return False
