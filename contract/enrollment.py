"""CSR-style kiosk enrollment: the request a kiosk makes, as both sides see it.

Why CSR-style: the kiosk makes its own keys (the Ed25519 envelope key that
signs everything it sends, and the P-256 key of its broker TLS certificate)
and only their public halves ever leave it. Central signs a certificate for
the TLS key and registers the envelope key, so no private key of a kiosk is
ever in central's database, in a bundle file, on a technician's USB stick or
in a backup of any of them; a leak there cannot be turned into a kiosk.

Why a one-time code: the request travels through untrusted hands (a USB stick,
a mailbox). Central issues the code for one kiosk id (`ur-central kiosks
enroll K`); the technician types it into the kiosk, which keys an HMAC over
the whole request with it. Central then knows that the request was made by
someone who holds the code issued for exactly this kiosk id, and that nobody
swapped the public keys on the way (the MAC covers them). The code works once
and expires, so a code seen later (on a note, in a photo) is worth nothing,
and a replayed request is refused. The kiosk also signs the request with its
new envelope key (proof that it holds that key) and the CSR is signed by the
TLS key, as usual.

Pure functions only: files and databases are the CLIs' business.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from contract import kiosk_ids
from contract.errors import UrError

REQUEST_TYPE = "ur-kiosk-enrollment-request"
VERSION = 1
MAX_REQUEST_BYTES = 64 * 1024
# Crockford's base32: no I, L, O, U, so nothing a technician can misread; 16 of
# them are 80 bits, far beyond guessing, even offline from a captured request.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_CHARS = 16
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def normalise_code(text: str) -> str:
    """The code as typed (any case, dashes, spaces, O for 0) in its canonical form."""
    raw = text.strip().upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)
    if len(raw) != CODE_CHARS or any(c not in CODE_ALPHABET for c in raw):
        raise UrError(f"enrollment code must be {CODE_CHARS} letters and digits like "
                      "ABCD-EFGH-JKMN-PQRS (as `ur-central kiosks enroll` printed it)")
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def code_key(code: str, kiosk_id: str) -> bytes:
    """HMAC key of a code for one kiosk id: the same code typed for another id
    authenticates nothing."""
    return hashlib.sha256(b"ur-enrollment-code/v1\0" + kiosk_id.encode() + b"\0"
                          + normalise_code(code).encode()).digest()


def key_fingerprint(public_key_hex: str) -> str:
    """Short form of the envelope key, for a technician to compare what the kiosk
    and central print (a swapped request shows a different one)."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _base(kiosk_id: str, envelope_public_key: str, csr_pem: str, nonce: str) -> dict[str, Any]:
    return {"type": REQUEST_TYPE, "version": VERSION, "kiosk_id": kiosk_id,
            "envelope_public_key": envelope_public_key, "csr": csr_pem, "nonce": nonce}


def make_request(kiosk_id: str, code: str, envelope_key: Ed25519PrivateKey,
                 tls_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The request a kiosk hands to central (JSON-ready; holds no secret)."""
    kiosk_ids.check(kiosk_id)
    key = code_key(code, kiosk_id)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
           .sign(tls_key, hashes.SHA256()))
    pub = envelope_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    req = _base(kiosk_id, pub, csr.public_bytes(serialization.Encoding.PEM).decode(), os.urandom(16).hex())
    req["envelope_signature"] = envelope_key.sign(_canonical(req)).hex()
    req["mac"] = hmac.new(key, _canonical(req), hashlib.sha256).hexdigest()
    return req


@dataclass(frozen=True)
class Request:
    """A request whose form, CSR and proofs of possession checked out; its MAC is
    checked by `mac_ok` against the code central issued for `kiosk_id`."""

    kiosk_id: str
    envelope_public_key: str
    tls_public_key: ec.EllipticCurvePublicKey
    nonce: str
    signed: bytes  # the bytes the MAC covers
    mac: bytes

    def mac_ok(self, key: bytes) -> bool:
        return hmac.compare_digest(hmac.new(key, self.signed, hashlib.sha256).digest(), self.mac)


def _hex(value: Any, name: str, nbytes: int) -> bytes:
    """Lower-case hex only, as make_request writes it: one spelling per value, so a
    changed byte anywhere in the request is a different request (bytes.fromhex alone
    would also take upper case and spaces)."""
    raw = b""
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]*", value):
        raw = bytes.fromhex(value)
    if len(raw) != nbytes:
        raise UrError(f"enrollment request: {name} must be {nbytes} bytes of hex")
    return raw


def parse_request(text: str | bytes) -> Request:
    """Check a request's form and its proofs of possession (pure; UrError names the fault)."""
    if len(text) > MAX_REQUEST_BYTES:
        raise UrError(f"enrollment request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        r = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UrError(f"enrollment request is not JSON: {e}") from None
    if not isinstance(r, dict) or r.get("type") != REQUEST_TYPE:
        raise UrError("not an enrollment request (make one with `ur-kiosk enroll-request`)")
    if r.get("version") != VERSION:
        raise UrError(f"enrollment request version {r.get('version')!r} is not {VERSION}")
    expected = {"type", "version", "kiosk_id", "envelope_public_key", "csr", "nonce", "envelope_signature", "mac"}
    if set(r) != expected:
        raise UrError(f"enrollment request fields must be exactly {', '.join(sorted(expected))}")
    for name in ("kiosk_id", "envelope_public_key", "csr", "nonce", "envelope_signature", "mac"):
        if not isinstance(r[name], str):
            raise UrError(f"enrollment request: {name} must be a string")
    kiosk_id = kiosk_ids.check(r["kiosk_id"])
    pub = _hex(r["envelope_public_key"], "envelope_public_key", 32)
    _hex(r["nonce"], "nonce", 16)
    sig = _hex(r["envelope_signature"], "envelope_signature", 64)
    mac = _hex(r["mac"], "mac", 32)
    base = _base(kiosk_id, r["envelope_public_key"], r["csr"], r["nonce"])
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, _canonical(base))
    except (InvalidSignature, ValueError):
        raise UrError("enrollment request: the envelope key's signature does not verify") from None
    try:
        csr = x509.load_pem_x509_csr(r["csr"].encode())
    except ValueError as e:
        raise UrError(f"enrollment request: csr is not a PEM certificate request ({e})") from None
    if not csr.is_signature_valid:
        raise UrError("enrollment request: the CSR's signature does not verify")
    tls_key = csr.public_key()
    if not isinstance(tls_key, ec.EllipticCurvePublicKey) or not isinstance(tls_key.curve, ec.SECP256R1):
        raise UrError("enrollment request: the CSR's key must be EC P-256")
    signed = _canonical({**base, "envelope_signature": r["envelope_signature"]})
    return Request(kiosk_id, r["envelope_public_key"], tls_key, r["nonce"], signed, mac)
