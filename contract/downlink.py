"""Messages central sends down to a kiosk (acks, manifests, dataset and status
replies) and the kiosk's requests. Plain CBOR maps with a `v` version; every
decoder rejects malformed input with a `UrError` naming the problem.

Downlink messages are not signed: only central may publish under `.../down/`
and `ur/v1/manifest/` (broker ACL), and datasets carry their own sha256 (and,
for trust and status lists, their own signatures).
"""

from __future__ import annotations

from typing import Any

import cbor2

from contract.envelope import thaw
from contract.errors import UrError

V = 1


def encode(kind: str, **fields: Any) -> bytes:
    return cbor2.dumps({"v": V, "kind": kind, **fields})


def decode(data: bytes, expect: str | None = None) -> dict[str, Any]:
    try:
        m = thaw(cbor2.loads(data))
    except Exception as e:  # noqa: BLE001 - any junk is just "not CBOR"
        raise UrError(f"downlink message is not valid CBOR ({type(e).__name__})") from None
    if not isinstance(m, dict) or m.get("v") != V or not isinstance(m.get("kind"), str):
        raise UrError("downlink message lacks version 1 and a kind")
    if expect is not None and m["kind"] != expect:
        raise UrError(f"expected a {expect!r} message, got {m['kind']!r}")
    return m


def ack(acked: list[str], rejected: list[tuple[str, str]]) -> bytes:
    """Application ack: message ids committed at central, and those refused for good."""
    return encode("ack", acked=acked, rejected=[{"m": m, "reason": r} for m, r in rejected])


def manifest(name: str, version: int, sha256: str, size: int) -> bytes:
    return encode("manifest", name=name, version=version, sha256=sha256, size=size)
