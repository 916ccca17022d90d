"""Messages central sends down to a kiosk, signed, and the kiosk's (unsigned) requests.

Anyone can publish on a plain broker, so every downlink message is signed with
central's downlink key (Ed25519), which the kiosk pins at enrollment, in the
same envelope style as uplink: CBOR `[version, body, signature]`, the signature
over the exact body bytes. The body is a CBOR map:

    {v: 1, kind: str, to: kiosk id or "*", at: central's clock (ms),
     re: correlation data of the request answered (responses only), ...fields}

- `to` binds a message to one kiosk (a message for K1 replayed to K2 is refused);
  "*" marks a broadcast, which only a retained dataset manifest may be (shared
  by all kiosks).
- `re` binds an answer to the request it answers: the kiosk acts on an answer
  only when `re` is correlation data it generated and has not seen answered, so
  an old genuine answer replayed (or left retained) is never installed.
- `at` is shown (clock skew), never used to decide: order comes from central's
  sequences (event ids, dataset versions), which are inside the signature.

`open_signed` is the strict decoder: oversize, malformed, trailing bytes,
another version, a bad signature or another kiosk's message each raise
`DownlinkError` with a short `code` that the kiosk counts.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from contract import cbor_strict
from contract.envelope import thaw
from contract.errors import CodedError, UrError

V = 1
ENVELOPE_VERSION = 1
BROADCAST = "*"
# A full catalogue or status list fits many times over; anything bigger is junk.
MAX_DOWNLINK_BYTES = 32 * 1024 * 1024
RESERVED = frozenset({"v", "kind", "to", "at", "re"})


class DownlinkError(CodedError):
    """`code` is one of: oversize, malformed, version, signature, wrong_kiosk."""


@dataclass(frozen=True)
class Message:
    """A verified downlink message."""

    kind: str
    to: str
    at: int
    re: bytes | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


Signer = Callable[[bytes], bytes]


def body_bytes(kind: str, to: str, fields: dict[str, Any], re: bytes | None = None,
               at: int | None = None) -> bytes:
    """The exact bytes central signs (canonical CBOR)."""
    clash = RESERVED & set(fields)
    if clash:
        raise ValueError(f"downlink fields may not be named {sorted(clash)}")
    m: dict[str, Any] = {"v": V, "kind": kind, "to": to, "at": int(time.time() * 1000) if at is None else at,
                         **fields}
    if re is not None:
        m["re"] = bytes(re)
    return cbor2.dumps(m, canonical=True)


def seal(sign: Signer, kind: str, to: str, fields: dict[str, Any] | None = None, re: bytes | None = None,
         at: int | None = None) -> bytes:
    body = body_bytes(kind, to, fields or {}, re, at)
    return cbor2.dumps([ENVELOPE_VERSION, body, sign(body)])


def open_signed(data: bytes, key: VerifyKey, kiosk_id: str) -> Message:
    """Verify and decode one downlink message meant for `kiosk_id` (or a broadcast)."""
    if not isinstance(data, (bytes, bytearray)):
        raise DownlinkError("malformed", "downlink message must be bytes")
    if len(data) > MAX_DOWNLINK_BYTES:
        raise DownlinkError("oversize", f"{len(data)} bytes > {MAX_DOWNLINK_BYTES}")
    try:
        # The strict reader: bounded lengths, no trailing bytes, no indefinite items.
        outer = cbor_strict.loads(bytes(data), max_depth=1)
    except cbor_strict.CborError as e:
        raise DownlinkError("malformed", f"envelope: {e}") from None
    if not isinstance(outer, list) or len(outer) != 3:
        raise DownlinkError("malformed", "envelope must be a 3-element array [version, body, signature]")
    version, body, sig = outer
    if version != ENVELOPE_VERSION:
        raise DownlinkError("version", f"unsupported downlink envelope version {version!r}")
    if not isinstance(body, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
        raise DownlinkError("malformed", "body must be bytes and signature 64 bytes")
    try:
        key.verify(body, sig)
    except (BadSignatureError, ValueError):
        raise DownlinkError("signature", "signature does not verify with central's downlink key") from None
    m = _body(body)
    to = m.get("to")
    if to != kiosk_id and not (to == BROADCAST and m["kind"] == "manifest"):
        raise DownlinkError("wrong_kiosk", f"{m['kind']} message for {to!r}, this kiosk is {kiosk_id!r}")
    re = m.get("re")
    if re is not None and not isinstance(re, bytes):
        raise DownlinkError("malformed", "field 're' must be bytes")
    return Message(m["kind"], to, m["at"], re, {k: v for k, v in m.items() if k not in RESERVED})


def _body(body: bytes) -> dict[str, Any]:
    """Decode the signed body: central wrote it, but a body is still one CBOR
    item with nothing after it (cbor2 is the fast decoder for big datasets; the
    position check is what makes it strict)."""
    fp = io.BytesIO(body)
    try:
        m = thaw(cbor2.CBORDecoder(fp).decode())
    except Exception as e:  # noqa: BLE001 - cbor2 raises several types for junk
        raise DownlinkError("malformed", f"body is not valid CBOR ({type(e).__name__})") from None
    if fp.tell() != len(body):
        raise DownlinkError("malformed", f"{len(body) - fp.tell()} trailing bytes after the body")
    if not isinstance(m, dict) or m.get("v") != V or not isinstance(m.get("kind"), str):
        raise DownlinkError("malformed", "body lacks version 1 and a kind")
    if not isinstance(m.get("to"), str) or not isinstance(m.get("at"), int) or isinstance(m.get("at"), bool):
        raise DownlinkError("malformed", "body lacks 'to' (text) and 'at' (integer)")
    return m


def verify_key_from_hex(text: str) -> VerifyKey:
    try:
        raw = bytes.fromhex(text.strip())
        if len(raw) != 32:
            raise ValueError(len(raw))
        return VerifyKey(raw)
    except (ValueError, TypeError, AttributeError):
        raise UrError(f"downlink public key must be 64 hex digits (Ed25519), got {str(text)[:20]!r}") from None


# --- requests (kiosk -> central) and plain message bodies ---------------------------------

def encode(kind: str, **fields: Any) -> bytes:
    """An unsigned message: the kiosk's requests (central checks what it asks)."""
    return cbor2.dumps({"v": V, "kind": kind, **fields})


def decode(data: bytes, expect: str | None = None) -> dict[str, Any]:
    try:
        fp = io.BytesIO(data)
        m = thaw(cbor2.CBORDecoder(fp).decode())
        if fp.tell() != len(data):
            raise ValueError("trailing bytes")
    except Exception as e:  # noqa: BLE001 - any junk is just "not CBOR"
        raise UrError(f"downlink message is not valid CBOR ({type(e).__name__})") from None
    if not isinstance(m, dict) or m.get("v") != V or not isinstance(m.get("kind"), str):
        raise UrError("downlink message lacks version 1 and a kind")
    if expect is not None and m["kind"] != expect:
        raise UrError(f"expected a {expect!r} message, got {m['kind']!r}")
    return m


def ack_fields(acked: list[str], rejected: list[tuple[str, str]]) -> dict[str, Any]:
    """Application ack: message ids committed at central, and those refused for good."""
    return {"acked": acked, "rejected": [{"m": m, "reason": r} for m, r in rejected]}


def manifest_fields(name: str, version: int, sha256: str, size: int) -> dict[str, Any]:
    return {"name": name, "version": version, "sha256": sha256, "size": size}
