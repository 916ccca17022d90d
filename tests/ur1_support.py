"""Keys, lists and hand-made COSE messages for the UR1 tests (real crypto, nothing faked)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import base45
import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import cose_sign1, status_list, trust_list, ur1

NOW = 1_800_000_000


def raw_pub(k: Ed25519PrivateKey) -> bytes:
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def claims(**kw: Any) -> ur1.Claims:
    base = ur1.Claims(
        doc_id="D7K2M9Q4X8", doc_type="certificate", agency="MOI", issued_at=NOW - 3600,
        body_sha256=hashlib.sha256(b"body").digest(), status_index=7,
        fields={"name": "محمد عبدالله حسن", "number": "1234/5", "date": "2027-01-15"},
        office="بغداد", expires_at=NOW + 86400 * 365)
    return replace(base, **kw)


@dataclass
class Env:
    root: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    signer: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def kid(self) -> bytes:
        return cose_sign1.kid_of(raw_pub(self.signer))

    @property
    def root_kid(self) -> bytes:
        return cose_sign1.kid_of(raw_pub(self.root))

    def key(self, **kw: Any) -> trust_list.TrustedKey:
        return replace(trust_list.TrustedKey(self.kid, raw_pub(self.signer)), **kw)

    def trust(self, *keys: trust_list.TrustedKey, issued_at: int = NOW - 60, next_update: int = NOW + 86400,
              seq: int = 1) -> trust_list.TrustList:
        return trust_list.TrustList(seq, issued_at, next_update, keys or (self.key(),))

    def status(self, revoked: tuple[int, ...] = (), size: int = 100, issued_at: int = NOW - 60,
               next_update: int = NOW + 3600, seq: int = 1) -> status_list.StatusList:
        return status_list.build(revoked, size, seq, issued_at, next_update)

    def sign(self, c: ur1.Claims | None = None) -> str:
        return ur1.sign(c or claims(), self.signer, self.kid)

    def verify(self, text: str, **kw: Any) -> Any:
        trust = kw.pop("trust", self.trust())
        status = kw.pop("status", self.status())
        now = kw.pop("now", NOW)
        return ur1.verify(text, trust, status, now, **kw)

    def raw_cose(self, payload: bytes | None = None, protected: dict | None = None, unprotected: dict | None = None,
                 tag: int | None = 18, arr: list | None = None, sign_with: Ed25519PrivateKey | None = None,
                 protected_raw: bytes | None = None) -> bytes:
        """A COSE_Sign1 built by hand, correctly signed over whatever it contains."""
        payload = claims().to_cbor() if payload is None else payload
        prot = protected_raw or cbor2.dumps({1: -8, 4: self.kid} if protected is None else protected)
        sig = (sign_with or self.signer).sign(cose_sign1.sig_structure(prot, payload))
        body = arr if arr is not None else [prot, unprotected or {}, payload, sig]
        return cbor2.dumps(cbor2.CBORTag(tag, body) if tag is not None else body)


def text_of(raw: bytes) -> str:
    return "UR1:" + base45.b45encode(raw).decode()
