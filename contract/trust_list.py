"""The trust list: which signing keys may sign which documents, signed by the root key.

A kiosk pins the root public key once and accepts only trust lists the root
signed. Each entry says for which agency and document types a key may sign,
from when (`not_before`), until when it was the active key (`not_after`, set
on rotation; documents it signed earlier stay valid) and, after a compromise,
the cut-off (`withdrawn_at`): documents claiming an issue time at or after it
are refused. Several entries may share a kid; verifiers try each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from contract import cbor_strict, cose_sign1
from contract.errors import UrError

FORMAT = 1
MAX_LIST = 64 * 1024 * 1024  # bytes; a signed list larger than this is refused
ANY = "*"


class ListError(UrError):
    """A trust or status list is unusable (bad signature, shape, rollback ...)."""


@dataclass(frozen=True)
class TrustedKey:
    kid: bytes
    public_key: bytes
    agency: str = ANY
    types: tuple[str, ...] = (ANY,)
    not_before: int = 0
    not_after: int | None = None
    withdrawn_at: int | None = None

    def allows(self, doc_type: str, agency: str) -> bool:
        return (ANY in self.types or doc_type in self.types) and self.agency in (ANY, agency)

    def to_obj(self) -> dict[str, Any]:
        return {"kid": self.kid, "pub": self.public_key, "ag": self.agency, "ty": list(self.types),
                "nbf": self.not_before, "naf": self.not_after, "wd": self.withdrawn_at}


@dataclass(frozen=True)
class TrustList:
    seq: int
    issued_at: int
    next_update: int
    keys: tuple[TrustedKey, ...]

    def lookup(self, kid: bytes) -> list[TrustedKey]:
        return [k for k in self.keys if k.kid == kid]


def encode(tl: TrustList, root_private: cose_sign1.Signer, root_kid: bytes) -> bytes:
    body = {"v": FORMAT, "seq": tl.seq, "iat": tl.issued_at, "next": tl.next_update,
            "keys": [k.to_obj() for k in tl.keys]}
    return cose_sign1.sign(cbor2.dumps(body, canonical=True), root_private, root_kid)


def field_int(m: dict[str, Any], key: str, optional: bool = False) -> int | None:
    v = m.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ListError(f"field {key!r} must be a non-negative integer")
    return v


def open_signed(data: bytes, root_public: bytes, what: str, formats: tuple[int, ...] = (FORMAT,)) -> dict[str, Any]:
    """Check the root signature over a list and return its decoded map (its "v" one of `formats`)."""
    try:
        msg = cose_sign1.parse(data, max_size=MAX_LIST)
    except UrError as e:
        raise ListError(f"{what}: {e}") from None
    if msg.kid != cose_sign1.kid_of(root_public):
        raise ListError(f"{what}: signed by key {msg.kid.hex()}, not the pinned root key")
    if not cose_sign1.signature_ok(msg, root_public):
        raise ListError(f"{what}: bad signature")
    try:
        body = cbor_strict.loads(msg.payload)
    except cbor_strict.CborError as e:
        raise ListError(f"{what}: {e}") from None
    if not isinstance(body, dict) or body.get("v") not in formats:
        raise ListError(f"{what}: unknown format (expected map with v in {formats})")
    return body


def decode(data: bytes, root_public: bytes) -> TrustList:
    body = open_signed(data, root_public, "trust list")
    keys_obj = body.get("keys")
    if not isinstance(keys_obj, list):
        raise ListError("trust list: 'keys' must be an array")
    keys = []
    for i, k in enumerate(keys_obj):
        if not isinstance(k, dict):
            raise ListError(f"trust list: key #{i} must be a map")
        kid, pub, ag, ty = k.get("kid"), k.get("pub"), k.get("ag"), k.get("ty")
        if not isinstance(kid, bytes) or len(kid) != cose_sign1.KID_LEN:
            raise ListError(f"trust list: key #{i} kid must be 8 bytes")
        if not isinstance(pub, bytes) or len(pub) != 32:
            raise ListError(f"trust list: key #{i} public key must be 32 bytes (Ed25519)")
        if cose_sign1.kid_of(pub) != kid:
            raise ListError(f"trust list: key #{i} kid does not match its public key")
        if not isinstance(ag, str) or not isinstance(ty, list) or not all(isinstance(t, str) for t in ty):
            raise ListError(f"trust list: key #{i} agency/types malformed")
        try:
            keys.append(TrustedKey(kid, pub, ag, tuple(ty), field_int(k, "nbf") or 0,
                                   field_int(k, "naf", True), field_int(k, "wd", True)))
        except ListError as e:
            raise ListError(f"trust list: key #{i}: {e}") from None
    seq, iat, nxt = field_int(body, "seq"), field_int(body, "iat"), field_int(body, "next")
    assert seq is not None and iat is not None and nxt is not None
    return TrustList(seq, iat, nxt, tuple(keys))
