"""UR1 secured-document codec: `UR1:` + Base45(COSE_Sign1(CBOR claims)), Ed25519.

Two text forms carry the same signed bytes. The address form a QR holds is
`HTTPS://HOST/UR1/` + Base32 (RFC 4648, upper case, no padding): only A-Z and
2-7, so a phone camera opens it as a link and no browser re-encodes anything
(Base45 holds spaces, `%`, `/` and `.`, which cameras refuse and browsers
rewrite). The older form `UR1:` + Base45, bare or after an address, was printed
before and is still read everywhere (kiosk scanner, pasted into the web page).

Pure functions: `sign(claims, private_key, kid) -> str` makes the text that goes
into the QR code; `verify(text, trust, status, now) -> Verdict` checks prefix,
Base45, COSE structure, algorithm, key, signature, key rights and window,
times and revocation, and never raises for bad input: every problem becomes a
verdict with a reason. Receipts and tracking slips use the same codec (type
"receipt" / "tracking_slip").

Claims map (small on purpose so a typical document fits QR version ~12 at ECC M):
CWT keys 1 iss = agency, 6 iat, 4 exp (optional); text keys "id" document id,
"t" type, "o" office, "f" fields the clerk compares with the paper, "h"
SHA-256 of the document body, "s" index into the revocation status list.
Unknown keys are refused: a new meaning needs a new prefix (UR2).
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import base45
import cbor2

from contract import cbor_strict, cose_sign1
from contract.errors import UrError
from contract.status_list import StatusList
from contract.trust_list import TrustList
from contract.verdict import Status, Verdict

PREFIX = "UR1:"
ADDRESS_MARK = "UR1/"  # the address form's last path segment, before the Base32 payload
BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
MAX_TEXT = 2500  # characters; a version-40 QR holds 4296 alphanumerics, we never need half
SKEW = 300  # seconds of clock difference tolerated between issuer and verifier
BASE45_ALPHABET = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
DOCUMENT_TYPES: tuple[str, ...] = (
    "certificate", "letter", "receipt", "tracking_slip", "non_conviction_certificate",
    "civil_status_record", "residence_certificate", "license", "decision",
)
_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
URL_RE = re.compile(r"^HTTPS?://[A-Z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Z0-9._-]+)*/")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u202e\ufeff")
K_ISS, K_EXP, K_IAT = 1, 4, 6
_KNOWN = {K_ISS, K_EXP, K_IAT, "id", "t", "o", "f", "h", "s"}
MAX_FIELDS, MAX_FIELD_KEY, MAX_FIELD_VALUE, MAX_NAME = 16, 32, 200, 64


class Ur1Error(UrError):
    """The text is not an acceptable UR1 code; `status` says which verdict it earns."""

    def __init__(self, message: str, status: Status = Status.INVALID) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Claims:
    doc_id: str
    doc_type: str
    agency: str
    issued_at: int
    body_sha256: bytes
    status_index: int
    fields: Mapping[str, str] = field(default_factory=dict)
    office: str = ""
    expires_at: int | None = None

    def to_cbor(self) -> bytes:
        m: dict[Any, Any] = {K_ISS: self.agency, K_IAT: self.issued_at, "id": self.doc_id,
                             "t": self.doc_type, "f": dict(self.fields), "h": self.body_sha256,
                             "s": self.status_index}
        if self.office:
            m["o"] = self.office
        if self.expires_at is not None:
            m[K_EXP] = self.expires_at
        return cbor2.dumps(m, canonical=True)

    def describe(self, kid: bytes | None = None) -> dict[str, Any]:
        """What a verifier shows: the fields the clerk compares with the paper."""
        d: dict[str, Any] = {
            "id": self.doc_id, "type": self.doc_type, "agency": self.agency, "office": self.office,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at) if self.expires_at is not None else None,
            "fields": dict(self.fields), "body_sha256": self.body_sha256.hex(),
            "status_index": self.status_index,
        }
        if kid is not None:
            d["kid"] = kid.hex()
        return d


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _text(v: Any, what: str, lo: int, hi: int) -> str:
    if not isinstance(v, str):
        raise Ur1Error(f"claim {what} must be text")
    if not lo <= len(v) <= hi:
        raise Ur1Error(f"claim {what} must be {lo}..{hi} characters, got {len(v)}")
    if unicodedata.normalize("NFC", v) != v:
        raise Ur1Error(f"claim {what} is not in Unicode NFC form")
    if any(unicodedata.category(c) == "Cc" for c in v):
        raise Ur1Error(f"claim {what} contains control characters")
    return v


def _nonneg(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 40:
        raise Ur1Error(f"claim {what} must be a non-negative integer")
    return v


def claims_from_obj(m: Any) -> Claims:
    """Validate a decoded claims map (dict, or frozendict from cbor2 6.x)."""
    if isinstance(m, (list, tuple)):
        raise Ur1Error("payload holds an array (several documents?), expected one claims map")
    if not isinstance(m, Mapping):
        raise Ur1Error("payload is not a claims map")
    unknown = [k for k in m if k not in _KNOWN]
    if unknown:
        raise Ur1Error(f"unknown claim(s) {unknown!r}")
    for k in (K_ISS, K_IAT, "id", "t", "f", "h", "s"):
        if k not in m:
            raise Ur1Error(f"claim {k!r} missing")
    doc_id = m["id"]
    if not isinstance(doc_id, str) or not _ID_RE.match(doc_id):
        raise Ur1Error("claim id must be 1..32 upper-case letters, digits or '-'")
    doc_type = m["t"]
    if doc_type not in DOCUMENT_TYPES:
        raise Ur1Error(f"unknown document type {doc_type!r}")
    agency = _text(m[K_ISS], "iss (agency)", 1, MAX_NAME)
    office = _text(m.get("o", ""), "o (office)", 0, MAX_NAME)
    iat = _nonneg(m[K_IAT], "iat")
    exp = m.get(K_EXP)
    if exp is not None:
        exp = _nonneg(exp, "exp")
        if exp <= iat:
            raise Ur1Error("claim exp is not after iat")
    h = m["h"]
    if not isinstance(h, (bytes, bytearray)) or len(h) != 32:
        raise Ur1Error("claim h must be a 32-byte SHA-256")
    s = _nonneg(m["s"], "s (status index)")
    f = m["f"]
    if not isinstance(f, Mapping):
        raise Ur1Error("claim f must be a map of text to text")
    if len(f) > MAX_FIELDS:
        raise Ur1Error(f"claim f has {len(f)} fields, at most {MAX_FIELDS}")
    fields = {_text(k, "field name", 1, MAX_FIELD_KEY): _text(v, f"field {k!r}", 0, MAX_FIELD_VALUE)
              for k, v in f.items()}
    return Claims(doc_id, doc_type, agency, iat, bytes(h), s, fields, office, exp)


def check_claims(c: Claims) -> Claims:
    """Issuer-side: the same rules a verifier applies, before anything is signed."""
    return claims_from_obj(cbor_strict.loads(c.to_cbor()))


def sign(claims: Claims, private_key: cose_sign1.Signer, kid: bytes) -> str:
    """The UR1 text for `claims` (no verification address; see contract.qr_text)."""
    check_claims(claims)
    msg = cose_sign1.sign(claims.to_cbor(), private_key, kid)
    text: bytes = base45.b45encode(msg)  # base45 has no type hints
    return PREFIX + text.decode("ascii")


def payload_of(text: str) -> tuple[str, str]:
    """("b45", payload) for `UR1:...` or ("b32", payload) for `UR1/...`, bare or after an
    upper-case verification address."""
    if not isinstance(text, str):
        raise Ur1Error("code must be text")
    text = text.strip("\r\n")  # scanners append CR/LF; space is a Base45 character, keep it
    if not text:
        raise Ur1Error("empty code")
    if len(text) > MAX_TEXT:
        raise Ur1Error(f"code of {len(text)} characters is longer than {MAX_TEXT}")
    if text[0] == "\ufeff":
        raise Ur1Error("byte-order mark before the code")
    bad = sorted({f"U+{ord(c):04X}" for c in text if c in _INVISIBLE})
    if bad:
        raise Ur1Error(f"invisible characters in the code: {', '.join(bad)}")
    if text != text.strip():
        raise Ur1Error("spaces or line breaks around the code")
    rest = text
    if "://" in text[:12]:
        m = URL_RE.match(text)
        if m is None:
            if URL_RE.match(text.upper()):
                raise Ur1Error("verification address must be upper-case (QR alphanumeric mode)")
            raise Ur1Error("malformed verification address before the code")
        rest = text[m.end():]
        # The address form: the greedy path match took the "UR1/" segment too.
        if not rest.startswith(PREFIX) and text[:m.end()].endswith("/" + ADDRESS_MARK):
            rest = ADDRESS_MARK + rest
    head = rest[:4]
    if head == PREFIX:
        return "b45", rest[4:]
    if head == ADDRESS_MARK:
        return "b32", rest[4:]
    if head.upper() in (PREFIX, ADDRESS_MARK):
        raise Ur1Error("prefix must be upper-case 'UR1:' or 'UR1/'")
    v = re.match(r"^UR(\d+)[:/]", rest)
    if v:
        raise Ur1Error(f"unsupported code version UR{v.group(1)} (this verifier reads UR1)")
    if rest.upper().startswith("UR1"):
        raise Ur1Error("prefix 'UR1' must be followed by ':' or '/'")
    m2 = re.match(r"^([A-Z0-9]{2,4}):", rest)
    if m2:
        raise Ur1Error(f"wrong prefix '{m2.group(1)}:' (expected 'UR1:')")
    raise Ur1Error("missing prefix 'UR1:'")


def _check_alphabet(payload: str, name: str, alphabet: frozenset[str], hint: str = "") -> None:
    """A payload that is empty or holds characters outside its alphabet is refused with the
    first few culprits named (unprintable ones as U+XXXX), so a mistyped code says what is wrong."""
    if not payload:
        raise Ur1Error(f"empty {name} payload")
    bad = sorted({c for c in payload if c not in alphabet})
    if bad:
        shown = ", ".join(repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in bad[:5])
        raise Ur1Error(f"character(s) outside the {name} alphabet{hint}: {shown}")


def b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def b32decode(payload: str) -> bytes:
    """Strict: upper-case RFC 4648 alphabet, no padding, zero trailing bits, so one
    byte string has exactly one text (no two addresses for the same code)."""
    _check_alphabet(payload, "Base32", BASE32_ALPHABET, " (A-Z, 2-7)")
    if len(payload) % 8 in (1, 3, 6):
        raise Ur1Error(f"Base32 length {len(payload)} is not a whole number of bytes (truncated?)")
    raw = base64.b32decode(payload + "=" * (-len(payload) % 8))
    if b32encode(raw) != payload:
        raise Ur1Error("Base32 payload has non-zero padding bits (altered?)")
    return raw


def address_text(ur1_text: str, base: str) -> str:
    """The address form of a `UR1:` text: `base` + "UR1/" + Base32 of the same signed bytes."""
    form, payload = payload_of(ur1_text)
    raw = b45decode(payload) if form == "b45" else b32decode(payload)
    return base + ADDRESS_MARK + b32encode(raw)


def b45decode(payload: str) -> bytes:
    _check_alphabet(payload, "Base45", BASE45_ALPHABET)
    if len(payload) % 3 == 1:
        raise Ur1Error(f"Base45 length {len(payload)} leaves a single dangling character")
    try:
        return bytes(base45.b45decode(payload))
    except ValueError as e:
        raise Ur1Error(f"invalid Base45 ({e})") from None


@dataclass(frozen=True)
class Decoded:
    claims: Claims
    message: cose_sign1.Sign1


def decode(text: str) -> Decoded:
    """Parse without trusting: prefix, Base45, COSE structure and claims schema."""
    form, payload = payload_of(text)
    raw = b45decode(payload) if form == "b45" else b32decode(payload)
    try:
        msg = cose_sign1.parse(raw)
        obj = cbor_strict.loads(msg.payload)
    except UrError as e:
        raise Ur1Error(str(e)) from None
    return Decoded(claims_from_obj(obj), msg)


# A hook for central: given checked claims, return (status, reason) to stop, or None.
RevocationLookup = Callable[[Claims], "tuple[Status, str] | None"]


def verify(text: str, trust: TrustList | None, status: StatusList | None, now: int, *,
           lookup: RevocationLookup | None = None, check_lists: bool = True,
           skew: int = SKEW) -> Verdict:
    """Verdict for a scanned text against a trust list and a status list at time `now`.

    Offline (kiosk): pass the installed lists; they must be fresh (`check_lists`).
    Online (central): pass a trust list built from the key table, `check_lists=False`
    and a `lookup` that answers revocation from the registry.
    """
    try:
        dec = decode(text)
    except Ur1Error as e:
        return Verdict(e.status, str(e))
    c, msg = dec.claims, dec.message
    if trust is None:
        return Verdict(Status.STALE, "no trust list installed")
    if check_lists:
        if now > trust.next_update:
            return Verdict(Status.STALE, f"trust list v{trust.seq} expired at {_iso(trust.next_update)}")
        if now + skew < trust.issued_at:
            return Verdict(Status.STALE, f"clock ({_iso(now)}) is before the trust list's issue time; check the clock")
    candidates = trust.lookup(msg.kid)
    if not candidates:
        return Verdict(Status.UNKNOWN_KEY, f"signing key {msg.kid.hex()} is not in the trust list")
    key = next((k for k in candidates if cose_sign1.signature_ok(msg, k.public_key)), None)
    if key is None:
        return Verdict(Status.INVALID, "signature does not verify")
    doc = c.describe(msg.kid)
    if not key.allows(c.doc_type, c.agency):
        return Verdict(Status.INVALID, f"key {msg.kid.hex()} may not sign {c.doc_type} for {c.agency}", doc)
    if key.withdrawn_at is not None and c.issued_at >= key.withdrawn_at:
        return Verdict(Status.INVALID, f"key {msg.kid.hex()} was withdrawn at {_iso(key.withdrawn_at)}; issue time is after the cut-off", doc)
    if c.issued_at < key.not_before:
        return Verdict(Status.INVALID, "issue time is before the signing key's validity", doc)
    if key.not_after is not None and c.issued_at > key.not_after:
        return Verdict(Status.INVALID, "issue time is after the signing key was retired", doc)
    if c.issued_at > now + skew:
        return Verdict(Status.NOT_YET_VALID, f"issued in the future ({doc['issued_at']})", doc)
    if c.expires_at is not None and now >= c.expires_at:
        return Verdict(Status.EXPIRED, f"expired at {doc['expires_at']}", doc)
    if lookup is not None:
        hit = lookup(c)
        if hit is not None:
            return Verdict(hit[0], hit[1], doc)
    else:
        if status is None:
            return Verdict(Status.STALE, "no status list installed", doc)
        if check_lists:
            if now > status.next_update:
                return Verdict(Status.STALE, f"status list v{status.seq} expired at {_iso(status.next_update)}", doc)
            if now + skew < status.issued_at:
                return Verdict(Status.STALE, "clock is before the status list's issue time; check the clock", doc)
        if c.status_index >= status.size:
            if c.issued_at < status.issued_at:
                return Verdict(Status.INVALID, f"status index {c.status_index} outside the status list ({status.size})", doc)
        elif status.is_revoked(c.status_index):
            return Verdict(Status.REVOKED, f"revoked (status list v{status.seq})", doc)
    return Verdict(Status.VALID, "signature, key, time and status checked", doc)
